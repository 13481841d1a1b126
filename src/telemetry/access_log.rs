//! The access log: one JSON line per request. A request formats its line into its thread's
//! buffer (a few hundred nanoseconds, no allocation, no wake-up); the buffer goes to a
//! dedicated writer thread once it holds `BATCH_BYTES`, and the writer also collects whatever
//! the buffers hold every `SWEEP_EVERY`, so a quiet gateway's lines are on disk within that.
//! No request ever waits on a file or on another thread.
//!
//! At most `queue` lines wait for the writer; past that a buffer's lines are dropped and
//! counted. A line the sink refuses (a full disk, a closed pipe) is counted as dropped too,
//! each failed write is counted, and the failure is reported in the process log at most every
//! `REPORT_EVERY`, so a broken sink neither goes unnoticed nor floods the log.

use crate::config::AccessLogTarget;
use crate::telemetry::call::CallRecord;
use crate::telemetry::capture::Captured;
use serde::{Serialize, Serializer};
use std::cell::RefCell;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant, SystemTime};

// A thread's buffer is locked by its own thread per line and by the writer for the time of a
// `mem::take` per sweep: never across I/O, so the lock is as good as uncontended.
#[allow(clippy::disallowed_types)]
type Lock<T> = std::sync::Mutex<T>;

/// A thread hands its buffer to the writer once it holds this many bytes, and the writer
/// writes in chunks of about this size.
const BATCH_BYTES: usize = 64 << 10;

/// About one line's bytes: a thread hands its buffer over before it holds `queue` lines'
/// worth, so a small `queue` bounds what waits in the buffers too.
const LINE_BYTES: usize = 256;

/// How often the writer collects the threads' buffers, whatever they hold.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// At most one process-log line per this long while the sink keeps failing.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// What the access log counts, read by the worker's metrics.
#[derive(Default)]
pub struct LogStats {
    /// Lines lost: the queue was full, or the sink refused them.
    pub dropped: AtomicU64,
    /// Writes (or flushes) of the sink that failed.
    pub write_errors: AtomicU64,
    /// Lines handed to the writer and not yet taken by it (at most `queue`).
    pub queued: AtomicUsize,
}

/// One line, borrowed from the request it describes: nothing is copied to make it.
#[derive(Serialize)]
pub struct AccessRecord<'a> {
    /// RFC 3339 UTC, with milliseconds.
    #[serde(serialize_with = "rfc3339")]
    pub time: SystemTime,
    pub request_id: &'a str,
    pub route: &'a str,
    pub upstream: Option<&'a str>,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub bytes: usize,
    pub latency_ms: f64,
    pub upstream_latency_ms: Option<f64>,
    pub attempts: u32,
    pub client: Option<IpAddr>,
    pub error: Option<String>,
    /// On keyed APIs: the tenant and app of the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<&'a str>,
    /// On LLM routes: the call's model, deployment, usage and cost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub llm: Option<&'a CallRecord>,
    /// On routes with `capture`: `request_headers`, `request_body`, `response_body` and
    /// `bodies_truncated`, masked.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub capture: Option<&'a Captured>,
}

fn rfc3339<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

enum Msg {
    /// Whole lines from one thread's buffer.
    Batch(Vec<u8>),
    Flush(std::sync::mpsc::Sender<()>),
}

/// What the request threads and the writer share.
struct Shared {
    /// Tells this log's buffers from those of a log made before a reload.
    id: u64,
    tx: SyncSender<Msg>,
    /// Every thread's buffer, for the writer's sweeps.
    buffers: Lock<Vec<Buffer>>,
    queue: usize,
    batch_bytes: usize,
    stats: Arc<LogStats>,
    /// Set on SIGUSR1: the writer opens the file's path again at its next turn.
    reopen: AtomicBool,
    /// The file's path, when the log is a file.
    path: std::sync::OnceLock<PathBuf>,
}

/// One thread's lines, not yet handed to the writer.
type Buffer = Arc<Lock<Vec<u8>>>;

thread_local! {
    /// This thread's buffer, and the id of the log it belongs to.
    static BUFFER: RefCell<Option<(u64, Buffer)>> = const { RefCell::new(None) };
}

#[derive(Clone)]
pub struct AccessLog {
    shared: Option<Arc<Shared>>,
}

impl AccessLog {
    /// Starts the writer thread; `Off` gives a log that accepts and discards.
    pub fn start(
        target: &AccessLogTarget,
        queue: usize,
        stats: Arc<LogStats>,
    ) -> std::io::Result<Self> {
        let (sink, path): (Box<dyn Write + Send>, _) = match target {
            AccessLogTarget::Off => return Ok(AccessLog { shared: None }),
            AccessLogTarget::Stdout => (Box::new(std::io::stdout()), None),
            AccessLogTarget::Stderr => (Box::new(std::io::stderr()), None),
            AccessLogTarget::File(p) => (Box::new(open(p)?), Some(p.clone())),
        };
        let log = Self::with_sink(sink, queue, BATCH_BYTES, stats)?;
        if let (Some(shared), Some(path)) = (&log.shared, path) {
            let _ = shared.path.set(path);
        }
        Ok(log)
    }

    fn with_sink(
        sink: Box<dyn Write + Send>,
        queue: usize,
        batch_bytes: usize,
        stats: Arc<LogStats>,
    ) -> std::io::Result<Self> {
        static LOGS: AtomicU64 = AtomicU64::new(1);
        // Batches, not lines: `stats.queued` bounds the lines; this only has to hold them.
        let (tx, rx) = sync_channel(queue.clamp(1, 4096));
        let shared = Arc::new(Shared {
            id: LOGS.fetch_add(1, Relaxed),
            tx,
            buffers: Lock::new(Vec::new()),
            queue,
            batch_bytes: batch_bytes.min(queue.saturating_mul(LINE_BYTES)).max(1),
            stats: stats.clone(),
            reopen: AtomicBool::new(false),
            path: std::sync::OnceLock::new(),
        });
        let writer = Writer::new(sink, stats);
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_loop(rx, writer, weak))?;
        Ok(AccessLog {
            shared: Some(shared),
        })
    }

    pub fn enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Formats `rec` into this thread's buffer, and hands the buffer to the writer when full.
    pub fn write(&self, rec: &AccessRecord<'_>) {
        let Some(shared) = &self.shared else { return };
        let full = shared.with_buffer(|buffer| {
            let mut buf = buffer.lock().unwrap_or_else(PoisonError::into_inner);
            let start = buf.len();
            if serde_json::to_writer(&mut *buf, rec).is_ok() {
                buf.push(b'\n');
            } else {
                buf.truncate(start);
                shared.stats.dropped.fetch_add(1, Relaxed);
            }
            (buf.len() >= shared.batch_bytes).then(|| std::mem::take(&mut *buf))
        });
        if let Some(batch) = full {
            shared.hand_over(batch);
        }
    }

    /// Asks the writer to open the file's path again (after logrotate moved the file): lines
    /// written before go to the old file, lines after to the new one. Returns at once.
    pub fn reopen(&self) {
        if let Some(shared) = &self.shared {
            shared.reopen.store(true, Relaxed);
        }
    }

    /// Waits (up to `timeout`) until every line written so far is in the sink; used before
    /// exit.
    pub fn flush(&self, timeout: std::time::Duration) {
        if let Some(shared) = &self.shared {
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            if shared.tx.send_timeout_compat(Msg::Flush(done_tx), timeout) {
                let _ = done_rx.recv_timeout(timeout);
            }
        }
    }
}

impl Shared {
    /// Runs `f` on this thread's buffer, made on first use (and again after a new log
    /// replaced this one).
    fn with_buffer<R>(&self, f: impl FnOnce(&Lock<Vec<u8>>) -> R) -> R {
        BUFFER.with(|cell| {
            let mut cell = cell.borrow_mut();
            if cell.as_ref().is_some_and(|(id, _)| *id != self.id) {
                *cell = None;
            }
            let (_, buffer) = cell.get_or_insert_with(|| (self.id, self.new_buffer()));
            f(buffer)
        })
    }

    /// A buffer for one more thread, registered for the writer's sweeps.
    fn new_buffer(&self) -> Buffer {
        let b = Arc::new(Lock::new(Vec::with_capacity(self.batch_bytes)));
        self.buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(b.clone());
        b
    }

    /// Gives a full buffer to the writer, or drops and counts its lines when `queue` lines
    /// already wait.
    fn hand_over(&self, batch: Vec<u8>) {
        let lines = batch.iter().filter(|&&b| b == b'\n').count();
        let waiting = self.stats.queued.fetch_add(lines, Relaxed) + lines;
        if waiting > self.queue || self.tx.try_send(Msg::Batch(batch)).is_err() {
            self.stats.queued.fetch_sub(lines, Relaxed);
            self.stats.dropped.fetch_add(lines as u64, Relaxed);
        }
    }

    /// Empties every thread's buffer, for the writer.
    fn sweep(&self, writer: &mut Writer) {
        let buffers = self
            .buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for b in buffers {
            let lines = std::mem::take(&mut *b.lock().unwrap_or_else(PoisonError::into_inner));
            writer.take(lines);
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

fn write_loop(rx: Receiver<Msg>, mut writer: Writer, shared: std::sync::Weak<Shared>) {
    let mut swept = Instant::now();
    loop {
        match rx.recv_timeout(SWEEP_EVERY) {
            Ok(msg) => {
                writer.handle(msg, &shared);
                // Take what else is queued before writing, so a busy gateway writes large chunks.
                while let Ok(msg) = rx.try_recv() {
                    writer.handle(msg, &shared);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let Some(s) = shared.upgrade() else { break };
        // By the clock, not only when the channel is quiet: a thread that serves little fills
        // its buffer slowly, and busy threads' batches must not keep its lines waiting.
        if swept.elapsed() >= SWEEP_EVERY {
            s.sweep(&mut writer);
            swept = Instant::now();
        }
        writer.write_out();
        if s.reopen.swap(false, Relaxed) {
            s.sweep(&mut writer);
            writer.write_out();
            if let Some(path) = s.path.get() {
                writer.reopen(path);
            }
        }
    }
    writer.write_out();
}

/// Opens the access log file for appending, creating it if needed.
// On the writer thread, or when a worker starts: never on a request thread.
#[allow(clippy::disallowed_methods)]
fn open(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
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

    fn handle(&mut self, msg: Msg, shared: &std::sync::Weak<Shared>) {
        match msg {
            Msg::Batch(lines) => {
                if let Some(s) = shared.upgrade() {
                    let n = lines.iter().filter(|&&b| b == b'\n').count();
                    s.stats.queued.fetch_sub(n, Relaxed);
                }
                self.take(lines);
            }
            Msg::Flush(done) => {
                if let Some(s) = shared.upgrade() {
                    s.sweep(self);
                }
                self.write_out();
                let _ = done.send(());
            }
        }
    }

    /// Writes to a newly opened `path` from now on; when it cannot be opened, keeps the old
    /// file and says so.
    fn reopen(&mut self, path: &Path) {
        match open(path) {
            Ok(file) => {
                self.sink = Box::new(file);
                tracing::info!("access log reopened: {}", path.display());
            }
            Err(e) => tracing::error!(
                "cannot reopen the access log {}: {e}; writing on to the file already open",
                path.display()
            ),
        }
    }

    /// Adds whole lines to the batch, writing it out when it is large.
    fn take(&mut self, lines: Vec<u8>) {
        if self.batch.is_empty() {
            self.batch = lines;
        } else {
            self.batch.extend_from_slice(&lines);
        }
        if self.batch.len() >= BATCH_BYTES {
            self.write_out();
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
mod tests;
