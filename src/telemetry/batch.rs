//! Per-thread record buffers and the writer thread behind every call sink (the access log, the
//! call store). A request formats its record as one line into its own thread's buffer: no
//! allocation, no wake-up, no wait on a file, a database or another thread. The buffer goes
//! to the sink's writer thread once it holds `batch_bytes`, and the writer also collects
//! whatever every buffer holds every `SWEEP_EVERY`, so a quiet gateway's records reach the
//! sink within that.
//!
//! At most `queue` records wait for the writer; past that a buffer's records are dropped and
//! counted. Records the sink refuses are counted as dropped too, each failed write is
//! counted, and the failure is reported in the process log (`telemetry::report`).

use crate::telemetry::report::FailureLog;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, PoisonError, Weak};
use std::time::{Duration, Instant};

// A thread's buffer is locked by its own thread per record and by the writer for the time of
// a `mem::take` per sweep: never across I/O, so the lock is as good as uncontended.
#[allow(clippy::disallowed_types)]
type Lock<T> = std::sync::Mutex<T>;

/// A thread hands its buffer to the writer once it holds this many bytes, and the writer
/// hands the sink chunks of about this size.
pub const BATCH_BYTES: usize = 64 << 10;

/// About one record's bytes: a thread hands its buffer over before it holds `queue`
/// records' worth, so a small `queue` bounds what waits in the buffers too.
const RECORD_BYTES: usize = 256;

/// How often the writer collects the threads' buffers, whatever they hold.
pub const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// What a sink counts, read by the worker's metrics.
#[derive(Default)]
pub struct SinkStats {
    /// Records lost: the queue was full, or the sink refused them.
    pub dropped: AtomicU64,
    /// Writes of the sink that failed.
    pub write_errors: AtomicU64,
    /// Records handed to the writer (or swept by it) and not yet written: what `queue`
    /// bounds, the writer's own batch included.
    pub queued: AtomicUsize,
}

/// Where a writer thread puts its records: whole lines, each ending in `\n`.
pub trait Sink: Send + 'static {
    /// How the process log says the sink failed ("cannot write the access log").
    const FAILURE: &'static str;
    /// The metric that counts its lost records, named in the failure report.
    const DROPPED_METRIC: &'static str;
    /// The writer gathers records until it holds this many bytes or a sweep is due, then
    /// writes them in one go: more for a sink whose every write has a fixed cost (a
    /// transaction), so that it pays that cost rarely.
    const WRITE_BYTES: usize = BATCH_BYTES;

    /// Writes `records`; on failure says how many of them were lost.
    fn write(&mut self, records: &[u8]) -> Result<(), Lost>;

    /// Opens the sink's file again (after logrotate moved it); a no-op for most sinks.
    fn reopen(&mut self) {}

    /// Called after each sweep (every `SWEEP_EVERY`), for upkeep.
    fn tick(&mut self) {}
}

/// A failed write: why, and how many records it lost.
pub struct Lost {
    pub error: String,
    pub records: u64,
}

enum Msg {
    /// Whole records from one thread's buffer.
    Batch(Records),
    Flush(std::sync::mpsc::Sender<()>),
}

/// What the request threads and the writer share.
struct Shared {
    /// Tells this batcher's buffers from those of another sink, or of one made before a reload.
    id: u64,
    tx: SyncSender<Msg>,
    /// Every thread's buffer, for the writer's sweeps.
    buffers: Lock<Vec<Buffer>>,
    queue: usize,
    batch_bytes: usize,
    stats: Arc<SinkStats>,
    /// Set on SIGUSR1: the writer reopens its sink at its next turn.
    reopen: AtomicBool,
    /// Emptied buffers the writer gives back for the threads' next records: the same few
    /// buffers go round, warm in the cache, instead of fresh memory for every batch.
    spares: Lock<Vec<Vec<u8>>>,
}

/// Spare buffers kept per sink: enough for the batches in flight at a steady load.
const SPARES: usize = 4;

/// One thread's records, not yet handed to the writer.
type Buffer = Arc<Lock<Records>>;

/// Whole records, each ending in `\n`, and how many: counted as they are added, not by
/// reading them again.
#[derive(Default)]
struct Records {
    bytes: Vec<u8>,
    count: usize,
}

impl Records {
    fn new(bytes: Vec<u8>) -> Records {
        Records { bytes, count: 0 }
    }
}

thread_local! {
    /// This thread's buffers, one per live batcher, with the batcher's id.
    static BUFFERS: RefCell<Vec<(u64, Buffer)>> = const { RefCell::new(Vec::new()) };
}

/// The request threads' side of one sink.
#[derive(Clone)]
pub struct Batcher {
    shared: Arc<Shared>,
}

impl Batcher {
    /// Starts `sink`'s writer thread, named `name`.
    pub fn start<S: Sink>(
        name: &str,
        sink: S,
        queue: usize,
        batch_bytes: usize,
        stats: Arc<SinkStats>,
    ) -> std::io::Result<Self> {
        static BATCHERS: AtomicU64 = AtomicU64::new(1);
        // Batches, not records: `stats.queued` bounds the records; this only has to hold them.
        let (tx, rx) = sync_channel(queue.clamp(1, 4096));
        let shared = Arc::new(Shared {
            id: BATCHERS.fetch_add(1, Relaxed),
            tx,
            buffers: Lock::new(Vec::new()),
            queue,
            batch_bytes: batch_bytes.min(queue.saturating_mul(RECORD_BYTES)).max(1),
            stats: stats.clone(),
            reopen: AtomicBool::new(false),
            spares: Lock::new(Vec::new()),
        });
        let writer = Writer::new(sink, stats);
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || write_loop(rx, writer, weak))?;
        Ok(Batcher { shared })
    }

    /// Adds one record to this thread's buffer: `format` appends it (without the newline) and
    /// says whether it could; the buffer goes to the writer when full.
    pub fn push(&self, format: impl FnOnce(&mut Vec<u8>) -> bool) {
        let shared = &self.shared;
        let full = shared.with_buffer(|buffer| {
            let mut buf = buffer.lock().unwrap_or_else(PoisonError::into_inner);
            let start = buf.bytes.len();
            if format(&mut buf.bytes) {
                buf.bytes.push(b'\n');
                buf.count += 1;
            } else {
                buf.bytes.truncate(start);
                shared.stats.dropped.fetch_add(1, Relaxed);
            }
            // Replaced by a buffer of full size, so the next records do not grow it again.
            (buf.bytes.len() >= shared.batch_bytes)
                .then(|| std::mem::replace(&mut *buf, Records::new(shared.spare())))
        });
        if let Some(batch) = full {
            shared.hand_over(batch);
        }
    }

    /// Asks the writer to reopen its sink: records written before go to the old file, those
    /// after to the new one. Returns at once.
    pub fn reopen(&self) {
        self.shared.reopen.store(true, Relaxed);
    }

    /// Waits (up to `timeout`) until every record pushed so far is in the sink; used before
    /// exit, and by tests.
    pub fn flush(&self, timeout: Duration) {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        if send_by(&self.shared.tx, Msg::Flush(done_tx), timeout) {
            let _ = done_rx.recv_timeout(timeout);
        }
    }
}

impl Shared {
    /// Runs `f` on this thread's buffer for this batcher, made on first use.
    fn with_buffer<R>(&self, f: impl FnOnce(&Lock<Records>) -> R) -> R {
        BUFFERS.with(|cell| {
            let mut buffers = cell.borrow_mut();
            let i = match buffers.iter().position(|(id, _)| *id == self.id) {
                Some(i) => i,
                None => {
                    // A batcher gone (a reload replaced it) leaves a buffer no one sweeps.
                    buffers.retain(|(_, b)| Arc::strong_count(b) > 1);
                    buffers.push((self.id, self.new_buffer()));
                    buffers.len() - 1
                }
            };
            f(&buffers[i].1)
        })
    }

    /// A buffer for one more thread, registered for the writer's sweeps.
    fn new_buffer(&self) -> Buffer {
        let b = Arc::new(Lock::new(Records::new(self.spare())));
        self.buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(b.clone());
        b
    }

    /// Gives a full buffer to the writer, or drops and counts its records when `queue`
    /// records already wait.
    fn hand_over(&self, batch: Records) {
        let records = batch.count;
        if self.enqueue(records) && self.tx.try_send(Msg::Batch(batch)).is_err() {
            self.drop_queued(records);
        }
    }

    /// Counts `records` as waiting for the writer; when that would make more than `queue`,
    /// counts them as dropped instead and says `false`.
    fn enqueue(&self, records: usize) -> bool {
        let waiting = self.stats.queued.fetch_add(records, Relaxed) + records;
        if waiting > self.queue {
            self.drop_queued(records);
            return false;
        }
        true
    }

    fn drop_queued(&self, records: usize) {
        self.stats.queued.fetch_sub(records, Relaxed);
        self.stats.dropped.fetch_add(records as u64, Relaxed);
    }

    /// An empty buffer with room for a batch: a spare if there is one.
    fn spare(&self) -> Vec<u8> {
        let spare = self
            .spares
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        spare.unwrap_or_else(|| Vec::with_capacity(self.batch_bytes))
    }

    /// Keeps an emptied buffer for reuse, unless enough are kept.
    fn give_back(&self, mut bytes: Vec<u8>) {
        bytes.clear();
        let mut spares = self.spares.lock().unwrap_or_else(PoisonError::into_inner);
        if spares.len() < SPARES && bytes.capacity() >= self.batch_bytes {
            spares.push(bytes);
        }
    }

    /// Empties every thread's buffer into the writer's batch.
    fn sweep<S: Sink>(&self, writer: &mut Writer<S>) {
        let buffers = self
            .buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for b in buffers {
            let records = {
                let mut buf = b.lock().unwrap_or_else(PoisonError::into_inner);
                if buf.count == 0 {
                    continue;
                }
                std::mem::replace(&mut *buf, Records::new(self.spare()))
            };
            // Bounded like a hand-over: a writer that is behind (a sink that blocks) must not
            // gather one more buffer per thread at every sweep.
            if self.enqueue(records.count) {
                self.give_back(writer.take(records));
            } else {
                self.give_back(records.bytes);
            }
        }
    }
}

/// `SyncSender` has no send with a deadline: retries `try_send` until it fits or time is up.
// Only `flush` waits here, when a worker stops, after its last request.
#[allow(clippy::disallowed_methods)]
fn send_by(tx: &SyncSender<Msg>, mut msg: Msg, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match tx.try_send(msg) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                msg = m;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(TrySendError::Full(_)) => return false,
        }
    }
}

fn write_loop<S: Sink>(rx: Receiver<Msg>, mut writer: Writer<S>, shared: Weak<Shared>) {
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
        // its buffer slowly, and busy threads' batches must not keep its records waiting.
        if swept.elapsed() >= SWEEP_EVERY {
            s.sweep(&mut writer);
            swept = Instant::now();
            writer.write_out();
            writer.sink.tick();
        }
        if s.reopen.swap(false, Relaxed) {
            s.sweep(&mut writer);
            writer.write_out();
            writer.sink.reopen();
        }
    }
    writer.write_out();
}

/// The writer thread's side: a batch of whole records, the sink, and its failures.
struct Writer<S> {
    sink: S,
    batch: Vec<u8>,
    /// Records in `batch`.
    batch_records: usize,
    stats: Arc<SinkStats>,
    failures: FailureLog,
}

impl<S: Sink> Writer<S> {
    fn new(sink: S, stats: Arc<SinkStats>) -> Self {
        Writer {
            sink,
            batch: Vec::with_capacity(S::WRITE_BYTES + BATCH_BYTES),
            batch_records: 0,
            stats,
            failures: FailureLog::new(S::FAILURE, S::DROPPED_METRIC),
        }
    }

    fn handle(&mut self, msg: Msg, shared: &Weak<Shared>) {
        match msg {
            Msg::Batch(records) => {
                let emptied = self.take(records);
                if let Some(s) = shared.upgrade() {
                    s.give_back(emptied);
                }
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

    /// Adds whole records to the batch, writing it out when it is large; returns their
    /// buffer, emptied, for reuse.
    fn take(&mut self, records: Records) -> Vec<u8> {
        let Records { bytes, count } = records;
        if self.batch.is_empty() && bytes.len() >= S::WRITE_BYTES {
            // A batch on its own: written from its buffer, without a copy.
            self.write(&bytes, count);
        } else {
            // Into the batch's own buffer, which keeps its room from one write to the next.
            self.batch.extend_from_slice(&bytes);
            self.batch_records += count;
            if self.batch.len() >= S::WRITE_BYTES {
                self.write_out();
            }
        }
        bytes
    }

    /// Writes the batch out and empties it (keeping its room).
    fn write_out(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut self.batch);
        let count = std::mem::take(&mut self.batch_records);
        self.write(&batch, count);
        batch.clear();
        self.batch = batch;
    }

    /// Gives `count` records to the sink; on an error counts what was lost and reports
    /// (rate-limited). They are done with either way: a sink that refuses must not make the
    /// worker hold records without bound.
    fn write(&mut self, records: &[u8], count: usize) {
        let result = self.sink.write(records);
        self.stats.queued.fetch_sub(count, Relaxed);
        match result {
            Ok(()) => self.failures.recovered(),
            Err(Lost { error, records }) => {
                self.stats.write_errors.fetch_add(1, Relaxed);
                self.stats.dropped.fetch_add(records, Relaxed);
                self.failures.failed(&error, records);
            }
        }
    }
}
