//! The open-files limit: every client connection holds a descriptor and every proxied one two,
//! so the master raises its soft limit to the hard one before it forks (the children inherit
//! it). A limit that stays low is said in the log, with how to raise it.

/// Below this many descriptors a busy gateway runs out (`Too many open files`).
pub const WANTED: u64 = 65536;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the limit now in force.
// Reads /proc in the master at start-up, before any worker exists.
#[allow(clippy::disallowed_methods)]
pub fn raise_open_files() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        tracing::warn!(
            "cannot read the open-files limit: {}",
            std::io::Error::last_os_error()
        );
        return 0;
    }
    // The kernel refuses more than fs.nr_open, even under an unlimited hard limit.
    let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(lim.rlim_max);
    let target = lim.rlim_max.min(ceiling);
    if lim.rlim_cur < target {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct we own; raising the soft limit up to the hard one
        // needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = raised.rlim_cur;
        } else {
            tracing::warn!(
                "cannot raise the open-files limit to {target}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    let now = lim.rlim_cur;
    if now < WANTED {
        tracing::warn!(
            "the open-files limit is {now} (hard limit {}): each connection takes one or two, \
             so a busy gateway may fail with \"Too many open files\"; raise it to at least \
             {WANTED} (LimitNOFILE= in the systemd unit, or ulimit -Hn)",
            lim.rlim_max
        );
    }
    now
}
