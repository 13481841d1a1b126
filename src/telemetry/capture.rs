//! Capture of a request's headers and bodies, on routes with `capture` set.
//!
//! `Capturing` lives in the request's context only on such routes (a route without capture
//! pays one branch per body chunk and allocates nothing). It keeps the first `max_bytes` of
//! each body and counts the rest. When the request ends (the logging phase, after the answer
//! has been sent) `finish` masks it once (`telemetry::mask`) into a `Captured`, the plain
//! struct every sink takes: nothing unmasked leaves the request, and the access log and the
//! call store share one masking.

use crate::config::CaptureSpec;
use crate::telemetry::mask;
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};
use std::sync::Arc;

/// What a request has captured so far, unmasked: it never leaves the request's context.
pub struct Capturing {
    spec: Arc<CaptureSpec>,
    request: Part,
    response: Part,
}

/// The first bytes of a body, and how many it had in all.
#[derive(Default)]
struct Part {
    kept: Vec<u8>,
    seen: u64,
}

impl Part {
    fn push(&mut self, chunk: &[u8], max: usize) {
        self.seen += chunk.len() as u64;
        let room = max.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&chunk[..room.min(chunk.len())]);
    }

    fn cut(&self) -> bool {
        self.seen > self.kept.len() as u64
    }
}

impl Capturing {
    pub fn new(spec: &Arc<CaptureSpec>) -> Box<Capturing> {
        Box::new(Capturing {
            spec: Arc::clone(spec),
            request: Part::default(),
            response: Part::default(),
        })
    }

    pub fn request_body(&mut self, chunk: &[u8]) {
        if self.spec.bodies {
            self.request.push(chunk, self.spec.max_bytes);
        }
    }

    pub fn response_body(&mut self, chunk: &[u8]) {
        if self.spec.bodies {
            self.response.push(chunk, self.spec.max_bytes);
        }
    }

    /// Another upstream attempt: Pingora sends the request body again from its start.
    pub fn restart_request(&mut self) {
        self.request = Part::default();
    }

    /// The capture, masked; `headers` are the request's as the client sent them.
    pub fn finish(self, headers: &http::HeaderMap) -> Captured {
        let rules = &self.spec.mask;
        let mut request_headers: Vec<(String, String)> = Vec::new();
        if self.spec.headers {
            for (name, value) in headers {
                let value = mask::header(
                    rules,
                    name.as_str(),
                    &String::from_utf8_lossy(value.as_bytes()),
                );
                // One entry per name, as in the log's JSON object: repeated values joined.
                match request_headers.iter_mut().find(|(n, _)| n == name.as_str()) {
                    Some((_, v)) => {
                        v.push_str(", ");
                        v.push_str(&value);
                    }
                    None => request_headers.push((name.as_str().to_string(), value)),
                }
            }
        }
        let body = |p: &Part| mask::body(rules, &p.kept, p.cut(), p.seen);
        let bodies = self.spec.bodies;
        Captured {
            request_headers,
            request_body: bodies.then(|| body(&self.request)),
            response_body: bodies.then(|| body(&self.response)),
            truncated: bodies && (self.request.cut() || self.response.cut()),
        }
    }
}

/// A request's captured headers and bodies, masked: what sinks write. Serialized as the
/// access log's fields `request_headers` (an object), `request_body`, `response_body` and
/// `bodies_truncated`, each only when captured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// Lower-case names, in the order the client sent them; empty when headers are not
    /// captured.
    pub request_headers: Vec<(String, String)>,
    /// `None` when bodies are not captured.
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    /// A body was longer than `max_bytes`.
    pub truncated: bool,
}

impl Serialize for Captured {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut out = s.serialize_struct("Captured", 4)?;
        if !self.request_headers.is_empty() {
            out.serialize_field("request_headers", &Headers(&self.request_headers))?;
        }
        if let (Some(req), Some(resp)) = (&self.request_body, &self.response_body) {
            out.serialize_field("request_body", req)?;
            out.serialize_field("response_body", resp)?;
            out.serialize_field("bodies_truncated", &self.truncated)?;
        }
        out.end()
    }
}

struct Headers<'a>(&'a [(String, String)]);

impl Serialize for Headers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema::MaskSection;
    use crate::config::MaskRules;

    fn spec(bodies: bool, headers: bool, max_bytes: usize) -> Arc<CaptureSpec> {
        let section = MaskSection {
            json_paths: vec!["$.pin".into()],
            ..MaskSection::default()
        };
        Arc::new(CaptureSpec {
            bodies,
            headers,
            max_bytes,
            mask: MaskRules::compile(&section).unwrap(),
        })
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn bodies_are_kept_to_max_bytes_and_masked() {
        let mut c = Capturing::new(&spec(true, false, 16));
        c.request_body(br#"{"pin": "1234","#);
        c.request_body(br#" "n": 1}"#);
        c.response_body(b"hello world");
        c.response_body(b"abcdefghij");
        let got = c.finish(&headers(&[("authorization", "Bearer x")]));
        assert_eq!(got.request_headers, []);
        assert_eq!(got.request_body.as_deref(), Some(r#"{"pin":"[MASKED]"}"#));
        // Cut at 16 bytes, inside a word: the partial word is dropped.
        assert_eq!(got.response_body.as_deref(), Some("hello"));
        assert!(got.truncated);
    }

    #[test]
    fn a_retry_captures_the_body_once() {
        let mut c = Capturing::new(&spec(true, false, 64));
        c.request_body(b"abc");
        c.restart_request();
        c.request_body(b"abc");
        let got = c.finish(&http::HeaderMap::new());
        assert_eq!(got.request_body.as_deref(), Some("abc"));
        assert!(!got.truncated);
    }

    #[test]
    fn headers_are_masked_and_serialized_as_one_object() {
        let mut c = Capturing::new(&spec(false, true, 64));
        c.request_body(b"ignored");
        let got = c.finish(&headers(&[
            ("authorization", "Bearer abc"),
            ("accept", "a"),
            ("accept", "b"),
        ]));
        assert_eq!(
            got.request_headers,
            [
                ("authorization".to_string(), "[MASKED]".to_string()),
                ("accept".to_string(), "a, b".to_string())
            ]
        );
        assert_eq!(got.request_body, None);
        assert_eq!(
            serde_json::to_value(&got).unwrap(),
            serde_json::json!({"request_headers": {"authorization": "[MASKED]", "accept": "a, b"}})
        );
    }
}
