//! The call record: one per request, REST and LLM alike, the same JSON object in every sink
//! (a line of the access log, a row of the call store). The proxy builds it from borrowed
//! fields, so making one copies nothing; the call store reads it back from the line.

use crate::telemetry::call::CallRecord;
use crate::telemetry::capture::Captured;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::net::IpAddr;
use std::time::SystemTime;

mod json;

#[derive(Debug, Serialize, Deserialize)]
pub struct Record<'a> {
    /// When the request arrived: RFC 3339 UTC, with milliseconds.
    #[serde(serialize_with = "rfc3339", deserialize_with = "from_rfc3339")]
    pub time: SystemTime,
    #[serde(borrow)]
    pub request_id: Cow<'a, str>,
    /// The route (the API) that took the request; empty when none matched.
    #[serde(borrow)]
    pub route: Cow<'a, str>,
    /// The API's version, when its route declares one.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<Cow<'a, str>>,
    /// The upstream target (`host:port`) of a REST call's last attempt.
    #[serde(borrow)]
    pub upstream: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub method: Cow<'a, str>,
    /// The path, without the query (which may carry credentials).
    #[serde(borrow)]
    pub path: Cow<'a, str>,
    /// 0 when no answer was sent (the client left first).
    pub status: u16,
    /// Request body bytes read.
    pub bytes_in: u64,
    /// Response body bytes sent.
    pub bytes_out: u64,
    pub latency_ms: f64,
    /// From the start of the upstream attempt to its response header.
    pub upstream_latency_ms: Option<f64>,
    /// From the request's arrival to the first byte of the answer (the upstream's response
    /// header, or an LLM answer's first byte).
    #[serde(default)]
    pub ttfb_ms: Option<f64>,
    pub attempts: u32,
    pub client: Option<IpAddr>,
    #[serde(borrow)]
    pub error: Option<Cow<'a, str>>,
    /// The gateway's error code (`route_not_found`, `invalid_api_key`, ...).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<Cow<'a, str>>,
    /// On keyed APIs: the tenant and app of the key, and its public id (never the key).
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub app: Option<Cow<'a, str>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Cow<'a, str>>,
    /// On a TLS listener that checks client certificates: the verified certificate's subject.
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<Cow<'a, str>>,
    /// On a gRPC call: the `grpc-status` the upstream answered (in its trailers, or in the
    /// headers of a trailers-only answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc_status: Option<u32>,
    /// On LLM routes: the call's models, deployment, usage and cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm: Option<Cow<'a, CallRecord>>,
}

fn rfc3339<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

fn from_rfc3339<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
    let text = <Cow<'de, str>>::deserialize(d)?;
    humantime::parse_rfc3339(&text).map_err(serde::de::Error::custom)
}

/// A duration in milliseconds to the microsecond, the precision of the record's times (and
/// the one its JSON writes fastest).
pub fn millis(d: std::time::Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

impl Record<'_> {
    /// Appends the record as JSON (no newline), with the captured headers and bodies as
    /// fields of their own; `false` when it cannot be written.
    pub fn write_json(&self, out: &mut Vec<u8>, captured: Option<&Captured>) -> bool {
        let start = out.len();
        if !json::write(self, out) {
            return false;
        }
        let Some(c) = captured else { return true };
        // The capture's object, its braces dropped, goes inside the record's: the record
        // stays one flat object, and the store reads it back without the capture's fields.
        let Ok(extra) = serde_json::to_vec(c) else {
            return false;
        };
        if extra.len() > 2 && out.last() == Some(&b'}') && out.len() > start + 2 {
            out.pop();
            out.push(b',');
            out.extend_from_slice(&extra[1..]);
        }
        true
    }

    /// The record's start, in milliseconds since the Unix epoch.
    pub fn unix_ms(&self) -> i64 {
        self.time
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis().min(i64::MAX as u128) as i64)
    }
}
