//! Test harness: the real `tollgate` binary on ephemeral ports, in-test upstream servers, and
//! small helpers to poll with a deadline instead of sleeping.
#![allow(dead_code)]

pub mod admin;
pub mod keys;
pub mod pki;
pub mod providers;
pub mod raw;
pub mod redis;
pub mod tls;
pub mod upstream;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use upstream::{Gate, Reply, Request, Upstream};

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// The value of one series (name and labels, exactly) in Prometheus text.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .and_then(|v| v.trim().parse().ok())
}

/// A loopback port reserved for this test process until it exits.
///
/// Bind-then-close would leave the port free between the check and the gateway's bind, for
/// any other test (nextest runs them in parallel processes) to take; and the gateway binds with
/// SO_REUSEPORT, so a second gateway on the same port would not even fail, it would share the
/// connections. Instead the port stays bound (never listening, so it takes no connection) by a
/// socket of this process: the kernel hands it to no other `bind(0)` or outgoing connection,
/// while SO_REUSEADDR and SO_REUSEPORT, set after the bind, let the gateway (Pingora sets
/// SO_REUSEADDR, and SO_REUSEPORT on data listeners), `redis-server` or a std listener of the
/// test bind it explicitly.
pub fn free_port() -> u16 {
    static HELD: std::sync::Mutex<Vec<std::os::fd::OwnedFd>> = std::sync::Mutex::new(Vec::new());
    let (fd, port) = reserve_port().expect("a loopback port to reserve");
    HELD.lock().unwrap_or_else(|e| e.into_inner()).push(fd);
    port
}

/// A TCP socket bound (not listening) to a fresh loopback port, then made shareable.
fn reserve_port() -> std::io::Result<(std::os::fd::OwnedFd, u16)> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let check = |rc: libc::c_int| {
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(rc)
        }
    };
    // SAFETY: plain socket calls on a descriptor this function owns; every pointer passed
    // points to a live local of the size given beside it.
    unsafe {
        let raw = check(libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        ))?;
        let fd = OwnedFd::from_raw_fd(raw);
        let mut addr: libc::sockaddr_in = std::mem::zeroed();
        addr.sin_family = libc::AF_INET as libc::sa_family_t;
        addr.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let at = &mut addr as *mut libc::sockaddr_in as *mut libc::sockaddr;
        // Bound without the reuse options first, so the kernel picks a port nobody holds.
        check(libc::bind(fd.as_raw_fd(), at, len))?;
        check(libc::getsockname(fd.as_raw_fd(), at, &mut len))?;
        let one: libc::c_int = 1;
        for opt in [libc::SO_REUSEADDR, libc::SO_REUSEPORT] {
            check(libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                &one as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ))?;
        }
        Ok((fd, u16::from_be(addr.sin_port)))
    }
}

/// Polls `f` every 10ms until it returns Some or the deadline passes.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The gateway under test: this build's, or `TOLLGATE_TEST_BIN` (to run the suite against
/// another build, e.g. a release binary for figures, or an older one to see a test fail).
pub fn binary() -> &'static str {
    static BIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        std::env::var("TOLLGATE_TEST_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_tollgate").to_string())
    })
}

/// Runs `tollgate validate` on a config text; returns (exit success, stderr).
pub fn validate(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollgate.toml");
    std::fs::write(&path, text).unwrap();
    let out = output_within(
        Command::new(binary()).args(["validate", "-c"]).arg(&path),
        Duration::from_secs(20),
    );
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub struct Gateway {
    pub child: Option<Child>,
    pub port: u16,
    pub admin_port: u16,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
}

/// The `[server]`, `[admin]` and `[log]` sections for a test gateway; append upstreams and routes.
pub fn base_config(port: u16, admin_port: u16, workers: usize, extra_server: &str) -> String {
    format!(
        r#"
[server]
listen = ["127.0.0.1:{port}"]
workers = {workers}
threads = 1
grace_period = "10s"
{extra_server}

[admin]
listen = "127.0.0.1:{admin_port}"
token = "{ADMIN_TOKEN}"

[log]
access = "ACCESS_LOG"
level = "info"
"#
    )
}

impl Gateway {
    /// Starts the gateway with `body` (upstreams, routes) after a generated base config.
    pub fn start(workers: usize, body: &str) -> Gateway {
        Self::start_with(workers, "", body)
    }

    pub fn start_with(workers: usize, extra_server: &str, body: &str) -> Gateway {
        Self::start_configured(workers, extra_server, body, |_| {})
    }

    /// `start`, with `env` added to the gateway's environment only: the tests are one binary,
    /// and under `cargo test` its threads would all see a variable set in the test process.
    pub fn start_env(workers: usize, body: &str, env: &[(&str, &OsStr)]) -> Gateway {
        Self::start_configured(workers, "", body, |cmd| {
            cmd.envs(env.iter().copied());
        })
    }

    /// `start_with` and `start_env` together.
    pub fn start_configured(
        workers: usize,
        extra_server: &str,
        body: &str,
        configure: impl FnOnce(&mut Command),
    ) -> Gateway {
        let port = free_port();
        let admin_port = free_port();
        let text = format!(
            "{}\n{body}",
            base_config(port, admin_port, workers, extra_server)
        );
        Self::start_text_with(port, admin_port, &text, configure)
    }

    /// Starts from a full config text; `ACCESS_LOG` in it is replaced by the log file's path.
    pub fn start_text(port: u16, admin_port: u16, text: &str) -> Gateway {
        Self::start_text_with(port, admin_port, text, |_| {})
    }

    /// `start_text`, with `configure` applied to the command before it is started.
    pub fn start_text_with(
        port: u16,
        admin_port: u16,
        text: &str,
        configure: impl FnOnce(&mut Command),
    ) -> Gateway {
        Self::start_in(
            tempfile::tempdir().unwrap(),
            port,
            admin_port,
            text,
            configure,
        )
    }

    /// `start_text_with`, in a directory the test prepared (its files, its permissions).
    pub fn start_in(
        dir: tempfile::TempDir,
        port: u16,
        admin_port: u16,
        text: &str,
        configure: impl FnOnce(&mut Command),
    ) -> Gateway {
        let child = spawn_gateway_with(dir.path(), text, configure);
        let config_path = dir.path().join("tollgate.toml");
        let mut gw = Gateway {
            child: Some(child),
            port,
            admin_port,
            dir,
            config_path,
        };
        gw.wait_ready();
        gw
    }

    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("gateway exited early ({status}):\n{}", self.stderr());
            }
            if self.admin_get("/readyz").map(|(s, _)| s) == Some(200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gateway not ready in 30s:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// The access log's LLM call records (lines with `llm`), once there are at least `n`:
    /// the log's writer flushes on its own clock.
    pub fn llm_records(&self, n: usize) -> Vec<serde_json::Value> {
        wait_for(
            "LLM call records in the access log",
            Duration::from_secs(10),
            || {
                let lines: Vec<serde_json::Value> = self
                    .access_log()
                    .lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .filter(|v| v.get("llm").is_some())
                    .collect();
                (lines.len() >= n).then_some(lines)
            },
        )
    }

    /// GET on the admin listener with the token; (status, body) or None if it did not answer.
    pub fn admin_get(&self, path: &str) -> Option<(u16, String)> {
        raw_get(
            self.admin_port,
            path,
            &[("authorization", &format!("Bearer {ADMIN_TOKEN}"))],
        )
    }

    pub fn metrics(&self) -> String {
        let (status, body) = self.admin_get("/metrics").expect("metrics");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Child processes of the master (workers and the admin process).
    pub fn children(&self) -> Vec<u32> {
        children_of(self.pid())
    }

    pub fn rewrite_config(&self, text: &str) {
        let access = self.dir.path().join("access.log");
        std::fs::write(
            &self.config_path,
            text.replace("ACCESS_LOG", &access.to_string_lossy()),
        )
        .unwrap();
    }

    pub fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.pid() as i32, sig) };
    }

    /// Sends SIGTERM and waits (bounded) for the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            kill_tree(child);
        }
    }
}

/// Kills a process started by the test and its children (a gateway's workers), and reaps it.
pub fn kill_tree(mut child: Child) {
    if let Ok(Some(_)) = child.try_wait() {
        // Reaped already: its pid may belong to another process by now.
        return;
    }
    let kids = children_of(child.id());
    let _ = child.kill();
    let _ = child.wait();
    for k in kids {
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(k as i32, libc::SIGKILL) };
    }
}

/// A process of the test that is killed (with its children) when the guard is dropped, so a
/// failed assertion does not leave it running.
pub struct Running(pub Option<Child>);

impl Running {
    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("the process is still held")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            kill_tree(child);
        }
    }
}

/// Runs a command to completion within `timeout` (killed and failed after it); its output.
pub fn output_within(cmd: &mut Command, timeout: Duration) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut running = Running(Some(
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap(),
    ));
    let read = |p: &Path| std::fs::read(p).unwrap_or_default();
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = running.child().try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "{cmd:?} still running after {timeout:?}:\n{}",
            String::from_utf8_lossy(&read(&err))
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    running.0 = None;
    std::process::Output {
        status,
        stdout: read(&out),
        stderr: read(&err),
    }
}

/// `TOLLGATE_TEST_LEAN=0` (or `1`) in the test run's environment turns the lean HTTP/1 path off
/// (or on) in every config that does not say: the suite can run over Pingora's HTTP/1 path as
/// well as over the default (README, "The lean HTTP/1 path").
fn with_lean_forced(text: String) -> String {
    let forced = match std::env::var("TOLLGATE_TEST_LEAN").as_deref() {
        Ok("0") => "false",
        Ok("1") => "true",
        _ => return text,
    };
    if text.contains("lean_http1") {
        return text;
    }
    let text = format!("\n{text}");
    if text.contains("\n[server]\n") {
        return text.replacen(
            "\n[server]\n",
            &format!("\n[server]\nlean_http1 = {forced}\n"),
            1,
        );
    }
    format!("{text}\n[server]\nlean_http1 = {forced}\n")
}

/// Writes `text` as `dir/tollgate.toml` (`ACCESS_LOG` replaced by `dir/access.log`) and starts
/// `tollgate run` on it with stderr to `dir/stderr.log`.
pub fn spawn_gateway(dir: &Path, text: &str) -> Child {
    spawn_gateway_with(dir, text, |_| {})
}

/// `spawn_gateway`, with `configure` applied to the command before it is started.
pub fn spawn_gateway_with(dir: &Path, text: &str, configure: impl FnOnce(&mut Command)) -> Child {
    let config_path = dir.join("tollgate.toml");
    let access = dir.join("access.log");
    let text = text.replace("ACCESS_LOG", &access.to_string_lossy());
    std::fs::write(&config_path, with_lean_forced(text)).unwrap();
    let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
    let mut cmd = Command::new(binary());
    cmd.args(["run", "-c"])
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr);
    configure(&mut cmd);
    cmd.spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"))
}

pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        // The command name may hold spaces; fields after the last ')' are fixed.
        let Some(rest) = stat.rsplit(')').next() else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.get(1).and_then(|f| f.parse::<u32>().ok()) == Some(pid)
            && fields.first() != Some(&"Z")
        {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A minimal HTTP/1.1 GET over a fresh connection; (status, body).
pub fn raw_get(port: u16, path: &str, headers: &[(&str, &str)]) -> Option<(u16, String)> {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let resp = raw_exchange(port, req.as_bytes(), Duration::from_secs(10))?;
    parse_response(&resp).map(|(s, _, b)| (s, b))
}

/// Sends raw bytes and reads until the peer closes (or the timeout); returns what was read.
pub fn raw_exchange(port: u16, bytes: &[u8], timeout: Duration) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.write_all(bytes).ok()?;
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// (status, head, body) of the first response in `text`.
pub fn parse_response(text: &str) -> Option<(u16, String, String)> {
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, head.to_string(), body.to_string()))
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub fn path_exists(p: &Path) -> bool {
    p.exists()
}
