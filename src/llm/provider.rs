//! A configured provider at run time: which wire format it speaks, where its endpoints are and
//! how it wants to be authenticated. Everything a `kind` changes lives here; the formats
//! themselves are in `providers/`.

use crate::config::compile::{ProviderSpec, Secret};
use crate::config::schema::ProviderKind;
use crate::llm::ir::{ApiError, ErrorKind};
use crate::llm::providers::gemini;
use pingora::http::RequestHeader;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The wire format of a provider or of a client surface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenAi,
    Anthropic,
    Gemini,
}

/// What a call asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Chat { stream: bool },
    Embeddings,
}

pub struct Provider {
    pub spec: ProviderSpec,
    /// `None` for the in-process mock.
    pub format: Option<Format>,
    next_key: AtomicUsize,
}

impl Provider {
    pub fn new(spec: ProviderSpec) -> Provider {
        let format = match spec.kind {
            ProviderKind::Openai | ProviderKind::AzureOpenai | ProviderKind::OpenaiCompatible => {
                Some(Format::OpenAi)
            }
            ProviderKind::Anthropic => Some(Format::Anthropic),
            ProviderKind::Gemini => Some(Format::Gemini),
            ProviderKind::Mock => None,
        };
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
        let Some(ep) = &self.spec.endpoint else {
            return Err(ApiError::new(
                ErrorKind::ProviderFailure,
                "the mock provider has no endpoint",
            ));
        };
        let path = match (self.spec.kind, op) {
            (ProviderKind::AzureOpenai, op) => format!(
                "{}/openai/deployments/{}/{}?api-version={}",
                ep.path,
                path_segment(model)?,
                match op {
                    Operation::Chat { .. } => "chat/completions",
                    Operation::Embeddings => "embeddings",
                },
                self.spec.api_version
            ),
            (ProviderKind::Anthropic, Operation::Chat { .. }) => format!("{}/v1/messages", ep.path),
            (ProviderKind::Anthropic, Operation::Embeddings) => {
                return Err(ApiError::invalid(
                    "model",
                    format!(
                        "provider {:?} (anthropic) has no embeddings endpoint",
                        self.spec.name
                    ),
                ))
            }
            (ProviderKind::Gemini, Operation::Chat { stream }) => {
                format!("{}{}", ep.path, gemini::request::chat_path(model, stream)?)
            }
            (ProviderKind::Gemini, Operation::Embeddings) => {
                format!("{}{}", ep.path, gemini::request::embeddings_path(model)?)
            }
            (_, Operation::Chat { .. }) => format!("{}/chat/completions", ep.path),
            (_, Operation::Embeddings) => format!("{}/embeddings", ep.path),
        };
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
        match (self.spec.kind, key) {
            (ProviderKind::AzureOpenai, Some(k)) => set("api-key", k)?,
            (ProviderKind::Anthropic, Some(k)) => set("x-api-key", k)?,
            (ProviderKind::Gemini, Some(k)) => set("x-goog-api-key", k)?,
            (_, Some(k)) => set("authorization", &format!("Bearer {k}"))?,
            (_, None) => {}
        }
        if self.spec.kind == ProviderKind::Anthropic {
            set("anthropic-version", &self.spec.api_version)?;
        }
        for (name, value) in &self.spec.headers {
            req.insert_header(name.clone(), value.clone())
                .map_err(|_| bad("configured header"))?;
        }
        Ok(req)
    }
}

/// A model or deployment name placed in a URL path.
fn path_segment(model: &str) -> Result<&str, ApiError> {
    if model.is_empty()
        || !model
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return Err(ApiError::invalid(
            "model",
            format!("deployment name {model:?} cannot be used in a URL"),
        ));
    }
    Ok(model)
}
