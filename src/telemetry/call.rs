//! The LLM part of a call record: what was asked, what served it, what it used and cost.

use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CallRecord {
    /// The public model the client asked for.
    pub requested_model: String,
    /// The public model that served it (differs after a fallback).
    pub model: String,
    /// `provider/model` of the deployment that served it.
    pub deployment: String,
    pub provider: String,
    pub stream: bool,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cache_creation_tokens: u64,
    pub reasoning_tokens: u64,
    /// US dollars, from the model's prices.
    pub cost_usd: f64,
    /// From the start of the request to the first byte of the answer sent to the client.
    pub ttft_ms: Option<f64>,
    pub attempts: u32,
    /// How many times the call moved on to a fallback model.
    #[serde(default)]
    pub fallbacks: u32,
    /// `ok`, `error`, `cancelled` (client went away) or `truncated` (provider died mid-stream).
    #[serde(deserialize_with = "outcome")]
    pub outcome: Cow<'static, str>,
    /// The usage is the gateway's estimate, not the provider's: a stream cut short before the
    /// provider reported it (the prompt's bytes / 4, and the output bytes sent / 4).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub usage_estimated: bool,
}

/// Every outcome a call can have.
pub const OUTCOMES: [&str; 4] = ["ok", "error", "cancelled", "truncated"];

/// One of `OUTCOMES`, without an allocation ("" for a name it does not know).
fn outcome<'de, D: Deserializer<'de>>(d: D) -> Result<Cow<'static, str>, D::Error> {
    let text = Cow::<'de, str>::deserialize(d)?;
    Ok(Cow::Borrowed(
        OUTCOMES.into_iter().find(|o| *o == text).unwrap_or(""),
    ))
}
