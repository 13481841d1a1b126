//! Counters the README lists that only move on a fault: `tollgate_upstream_retries_total` and
//! `tollgate_access_log_dropped_total`, each against the real binary and a fault the test makes.

use crate::common;
use common::*;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A target that accepts each connection and closes it at once, counting them.
struct Slammer {
    port: u16,
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Slammer {
    fn start() -> Slammer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, s) = (accepted.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                if conn.is_ok() {
                    a.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        Slammer {
            port,
            accepted,
            stop,
        }
    }
}

impl Drop for Slammer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

#[test]
fn each_retry_is_counted_once() {
    let good = Upstream::named("good");
    let bad = Slammer::start();
    // No passive ejection, so the bad target keeps being tried first and again.
    let gw = Gateway::start(
        1,
        &format!(
            "[[upstreams]]\nname = \"pair\"\ntargets = [\"127.0.0.1:{}\", \"{}\"]\nretries = 1\n\
             passive = {{ max_fails = 0 }}\n\n\
             [[routes]]\nname = \"svc\"\npath_prefix = \"/svc\"\nupstream = \"pair\"\n",
            bad.port,
            good.addr()
        ),
    );
    let n = 10;
    for _ in 0..n {
        let got = raw_get(gw.port, "/svc", &[]);
        assert_eq!(got, Some((200, "good".to_string())));
    }
    assert_eq!(good.hits(), n);
    let tried_bad = bad.accepted.load(Ordering::SeqCst);
    assert!(tried_bad > 0, "round robin never picked the bad target");
    // Every attempt on the bad target was followed by one retry on the good one.
    let metrics = gw.metrics();
    assert_eq!(
        sample(
            &metrics,
            "tollgate_upstream_retries_total{upstream=\"pair\"}"
        ),
        Some(tried_bad as f64),
        "{metrics}"
    );
}

#[test]
fn lines_the_access_log_cannot_queue_are_dropped_and_counted() {
    let up = Upstream::named("u");
    let dir = tempfile::tempdir().unwrap();
    // The access log is a pipe the test reads only at the end: once it is full, the writer
    // waits, its queue (2 lines) fills, and further lines are dropped.
    let fifo = dir.path().join("access.fifo");
    let c_path = std::ffi::CString::new(fifo.to_string_lossy().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags_nonblock()
        .open(&fifo)
        .unwrap();
    // The smallest pipe the kernel allows, so a few lines fill it.
    unsafe { libc::fcntl(reader.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    let (port, admin_port) = (free_port(), free_port());
    let text = format!(
        "{}\n[[upstreams]]\nname = \"u\"\ntargets = [\"{}\"]\n\n\
         [[routes]]\nname = \"svc\"\npath_prefix = \"/svc\"\nupstream = \"u\"\n",
        base_config(port, admin_port, 1, "")
            .replace("ACCESS_LOG", &fifo.to_string_lossy())
            .replace("level = \"info\"", "level = \"info\"\nqueue = 2"),
        up.addr()
    );
    let gw = Gateway::start_text(port, admin_port, &text);
    // About 14 lines fill the pipe; 60 requests are plenty past it.
    let n = 60;
    let c = client();
    for _ in 0..n {
        assert_eq!(c.get(gw.url("/svc")).send().unwrap().status(), 200);
    }
    let dropped = |gw: &Gateway| {
        sample(&gw.metrics(), "tollgate_access_log_dropped_total").unwrap_or(-1.0) as usize
    };
    // A request's line is written after its answer is sent, before it stops counting as in
    // flight: once none is, every line is either handed over or dropped.
    wait_for("every request logged", Duration::from_secs(10), || {
        (sample(&gw.metrics(), "tollgate_inflight_requests") == Some(0.0)).then_some(())
    });
    let first = dropped(&gw);
    assert!(first > 0 && first < n, "{first} of {n} dropped");
    let queued = |gw: &Gateway| sample(&gw.metrics(), "tollgate_access_log_queued_lines");
    let waiting = queued(&gw).unwrap();
    // Lines were dropped because the queue was full: never more than 2 wait, whether the
    // writer is stuck on the pipe yet or between two writes.
    assert!(waiting <= 2.0, "{waiting} lines queued, queue = 2");

    // Drained, the pipe takes the rest: every request is either a line or counted as dropped.
    let mut text = Vec::new();
    let lines = wait_for(
        "every line read or counted",
        Duration::from_secs(10),
        || {
            let mut buf = [0u8; 65536];
            while let Ok(k) = reader.read(&mut buf) {
                if k == 0 {
                    break;
                }
                text.extend_from_slice(&buf[..k]);
            }
            let lines = text.iter().filter(|&&b| b == b'\n').count();
            (lines + dropped(&gw) == n).then_some(lines)
        },
    );
    // A line still in a worker's buffer may be dropped after the first reading (the writer
    // was not stuck yet and held a full queue); none is lost without being counted.
    assert!(dropped(&gw) >= first);
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "{text}"
    );
    assert!(lines > 0);
    assert_eq!(
        sample(&gw.metrics(), "tollgate_access_log_write_errors_total"),
        Some(0.0)
    );
    assert_eq!(
        queued(&gw),
        Some(0.0),
        "nothing waits once the pipe is drained"
    );
}

/// `O_NONBLOCK` on open: a FIFO's read end would otherwise wait for a writer.
trait NonBlock {
    fn custom_flags_nonblock(&mut self) -> &mut Self;
}

impl NonBlock for std::fs::OpenOptions {
    fn custom_flags_nonblock(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_NONBLOCK)
    }
}
