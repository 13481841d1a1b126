//! What users write for the LLM path: `[[providers]]`, `[[models]]` and `[llm]`.

use super::{ByteSize, Dur};
use crate::llm::providers::{self, descriptor::Descriptor};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    pub name: String,
    /// One of `llm::providers::DESCRIPTORS`, whose facts the provider then has.
    #[serde(deserialize_with = "provider_kind")]
    pub kind: &'static Descriptor,
    /// What the provider's official SDK takes as its base URL; the public one when unset.
    pub base_url: Option<String>,
    /// One key, or several in `api_keys`, used in turn.
    pub api_key: Option<String>,
    #[serde(default)]
    pub api_keys: Vec<String>,
    /// Azure's `api-version` query parameter, or Anthropic's `anthropic-version` header.
    pub api_version: Option<String>,
    /// Extra headers sent with every call (an organisation id, a project, a beta flag).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub timeouts: ProviderTimeouts,
    #[serde(default = "default_pool")]
    pub keepalive: usize,
    /// Call the provider over HTTP/2: offered by ALPN over https, prior knowledge (h2c) over
    /// http.
    #[serde(default)]
    pub http2: bool,
    /// `mock` only: how the in-process provider behaves.
    #[serde(default)]
    pub mock: MockSection,
}

/// A `kind` is looked up in the table of descriptors; an unknown one is reported as serde
/// reports an unknown enum variant, so the loader adds its "did you mean" to it.
fn provider_kind<'de, D: Deserializer<'de>>(d: D) -> Result<&'static Descriptor, D::Error> {
    let name = String::deserialize(d)?;
    providers::find(&name)
        .ok_or_else(|| serde::de::Error::unknown_variant(&name, &providers::KINDS))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderTimeouts {
    #[serde(default = "five_seconds")]
    pub connect: Dur,
    /// Until the response headers, and then between two reads of the body.
    #[serde(default = "two_minutes")]
    pub read: Dur,
    #[serde(default = "sixty_seconds")]
    pub write: Dur,
}

impl Default for ProviderTimeouts {
    fn default() -> Self {
        ProviderTimeouts {
            connect: five_seconds(),
            read: two_minutes(),
            write: sixty_seconds(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockSection {
    /// Delay before the first byte.
    pub latency: Option<Dur>,
    /// Characters per streamed chunk (default 8).
    pub chunk_chars: Option<usize>,
    /// Delay between streamed chunks.
    pub chunk_delay: Option<Dur>,
    /// Answer with this HTTP status and an error instead of a reply (for fallback drills).
    pub fail_status: Option<u16>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// The public name clients send as `model`.
    pub name: String,
    /// Other public names for the same model.
    #[serde(default)]
    pub aliases: Vec<String>,
    pub deployments: Vec<DeploymentSection>,
    /// Public models tried, in order, when every deployment of this one failed.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// US dollars per million tokens.
    #[serde(default)]
    pub input_price: f64,
    #[serde(default)]
    pub output_price: f64,
    /// Price of prompt tokens read from a cache; `input_price` when unset.
    pub cached_input_price: Option<f64>,
    /// Largest prompt + completion the model takes, in tokens (informational for now).
    pub context_window: Option<u64>,
    pub max_output_tokens: Option<u32>,
    /// Attempts on this model's deployments before its fallbacks; `[llm] retries` when unset.
    pub retries: Option<u32>,
    /// `"public"` or the tenants whose keys may use the model.
    #[serde(default)]
    pub visibility: super::VisibilitySection,
    /// Names of `[[limits]]` that apply to every call of this model, on any LLM route.
    #[serde(default)]
    pub limits: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSection {
    pub provider: String,
    /// The provider's model name (for Azure, the deployment name).
    pub model: String,
    #[serde(default = "one")]
    pub weight: u32,
    /// A key for this deployment only, instead of the provider's.
    pub api_key: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSection {
    /// Extra attempts after the first on a model's deployments, before its fallbacks.
    #[serde(default = "two")]
    pub retries: u32,
    /// First backoff between attempts; doubles each time up to `max_backoff`.
    #[serde(default = "default_backoff")]
    pub backoff: Dur,
    #[serde(default = "two_seconds")]
    pub max_backoff: Dur,
    /// A 429's `Retry-After` up to this long is waited out; a longer one moves on at once.
    #[serde(default = "two_seconds")]
    pub max_retry_after: Dur,
    /// Consecutive failures that take a deployment out of rotation...
    #[serde(default = "three")]
    pub failure_threshold: u32,
    /// ...for this long.
    #[serde(default = "thirty_seconds")]
    pub cooldown: Dur,
    /// Bound on one whole call, retries and fallbacks included.
    pub total_timeout: Option<Dur>,
    /// Largest request body on LLM routes; `server.max_body_bytes` when unset.
    pub max_body_bytes: Option<ByteSize>,
}

impl Default for LlmSection {
    fn default() -> Self {
        LlmSection {
            retries: two(),
            backoff: default_backoff(),
            max_backoff: two_seconds(),
            max_retry_after: two_seconds(),
            failure_threshold: three(),
            cooldown: thirty_seconds(),
            total_timeout: None,
            max_body_bytes: None,
        }
    }
}

fn default_pool() -> usize {
    64
}
fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}
fn three() -> u32 {
    3
}
fn default_backoff() -> Dur {
    Dur(Duration::from_millis(100))
}
fn two_seconds() -> Dur {
    Dur(Duration::from_secs(2))
}
fn five_seconds() -> Dur {
    Dur(Duration::from_secs(5))
}
fn thirty_seconds() -> Dur {
    Dur(Duration::from_secs(30))
}
fn sixty_seconds() -> Dur {
    Dur(Duration::from_secs(60))
}
fn two_minutes() -> Dur {
    Dur(Duration::from_secs(120))
}
