//! The access log: one JSON line per request, written by a dedicated thread so that no request
//! ever waits on a file. The queue is bounded; when it is full the line is dropped and counted.
//! A line the sink refuses (a full disk, a closed pipe) is counted as dropped too, each failed
//! write is counted, and the failure is reported in the process log at most every
//! `REPORT_EVERY`, so a broken sink neither goes unnoticed nor floods the log.

use crate::config::AccessLogTarget;
use serde::Serialize;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The writer batches lines up to this many bytes before it writes.
const BATCH_BYTES: usize = 64 << 10;

/// At most one process-log line per this long while the sink keeps failing.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// What the access log counts, read by the worker's metrics.
#[derive(Default)]
pub struct LogStats {
    /// Lines lost: the queue was full, or the sink refused them.
    pub dropped: AtomicU64,
    /// Writes (or flushes) of the sink that failed.
    pub write_errors: AtomicU64,
}

#[derive(Serialize)]
pub struct AccessRecord {
    /// RFC 3339 UTC.
    pub time: String,
    pub request_id: String,
    pub route: Arc<str>,
    pub upstream: Option<String>,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub bytes: usize,
    pub latency_ms: f64,
    pub upstream_latency_ms: Option<f64>,
    pub attempts: u32,
    pub client: Option<String>,
    pub error: Option<String>,
    /// On keyed APIs: the tenant and app of the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<Arc<str>>,
    /// On LLM routes: the call's model, deployment, usage and cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<Box<crate::telemetry::call::CallRecord>>,
}

enum Msg {
    Line(Box<AccessRecord>),
    Flush(std::sync::mpsc::Sender<()>),
}

#[derive(Clone)]
pub struct AccessLog {
    tx: Option<SyncSender<Msg>>,
    stats: Arc<LogStats>,
}

impl AccessLog {
    /// Starts the writer thread; `Off` gives a log that accepts and discards.
    // Opens the file when a worker starts or reloads, not per request; the writes run on the
    // writer thread.
    #[allow(clippy::disallowed_methods)]
    pub fn start(
        target: &AccessLogTarget,
        queue: usize,
        stats: Arc<LogStats>,
    ) -> std::io::Result<Self> {
        let sink: Box<dyn Write + Send> = match target {
            AccessLogTarget::Off => return Ok(AccessLog { tx: None, stats }),
            AccessLogTarget::Stdout => Box::new(std::io::stdout()),
            AccessLogTarget::Stderr => Box::new(std::io::stderr()),
            AccessLogTarget::File(p) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
        };
        Self::with_sink(sink, queue, stats)
    }

    fn with_sink(
        sink: Box<dyn Write + Send>,
        queue: usize,
        stats: Arc<LogStats>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(queue);
        let writer = Writer::new(sink, stats.clone());
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_loop(rx, writer))?;
        Ok(AccessLog {
            tx: Some(tx),
            stats,
        })
    }

    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    pub fn send(&self, rec: AccessRecord) {
        if let Some(tx) = &self.tx {
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
                tx.try_send(Msg::Line(Box::new(rec)))
            {
                self.stats.dropped.fetch_add(1, Relaxed);
            }
        }
    }

    /// Waits (up to `timeout`) until every line queued so far is written; used before exit.
    pub fn flush(&self, timeout: std::time::Duration) {
        if let Some(tx) = &self.tx {
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            if tx.send_timeout_compat(Msg::Flush(done_tx), timeout) {
                let _ = done_rx.recv_timeout(timeout);
            }
        }
    }
}

trait SendTimeout {
    fn send_timeout_compat(&self, msg: Msg, timeout: std::time::Duration) -> bool;
}

impl SendTimeout for SyncSender<Msg> {
    /// `SyncSender` has no send with a deadline; retry `try_send` until it fits or time is up.
    // Only `flush` waits here, when a worker stops, after its last request.
    #[allow(clippy::disallowed_methods)]
    fn send_timeout_compat(&self, mut msg: Msg, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self.try_send(msg) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(m)) if std::time::Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Err(TrySendError::Full(_)) => return false,
            }
        }
    }
}

fn write_loop(rx: Receiver<Msg>, mut writer: Writer) {
    while let Ok(msg) = rx.recv() {
        writer.handle(msg);
        // Drain what is queued before writing, so a busy gateway writes in large chunks.
        while let Ok(msg) = rx.try_recv() {
            writer.handle(msg);
        }
        writer.write_out();
    }
    writer.write_out();
}

/// The writer thread's side: a batch of whole lines, the sink, and the state of a failure.
struct Writer {
    sink: Box<dyn Write + Send>,
    batch: Vec<u8>,
    stats: Arc<LogStats>,
    /// The last write stopped inside a line: the next batch starts on a new line.
    mid_line: bool,
    failing: Option<Failing>,
}

/// A failing sink: what was lost since the last report, and when that was.
struct Failing {
    reported: Instant,
    errors: u64,
    lost: u64,
}

impl Writer {
    fn new(sink: Box<dyn Write + Send>, stats: Arc<LogStats>) -> Self {
        Writer {
            sink,
            batch: Vec::with_capacity(BATCH_BYTES),
            stats,
            mid_line: false,
            failing: None,
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Line(rec) => {
                let start = self.batch.len();
                if serde_json::to_writer(&mut self.batch, &rec).is_ok() {
                    self.batch.push(b'\n');
                } else {
                    self.batch.truncate(start);
                    self.stats.dropped.fetch_add(1, Relaxed);
                }
                if self.batch.len() >= BATCH_BYTES {
                    self.write_out();
                }
            }
            Msg::Flush(done) => {
                self.write_out();
                let _ = done.send(());
            }
        }
    }

    /// Writes the batch and flushes the sink; on an error counts the lines that did not make
    /// it and reports (rate-limited). The batch is emptied either way: a sink that refuses
    /// must not make the worker hold lines without bound.
    fn write_out(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        if self.mid_line {
            self.batch.insert(0, b'\n');
        }
        let mut written = 0;
        let result = loop {
            if written == self.batch.len() {
                break self.sink.flush();
            }
            match self.sink.write(&self.batch[written..]) {
                Ok(0) => break Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        let unwritten = &self.batch[written..];
        let lost = unwritten.iter().filter(|&&b| b == b'\n').count() as u64;
        self.mid_line = written > 0 && !unwritten.is_empty();
        self.batch.clear();
        match result {
            Ok(()) => self.recovered(),
            Err(e) => self.failed(&e, lost),
        }
    }

    fn failed(&mut self, e: &std::io::Error, lost: u64) {
        self.stats.write_errors.fetch_add(1, Relaxed);
        self.stats.dropped.fetch_add(lost, Relaxed);
        let now = Instant::now();
        match &mut self.failing {
            None => {
                tracing::error!(
                    "cannot write the access log: {e}; {lost} line(s) lost (counted in \
                     tollgate_access_log_dropped_total; reported again at most every {}s)",
                    REPORT_EVERY.as_secs()
                );
                self.failing = Some(Failing {
                    reported: now,
                    errors: 0,
                    lost: 0,
                });
            }
            Some(f) => {
                f.errors += 1;
                f.lost += lost;
                if now.duration_since(f.reported) >= REPORT_EVERY {
                    tracing::error!(
                        "still cannot write the access log: {e}; {} more line(s) lost in {} \
                         failed write(s) over {}s",
                        f.lost,
                        f.errors,
                        now.duration_since(f.reported).as_secs()
                    );
                    *f = Failing {
                        reported: now,
                        errors: 0,
                        lost: 0,
                    };
                }
            }
        }
    }

    fn recovered(&mut self) {
        if let Some(f) = self.failing.take() {
            tracing::warn!(
                "the access log is written again ({} more line(s) lost since the last report)",
                f.lost
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::Receiver;

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

    fn record(i: usize) -> AccessRecord {
        AccessRecord {
            time: String::new(),
            request_id: format!("r{i}"),
            route: Arc::from("r"),
            upstream: None,
            method: "GET".into(),
            path: "/".into(),
            status: 200,
            bytes: 0,
            latency_ms: 0.0,
            upstream_latency_ms: None,
            attempts: 1,
            client: None,
            error: None,
            tenant: None,
            app: None,
            llm: None,
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let (release, gate) = std::sync::mpsc::channel();
        let written = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stats = Arc::new(LogStats::default());
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let sink = Stuck(std::sync::Mutex::new(gate), written.clone(), entered_tx);
        let log = AccessLog::with_sink(Box::new(sink), 2, stats.clone()).unwrap();
        log.send(record(0));
        entered.recv().unwrap();
        // The writer is stuck on line 0 and the queue holds two lines: the other 18 are dropped,
        // and every send returns at once (a blocking send would hang this test).
        for i in 1..=20 {
            log.send(record(i));
        }
        assert_eq!(stats.dropped.load(Relaxed), 18);
        drop(release);
        log.flush(std::time::Duration::from_secs(5));
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
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

    #[test]
    fn lines_a_sink_refuses_are_counted_as_dropped() {
        let stats = Arc::new(LogStats::default());
        let mut w = Writer::new(Box::new(Full(Default::default(), 0)), stats.clone());
        for i in 0..3 {
            w.handle(Msg::Line(Box::new(record(i))));
            w.write_out();
        }
        assert_eq!(stats.dropped.load(Relaxed), 3);
        assert_eq!(stats.write_errors.load(Relaxed), 3);
        assert!(w.failing.is_some());
    }

    #[test]
    fn a_line_cut_by_a_failing_write_is_lost_and_the_next_starts_clean() {
        let stats = Arc::new(LogStats::default());
        let out = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut line = serde_json::to_vec(&record(0)).unwrap();
        line.push(b'\n');
        // Room for one line and half of the next.
        let room = line.len() + line.len() / 2;
        let mut w = Writer::new(Box::new(Full(out.clone(), room)), stats.clone());
        for i in 0..3 {
            w.handle(Msg::Line(Box::new(record(i))));
        }
        w.write_out();
        assert_eq!(stats.dropped.load(Relaxed), 2);
        assert_eq!(stats.write_errors.load(Relaxed), 1);
        assert!(w.mid_line);
        // The disk has room again: the next line begins on its own line.
        w.sink = Box::new(Full(out.clone(), usize::MAX));
        w.handle(Msg::Line(Box::new(record(9))));
        w.write_out();
        assert!(w.failing.is_none() && !w.mid_line);
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let last = text.lines().last().unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(last).unwrap()["request_id"],
            "r9"
        );
        assert_eq!(text.lines().count(), 3, "{text}");
    }
}
