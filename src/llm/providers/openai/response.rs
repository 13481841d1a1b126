//! OpenAI non-streamed response bodies (chat completions, embeddings) and error bodies, both
//! directions: `decode_*` reads a provider's answer, `encode_*` writes the gateway's answer to
//! its clients.
//!
//! The same shapes serve OpenAI, Azure OpenAI and the compatible servers; the decoders accept
//! their known variations (DeepSeek's `prompt_cache_hit_tokens`, Azure's error `code` without
//! `type`, Ollama's `{"error": "text"}`), and a body that is not JSON at all (a proxy's HTML
//! 502 page) still gives an error naming the status.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::request::{FunctionCallOut, ToolCallOut};
use crate::llm::ir::{self, ApiError, ErrorKind, FinishReason, Part, Role};

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
    serde_json::from_slice(body).map_err(|e| {
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
        thinking: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<&'a str>,
    },
    RedactedThinking {
        data: &'a str,
    },
}

// ---- chat completions -------------------------------------------------------------------

#[derive(Deserialize)]
struct ChatIn {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    created: u64,
    #[serde(default)]
    choices: Vec<ChoiceIn>,
    usage: Option<UsageIn>,
}

#[derive(Deserialize)]
struct ChoiceIn {
    #[serde(default)]
    index: u32,
    message: MessageIn,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct MessageIn {
    content: Option<String>,
    reasoning_content: Option<String>,
    /// LiteLLM's signed thinking; when present, it says all `reasoning_content` says.
    thinking_blocks: Option<Vec<ThinkingBlockIn>>,
    refusal: Option<String>,
    tool_calls: Option<Vec<ToolCallIn>>,
}

#[derive(Deserialize)]
struct ToolCallIn {
    id: String,
    function: FunctionIn,
}

#[derive(Deserialize)]
struct FunctionIn {
    name: String,
    #[serde(default)]
    arguments: String,
}

/// Decodes a provider's chat completion.
pub fn decode_chat(body: &[u8]) -> Result<ir::ChatResponse, ApiError> {
    let resp: ChatIn = parse("chat completion", body)?;
    let choices = resp
        .choices
        .into_iter()
        .map(|c| {
            let m = c.message;
            let mut parts: Vec<Part> = m
                .thinking_blocks
                .unwrap_or_default()
                .into_iter()
                .filter_map(ThinkingBlockIn::into_part)
                .collect();
            if parts.is_empty() {
                if let Some(text) = m.reasoning_content.filter(|t| !t.is_empty()) {
                    parts.push(Part::Thinking {
                        text,
                        signature: None,
                    });
                }
            }
            if let Some(text) = m.content.filter(|t| !t.is_empty()) {
                parts.push(Part::Text(text));
            }
            // The ir has no refusal part: the refusal is what the model answered, so text.
            if let Some(text) = m.refusal.filter(|t| !t.is_empty()) {
                parts.push(Part::Text(text));
            }
            for call in m.tool_calls.unwrap_or_default() {
                parts.push(Part::ToolCall(ir::ToolCall {
                    id: call.id,
                    name: call.function.name,
                    arguments: call.function.arguments,
                }));
            }
            ir::Choice {
                index: c.index,
                message: ir::Message {
                    role: Role::Assistant,
                    parts,
                    name: None,
                },
                finish_reason: c.finish_reason.as_deref().map(finish_reason),
            }
        })
        .collect();
    Ok(ir::ChatResponse {
        id: resp.id,
        model: resp.model,
        created: resp.created,
        choices,
        usage: resp.usage.map(|u| u.to_ir()).unwrap_or_default(),
    })
}

#[derive(Serialize)]
struct ChatOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChoiceOut<'a>>,
    usage: UsageOut,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    message: MessageOut<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    /// `null` when the answer is only tool calls, as OpenAI writes it.
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    thinking_blocks: Vec<ThinkingBlockOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut<'a>>,
}

/// Encodes a chat completion for a client of the gateway.
pub fn encode_chat(resp: &ir::ChatResponse) -> Vec<u8> {
    let choices = resp
        .choices
        .iter()
        .map(|c| {
            let mut content: Option<String> = None;
            let mut reasoning: Option<String> = None;
            let mut thinking_blocks = Vec::new();
            let mut tool_calls = Vec::new();
            for p in &c.message.parts {
                match p {
                    Part::Text(t) => content.get_or_insert_with(String::new).push_str(t),
                    // Thinking goes out twice: as DeepSeek's `reasoning_content`, which
                    // OpenAI-SDK clients of reasoning servers read, and as LiteLLM's
                    // `thinking_blocks`, which keep the signatures and redacted blocks a
                    // client must send back to Anthropic on the next turn.
                    Part::Thinking { text, signature } => {
                        reasoning.get_or_insert_with(String::new).push_str(text);
                        thinking_blocks.push(ThinkingBlockOut::Thinking {
                            thinking: text,
                            signature: signature.as_deref(),
                        });
                    }
                    Part::RedactedThinking(data) => {
                        thinking_blocks.push(ThinkingBlockOut::RedactedThinking { data });
                    }
                    Part::ToolCall(call) => tool_calls.push(ToolCallOut {
                        id: &call.id,
                        kind: "function",
                        function: FunctionCallOut {
                            name: &call.name,
                            arguments: &call.arguments,
                        },
                    }),
                    // Not produced in assistant answers by any supported provider.
                    Part::Image(_) | Part::ToolResult(_) => {}
                }
            }
            if content.is_none() && tool_calls.is_empty() {
                // An empty answer is `""`, not `null`: clients index into it.
                content = Some(String::new());
            }
            ChoiceOut {
                index: c.index,
                message: MessageOut {
                    role: "assistant",
                    content,
                    reasoning_content: reasoning,
                    thinking_blocks,
                    tool_calls,
                },
                logprobs: None,
                finish_reason: c.finish_reason.as_ref().map(FinishReason::openai),
            }
        })
        .collect();
    let out = ChatOut {
        id: &resp.id,
        object: "chat.completion",
        created: resp.created,
        model: &resp.model,
        choices,
        usage: UsageOut::new(&resp.usage),
    };
    to_vec(&out)
}

/// Serializing these plain structs cannot fail (string keys, no maps of other keys).
pub(crate) fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

// ---- embeddings -------------------------------------------------------------------------

#[derive(Deserialize)]
struct EmbeddingsIn {
    #[serde(default)]
    model: String,
    data: Vec<EmbeddingIn>,
    usage: Option<UsageIn>,
}

#[derive(Deserialize)]
struct EmbeddingIn {
    #[serde(default)]
    index: usize,
    embedding: Vector,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Vector {
    Floats(Vec<f32>),
    /// Little-endian f32s, base64-encoded (`encoding_format: "base64"`).
    Base64(String),
}

/// Decodes a provider's embeddings; vectors may be float arrays or base64.
pub fn decode_embeddings(body: &[u8]) -> Result<ir::EmbeddingResponse, ApiError> {
    let mut resp: EmbeddingsIn = parse("embeddings response", body)?;
    resp.data.sort_by_key(|d| d.index);
    let data = resp
        .data
        .into_iter()
        .map(|d| match d.embedding {
            Vector::Floats(v) => Ok(v),
            Vector::Base64(s) => decode_vector(&s),
        })
        .collect::<Result<_, _>>()?;
    Ok(ir::EmbeddingResponse {
        model: resp.model,
        data,
        usage: resp.usage.map(|u| u.to_ir()).unwrap_or_default(),
    })
}

fn decode_vector(s: &str) -> Result<Vec<f32>, ApiError> {
    let bad = |why: &str| {
        ApiError::new(
            ErrorKind::BadResponse,
            format!("unreadable base64 embedding: {why}"),
        )
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| bad(&e.to_string()))?;
    if bytes.len() % 4 != 0 {
        return Err(bad("length is not a multiple of 4 bytes"));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

fn encode_vector(v: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(v.len() * 4);
    for f in v {
        bytes.extend_from_slice(&f.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[derive(Serialize)]
struct EmbeddingsOut<'a> {
    object: &'static str,
    data: Vec<EmbeddingOut<'a>>,
    model: &'a str,
    usage: EmbeddingUsageOut,
}

#[derive(Serialize)]
struct EmbeddingOut<'a> {
    object: &'static str,
    index: usize,
    embedding: VectorOut<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum VectorOut<'a> {
    Floats(&'a [f32]),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsageOut {
    prompt_tokens: u64,
    total_tokens: u64,
}

/// Encodes embeddings for a client; `base64` when it asked for `encoding_format: "base64"`.
pub fn encode_embeddings(resp: &ir::EmbeddingResponse, base64: bool) -> Vec<u8> {
    let data = resp
        .data
        .iter()
        .enumerate()
        .map(|(index, v)| EmbeddingOut {
            object: "embedding",
            index,
            embedding: if base64 {
                VectorOut::Base64(encode_vector(v))
            } else {
                VectorOut::Floats(v)
            },
        })
        .collect();
    to_vec(&EmbeddingsOut {
        object: "list",
        data,
        model: &resp.model,
        usage: EmbeddingUsageOut {
            prompt_tokens: resp.usage.prompt_tokens,
            total_tokens: resp.usage.total(),
        },
    })
}

// ---- errors -----------------------------------------------------------------------------

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorField>,
    /// vLLM and FastAPI-based servers: `{"detail": "..."}`; others: `{"message": "..."}`.
    detail: Option<Value>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorField {
    Object(ErrorObject),
    /// Ollama: `{"error": "model 'x' not found"}`.
    Text(String),
}

#[derive(Deserialize)]
pub(crate) struct ErrorObject {
    #[serde(default)]
    message: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    param: Option<String>,
    /// A string at OpenAI and Azure, a number at some compatible servers.
    code: Option<Value>,
}

impl ErrorObject {
    /// `fallback` is the kind when neither `code` nor `type` tells one.
    pub(crate) fn into_api_error(self, fallback: ErrorKind) -> ApiError {
        let code = match self.code {
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let kind = code
            .as_deref()
            .and_then(kind_from_name)
            .or_else(|| self.kind.as_deref().and_then(kind_from_name))
            .unwrap_or(fallback);
        ApiError {
            kind,
            message: self.message,
            code,
            param: self.param,
        }
    }
}

/// The kinds an OpenAI or Azure `code`/`type` names unambiguously. `invalid_request_error`
/// is not among them: OpenAI also uses it for 404s, so the status tells more.
fn kind_from_name(name: &str) -> Option<ErrorKind> {
    Some(match name {
        "insufficient_quota"
        | "rate_limit_exceeded"
        | "rate_limit_error"
        | "tokens"
        | "requests"
        | "429" => ErrorKind::RateLimited,
        "invalid_api_key" | "authentication_error" | "invalid_authentication" | "401" => {
            ErrorKind::Authentication
        }
        "permission_error" | "unsupported_country_region_territory" | "403" => {
            ErrorKind::PermissionDenied
        }
        "model_not_found" | "DeploymentNotFound" | "not_found_error" | "404" => ErrorKind::NotFound,
        "context_length_exceeded" | "string_above_max_length" | "invalid_prompt" => {
            ErrorKind::InvalidRequest
        }
        "server_error" => ErrorKind::ProviderFailure,
        _ => return None,
    })
}

/// Decodes a provider's error answer with HTTP `status`.
pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    let fallback = ErrorKind::from_status(status);
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let message = match parsed {
        Some(ErrorBody {
            error: Some(ErrorField::Object(obj)),
            ..
        }) => {
            let mut err = obj.into_api_error(fallback);
            // A generic `server_error` on a 503 is still an outage, not a failure.
            if err.kind == ErrorKind::ProviderFailure && status >= 500 {
                err.kind = fallback;
            }
            if err.message.is_empty() {
                err.message = format!("provider returned HTTP {status}");
            }
            return err;
        }
        Some(ErrorBody {
            error: Some(ErrorField::Text(text)),
            ..
        })
        | Some(ErrorBody {
            message: Some(text),
            ..
        }) => text,
        Some(ErrorBody {
            detail: Some(Value::String(text)),
            ..
        }) => text,
        Some(ErrorBody {
            detail: Some(detail),
            ..
        }) => detail.to_string(),
        _ => {
            let text = String::from_utf8_lossy(body);
            let snippet: String = text.trim().chars().take(200).collect();
            format!("provider returned HTTP {status}: {snippet}")
        }
    };
    ApiError::new(fallback, message)
}

#[derive(Serialize)]
pub(crate) struct ErrorOut<'a> {
    error: ErrorObjectOut<'a>,
}

#[derive(Serialize)]
struct ErrorObjectOut<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl<'a> ErrorOut<'a> {
    pub(crate) fn new(err: &'a ApiError) -> ErrorOut<'a> {
        ErrorOut {
            error: ErrorObjectOut {
                message: &err.message,
                kind: err.kind.openai_type(),
                param: err.param.as_deref(),
                code: err.code.as_deref(),
            },
        }
    }
}

/// Encodes an error for a client of the gateway.
pub fn encode_error(err: &ApiError) -> Vec<u8> {
    to_vec(&ErrorOut::new(err))
}
