//! A configured provider at run time: its keys, taken in turn, and the head of each request,
//! built from what its kind declares in its descriptor (`providers/<format>/descriptor.rs`).

use crate::config::{ProviderSpec, Secret};
use crate::llm::ir::{ApiError, ErrorKind};
use pingora::http::RequestHeader;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Their home is the descriptor; the rest of the gateway names them from here.
pub use crate::llm::providers::descriptor::{Format, Operation};

pub struct Provider {
    pub spec: ProviderSpec,
    /// `None` for the in-process mock.
    pub format: Option<Format>,
    next_key: AtomicUsize,
}

impl Provider {
    pub fn new(spec: ProviderSpec) -> Provider {
        let format = spec.descriptor.http.as_ref().map(|h| h.format);
        Provider {
            spec,
            format,
            next_key: AtomicUsize::new(0),
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
        let mut req = RequestHeader::build("POST", path.as_bytes(), Some(8))
            .map_err(|_| bad("request path"))?;
        let mut set = |name: &'static str, value: &str| {
            req.insert_header(name, value)
                .map_err(|_| bad(&format!("{name} header value")))
        };
        set("host", &ep.authority)?;
        set("content-type", "application/json")?;
        set("content-length", &body_len.to_string())?;
        set(
            "user-agent",
            concat!("tollgate/", env!("CARGO_PKG_VERSION")),
        )?;
        if matches!(op, Operation::Chat { stream: true }) {
            set("accept", "text/event-stream")?;
        }
        match (key, http.auth.scheme) {
            (Some(k), Some(scheme)) => set(http.auth.header, &format!("{scheme} {k}"))?,
            (Some(k), None) => set(http.auth.header, k)?,
            (None, _) => {}
        }
        if let Some(header) = http.api_version.as_ref().and_then(|v| v.header) {
            set(header, &self.spec.api_version)?;
        }
        for (name, value) in &self.spec.headers {
            req.insert_header(name.clone(), value.clone())
                .map_err(|_| bad("configured header"))?;
        }
        Ok(req)
    }
}
