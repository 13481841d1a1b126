//! A configured provider at run time: its keys, taken in turn, and the head of each request,
//! built from what its kind declares in its descriptor (`providers/<format>/descriptor.rs`).

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
}

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
        })
    }
}

impl Provider {
    pub fn new(spec: ProviderSpec) -> Provider {
        let format = spec.descriptor.http.as_ref().map(|h| h.format);
        let head = FixedHead::new(&spec);
        Provider {
            spec,
            format,
            next_key: AtomicUsize::new(0),
            head,
        }
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
        let bad = |what: &str| ApiError::new(ErrorKind::ProviderFailure, format!("bad {what}"));
        let head = self.head.as_ref().map_err(|what| bad(what))?;
        let mut req = RequestHeader::build("POST", path.as_bytes(), Some(8))
            .map_err(|_| bad("request path"))?;
        let _ = req.reserve_headers(head.fields.len() + 4 + self.spec.headers.len());
        for (name, value) in &head.fields {
            req.insert_titled_header(name.clone(), value.clone());
        }
        let json = HeaderValue::from_static("application/json");
        req.insert_titled_header(header::CONTENT_TYPE, json);
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
