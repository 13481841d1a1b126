//! The access log against sinks that block, fill up or fail, and threads that write a lot or
//! little.

use super::*;
use crate::telemetry::record::Record;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::Receiver;
use std::time::{Instant, SystemTime};

/// A sink that blocks every write until the test lets it go, like a stuck disk, and says
/// when a write has begun.
struct Stuck(
    std::sync::Mutex<Receiver<()>>,
    Arc<std::sync::Mutex<Vec<u8>>>,
    std::sync::mpsc::Sender<()>,
);

impl Write for Stuck {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.2.send(());
        let _ = self.0.lock().unwrap().recv();
        self.1.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn record(id: &str) -> Record<'_> {
    Record {
        time: SystemTime::UNIX_EPOCH,
        request_id: id.into(),
        route: "r".into(),
        api_version: None,
        upstream: None,
        method: "GET".into(),
        path: "/".into(),
        status: 200,
        bytes_in: 0,
        bytes_out: 0,
        latency_ms: 0.0,
        upstream_latency_ms: None,
        ttfb_ms: None,
        attempts: 1,
        client: None,
        error: None,
        error_code: None,
        tenant: None,
        app: None,
        key: None,
        client_cert: None,
        grpc_status: None,
        llm: None,
    }
}

fn write(log: &AccessLog, r: &Record<'_>) {
    log.write(|out| r.write_json(out, None));
}

/// Line `i`, as a thread's buffer holds it.
fn line(i: usize) -> Vec<u8> {
    let mut out = serde_json::to_vec(&record(&format!("r{i}"))).unwrap();
    out.push(b'\n');
    out
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_blocking() {
    let (release, gate) = std::sync::mpsc::channel();
    let written = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stats = Arc::new(SinkStats::default());
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let sink = Stuck(std::sync::Mutex::new(gate), written.clone(), entered_tx);
    // Every line is handed to the writer at once (a batch of one byte).
    let log = AccessLog::with_sink(Lines::new(Box::new(sink), None), 2, 1, stats.clone()).unwrap();
    write(&log, &record("r0"));
    entered.recv().unwrap();
    // The writer is stuck on line 0, which the queue of two still holds (it is not written
    // yet), with line 1: the other 19 are dropped, and every write returns at once (a
    // blocking one would hang this test).
    for i in 1..=20 {
        write(&log, &record(&format!("r{i}")));
    }
    assert_eq!(stats.dropped.load(Relaxed), 19);
    drop(release);
    log.flush(std::time::Duration::from_secs(5));
    let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    assert_eq!(
        stats.queued.load(Relaxed),
        0,
        "written lines leave the queue"
    );
}

/// A sink that takes `room` bytes, then fails every write like a full disk.
struct Full(Arc<std::sync::Mutex<Vec<u8>>>, usize);

impl Write for Full {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut out = self.0.lock().unwrap();
        let n = buf.len().min(self.1.saturating_sub(out.len()));
        if n == 0 {
            return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
        }
        out.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn lines(range: std::ops::Range<usize>) -> Vec<u8> {
    range.flat_map(line).collect()
}

#[test]
fn lines_a_sink_refuses_are_counted_as_lost() {
    let mut sink = Lines::new(Box::new(Full(Default::default(), 0)), None);
    let lost = sink.write(&lines(0..3)).unwrap_err();
    assert_eq!(lost.records, 3);
    assert!(lost.error.contains("space"), "{}", lost.error);
}

#[test]
fn a_line_cut_by_a_failing_write_is_lost_and_the_next_starts_clean() {
    let out = Arc::new(std::sync::Mutex::new(Vec::new()));
    let one = line(0).len();
    // Room for one line and half of the next.
    let room = one + one / 2;
    let mut sink = Lines::new(Box::new(Full(out.clone(), room)), None);
    assert_eq!(sink.write(&lines(0..3)).unwrap_err().records, 2);
    assert!(sink.mid_line);
    // The disk has room again: the next line begins on its own line.
    sink.out = Box::new(Full(out.clone(), usize::MAX));
    assert!(sink.write(&line(9)).is_ok());
    assert!(!sink.mid_line);
    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    let last = text.lines().last().unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(last).unwrap()["request_id"],
        "r9"
    );
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[test]
fn a_quiet_logs_lines_reach_the_sink_within_a_sweep() {
    let out = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Full(out.clone(), usize::MAX);
    let stats = Arc::new(SinkStats::default());
    let log =
        AccessLog::with_sink(Lines::new(Box::new(sink), None), 16, BATCH_BYTES, stats).unwrap();
    write(&log, &record("quiet"));
    // Far below a batch, and no flush: the writer's sweep must find it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while out.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the line never reached the sink");
        std::thread::yield_now();
    }
    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    assert!(text.contains("\"request_id\":\"quiet\""), "{text}");
    assert!(
        text.contains("\"time\":\"1970-01-01T00:00:00.000Z\""),
        "{text}"
    );
}

#[test]
fn a_flush_collects_every_threads_lines() {
    let out = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Full(out.clone(), usize::MAX);
    let stats = Arc::new(SinkStats::default());
    let log = AccessLog::with_sink(
        Lines::new(Box::new(sink), None),
        1000,
        BATCH_BYTES,
        stats.clone(),
    )
    .unwrap();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let log = log.clone();
            scope.spawn(move || {
                for i in 0..50 {
                    write(&log, &record(&format!("t{t}-{i}")));
                }
            });
        }
    });
    log.flush(Duration::from_secs(5));
    let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
    assert_eq!(text.lines().count(), 200, "{text}");
    assert!(text
        .lines()
        .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    assert_eq!(stats.dropped.load(Relaxed), 0);
}

#[test]
fn a_quiet_threads_line_is_not_held_back_by_a_busy_one() {
    let out = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = Full(out.clone(), usize::MAX);
    let stats = Arc::new(SinkStats::default());
    // Small batches: the busy thread hands one over every few lines, all the time.
    let log = AccessLog::with_sink(
        Lines::new(Box::new(sink), None),
        1 << 20,
        4096,
        stats.clone(),
    )
    .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let (log, stop, stats) = (log.clone(), stop.clone(), stats.clone());
        std::thread::spawn(move || {
            while !stop.load(Relaxed) {
                write(&log, &record("busy"));
                // Busy, not overloading: with the writer starved of CPU (a loaded machine) the
                // queue would fill and the quiet line be dropped and counted, which is another
                // test's matter; this one is about a writer that always has batches coming.
                while stats.queued.load(Relaxed) > 10_000 && !stop.load(Relaxed) {
                    std::thread::yield_now();
                }
                std::thread::yield_now();
            }
        })
    };
    write(&log, &record("quiet"));
    let deadline = Instant::now() + Duration::from_secs(5);
    // Only what arrived since the last look is searched: scanning all the busy thread's output
    // each time, with the sink's lock held, would stall the writer the test is watching.
    let needle = b"\"quiet\"";
    let mut from = 0;
    let seen = loop {
        {
            let out = out.lock().unwrap();
            if memchr::memmem::find(&out[from..], needle).is_some() {
                break true;
            }
            from = out.len().saturating_sub(needle.len());
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::yield_now();
    };
    stop.store(true, Relaxed);
    busy.join().unwrap();
    assert!(
        seen,
        "the quiet thread's line waited while another thread kept writing"
    );
    assert_eq!(stats.dropped.load(Relaxed), 0);
}
