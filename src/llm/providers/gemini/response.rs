//! Gemini response bodies, provider side: `GenerateContentResponse` -> `ir::ChatResponse`,
//! `batchEmbedContents` -> `ir::EmbeddingResponse`, and Google's error bodies -> `ir::ApiError`.
//! The chunk types and conversions are shared with `stream.rs`: every SSE event of a Gemini
//! stream is itself a whole `GenerateContentResponse`.
//!
//! Gemini puts a `thoughtSignature` on the part it belongs with: a thought part, or (more
//! often) the first `functionCall` or the last text part. The ir keeps signatures on `Thinking`
//! parts only, so a signed thought part becomes a signed `Thinking`, and any other signed part
//! is preceded by an empty signed `Thinking`; `request.rs` puts the signature back on the part
//! that follows it.

use serde::Deserialize;
use serde_json::Value;

use crate::base::clock::now_unix;
use crate::llm::ir::{
    ApiError, ChatResponse, Choice, EmbeddingResponse, ErrorKind, FinishReason, Image, Message,
    Part, Role, ToolCall, Usage,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerateContentResponse {
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    pub prompt_feedback: Option<PromptFeedback>,
    pub usage_metadata: Option<UsageMetadata>,
    pub model_version: Option<String>,
    pub response_id: Option<String>,
    /// Only inside a stream: Google reports a failure after the start as a chunk holding it.
    pub error: Option<ErrorBody>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Candidate {
    pub content: Option<Content>,
    pub finish_reason: Option<String>,
    pub index: Option<u32>,
}

#[derive(Deserialize)]
pub(super) struct Content {
    #[serde(default)]
    pub parts: Vec<InPart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InPart {
    pub text: Option<String>,
    #[serde(default)]
    pub thought: bool,
    pub thought_signature: Option<String>,
    pub function_call: Option<FunctionCall>,
    pub inline_data: Option<InlineData>,
    pub file_data: Option<FileData>,
}

#[derive(Deserialize)]
pub(super) struct FunctionCall {
    pub name: String,
    pub args: Option<Value>,
    pub id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InlineData {
    pub mime_type: String,
    pub data: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FileData {
    pub file_uri: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PromptFeedback {
    pub block_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct UsageMetadata {
    pub prompt_token_count: u64,
    pub cached_content_token_count: u64,
    pub candidates_token_count: u64,
    pub thoughts_token_count: u64,
    pub tool_use_prompt_token_count: u64,
}

impl UsageMetadata {
    /// `promptTokenCount` already includes the cached tokens. Tool-use prompt tokens (e.g.
    /// search results Gemini fed itself) are billed as input, so they count as prompt too,
    /// which keeps `Usage::total` equal to Gemini's `totalTokenCount`.
    pub fn to_ir(&self) -> Usage {
        Usage {
            prompt_tokens: self.prompt_token_count + self.tool_use_prompt_token_count,
            completion_tokens: self.candidates_token_count + self.thoughts_token_count,
            cached_tokens: self.cached_content_token_count,
            cache_creation_tokens: 0,
            reasoning_tokens: self.thoughts_token_count,
        }
    }
}

/// The id of a call that came without one: deterministic, so a stream and a replay agree.
pub(super) fn call_id(part_id: Option<&str>, candidate: u32, call: u32) -> String {
    match part_id {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => format!("call_{candidate}_{call}"),
    }
}

/// Compact JSON text of a call's arguments; Gemini may leave `args` out for a call without any.
pub(super) fn call_arguments(args: Option<&Value>) -> String {
    match args {
        Some(v) if !v.is_null() => v.to_string(),
        _ => "{}".to_owned(),
    }
}

/// `STOP` also ends a turn that called functions; the caller says which it was.
pub(super) fn finish_reason(reason: &str, called: bool) -> FinishReason {
    match reason {
        "STOP" if called => FinishReason::ToolCalls,
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        other => FinishReason::Other(other.to_owned()),
    }
}

/// An id for a response Gemini sent without `responseId`: a hash of the body, so the same
/// answer always gets the same id.
pub(super) fn fallback_id(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("gemini-{hash:016x}")
}

fn bad_response(what: &str, err: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorKind::BadResponse,
        format!("unreadable Gemini {what}: {err}"),
    )
}

pub fn decode_chat(body: &[u8]) -> Result<ChatResponse, ApiError> {
    let resp: GenerateContentResponse =
        crate::base::json::from_slice(body).map_err(|e| bad_response("response", e))?;
    if let Some(err) = resp.error {
        return Err(err.to_ir(None));
    }
    let mut choices = Vec::with_capacity(resp.candidates.len().max(1));
    for (pos, cand) in resp.candidates.iter().enumerate() {
        let index = cand.index.unwrap_or(pos as u32);
        let mut parts = Vec::new();
        let mut calls = 0;
        for part in cand.content.iter().flat_map(|c| &c.parts) {
            if let Some(sig) = &part.thought_signature {
                if !part.thought {
                    parts.push(Part::Thinking {
                        text: String::new(),
                        signature: Some(sig.clone()),
                    });
                }
            }
            if let Some(call) = &part.function_call {
                parts.push(Part::ToolCall(ToolCall {
                    id: call_id(call.id.as_deref(), index, calls),
                    name: call.name.clone(),
                    arguments: call_arguments(call.args.as_ref()),
                }));
                calls += 1;
            } else if let Some(data) = &part.inline_data {
                parts.push(Part::Image(Image::Base64 {
                    media_type: data.mime_type.clone(),
                    data: data.data.clone(),
                }));
            } else if let Some(file) = &part.file_data {
                parts.push(Part::Image(Image::Url(file.file_uri.clone())));
            } else if part.thought {
                parts.push(Part::Thinking {
                    text: part.text.clone().unwrap_or_default(),
                    signature: part.thought_signature.clone(),
                });
            } else if let Some(text) = part.text.as_ref().filter(|t| !t.is_empty()) {
                parts.push(Part::Text(text.clone()));
            }
        }
        if parts.is_empty() {
            parts.push(Part::Text(String::new()));
        }
        choices.push(Choice {
            index,
            message: assistant(parts),
            finish_reason: cand
                .finish_reason
                .as_deref()
                .map(|r| finish_reason(r, calls > 0)),
        });
    }
    if choices.is_empty() {
        // Gemini answers with no candidates only when it refused the prompt itself.
        match resp.prompt_feedback.and_then(|f| f.block_reason) {
            Some(_) => choices.push(Choice {
                index: 0,
                message: assistant(vec![Part::Text(String::new())]),
                finish_reason: Some(FinishReason::ContentFilter),
            }),
            None => {
                return Err(ApiError::new(
                    ErrorKind::BadResponse,
                    "Gemini answered with no candidates and no block reason",
                ))
            }
        }
    }
    Ok(ChatResponse {
        id: resp.response_id.unwrap_or_else(|| fallback_id(body)),
        model: resp.model_version.unwrap_or_default(),
        // Gemini sends no creation time; the arrival time stands in for it.
        created: now_unix() as u64,
        choices,
        usage: resp.usage_metadata.unwrap_or_default().to_ir(),
    })
}

fn assistant(parts: Vec<Part>) -> Message {
    Message {
        role: Role::Assistant,
        parts,
        name: None,
    }
}

#[derive(Deserialize)]
struct BatchEmbedResponse {
    embeddings: Vec<Embedding>,
}

#[derive(Deserialize)]
struct Embedding {
    values: Vec<f32>,
}

/// Gemini's `batchEmbedContents` reports no token counts, so usage stays zero; `model` is
/// not in the body either and is left for the caller, who knows which model it asked.
pub fn decode_embeddings(body: &[u8]) -> Result<EmbeddingResponse, ApiError> {
    let resp: BatchEmbedResponse =
        serde_json::from_slice(body).map_err(|e| bad_response("embeddings response", e))?;
    Ok(EmbeddingResponse {
        model: String::new(),
        data: resp.embeddings.into_iter().map(|e| e.values).collect(),
        usage: Usage::default(),
    })
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

/// Google sometimes sends the envelope inside a one-element array. `Many` goes first: serde
/// would also read an array as the fields of `ErrorEnvelope`, in order.
#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorShape {
    Many(Vec<ErrorEnvelope>),
    One(ErrorEnvelope),
}

#[derive(Deserialize)]
pub(super) struct ErrorBody {
    code: Option<u16>,
    message: Option<String>,
    status: Option<String>,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    reason: Option<String>,
}

impl ErrorBody {
    /// `http_status` is the response's status, when there is one (not inside a stream).
    pub fn to_ir(&self, http_status: Option<u16>) -> ApiError {
        let reason = self.details.iter().find_map(|d| d.reason.as_deref());
        let fallback = || {
            http_status
                .or(self.code)
                .map_or(ErrorKind::ProviderFailure, ErrorKind::from_status)
        };
        // A bad API key is a 400 INVALID_ARGUMENT; only the reason tells it apart.
        let kind = match (reason, self.status.as_deref()) {
            (Some("API_KEY_INVALID"), _) => ErrorKind::Authentication,
            (_, Some("INVALID_ARGUMENT" | "FAILED_PRECONDITION")) => ErrorKind::InvalidRequest,
            (_, Some("UNAUTHENTICATED")) => ErrorKind::Authentication,
            (_, Some("PERMISSION_DENIED")) => ErrorKind::PermissionDenied,
            (_, Some("NOT_FOUND")) => ErrorKind::NotFound,
            (_, Some("RESOURCE_EXHAUSTED")) => ErrorKind::RateLimited,
            (_, Some("INTERNAL")) => ErrorKind::ProviderFailure,
            (_, Some("UNAVAILABLE")) => ErrorKind::Unavailable,
            (_, Some("DEADLINE_EXCEEDED")) => ErrorKind::Timeout,
            _ => fallback(),
        };
        let message = match (&self.message, &self.status) {
            (Some(m), _) if !m.is_empty() => m.clone(),
            (_, Some(s)) => format!("Gemini error {s}"),
            _ => "Gemini error without a message".to_owned(),
        };
        let mut err = ApiError::new(kind, message);
        err.code = reason.or(self.status.as_deref()).map(str::to_owned);
        err
    }
}

pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    let error = match serde_json::from_slice::<ErrorShape>(body) {
        Ok(ErrorShape::One(env)) => Some(env.error),
        Ok(ErrorShape::Many(list)) => list.into_iter().next().map(|env| env.error),
        Err(_) => None,
    };
    if let Some(error) = error {
        return error.to_ir(Some(status));
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let message = if text.is_empty() {
        format!("Gemini returned HTTP {status} with an empty body")
    } else {
        let cut = text.char_indices().nth(200).map_or(text.len(), |(i, _)| i);
        let more = if cut < text.len() { "..." } else { "" };
        format!("Gemini returned HTTP {status}: {}{more}", &text[..cut])
    };
    ApiError::new(ErrorKind::from_status(status), message)
}
