//! Per-request state shared by the proxy phases.

use crate::base::header::shared_value;
use crate::error::GatewayError;
use crate::routing::upstream::UpstreamGroup;
use crate::routing::Route;
use crate::telemetry::call::CallRecord;
use crate::telemetry::metrics::Registry;
use http::HeaderValue;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct RequestCtx {
    pub start: Instant,
    pub request_id: RequestId,
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
    /// Why the request failed or was refused. Boxed, as the other rare fields: Pingora moves
    /// the context by value into each request's future, so its size is copied per request.
    pub error: Option<Box<GatewayError>>,
    pub inflight: Option<InflightGuard>,
    /// The record of an LLM call, on LLM routes.
    pub llm: Option<Box<CallRecord>>,
    /// The app whose key the request carries, on keyed APIs.
    pub principal: Option<Arc<crate::auth::Principal>>,
    /// The public id of the key the request presented (never the key), refused or not.
    pub key_id: Option<Arc<str>>,
    /// Who the request is for its limits, made once at admission when its route or key has
    /// limits (`None` otherwise); the LLM phase adds the model.
    pub caller: Option<Box<crate::limits::vocab::Caller>>,
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
            request_id: RequestId::default(),
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

    /// The target's answer head arrived: its success and latency are noted.
    pub fn upstream_answered(&mut self) {
        if let (Some(group), Some(i), Some(t0)) = (self.group(), self.target, self.upstream_start) {
            group.report_success(i);
            let latency = t0.elapsed();
            group.metrics.latency.observe(latency);
            self.upstream_latency = Some(latency);
            self.first_byte = Some(self.start.elapsed());
        }
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

/// A request's id, kept as the header value it is sent as (upstream and on the answer): the
/// client's own value, or one made in a single shared allocation, so that setting it on both
/// heads copies nothing. Its text is visible ASCII, always.
///
/// The value is marked sensitive, which HPACK reads as "never index": an id is new on every
/// request, so indexing it would only fill an HTTP/2 connection's header table with ids, each
/// of which the next lookup of the name compares in turn (RFC 7541 7.1.3).
#[derive(Clone)]
pub struct RequestId(HeaderValue);

impl RequestId {
    fn new(mut value: HeaderValue) -> Self {
        value.set_sensitive(true);
        RequestId(value)
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A sensitive value prints as `Sensitive`; the id is not a secret.
        f.debug_tuple("RequestId").field(&self.as_str()).finish()
    }
}

impl RequestId {
    pub fn as_str(&self) -> &str {
        // Only visible ASCII is ever kept (`RequestIds::next`), so this never falls back.
        self.0.to_str().unwrap_or_default()
    }

    /// The id as the value of `X-Request-Id`.
    pub fn header(&self) -> &HeaderValue {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId(HeaderValue::from_static(""))
    }
}

impl std::ops::Deref for RequestId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for RequestId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
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

    /// The client's `X-Request-Id` when it is 1 to 128 visible ASCII characters (taken as is:
    /// a parsed value is a slice of the read buffer, its clone a reference count), else a new
    /// id: 16 hex digits of a mix of the counter and the worker's seed, then 8 of the counter,
    /// written in place.
    pub fn next(&self, from_client: Option<&HeaderValue>) -> RequestId {
        if let Some(id) = from_client.filter(|v| {
            let b = v.as_bytes();
            !b.is_empty() && b.len() <= 128 && b.iter().all(|b| b.is_ascii_graphic())
        }) {
            return RequestId::new(id.clone());
        }
        let n = self.counter.fetch_add(1, Relaxed);
        let mut id = [0u8; 24];
        hex(&mut id[..16], crate::base::hash::mix(self.seed ^ n));
        hex(&mut id[16..], n & 0xffff_ffff);
        // 24 hex digits are always a valid header value.
        RequestId::new(shared_value(id).unwrap_or_else(|| HeaderValue::from_static("")))
    }
}

/// `v`'s low `out.len()` hex digits, lower case, most significant first.
fn hex(out: &mut [u8], mut v: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in out.iter_mut().rev() {
        *b = DIGITS[(v & 0xf) as usize];
        v >>= 4;
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_made_as_before_or_kept_from_the_client() {
        let ids = RequestIds::new();
        let a = ids.next(None);
        let b = ids.next(None);
        assert_eq!(a.len(), 24);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(&a[16..], "00000000");
        assert_eq!(&b[16..], "00000001");
        let expected = format!("{:016x}", crate::base::hash::mix(ids.seed ^ 1));
        assert_eq!(&b[..16], expected);
        let client = HeaderValue::from_static("client-id-42");
        assert_eq!(ids.next(Some(&client)).as_str(), "client-id-42");
        for bad in ["", "has space", &"x".repeat(129)] {
            let v = HeaderValue::from_str(bad).unwrap();
            assert_eq!(ids.next(Some(&v)).len(), 24, "{bad:?} kept");
        }
        assert_eq!(ids.next(None).header().as_bytes().len(), 24);
    }

    #[test]
    fn ids_are_never_indexed_by_hpack_and_still_print() {
        let ids = RequestIds::new();
        let client = HeaderValue::from_static("client-id-42");
        for id in [ids.next(None), ids.next(Some(&client))] {
            assert!(id.header().is_sensitive(), "{id:?}");
        }
        let id = ids.next(Some(&client));
        assert_eq!(format!("{id:?}"), r#"RequestId("client-id-42")"#);
        assert!(
            !client.is_sensitive(),
            "the client's own value is left as it was"
        );
    }
}
