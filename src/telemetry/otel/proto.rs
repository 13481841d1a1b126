//! The OTLP protobuf messages the exporter sends, encoded by hand: the subset of
//! `opentelemetry/proto` (collector trace and logs services, common, resource, trace, logs)
//! that spans and log records need. Four wire types cover it, so a code generator and its
//! dependency are not worth their build time; the field numbers are those of the .proto files
//! (opentelemetry-proto v1), and the integration tests decode every message with the official
//! Python package.

use super::span::{Attempt, Attr, Finished, Trace, Value};

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

const KIND_SERVER: u64 = 2;
const KIND_CLIENT: u64 = 3;
const STATUS_ERROR: u64 = 2;
/// `SpanFlags`: the parent's remoteness is known, and (second bit) it is remote.
const HAS_IS_REMOTE: u32 = 0x100;
const IS_REMOTE: u32 = 0x200;
const SEVERITY_INFO: u64 = 9;
const SEVERITY_ERROR: u64 = 17;

fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn tag(buf: &mut Vec<u8>, field: u32, wire: u8) {
    varint(buf, u64::from(field) << 3 | u64::from(wire));
}

fn bytes(buf: &mut Vec<u8>, field: u32, b: &[u8]) {
    tag(buf, field, LEN);
    varint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// A string field; proto3 leaves an empty one out.
fn string(buf: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
        bytes(buf, field, s.as_bytes());
    }
}

fn uint(buf: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        tag(buf, field, VARINT);
        varint(buf, v);
    }
}

fn fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
    tag(buf, field, FIXED64);
    buf.extend_from_slice(&v.to_le_bytes());
}

fn fixed32(buf: &mut Vec<u8>, field: u32, v: u32) {
    tag(buf, field, FIXED32);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// A nested message: written in place, then its length put before it.
fn message(buf: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    tag(buf, field, LEN);
    let start = buf.len();
    body(buf);
    let mut len = Vec::with_capacity(5);
    varint(&mut len, (buf.len() - start) as u64);
    buf.splice(start..start, len);
}

/// `AnyValue`.
fn any_value(buf: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Str(s) => bytes(buf, 1, s.as_bytes()),
        Value::Bool(b) => {
            tag(buf, 2, VARINT);
            varint(buf, u64::from(*b));
        }
        Value::Int(i) => {
            tag(buf, 3, VARINT);
            varint(buf, *i as u64);
        }
        Value::Double(d) => {
            tag(buf, 4, FIXED64);
            buf.extend_from_slice(&d.to_le_bytes());
        }
    }
}

/// `repeated KeyValue` at `field`.
fn attributes(buf: &mut Vec<u8>, field: u32, attrs: &[Attr]) {
    for (k, v) in attrs {
        message(buf, field, |b| {
            string(b, 1, k);
            message(b, 2, |b| any_value(b, v));
        });
    }
}

/// Who sends: the `Resource` and the `InstrumentationScope` of every export.
pub struct Origin {
    pub service_name: String,
    pub host_name: String,
    pub pid: u32,
}

fn resource(buf: &mut Vec<u8>, origin: &Origin) {
    message(buf, 1, |b| {
        attributes(
            b,
            1,
            &[
                ("service.name", Value::from(origin.service_name.as_str())),
                ("service.version", Value::from(env!("CARGO_PKG_VERSION"))),
                ("host.name", Value::from(origin.host_name.as_str())),
                ("process.pid", Value::Int(origin.pid.into())),
                ("telemetry.sdk.name", Value::from("tollgate")),
                ("telemetry.sdk.language", Value::from("rust")),
            ],
        );
    });
}

fn scope(buf: &mut Vec<u8>) {
    message(buf, 1, |b| {
        string(b, 1, "tollgate");
        string(b, 2, env!("CARGO_PKG_VERSION"));
    });
}

/// `ExportTraceServiceRequest` with the spans of `requests`.
pub fn traces(origin: &Origin, requests: &[&Finished]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(512 * requests.len() + 256);
    message(&mut buf, 1, |b| {
        resource(b, origin);
        message(b, 2, |b| {
            scope(b);
            for f in requests {
                server_span(b, f);
                for a in &f.trace.attempts {
                    attempt_span(b, &f.trace, a, f.span.end_unix_ns);
                }
            }
        });
    });
    buf
}

fn trace_flags(t: &Trace) -> u32 {
    u32::from(t.sampled)
}

fn server_span(buf: &mut Vec<u8>, f: &Finished) {
    let t = &f.trace;
    message(buf, 2, |b| {
        bytes(b, 1, &t.trace_id);
        bytes(b, 2, &t.span_id);
        if let Some(ts) = &t.tracestate {
            string(b, 3, ts);
        }
        if let Some(p) = &t.parent {
            bytes(b, 4, p);
        }
        string(b, 5, &f.span.name);
        uint(b, 6, KIND_SERVER);
        fixed64(b, 7, t.start_unix_ns);
        fixed64(b, 8, f.span.end_unix_ns.max(t.start_unix_ns));
        attributes(b, 9, &f.span.attrs);
        if let Some(msg) = &f.span.error {
            status_error(b, msg);
        }
        let remote = if t.parent.is_some() { IS_REMOTE } else { 0 };
        fixed32(b, 16, trace_flags(t) | HAS_IS_REMOTE | remote);
    });
}

fn attempt_span(buf: &mut Vec<u8>, t: &Trace, a: &Attempt, request_end: u64) {
    message(buf, 2, |b| {
        bytes(b, 1, &t.trace_id);
        bytes(b, 2, &a.span_id);
        if let Some(ts) = &t.tracestate {
            string(b, 3, ts);
        }
        bytes(b, 4, &t.span_id);
        string(b, 5, &a.name);
        uint(b, 6, KIND_CLIENT);
        fixed64(b, 7, a.start_unix_ns);
        let end = if a.end_unix_ns == 0 {
            request_end
        } else {
            a.end_unix_ns
        };
        fixed64(b, 8, end.max(a.start_unix_ns));
        attributes(b, 9, &a.attrs);
        let mut extra: Vec<Attr> = Vec::with_capacity(2);
        if let Some(s) = a.status {
            extra.push(("http.response.status_code", Value::from(s)));
        }
        if let Some(e) = &a.error {
            extra.push(("error.type", Value::from(e.as_str())));
        }
        attributes(b, 9, &extra);
        match (&a.error, a.status) {
            (Some(e), _) => status_error(b, e),
            (None, Some(s)) if s >= 500 => status_error(b, &format!("HTTP {s}")),
            _ => {}
        }
        fixed32(b, 16, trace_flags(t) | HAS_IS_REMOTE);
    });
}

/// `Status { message = 2; code = 3 }` with code ERROR.
fn status_error(buf: &mut Vec<u8>, msg: &str) {
    message(buf, 15, |b| {
        string(b, 2, msg);
        uint(b, 3, STATUS_ERROR);
    });
}

/// `ExportLogsServiceRequest`: one record per request, its attributes those of its server
/// span, linked to the trace when it was sampled.
pub fn logs(origin: &Origin, requests: &[&Finished]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(384 * requests.len() + 256);
    message(&mut buf, 1, |b| {
        resource(b, origin);
        message(b, 2, |b| {
            scope(b);
            for f in requests {
                log_record(b, f);
            }
        });
    });
    buf
}

fn log_record(buf: &mut Vec<u8>, f: &Finished) {
    let t = &f.trace;
    message(buf, 2, |b| {
        fixed64(b, 1, f.span.end_unix_ns);
        let (severity, text) = match f.span.error {
            Some(_) => (SEVERITY_ERROR, "ERROR"),
            None => (SEVERITY_INFO, "INFO"),
        };
        uint(b, 2, severity);
        string(b, 3, text);
        message(b, 5, |b| any_value(b, &Value::Str(f.span.name.clone())));
        attributes(b, 6, &f.span.attrs);
        let took = f.span.end_unix_ns.saturating_sub(t.start_unix_ns);
        let duration = Value::Double(took as f64 / 1e6);
        attributes(b, 6, &[("tollgate.duration_ms", duration)]);
        fixed32(b, 8, trace_flags(t));
        bytes(b, 9, &t.trace_id);
        bytes(b, 10, &t.span_id);
        fixed64(b, 11, f.span.end_unix_ns);
        string(b, 12, "tollgate.request");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_little_endian_groups_of_seven_bits() {
        let mut b = Vec::new();
        varint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
        b.clear();
        varint(&mut b, u64::MAX);
        assert_eq!(b.len(), 10);
    }

    #[test]
    fn a_nested_message_gets_its_length_in_front() {
        let mut b = Vec::new();
        message(&mut b, 1, |b| string(b, 1, &"x".repeat(200)));
        // tag 0x0a, length 203 as a varint (0xcb 0x01), then the inner field.
        assert_eq!(&b[..3], &[0x0a, 0xcb, 0x01]);
        assert_eq!(b.len(), 3 + 203);
    }

    #[test]
    fn negative_ints_take_ten_bytes_as_proto3_int64_does() {
        let mut b = Vec::new();
        any_value(&mut b, &Value::Int(-1));
        assert_eq!(b.len(), 1 + 10);
    }
}
