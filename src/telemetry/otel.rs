//! OpenTelemetry: one trace per request (a SERVER span, and a CLIENT span per upstream or
//! provider attempt), W3C `traceparent` accepted and propagated, exported over OTLP (HTTP or
//! gRPC) by a thread of each worker, and optionally one OTLP log record per request.
//!
//! The proxy makes a `Trace` at admission (`Otel::begin`), notes its attempts on it, and
//! hands it back with a plain description of the server span in the logging phase
//! (`Otel::finish`). This module knows nothing of routes, upstreams or providers. A request
//! never waits on the exporter: past `queue` spans waiting, what a request would add is
//! dropped and counted.

pub mod context;
mod export;
mod proto;
pub mod span;
mod transport;

use crate::config::OtelSpec;
use context::{new_span_id, new_trace_id, parse_traceparent, valid_tracestate, Sampler};
pub use export::OtlpStats;
use export::{Exporter, Msg};
pub use span::{Attempt, Attr, Finished, Mode, RequestSpan, Trace, Value};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::time::Duration;

struct Inner {
    tx: SyncSender<Msg>,
    /// The exporter thread, unparked when a batch is full.
    thread: std::thread::Thread,
    sampler: Sampler,
    logs: bool,
    queue: usize,
    batch: usize,
    stats: Arc<OtlpStats>,
}

/// The worker's tracer: off (nothing exported; a client's `traceparent` still goes on), or an
/// exporter thread and its queue.
#[derive(Clone, Default)]
pub struct Otel {
    inner: Option<Arc<Inner>>,
}

impl Otel {
    /// Starts the exporter thread for `spec`; `None` gives a tracer that exports nothing.
    pub fn start(spec: Option<&OtelSpec>, stats: Arc<OtlpStats>) -> std::io::Result<Otel> {
        let Some(spec) = spec else {
            return Ok(Otel::default());
        };
        let exporter = Exporter::new(spec.clone(), stats.clone())?;
        // Requests, not spans: `stats.queued` bounds the spans; this only has to hold them.
        let (tx, rx) = sync_channel(spec.queue.max(1));
        let handle = std::thread::Builder::new()
            .name("otlp-export".into())
            .spawn(move || exporter.run(rx))?;
        Ok(Otel {
            inner: Some(Arc::new(Inner {
                tx,
                thread: handle.thread().clone(),
                sampler: Sampler::new(spec.sample_ratio),
                logs: spec.logs,
                queue: spec.queue,
                batch: spec.batch,
                stats,
            })),
        })
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The trace of a request that arrived at `start_unix_ns` with these `traceparent` and
    /// `tracestate` values (`None` when absent or repeated). With export off, only a valid
    /// `traceparent` makes a trace, to be passed on unchanged; an invalid one starts a new
    /// trace.
    pub fn begin(
        &self,
        traceparent: Option<&[u8]>,
        tracestate: Option<&[u8]>,
        start_unix_ns: u64,
    ) -> Option<Box<Trace>> {
        let parent = traceparent.and_then(parse_traceparent);
        // The recommendation: a tracestate is meaningless without a valid traceparent.
        let tracestate = tracestate
            .filter(|v| parent.is_some() && valid_tracestate(v))
            .map(|v| String::from_utf8_lossy(v).into_owned());
        let (mode, sampled) = match &self.inner {
            None => {
                let header = String::from_utf8_lossy(traceparent?).into_owned();
                (Mode::PassThrough(header), parent?.sampled)
            }
            Some(inner) => {
                let trace_id = parent.map_or_else(new_trace_id, |p| p.trace_id);
                let sampled = inner.sampler.sampled(parent.as_ref(), &trace_id);
                return Some(Box::new(Trace {
                    trace_id,
                    span_id: new_span_id(),
                    parent: parent.map(|p| p.span_id),
                    sampled,
                    tracestate,
                    mode: Mode::Export,
                    start_unix_ns,
                    attempts: Vec::new(),
                }));
            }
        };
        let p = parent?;
        Some(Box::new(Trace {
            trace_id: p.trace_id,
            span_id: p.span_id,
            parent: None,
            sampled,
            tracestate,
            mode,
            start_unix_ns,
            attempts: Vec::new(),
        }))
    }

    /// Whether finishing `trace` exports anything: its spans (sampled) or a log record.
    pub fn wants(&self, trace: &Trace) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| i.logs || trace.recording())
    }

    /// Hands a finished request to the exporter; `describe` makes its server span, and runs
    /// only when something is exported. Never waits: a full queue drops and counts.
    pub fn finish(&self, trace: Box<Trace>, describe: impl FnOnce(&Trace) -> RequestSpan) {
        let Some(inner) = &self.inner else { return };
        if !self.wants(&trace) {
            return;
        }
        let span = describe(&trace);
        let spans = trace.recording();
        let done = Finished {
            trace,
            span,
            spans,
            log: inner.logs,
        };
        let items = done.items();
        let before = inner.stats.queued.fetch_add(items, Relaxed);
        if before + items > inner.queue || inner.tx.try_send(Msg::Done(done)).is_err() {
            inner.stats.queued.fetch_sub(items, Relaxed);
            inner.stats.dropped.fetch_add(items as u64, Relaxed);
            return;
        }
        // Woken once per batch, not per request.
        if before < inner.batch && before + items >= inner.batch {
            inner.thread.unpark();
        }
    }

    /// Exports what is queued and waits for it, up to `timeout`; used before a worker exits.
    pub fn flush(&self, timeout: Duration) {
        let Some(inner) = &self.inner else { return };
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        if inner.tx.try_send(Msg::Flush(done_tx)).is_ok() {
            inner.thread.unpark();
            let _ = done_rx.recv_timeout(timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OtlpProtocol;

    fn spec(queue: usize) -> OtelSpec {
        OtelSpec {
            protocol: OtlpProtocol::HttpProtobuf,
            host: "127.0.0.1".into(),
            port: 9,
            authority: "127.0.0.1:9".into(),
            base_path: String::new(),
            service_name: "t".into(),
            sample_ratio: 1.0,
            logs: false,
            queue,
            headers: Vec::new(),
            timeout: Duration::from_millis(50),
            batch: 1000,
            // Never due during the test: what is queued stays queued.
            interval: Duration::from_secs(600),
        }
    }

    fn request(otel: &Otel) -> Box<Trace> {
        let mut t = otel.begin(None, None, 1).unwrap();
        t.begin_attempt(2, || ("GET svc".into(), Vec::new()));
        t
    }

    fn describe(_: &Trace) -> RequestSpan {
        RequestSpan {
            name: "GET api".into(),
            end_unix_ns: 3,
            attrs: Vec::new(),
            error: None,
        }
    }

    #[test]
    fn past_the_queue_a_request_drops_its_spans_and_counts_them() {
        let stats = Arc::new(OtlpStats::default());
        let otel = Otel::start(Some(&spec(3)), stats.clone()).unwrap();
        // Two spans each (the server span and one attempt): the second request does not fit.
        otel.finish(request(&otel), describe);
        assert_eq!(stats.queued.load(Relaxed), 2);
        otel.finish(request(&otel), describe);
        assert_eq!(stats.queued.load(Relaxed), 2);
        assert_eq!(stats.dropped.load(Relaxed), 2);
    }

    #[test]
    fn an_unsampled_request_costs_nothing_but_its_header() {
        let stats = Arc::new(OtlpStats::default());
        let mut s = spec(10);
        s.sample_ratio = 0.0;
        let otel = Otel::start(Some(&s), stats.clone()).unwrap();
        let mut t = otel.begin(None, None, 1).unwrap();
        let sent = t.begin_attempt(2, || unreachable!("not described when not recording"));
        assert!(sent.ends_with("-00"));
        assert!(t.attempts.is_empty());
        otel.finish(t, |_| {
            unreachable!("not described when nothing is exported")
        });
        assert_eq!(stats.queued.load(Relaxed), 0);
    }

    #[test]
    fn without_export_only_a_valid_traceparent_makes_a_trace() {
        let off = Otel::default();
        assert!(off.begin(None, None, 1).is_none());
        assert!(off.begin(Some(b"00-zz"), None, 1).is_none());
        let tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut t = off.begin(Some(tp), Some(b"a=b"), 1).unwrap();
        assert_eq!(t.begin_attempt(2, || unreachable!()).as_bytes(), tp);
        assert_eq!(t.tracestate.as_deref(), Some("a=b"));
    }
}
