//! Per-request state shared by the proxy phases.

use crate::error::GatewayError;
use crate::routing::upstream::UpstreamGroup;
use crate::routing::Route;
use crate::telemetry::call::CallRecord;
use crate::telemetry::metrics::Registry;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct RequestCtx {
    pub start: Instant,
    pub request_id: String,
    pub route: Option<Arc<Route>>,
    /// The target currently in use, as an index into the route's upstream group.
    pub target: Option<usize>,
    /// One bit per target already tried by this request.
    pub tried: u64,
    pub attempts: u32,
    pub upstream_start: Option<Instant>,
    pub upstream_latency: Option<Duration>,
    /// From the request's arrival to the first byte of its answer: the upstream's response
    /// header, or an LLM answer's first byte.
    pub first_byte: Option<Duration>,
    pub deadline: Option<Instant>,
    pub max_body_bytes: u64,
    pub body_bytes: u64,
    pub error: Option<GatewayError>,
    pub inflight: Option<InflightGuard>,
    /// The record of an LLM call, on LLM routes.
    pub llm: Option<Box<CallRecord>>,
    /// The app whose key the request carries, on keyed APIs.
    pub principal: Option<Arc<crate::auth::Principal>>,
    /// The public id of the key the request presented (never the key), refused or not.
    pub key_id: Option<Arc<str>>,
    /// Who the request is for its limits, made once at admission when its route or key has
    /// limits (`None` otherwise); the LLM phase adds the model.
    pub caller: Option<crate::limits::vocab::Caller>,
    /// The token and cost limits of an LLM route, and what the call reserved from them.
    pub budget: Option<Box<crate::limits::budget::Budget>>,
    /// Places held in the route's concurrency caps; given back when the request ends (the
    /// logging phase, or the context's drop), which for an LLM stream is when it ends.
    pub concurrency: Vec<crate::limits::concurrency::Held>,
    /// Headers the gate adds to the response: deprecation and rate-limit headers.
    pub response_headers: crate::limits::vocab::Headers,
    /// Headers and bodies kept for the call logs, on routes with `capture` only.
    pub capture: Option<Box<crate::telemetry::capture::Capturing>>,
    /// The request's trace: with `[otel]` on, or to pass a client's `traceparent` on.
    pub trace: Option<Box<crate::telemetry::otel::Trace>>,
    /// A gRPC call's `grpc-status`, from the upstream's trailers or trailers-only headers.
    pub grpc_status: Option<u32>,
}

impl RequestCtx {
    pub fn new() -> Self {
        RequestCtx {
            start: Instant::now(),
            request_id: String::new(),
            route: None,
            target: None,
            tried: 0,
            attempts: 0,
            upstream_start: None,
            upstream_latency: None,
            first_byte: None,
            deadline: None,
            max_body_bytes: u64::MAX,
            body_bytes: 0,
            error: None,
            inflight: None,
            llm: None,
            principal: None,
            key_id: None,
            caller: None,
            response_headers: Vec::new(),
            budget: None,
            concurrency: Vec::new(),
            capture: None,
            trace: None,
            grpc_status: None,
        }
    }

    /// The upstream group of the chosen route, when it is a proxy route.
    pub fn group(&self) -> Option<&Arc<UpstreamGroup>> {
        self.route.as_ref().and_then(|r| r.group())
    }

    /// Lets go of the current target's in-flight slot (on retry and at the end).
    pub fn release_target(&mut self) {
        if let Some(i) = self.target.take() {
            if let Some(group) = self.group() {
                group.end(i);
            }
        }
    }
}

impl Default for RequestCtx {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for RequestCtx {
    fn drop(&mut self) {
        self.release_target();
    }
}

/// Counts a request as in flight for as long as it lives; draining waits for the count to fall.
pub struct InflightGuard(Arc<Registry>);

impl InflightGuard {
    pub fn new(registry: &Arc<Registry>) -> Self {
        registry.inflight.fetch_add(1, Relaxed);
        InflightGuard(registry.clone())
    }
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Relaxed);
    }
}

/// Request ids: kept from the client when sane, else 24 hex digits unique per worker.
pub struct RequestIds {
    seed: u64,
    counter: AtomicU64,
}

impl RequestIds {
    pub fn new() -> Self {
        let nanos = crate::base::clock::now_unix_ns();
        RequestIds {
            seed: crate::base::hash::mix(nanos ^ ((std::process::id() as u64) << 32)),
            counter: AtomicU64::new(0),
        }
    }

    pub fn next(&self, from_client: Option<&[u8]>) -> String {
        if let Some(id) = from_client
            .filter(|v| !v.is_empty() && v.len() <= 128 && v.iter().all(|b| b.is_ascii_graphic()))
        {
            return String::from_utf8_lossy(id).into_owned();
        }
        let n = self.counter.fetch_add(1, Relaxed);
        format!(
            "{:016x}{:08x}",
            crate::base::hash::mix(self.seed ^ n),
            n as u32
        )
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}
