//! The exporter thread of one worker: takes finished requests from a bounded queue, batches
//! them by `batch` spans or `interval`, encodes them and sends them to the collector. A
//! request never waits on it: the queue is filled with `try_send`, and the thread is woken
//! only when a batch is full (or by its own timer), not per request.
//!
//! An export that fails is tried once more within `timeout`, then dropped and counted; the
//! process log says so (`telemetry::report`).

use super::proto::{self, Origin};
use super::span::Finished;
use super::transport::{self, Failed, Signal};
use crate::config::OtelSpec;
use crate::telemetry::report::FailureLog;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the exporter counts, read by the worker's metrics.
#[derive(Default)]
pub struct OtlpStats {
    /// Spans and log records lost: the queue was full, or their export failed.
    pub dropped: AtomicU64,
    /// Export requests that failed (after their one retry).
    pub export_errors: AtomicU64,
    /// Spans and log records waiting to be exported (at most `queue`).
    pub queued: AtomicUsize,
}

/// What the exporter thread receives.
pub enum Msg {
    Done(Finished),
    /// Export everything queued now, then answer.
    Flush(Sender<()>),
}

pub struct Exporter {
    spec: OtelSpec,
    origin: Origin,
    stats: Arc<OtlpStats>,
    runtime: tokio::runtime::Runtime,
    pending: Vec<Finished>,
    /// Spans and log records in `pending`.
    pending_items: usize,
    failures: FailureLog,
}

impl Exporter {
    pub fn new(spec: OtelSpec, stats: Arc<OtlpStats>) -> std::io::Result<Exporter> {
        // Its own runtime, on its own thread: never one of Pingora's.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let origin = Origin {
            service_name: spec.service_name.clone(),
            host_name: host_name(),
            pid: std::process::id(),
        };
        let failures = FailureLog::new(
            format!("OTLP export to {}", spec.authority),
            "tollgate_otlp_dropped_total",
        );
        Ok(Exporter {
            spec,
            origin,
            stats,
            runtime,
            pending: Vec::new(),
            pending_items: 0,
            failures,
        })
    }

    /// Runs until every sender is gone. The thread parks between batches; a request that
    /// fills a batch unparks it.
    pub fn run(mut self, rx: Receiver<Msg>) {
        let mut last = Instant::now();
        loop {
            let due = last + self.spec.interval;
            let now = Instant::now();
            if self.pending_items < self.spec.batch && now < due {
                std::thread::park_timeout(due - now);
            }
            let mut flushes = Vec::new();
            let gone = loop {
                match rx.try_recv() {
                    Ok(Msg::Done(f)) => {
                        self.pending_items += f.items();
                        self.pending.push(f);
                    }
                    Ok(Msg::Flush(done)) => flushes.push(done),
                    Err(TryRecvError::Empty) => break false,
                    Err(TryRecvError::Disconnected) => break true,
                }
            };
            let timer = Instant::now() >= due;
            if self.pending_items >= self.spec.batch || timer || !flushes.is_empty() || gone {
                self.export_all();
                last = Instant::now();
            }
            for done in flushes {
                let _ = done.send(());
            }
            if gone {
                return;
            }
        }
    }

    /// Exports what is pending, in batches of at most `batch` spans.
    fn export_all(&mut self) {
        while !self.pending.is_empty() {
            let mut items = 0;
            let mut take = 0;
            for f in &self.pending {
                if take > 0 && items + f.items() > self.spec.batch {
                    break;
                }
                items += f.items();
                take += 1;
            }
            let batch: Vec<Finished> = self.pending.drain(..take).collect();
            self.pending_items -= items;
            // Taken for export: no longer waiting, whatever becomes of them.
            self.stats.queued.fetch_sub(items, Relaxed);
            self.export(&batch);
        }
    }

    fn export(&mut self, batch: &[Finished]) {
        let spans: Vec<&Finished> = batch.iter().filter(|f| f.spans).collect();
        let logs: Vec<&Finished> = batch.iter().filter(|f| f.log).collect();
        if !spans.is_empty() {
            let lost = spans
                .iter()
                .map(|f| 1 + f.trace.attempts.len())
                .sum::<usize>();
            let body = proto::traces(&self.origin, &spans);
            self.send(Signal::Traces, &body, lost as u64);
        }
        if !logs.is_empty() {
            let body = proto::logs(&self.origin, &logs);
            self.send(Signal::Logs, &body, logs.len() as u64);
        }
    }

    /// Sends one export request, tried at most twice within `timeout`.
    fn send(&mut self, signal: Signal, body: &[u8], items: u64) {
        let spec = &self.spec;
        let deadline = tokio::time::Instant::now() + spec.timeout;
        let result = self.runtime.block_on(async {
            let first =
                tokio::time::timeout_at(deadline, transport::send(spec, signal, body)).await;
            match first {
                Ok(Err(Failed {
                    retryable: true, ..
                })) => tokio::time::timeout_at(deadline, transport::send(spec, signal, body))
                    .await
                    .unwrap_or_else(|_| Err(timed_out(spec.timeout))),
                Ok(r) => r,
                Err(_) => Err(timed_out(spec.timeout)),
            }
        });
        match result {
            Ok(()) => self.failures.recovered(),
            Err(f) => self.failed(signal, &f, items),
        }
    }

    fn failed(&mut self, signal: Signal, f: &Failed, lost: u64) {
        self.stats.dropped.fetch_add(lost, Relaxed);
        self.stats.export_errors.fetch_add(1, Relaxed);
        let what = match signal {
            Signal::Traces => "spans",
            Signal::Logs => "log records",
        };
        self.failures
            .failed(&format!("{} ({what})", f.reason), lost);
    }
}

fn timed_out(after: Duration) -> Failed {
    Failed {
        reason: format!("no answer within the timeout of {after:?}"),
        retryable: false,
    }
}

/// The host's name for the resource, from the kernel; empty when it cannot be read.
// Read once, when the exporter thread starts: never on a request thread.
#[allow(clippy::disallowed_methods)]
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}
