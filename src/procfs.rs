//! What `/proc` says about a process's sockets: used by a worker to know its listeners are up
//! (Pingora binds them inside its own task and does not say when), and by tests to tell the
//! workers from the admin process.

use std::collections::HashSet;

/// Inodes of the sockets that `pid` (a number, or `"self"`) holds open.
pub fn socket_inodes(pid: &str) -> HashSet<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            let l = l.to_string_lossy();
            l.strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .map(str::to_string)
        })
        .collect()
}

/// Ports on which `pid` holds a TCP socket in LISTEN state (IPv4 and IPv6).
// Read by a worker's start-up check in `spawn_blocking` and by tests, never per request.
#[allow(clippy::disallowed_methods)]
pub fn listening_ports(pid: &str) -> Vec<u16> {
    let inodes = socket_inodes(pid);
    let mut ports = Vec::new();
    for table in ["tcp", "tcp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // Columns: sl, local address, remote address, state (0A = LISTEN), ..., inode (10th).
            if cols.len() > 9 && cols[3] == "0A" && inodes.contains(cols[9]) {
                if let Some(port) = cols[1]
                    .rsplit(':')
                    .next()
                    .and_then(|p| u16::from_str_radix(p, 16).ok())
                {
                    ports.push(port);
                }
            }
        }
    }
    ports
}
