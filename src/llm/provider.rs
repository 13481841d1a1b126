//! A configured provider at run time: its keys, taken in turn, and the head of each request,
//! built from what its kind declares in its descriptor (`providers/<format>/descriptor.rs`).
//! What of a head depends on the provider alone is made when the provider is, the whole
//! request line and fixed fields where the target does not name the model.

use crate::config::{ProviderSpec, Secret};
use crate::llm::ir::{ApiError, ErrorKind};
use http::header::{self, HeaderName, HeaderValue};
use pingora::http::RequestHeader;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Their home is the descriptor; the rest of the gateway names them from here.
pub use crate::llm::providers::descriptor::{Format, Operation};

pub struct Provider {
    pub spec: ProviderSpec,
    /// `None` for the in-process mock.
    pub format: Option<Format>,
    next_key: AtomicUsize,
    head: Result<FixedHead, &'static str>,
}

/// The fields of every request head that depend on the provider alone, checked and made once
/// rather than parsed again on each call.
struct FixedHead {
    /// `Host`, `User-Agent` and the API version header.
    fields: Vec<(HeaderName, HeaderValue)>,
    /// The header a key goes in.
    auth: HeaderName,
    /// Per operation (`slot`), its head up to `Content-Type` when its target does not depend
    /// on the model (OpenAI's, Anthropic's): a call clones it rather than parsing the target
    /// into a URI again, which cost more than the rest of the head.
    made: [Option<RequestHeader>; 3],
}

/// Where an operation's head is kept in `FixedHead::made`.
fn slot(op: Operation) -> usize {
    match op {
        Operation::Chat { stream: false } => 0,
        Operation::Chat { stream: true } => 1,
        Operation::Embeddings => 2,
    }
}

const OPERATIONS: [Operation; 3] = [
    Operation::Chat { stream: false },
    Operation::Chat { stream: true },
    Operation::Embeddings,
];

impl FixedHead {
    /// `Err` names the part that cannot be a header; the configuration checks make that
    /// unreachable, and a call then fails with it rather than the gateway refusing to start.
    fn new(spec: &ProviderSpec) -> Result<FixedHead, &'static str> {
        let (Some(ep), Some(http)) = (&spec.endpoint, &spec.descriptor.http) else {
            return Err("endpoint");
        };
        let host = HeaderValue::from_str(&ep.authority).map_err(|_| "host header value")?;
        let mut fields = vec![
            (header::HOST, host),
            (
                header::USER_AGENT,
                HeaderValue::from_static(concat!("tollgate/", env!("CARGO_PKG_VERSION"))),
            ),
        ];
        if let Some(name) = http.api_version.as_ref().and_then(|v| v.header) {
            let name = HeaderName::from_static(name);
            let value =
                HeaderValue::from_str(&spec.api_version).map_err(|_| "api_version header value")?;
            fields.push((name, value));
        }
        Ok(FixedHead {
            fields,
            auth: HeaderName::from_static(http.auth.header),
            made: [None, None, None],
        })
    }
}

impl Provider {
    pub fn new(spec: ProviderSpec) -> Provider {
        let format = spec.descriptor.http.as_ref().map(|h| h.format);
        let head = FixedHead::new(&spec);
        let mut provider = Provider {
            spec,
            format,
            next_key: AtomicUsize::new(0),
            head,
        };
        let made = OPERATIONS.map(|op| {
            let http = provider.spec.descriptor.http.as_ref()?;
            let template = http.paths.get(op)?;
            (!http.path_names_model(template)).then(|| provider.start(op, "").ok())?
        });
        if let Ok(head) = provider.head.as_mut() {
            head.made = made;
        }
        provider
    }

    /// The key for one call: the deployment's own, else the provider's keys in turn.
    pub fn key<'a>(&'a self, own: Option<&'a Secret>) -> Option<&'a str> {
        if let Some(k) = own {
            return Some(k.expose());
        }
        let keys = &self.spec.keys;
        if keys.is_empty() {
            return None;
        }
        let i = self.next_key.fetch_add(1, Relaxed) % keys.len();
        Some(keys[i].expose())
    }

    /// The request line and headers of one call; the body is the format's.
    pub fn request(
        &self,
        op: Operation,
        model: &str,
        key: Option<&str>,
        body_len: usize,
    ) -> Result<RequestHeader, ApiError> {
        let made = self
            .head
            .as_ref()
            .ok()
            .and_then(|h| h.made[slot(op)].as_ref());
        let mut req = match made {
            Some(made) => made.clone(),
            None => self.start(op, model)?,
        };
        // Both hold once `start` or `new` made the head; this only names them.
        let (Some(http), Ok(head)) = (&self.spec.descriptor.http, &self.head) else {
            return Err(bad("request head"));
        };
        let _ = req.reserve_headers(3 + self.spec.headers.len());
        req.insert_titled_header(header::CONTENT_LENGTH, HeaderValue::from(body_len));
        if matches!(op, Operation::Chat { stream: true }) {
            let events = HeaderValue::from_static("text/event-stream");
            req.insert_titled_header(header::ACCEPT, events);
        }
        if let Some(key) = key {
            let value = auth_value(http.auth.scheme, key).ok_or_else(|| bad("key header value"))?;
            req.insert_titled_header(head.auth.clone(), value);
        }
        for (name, value) in &self.spec.headers {
            req.insert_titled_header(name.clone(), value.clone());
        }
        Ok(req)
    }

    /// The head of one call up to `Content-Type`: the request line and the provider's fixed
    /// fields.
    fn start(&self, op: Operation, model: &str) -> Result<RequestHeader, ApiError> {
        let (Some(ep), Some(http)) = (&self.spec.endpoint, &self.spec.descriptor.http) else {
            return Err(ApiError::new(
                ErrorKind::ProviderFailure,
                "the mock provider has no endpoint",
            ));
        };
        let Some(template) = http.paths.get(op) else {
            return Err(ApiError::invalid(
                "model",
                format!(
                    "provider {:?} ({}) has no embeddings endpoint",
                    self.spec.name, self.spec.descriptor.kind
                ),
            ));
        };
        let path = http.path(&ep.path, template, model, &self.spec.api_version)?;
        let head = self.head.as_ref().map_err(|what| bad(what))?;
        let mut req = RequestHeader::build("POST", path.as_bytes(), Some(8))
            .map_err(|_| bad("request path"))?;
        let _ = req.reserve_headers(head.fields.len() + 4 + self.spec.headers.len());
        for (name, value) in &head.fields {
            req.insert_titled_header(name.clone(), value.clone());
        }
        let json = HeaderValue::from_static("application/json");
        req.insert_titled_header(header::CONTENT_TYPE, json);
        Ok(req)
    }
}

fn bad(what: &str) -> ApiError {
    ApiError::new(ErrorKind::ProviderFailure, format!("bad {what}"))
}

/// `scheme key`, or the key alone, in one buffer of its size; marked sensitive so that no
/// debug output of the head shows it.
fn auth_value(scheme: Option<&str>, key: &str) -> Option<HeaderValue> {
    let mut v = Vec::with_capacity(scheme.map_or(0, |s| s.len() + 1) + key.len());
    if let Some(scheme) = scheme {
        v.extend_from_slice(scheme.as_bytes());
        v.push(b' ');
    }
    v.extend_from_slice(key.as_bytes());
    let mut value = HeaderValue::from_maybe_shared(bytes::Bytes::from(v)).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{MockSpec, ProviderEndpoint};
    use crate::llm::providers::openai::descriptor::{AZURE_OPENAI, OPENAI};
    use std::time::Duration;

    fn provider(descriptor: &'static crate::llm::providers::descriptor::Descriptor) -> Provider {
        Provider::new(spec(descriptor))
    }

    /// A provider's settings, at 127.0.0.1:8080 over plain HTTP/1.1.
    pub(crate) fn spec(
        descriptor: &'static crate::llm::providers::descriptor::Descriptor,
    ) -> ProviderSpec {
        ProviderSpec {
            name: "p".into(),
            descriptor,
            endpoint: Some(ProviderEndpoint {
                tls: false,
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/base".into(),
                authority: "127.0.0.1:8080".into(),
            }),
            keys: vec![Secret::new("k1")],
            api_version: "2024-10-21".into(),
            headers: vec![(
                HeaderName::from_static("x-org"),
                HeaderValue::from_static("o"),
            )],
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(1),
            keepalive: 1,
            http2: false,
            mock: MockSpec::default(),
        }
    }

    /// The request line and the fields in the order they go on the wire.
    fn wire(req: &RequestHeader) -> Vec<String> {
        let mut out = vec![format!("{} {}", req.method, req.uri)];
        out.extend(
            req.headers
                .iter()
                .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap_or("?"))),
        );
        out
    }

    #[test]
    fn a_head_made_once_gives_every_call_the_same_request() {
        let p = provider(&OPENAI);
        let made = p.head.as_ref().unwrap();
        assert!(made.made.iter().all(Option::is_some));
        let ua = concat!("user-agent: tollgate/", env!("CARGO_PKG_VERSION"));
        let expected = |path: &str, len: usize, accept: bool| {
            let mut v = vec![
                format!("POST {path}"),
                "host: 127.0.0.1:8080".to_string(),
                ua.to_string(),
                "content-type: application/json".to_string(),
                format!("content-length: {len}"),
            ];
            if accept {
                v.push("accept: text/event-stream".to_string());
            }
            v.extend(["authorization: Bearer k1".into(), "x-org: o".into()]);
            v
        };
        for _ in 0..2 {
            let chat = p.request(Operation::Chat { stream: false }, "gpt-4o", Some("k1"), 12);
            assert_eq!(
                wire(&chat.unwrap()),
                expected("/base/chat/completions", 12, false)
            );
            let stream = p.request(Operation::Chat { stream: true }, "other", Some("k1"), 7);
            assert_eq!(
                wire(&stream.unwrap()),
                expected("/base/chat/completions", 7, true)
            );
        }
        let emb = p.request(Operation::Embeddings, "e", None, 3).unwrap();
        let mut want = expected("/base/embeddings", 3, false);
        want.retain(|f| !f.starts_with("authorization"));
        assert_eq!(wire(&emb), want);
        // The key stays marked sensitive on a head cloned from the made one.
        let chat = p.request(Operation::Chat { stream: false }, "m", Some("k1"), 1);
        assert!(chat.unwrap().headers["authorization"].is_sensitive());
    }

    #[test]
    fn a_target_naming_the_model_is_made_per_call_and_checked() {
        let p = provider(&AZURE_OPENAI);
        assert!(p.head.as_ref().unwrap().made.iter().all(Option::is_none));
        let target = |model: &str| {
            p.request(Operation::Chat { stream: false }, model, Some("k1"), 1)
                .map(|r| r.uri.to_string())
        };
        assert_eq!(
            target("a").unwrap(),
            "/base/openai/deployments/a/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            target("b").unwrap(),
            "/base/openai/deployments/b/chat/completions?api-version=2024-10-21"
        );
        assert!(target("a/../b").is_err());
    }
}
