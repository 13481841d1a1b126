//! A real `redis-server` on its own loopback port, started by the test and killed when dropped.
//! It can be paused (SIGSTOP), killed and started again on the same port, to test what the
//! gateway does while Redis is slow or gone.

use super::{free_port, wait_for};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    /// Extra `redis-server` arguments (TLS, password).
    extra: Vec<String>,
    starts: u32,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(|_| Vec::new())
    }

    /// Starts a server with extra arguments, made from its directory (for certificates).
    pub fn start_with(extra: impl FnOnce(&std::path::Path) -> Vec<String>) -> RedisServer {
        RedisServer::start_on(free_port(), extra)
    }

    fn start_on(port: u16, extra: impl FnOnce(&std::path::Path) -> Vec<String>) -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        let extra = extra(dir.path());
        let mut r = RedisServer {
            child: None,
            port,
            dir,
            extra,
            starts: 0,
        };
        r.spawn();
        r
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log: PathBuf = self.dir.path().join(format!("redis-{}.log", self.starts));
        let tls = self.extra.iter().any(|a| a == "--tls-port");
        let port = self.port.to_string();
        let mut args: Vec<String> = vec![
            "--bind".into(),
            "127.0.0.1".into(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
            "--dir".into(),
            self.dir.path().display().to_string(),
            "--logfile".into(),
            log.display().to_string(),
        ];
        if tls {
            args.extend(["--port".into(), "0".into()]);
        } else {
            args.extend(["--port".into(), port]);
        }
        // "PORT" in the extra arguments stands for the server's port (`--tls-port PORT`).
        args.extend(self.extra.iter().map(|a| {
            if a == "PORT" {
                self.port.to_string()
            } else {
                a.clone()
            }
        }));
        let child = Command::new("redis-server")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/deps.sh installs it)");
        self.child = Some(child);
        wait_for("redis-server to be ready", Duration::from_secs(10), || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            text.contains("Ready to accept connections").then_some(())
        });
    }

    fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as i32, sig) };
        }
    }

    /// Freezes the server: connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Runs one command over plain RESP and returns the raw reply (no TLS, no password).
    pub fn command(&self, args: &[&str]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = [0u8; 65536];
        let n = s.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.resume();
        self.kill();
    }
}

/// A Redis Cluster of `n` masters on loopback (no replicas), slots spread by `redis-cli`.
pub fn cluster(n: usize) -> Vec<RedisServer> {
    // A node's cluster bus listens on its port + 10000, so the port must leave room for it.
    let low_port = || loop {
        let port = free_port();
        if port <= u16::MAX - 10_000 {
            return port;
        }
    };
    let nodes: Vec<RedisServer> = (0..n)
        .map(|_| {
            RedisServer::start_on(low_port(), |_| {
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                ]
                .map(String::from)
                .to_vec()
            })
        })
        .collect();
    let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
    args.extend(nodes.iter().map(|s| format!("127.0.0.1:{}", s.port)));
    args.extend(["--cluster-replicas", "0", "--cluster-yes"].map(String::from));
    let out = Command::new("redis-cli")
        .args(&args)
        .output()
        .expect("redis-cli is installed");
    assert!(
        out.status.success(),
        "redis-cli --cluster create: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    for node in &nodes {
        wait_for("the cluster to be up", Duration::from_secs(20), || {
            node.command(&["CLUSTER", "INFO"])
                .contains("cluster_state:ok")
                .then_some(())
        });
    }
    nodes
}
