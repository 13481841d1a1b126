//! The access log: one JSON line per request, written by a dedicated thread so that no request
//! ever waits on a file. The queue is bounded; when it is full the line is dropped and counted.

use crate::config::compile::AccessLogTarget;
use serde::Serialize;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

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
    dropped: Arc<AtomicU64>,
}

impl AccessLog {
    /// Starts the writer thread; `Off` gives a log that accepts and discards.
    pub fn start(
        target: &AccessLogTarget,
        queue: usize,
        dropped: Arc<AtomicU64>,
    ) -> std::io::Result<Self> {
        let sink: Box<dyn Write + Send> = match target {
            AccessLogTarget::Off => return Ok(AccessLog { tx: None, dropped }),
            AccessLogTarget::Stdout => Box::new(std::io::stdout()),
            AccessLogTarget::Stderr => Box::new(std::io::stderr()),
            AccessLogTarget::File(p) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
        };
        Self::with_sink(sink, queue, dropped)
    }

    fn with_sink(
        sink: Box<dyn Write + Send>,
        queue: usize,
        dropped: Arc<AtomicU64>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(queue);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || write_loop(rx, sink))?;
        Ok(AccessLog {
            tx: Some(tx),
            dropped,
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
                self.dropped.fetch_add(1, Relaxed);
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

fn write_loop(rx: Receiver<Msg>, sink: Box<dyn Write + Send>) {
    let mut out = std::io::BufWriter::with_capacity(64 << 10, sink);
    while let Ok(msg) = rx.recv() {
        handle(&mut out, msg);
        // Drain what is queued before flushing, so a busy gateway writes in large chunks.
        while let Ok(msg) = rx.try_recv() {
            handle(&mut out, msg);
        }
        let _ = out.flush();
    }
    let _ = out.flush();
}

fn handle(out: &mut impl Write, msg: Msg) {
    match msg {
        Msg::Line(rec) => {
            if serde_json::to_writer(&mut *out, &rec).is_ok() {
                let _ = out.write_all(b"\n");
            }
        }
        Msg::Flush(done) => {
            let _ = out.flush();
            let _ = done.send(());
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
        let dropped = Arc::new(AtomicU64::new(0));
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let sink = Stuck(std::sync::Mutex::new(gate), written.clone(), entered_tx);
        let log = AccessLog::with_sink(Box::new(sink), 2, dropped.clone()).unwrap();
        log.send(record(0));
        entered.recv().unwrap();
        // The writer is stuck on line 0 and the queue holds two lines: the other 18 are dropped,
        // and every send returns at once (a blocking send would hang this test).
        for i in 1..=20 {
            log.send(record(i));
        }
        assert_eq!(dropped.load(Relaxed), 18);
        drop(release);
        log.flush(std::time::Duration::from_secs(5));
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
    }
}
