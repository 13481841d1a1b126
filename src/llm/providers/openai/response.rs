//! OpenAI non-streamed response bodies (chat completions, embeddings) and error bodies, both
//! directions: `decode_*` reads a provider's answer, `encode_*` writes the gateway's answer to
//! its clients.
//!
//! The same shapes serve OpenAI, Azure OpenAI and the compatible servers; the decoders accept
//! their known variations (DeepSeek's `prompt_cache_hit_tokens`, Azure's error `code` without
//! `type`, Ollama's `{"error": "text"}`), and a body that is not JSON at all (a proxy's HTML
//! 502 page) still gives an error naming the status.
//!
//! Chat bodies are in `response/chat.rs`, embeddings in `response/embeddings.rs`, errors in
//! `response/errors.rs`; this file holds what they and the stream codec share.

mod chat;
mod embeddings;
mod errors;

pub use chat::{chat_usage, decode_chat, encode_chat};
pub use embeddings::{decode_embeddings, encode_embeddings};
pub use errors::{decode_error, encode_error};
pub(crate) use errors::{ErrorObject, ErrorOut};

use serde::{Deserialize, Serialize};

use crate::llm::ir::{self, ApiError, ErrorKind, FinishReason, Part};
use crate::llm::providers::json;

// ---- usage, shared with the stream codec ------------------------------------------------

#[derive(Deserialize, Default)]
pub(crate) struct UsageIn {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    prompt_tokens_details: Option<PromptDetails>,
    completion_tokens_details: Option<CompletionDetails>,
    /// DeepSeek's name for cached prompt tokens.
    prompt_cache_hit_tokens: Option<u64>,
}

#[derive(Deserialize, Serialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: u64,
}

#[derive(Deserialize, Serialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: u64,
}

impl UsageIn {
    pub(crate) fn to_ir(&self) -> ir::Usage {
        let cached = self.prompt_tokens_details.as_ref().map(|d| d.cached_tokens);
        ir::Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cached_tokens: cached.or(self.prompt_cache_hit_tokens).unwrap_or(0),
            // OpenAI caches automatically and bills no writes: nothing to report.
            cache_creation_tokens: 0,
            reasoning_tokens: self
                .completion_tokens_details
                .as_ref()
                .map_or(0, |d| d.reasoning_tokens),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct UsageOut {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_tokens_details: Option<CompletionDetails>,
}

impl UsageOut {
    /// `cache_creation_tokens` has no OpenAI field; they stay counted in `prompt_tokens`.
    pub(crate) fn new(u: &ir::Usage) -> UsageOut {
        UsageOut {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total(),
            prompt_tokens_details: (u.cached_tokens != 0).then_some(PromptDetails {
                cached_tokens: u.cached_tokens,
            }),
            completion_tokens_details: (u.reasoning_tokens != 0).then_some(CompletionDetails {
                reasoning_tokens: u.reasoning_tokens,
            }),
        }
    }
}

pub(crate) fn finish_reason(s: &str) -> FinishReason {
    match s {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        // `function_call` is the legacy name of the same thing.
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Reads JSON a provider sent; anything unreadable is the provider's fault (502).
pub(crate) fn parse<'a, T: Deserialize<'a>>(what: &str, body: &'a [u8]) -> Result<T, ApiError> {
    crate::base::json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::BadResponse,
            format!("unreadable OpenAI {what}: {e}"),
        )
    })
}

// ---- thinking blocks, shared with the stream codec ---------------------------------------

/// One of LiteLLM's `thinking_blocks`, the OpenAI-format carrier of Anthropic's thinking:
/// `{"type":"thinking","thinking":"...","signature":"..."}` or
/// `{"type":"redacted_thinking","data":"..."}`. Provider answers may carry kinds the ir has no
/// place for; they are skipped rather than failing the answer.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ThinkingBlockIn {
    Thinking {
        #[serde(default)]
        thinking: String,
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
    #[serde(other)]
    Other,
}

impl ThinkingBlockIn {
    fn into_part(self) -> Option<Part> {
        match self {
            ThinkingBlockIn::Thinking {
                thinking,
                signature,
            } => Some(Part::Thinking {
                text: thinking,
                signature: signature.filter(|s| !s.is_empty()),
            }),
            ThinkingBlockIn::RedactedThinking { data } => Some(Part::RedactedThinking(data)),
            ThinkingBlockIn::Other => None,
        }
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ThinkingBlockOut<'a> {
    Thinking {
        #[serde(serialize_with = "json::text")]
        thinking: &'a str,
        #[serde(
            skip_serializing_if = "Option::is_none",
            serialize_with = "json::opt_text"
        )]
        signature: Option<&'a str>,
    },
    RedactedThinking {
        #[serde(serialize_with = "json::text")]
        data: &'a str,
    },
}

/// Serializing these plain structs cannot fail (string keys, no maps of other keys).
pub(crate) fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    json::to_vec(value).unwrap_or_default()
}
