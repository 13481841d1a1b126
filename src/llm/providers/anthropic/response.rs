//! Anthropic Messages API response and error bodies: api.anthropic.com's answers to the ir
//! (decode) and the ir to answers for `/v1/messages` clients (encode).
//!
//! DESIGN: Anthropic's `input_tokens` excludes cached tokens while the ir's `prompt_tokens`
//! includes them, so decoding adds `cache_read_input_tokens` and `cache_creation_input_tokens`
//! and encoding subtracts them again.

use serde::{Deserialize, Serialize};

use super::request::{OutBlock, ToolInput, WireBlock};
use crate::llm::ir::{
    self, ApiError, Choice, ErrorKind, FinishReason, Message, Part, Role, ToolCall,
};
use crate::llm::providers::json;

/// Provider side: a Messages API response body to the ir.
pub fn decode_chat(body: &[u8]) -> Result<ir::ChatResponse, ApiError> {
    let wire: WireResponse = crate::base::json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::BadResponse,
            format!("unreadable Anthropic response: {e}"),
        )
    })?;
    if wire.kind.as_deref() == Some("error") {
        return Err(decode_error(500, body));
    }
    let mut parts = Vec::with_capacity(wire.content.len());
    for block in wire.content {
        // Other block types (server tool blocks, ...) answer features this gateway never asks
        // for (the request decoder rejects server tools), and new ones may appear: skipped.
        parts.push(match block.kind.as_str() {
            "text" => Part::Text(block.text.unwrap_or_default()),
            "thinking" => Part::Thinking {
                text: block.thinking.unwrap_or_default(),
                signature: block.signature.filter(|s| !s.is_empty()),
            },
            "redacted_thinking" => Part::RedactedThinking(block.data.unwrap_or_default()),
            "tool_use" => Part::ToolCall(ToolCall {
                id: block.id.unwrap_or_default(),
                name: block.name.unwrap_or_default(),
                arguments: block
                    .input
                    .map_or_else(|| "{}".to_owned(), |raw| raw.get().to_owned()),
            }),
            _ => continue,
        });
    }
    Ok(ir::ChatResponse {
        id: wire.id,
        model: wire.model,
        // Anthropic's answers carry no timestamp.
        created: crate::base::clock::now_unix() as u64,
        choices: vec![Choice {
            index: 0,
            message: Message {
                role: Role::Assistant,
                parts,
                name: None,
            },
            finish_reason: wire.stop_reason.as_deref().map(finish_reason),
        }],
        usage: wire.usage.unwrap_or_default().to_ir(),
    })
}

/// Client side: the ir to a Messages API response body. Only choice 0 is sent: Anthropic
/// answers with one message.
pub fn encode_chat(resp: &ir::ChatResponse) -> Vec<u8> {
    let choice = resp
        .choices
        .iter()
        .find(|c| c.index == 0)
        .or(resp.choices.first());
    let mut content = Vec::new();
    if let Some(choice) = choice {
        for part in &choice.message.parts {
            match part {
                Part::ToolCall(call) => content.push(OutBlock::ToolUse {
                    id: &call.id,
                    name: &call.name,
                    input: tool_input(&call.arguments),
                }),
                // Results never appear in an answer; everything else maps one to one.
                other => content.extend(OutBlock::from_part(other)),
            }
        }
    }
    let out = OutResponse {
        id: &resp.id,
        kind: "message",
        role: "assistant",
        model: &resp.model,
        content,
        stop_reason: choice
            .and_then(|c| c.finish_reason.as_ref())
            .map(stop_reason),
        stop_sequence: None,
        usage: OutUsage::from_ir(&resp.usage),
    };
    json::to_vec(&out).unwrap_or_default()
}

/// Arguments that are not a JSON object cannot be an Anthropic `input`; rather than lose them
/// they go under `_raw_arguments` as a string.
pub(super) fn tool_input(arguments: &str) -> ToolInput<'_> {
    ToolInput::parse(arguments).unwrap_or(ToolInput::Fallback { raw: arguments })
}

/// Provider side: an error answer to an `ApiError`. The kind comes from `error.type`, else
/// from the status.
pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    if let Some(err) = error_from_body(body, status) {
        return err;
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let message = if text.is_empty() {
        format!("Anthropic returned HTTP {status} with an empty body")
    } else {
        let cut = text.char_indices().nth(200).map_or(text.len(), |(i, _)| i);
        format!("Anthropic returned HTTP {status}: {}", &text[..cut])
    };
    ApiError::new(ErrorKind::from_status(status), message)
}

/// The error an `{"type":"error","error":{...}}` body describes, `None` for another body.
pub(super) fn error_from_body(body: &[u8], status: u16) -> Option<ApiError> {
    let wire: WireError = serde_json::from_slice(body).ok()?;
    let detail = wire.error?;
    let kind = match detail.kind.as_deref() {
        Some("invalid_request_error") => ErrorKind::InvalidRequest,
        Some("authentication_error") => ErrorKind::Authentication,
        Some("permission_error") => ErrorKind::PermissionDenied,
        Some("not_found_error") => ErrorKind::NotFound,
        Some("request_too_large") => ErrorKind::PayloadTooLarge,
        Some("rate_limit_error") => ErrorKind::RateLimited,
        Some("api_error") => ErrorKind::ProviderFailure,
        Some("overloaded_error") => ErrorKind::Unavailable,
        Some("timeout_error") => ErrorKind::Timeout,
        _ => ErrorKind::from_status(status),
    };
    let message = detail
        .message
        .unwrap_or_else(|| format!("Anthropic returned HTTP {status} without a message"));
    let err = ApiError::new(kind, message);
    Some(match detail.kind {
        Some(code) => err.with_code(code),
        None => err,
    })
}

/// Client side: `{"type":"error","error":{"type","message"}}`.
pub fn encode_error(err: &ApiError) -> Vec<u8> {
    let out = OutError {
        kind: "error",
        error: OutErrorDetail {
            kind: err.kind.anthropic_type(),
            message: &err.message,
        },
    };
    serde_json::to_vec(&out).unwrap_or_default()
}

pub(super) fn finish_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

pub(super) fn stop_reason(reason: &FinishReason) -> &str {
    match reason {
        FinishReason::Stop => "end_turn",
        FinishReason::Length => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
        FinishReason::Other(name) => name,
    }
}

#[derive(Deserialize)]
struct WireResponse {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    content: Vec<WireBlock>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

/// Token counts; every field may be absent or null (`message_delta` carries only some).
#[derive(Deserialize, Debug, Default, Clone, Copy)]
pub(super) struct WireUsage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_read_input_tokens: Option<u64>,
    pub cache_creation_input_tokens: Option<u64>,
}

impl WireUsage {
    pub(super) fn to_ir(self) -> ir::Usage {
        let cached = self.cache_read_input_tokens.unwrap_or(0);
        let creation = self.cache_creation_input_tokens.unwrap_or(0);
        ir::Usage {
            prompt_tokens: self.input_tokens.unwrap_or(0) + cached + creation,
            completion_tokens: self.output_tokens.unwrap_or(0),
            cached_tokens: cached,
            cache_creation_tokens: creation,
            reasoning_tokens: 0,
        }
    }
}

#[derive(Deserialize)]
struct WireError {
    error: Option<WireErrorDetail>,
}

#[derive(Deserialize)]
struct WireErrorDetail {
    #[serde(rename = "type")]
    kind: Option<String>,
    message: Option<String>,
}

#[derive(Serialize)]
struct OutResponse<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<OutBlock<'a>>,
    stop_reason: Option<&'a str>,
    stop_sequence: Option<&'a str>,
    usage: OutUsage,
}

/// Usage as Anthropic reports it: `input_tokens` without the cached parts.
#[derive(Serialize)]
pub(super) struct OutUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
}

impl OutUsage {
    pub(super) fn from_ir(usage: &ir::Usage) -> OutUsage {
        OutUsage {
            input_tokens: usage
                .prompt_tokens
                .saturating_sub(usage.cached_tokens)
                .saturating_sub(usage.cache_creation_tokens),
            output_tokens: usage.completion_tokens,
            cache_read_input_tokens: usage.cached_tokens,
            cache_creation_input_tokens: usage.cache_creation_tokens,
        }
    }
}

#[derive(Serialize)]
struct OutError<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: OutErrorDetail<'a>,
}

#[derive(Serialize)]
struct OutErrorDetail<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a str,
}
