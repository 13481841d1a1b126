//! The canonical form every LLM request, response and stream passes through.
//!
//! DESIGN: each wire format (OpenAI, Anthropic, Gemini) converts to and from these types and
//! nothing else, so N formats need N codecs, not N×N converters. The types follow the richest
//! format (Anthropic's content blocks) so nothing a client sent is lost on the way: thinking
//! blocks keep their signatures, tool calls keep their ids, usage keeps cached-token counts.
//!
//! Conventions every codec follows:
//! - `Usage::prompt_tokens` counts every input token, cached ones included (OpenAI's meaning);
//!   `cached_tokens` and `cache_creation_tokens` are the parts of it read from or written to a
//!   prompt cache. Anthropic's `input_tokens` excludes both, so its codec adds them.
//! - Tool results travel in `Role::Tool` messages made of `Part::ToolResult`s. A format that
//!   sends them inside a user turn (Anthropic, Gemini) merges consecutive tool messages.
//! - A `ToolCall`'s `arguments` is the JSON text as the model produced it, never re-parsed.
//! - System prompts are `Role::System` messages; a format with one system field joins them.

use std::fmt;

/// A chat request as the gateway understands it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The model name the client asked for (a public name in `[[models]]`).
    pub model: String,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    /// `max_tokens` / `max_completion_tokens` / `maxOutputTokens`.
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    /// Number of choices; `None` means one.
    pub n: Option<u32>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    /// An end-user id for abuse tracking (`user` / `metadata.user_id`).
    pub user: Option<String>,
    /// Extended thinking / reasoning budget, when the client asked for it.
    pub thinking: Option<Thinking>,
    pub stream: bool,
    /// The client asked for a usage chunk at the end of the stream
    /// (`stream_options.include_usage`). The gateway always needs usage; this only says
    /// whether the client sees it.
    pub include_usage: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub parts: Vec<Part>,
    /// OpenAI's optional participant name.
    pub name: Option<String>,
}

impl Message {
    pub fn new(role: Role, parts: Vec<Part>) -> Message {
        Message {
            role,
            parts,
            name: None,
        }
    }

    pub fn text(role: Role, text: impl Into<String>) -> Message {
        Message::new(role, vec![Part::Text(text.into())])
    }

    /// The text parts joined, for formats and features that only take plain text.
    pub fn joined_text(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            if let Part::Text(t) = part {
                out.push_str(t);
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image(Image),
    /// A reasoning block. `signature` must go back to Anthropic unchanged on the next turn.
    Thinking {
        text: String,
        signature: Option<String>,
    },
    /// Anthropic's encrypted reasoning, opaque to everyone else.
    RedactedThinking(String),
    /// A call the assistant made (assistant messages only).
    ToolCall(ToolCall),
    /// The result of a call (tool messages only).
    ToolResult(ToolResult),
}

impl Part {
    pub fn tool_call(id: &str, name: &str, arguments: &str) -> Part {
        Part::ToolCall(ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: arguments.into(),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Image {
    /// An `http(s)` URL the provider fetches itself.
    Url(String),
    /// Inline bytes, still base64-encoded as they arrived.
    Base64 { media_type: String, data: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// JSON text of the arguments, as the model produced it.
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub call_id: String,
    /// Gemini matches results by function name, not id; formats that know it fill it in.
    pub name: Option<String>,
    /// Text and image parts only.
    pub content: Vec<Part>,
    pub is_error: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the parameters, as JSON text.
    pub parameters: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    /// The model must call some tool.
    Required,
    /// The model must call this tool.
    Tool(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        schema: serde_json::Value,
        strict: Option<bool>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Thinking {
    pub budget_tokens: Option<u32>,
    /// OpenAI's `reasoning_effort` ("low", "medium", "high").
    pub effort: Option<String>,
}

/// A complete (non-streamed) chat answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatResponse {
    pub id: String,
    /// The model that served it, as the provider named it.
    pub model: String,
    /// Unix seconds.
    pub created: u64,
    pub choices: Vec<Choice>,
    pub usage: Usage,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub index: u32,
    /// An assistant message: text, thinking and tool-call parts.
    pub message: Message,
    pub finish_reason: Option<FinishReason>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    /// A reason with no equivalent, kept by name.
    Other(String),
}

impl FinishReason {
    /// OpenAI's name for it.
    pub fn openai(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::Other(s) => s,
        }
    }
}

/// Token counts of one call. See the module doc for what `prompt_tokens` includes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cache_creation_tokens: u64,
    /// Part of `completion_tokens` spent reasoning, when the provider says.
    pub reasoning_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// Takes every count `other` knows (non-zero) over this one's. Streams report usage in
    /// pieces (Anthropic: input in `message_start`, output in `message_delta`).
    pub fn merge(&mut self, other: &Usage) {
        let take = |mine: &mut u64, theirs: u64| {
            if theirs != 0 {
                *mine = theirs;
            }
        };
        take(&mut self.prompt_tokens, other.prompt_tokens);
        take(&mut self.completion_tokens, other.completion_tokens);
        take(&mut self.cached_tokens, other.cached_tokens);
        take(&mut self.cache_creation_tokens, other.cache_creation_tokens);
        take(&mut self.reasoning_tokens, other.reasoning_tokens);
    }
}

/// One step of a streamed answer. A stream is `Start`, then deltas in any order across
/// choices, `Finish` per choice, `Usage` any number of times (merged), and ends when the
/// transport ends. `index` is the choice index; `call` numbers tool calls within a choice
/// from 0 in the order they start.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Start {
        id: String,
        model: String,
        created: u64,
    },
    Text {
        index: u32,
        text: String,
    },
    Thinking {
        index: u32,
        text: String,
    },
    ThinkingSignature {
        index: u32,
        signature: String,
    },
    RedactedThinking {
        index: u32,
        data: String,
    },
    ToolCallStart {
        index: u32,
        call: u32,
        id: String,
        name: String,
    },
    ToolCallArguments {
        index: u32,
        call: u32,
        fragment: String,
    },
    Finish {
        index: u32,
        reason: FinishReason,
    },
    Usage(Usage),
}

/// An embeddings request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbeddingRequest {
    pub model: String,
    pub input: Vec<String>,
    pub dimensions: Option<u32>,
    /// The client wants base64 (`"base64"`) rather than float arrays.
    pub base64: bool,
    pub user: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbeddingResponse {
    pub model: String,
    pub data: Vec<Vec<f32>>,
    pub usage: Usage,
}

/// What kind of failure an error is, which decides its HTTP status and whether another
/// attempt may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    PermissionDenied,
    NotFound,
    RequestTimeout,
    PayloadTooLarge,
    RateLimited,
    /// A budget of the gateway's is spent (402).
    BudgetExhausted,
    /// The provider failed (500, 529 overloaded, 503 and the like).
    ProviderFailure,
    /// The provider's answer could not be read.
    BadResponse,
    Unavailable,
    Timeout,
    /// The gateway's own: the path takes another method (405).
    MethodNotAllowed,
    /// The gateway's own: the body is not in a media type the path takes (415).
    UnsupportedMediaType,
}

impl ErrorKind {
    /// The status a client of the gateway sees.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::RequestTimeout => 408,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::RateLimited => 429,
            ErrorKind::BudgetExhausted => 402,
            ErrorKind::ProviderFailure => 500,
            ErrorKind::BadResponse => 502,
            ErrorKind::Unavailable => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::UnsupportedMediaType => 415,
        }
    }

    /// From a provider's HTTP status, for formats whose error body names no type.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            400 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 => ErrorKind::RequestTimeout,
            413 => ErrorKind::PayloadTooLarge,
            429 => ErrorKind::RateLimited,
            502 => ErrorKind::BadResponse,
            503 | 529 => ErrorKind::Unavailable,
            504 => ErrorKind::Timeout,
            _ if status >= 500 => ErrorKind::ProviderFailure,
            _ => ErrorKind::InvalidRequest,
        }
    }

    /// Worth another attempt on another deployment or later (429, 5xx, timeouts).
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::ProviderFailure
                | ErrorKind::BadResponse
                | ErrorKind::Unavailable
                | ErrorKind::Timeout
                | ErrorKind::RequestTimeout
        )
    }

    /// OpenAI's `error.type` for it.
    pub fn openai_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::PayloadTooLarge
            | ErrorKind::NotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::UnsupportedMediaType => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::BudgetExhausted => "insufficient_quota",
            ErrorKind::RequestTimeout | ErrorKind::Timeout => "timeout_error",
            ErrorKind::ProviderFailure | ErrorKind::BadResponse | ErrorKind::Unavailable => {
                "api_error"
            }
        }
    }

    /// Anthropic's `error.type` for it.
    pub fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::MethodNotAllowed
            | ErrorKind::UnsupportedMediaType => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::PayloadTooLarge => "request_too_large",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::BudgetExhausted => "billing_error",
            ErrorKind::Unavailable => "overloaded_error",
            ErrorKind::RequestTimeout | ErrorKind::Timeout => "timeout_error",
            ErrorKind::ProviderFailure | ErrorKind::BadResponse => "api_error",
        }
    }
}

/// An error to report to the client: a provider's (translated) or the gateway's own.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// A machine-readable code (`model_not_found`, the provider's own code, ...).
    pub code: Option<String>,
    /// The JSON field at fault, for invalid requests.
    pub param: Option<String>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            code: None,
            param: None,
        }
    }

    /// A 400 naming the field at fault.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> ApiError {
        let param = param.into();
        ApiError {
            kind: ErrorKind::InvalidRequest,
            message: message.into(),
            code: Some("invalid_request".to_owned()),
            param: Some(param),
        }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> ApiError {
        self.code = Some(code.into());
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// Maps a serde_json error on a request body to a 400 naming the field, from the path
/// `serde_path_to_error` gives.
pub fn body_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    // A syntax error's path points wherever the parser stopped, which names no field.
    if path == "." || path.is_empty() || inner.is_syntax() || inner.is_eof() {
        ApiError::invalid("body", format!("invalid JSON body: {inner}"))
    } else {
        ApiError::invalid(path.clone(), format!("invalid field `{path}`: {inner}"))
    }
}
