//! OpenAI Chat Completions and Embeddings request bodies: `decode_*` reads what a client of the
//! gateway sent, `encode_*` writes what goes to OpenAI, Azure OpenAI or an OpenAI-compatible
//! server (vLLM, Ollama, Mistral, Groq, DeepSeek).
//!
//! Decoding goes through `serde_path_to_error` so a bad field is a 400 naming its path
//! (`messages[2].content[0].type`). Fields the gateway does not translate (`logprobs`,
//! `logit_bias`, `metadata`, ...) are ignored, as OpenAI's own server does for unknown ones.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::llm::ir::{self, ApiError, Image, Part, Role};

// ---- client side: decoding --------------------------------------------------------------

#[derive(Deserialize)]
struct ChatIn {
    model: Option<String>,
    messages: Option<Vec<MessageIn>>,
    tools: Option<Vec<ToolIn>>,
    tool_choice: Option<ToolChoiceIn>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<ResponseFormatIn>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    /// Not OpenAI's, but vLLM and other compatible servers take it.
    top_k: Option<u32>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    stop: Option<OneOrMany<String>>,
    n: Option<u32>,
    seed: Option<i64>,
    presence_penalty: Option<f64>,
    frequency_penalty: Option<f64>,
    user: Option<String>,
    reasoning_effort: Option<String>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize, Serialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum RoleIn {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

#[derive(Deserialize)]
struct MessageIn {
    role: RoleIn,
    content: Option<ContentIn>,
    name: Option<String>,
    tool_calls: Option<Vec<ToolCallIn>>,
    tool_call_id: Option<String>,
    /// DeepSeek's and vLLM's reasoning text on earlier assistant turns.
    reasoning_content: Option<String>,
    /// LiteLLM's signed thinking on earlier assistant turns (see `ThinkingBlockIn`); when
    /// present, it says all `reasoning_content` says.
    thinking_blocks: Option<Vec<ThinkingBlockIn>>,
}

/// One of LiteLLM's `thinking_blocks`, as the gateway's own answers write them: Anthropic's
/// thinking with the signature it needs back, or its redacted thinking. Unlike a provider's
/// answer, a request with an unknown kind is refused: dropping it would break the turn.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ThinkingBlockIn {
    Thinking {
        #[serde(default)]
        thinking: String,
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
}

/// A string or an array (`content`, `stop`). A hand-written visitor rather than `untagged`,
/// so an error inside an element keeps its path (`messages[0].content[1].type`).
enum OneOrMany<T> {
    One(String),
    Many(Vec<T>),
}

type ContentIn = OneOrMany<PartIn>;

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PartIn {
    Text { text: String },
    ImageUrl { image_url: ImageUrlIn },
    Refusal { refusal: String },
}

#[derive(Deserialize)]
struct ImageUrlIn {
    url: String,
    // `detail` (low/high/auto) has no place in the ir: providers get their default ("auto").
}

#[derive(Deserialize)]
struct ToolCallIn {
    id: String,
    function: FunctionCallIn,
}

#[derive(Deserialize)]
struct FunctionCallIn {
    name: String,
    arguments: String,
}

#[derive(Deserialize)]
struct ToolIn {
    #[serde(rename = "type")]
    kind: String,
    function: FunctionIn,
}

#[derive(Deserialize)]
struct FunctionIn {
    name: String,
    description: Option<String>,
    parameters: Option<Value>,
    // `strict` has no place in ir::Tool yet; providers apply their default (non-strict).
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ToolChoiceIn {
    Mode(String),
    Named { function: NamedFunction },
}

#[derive(Deserialize)]
struct NamedFunction {
    name: String,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ResponseFormatIn {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaIn },
}

#[derive(Deserialize)]
struct JsonSchemaIn {
    name: String,
    #[serde(default)]
    schema: Value,
    strict: Option<bool>,
}

/// Decodes a client's `/v1/chat/completions` body.
pub fn decode_chat(body: &[u8]) -> Result<ir::ChatRequest, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let req: ChatIn = serde_path_to_error::deserialize(de).map_err(body_error)?;
    let model = req
        .model
        .ok_or_else(|| ApiError::invalid("model", "missing required field `model`"))?;
    let messages = req
        .messages
        .ok_or_else(|| ApiError::invalid("messages", "missing required field `messages`"))?;
    if messages.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "`messages` must not be empty",
        ));
    }
    let messages = messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| decode_message(i, m))
        .collect::<Result<_, _>>()?;
    let mut tools = Vec::new();
    for (i, t) in req.tools.unwrap_or_default().into_iter().enumerate() {
        if t.kind != "function" {
            let msg = format!("tool type `{}` is not supported; use `function`", t.kind);
            return Err(bad(format!("tools[{i}].type"), &msg));
        }
        tools.push(ir::Tool {
            name: t.function.name,
            description: t.function.description,
            parameters: t.function.parameters,
        });
    }
    let tool_choice = match req.tool_choice {
        None => None,
        Some(ToolChoiceIn::Mode(m)) => Some(match m.as_str() {
            "auto" => ir::ToolChoice::Auto,
            "none" => ir::ToolChoice::None,
            "required" => ir::ToolChoice::Required,
            _ => {
                let msg = format!("unknown tool_choice `{m}`; expected auto, none or required");
                return Err(bad("tool_choice".into(), &msg));
            }
        }),
        Some(ToolChoiceIn::Named { function }) => Some(ir::ToolChoice::Tool(function.name)),
    };
    let response_format = req.response_format.map(|f| match f {
        ResponseFormatIn::Text => ir::ResponseFormat::Text,
        ResponseFormatIn::JsonObject => ir::ResponseFormat::JsonObject,
        ResponseFormatIn::JsonSchema { json_schema: s } => ir::ResponseFormat::JsonSchema {
            name: s.name,
            schema: s.schema,
            strict: s.strict,
        },
    });
    Ok(ir::ChatRequest {
        model,
        messages,
        tools,
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls,
        response_format,
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        // The newer name wins: clients sending both mean it.
        max_tokens: req.max_completion_tokens.or(req.max_tokens),
        stop: match req.stop {
            None => Vec::new(),
            Some(OneOrMany::One(s)) => vec![s],
            Some(OneOrMany::Many(v)) => v,
        },
        n: req.n,
        seed: req.seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        user: req.user,
        thinking: req.reasoning_effort.map(|effort| ir::Thinking {
            budget_tokens: None,
            effort: Some(effort),
        }),
        stream: req.stream.unwrap_or(false),
        include_usage: req
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
    })
}

fn decode_message(i: usize, m: MessageIn) -> Result<ir::Message, ApiError> {
    let role = match m.role {
        RoleIn::System | RoleIn::Developer => Role::System,
        RoleIn::User => Role::User,
        RoleIn::Assistant => Role::Assistant,
        RoleIn::Tool => Role::Tool,
    };
    let content = match m.content {
        None => Vec::new(),
        Some(c) => decode_content(&format!("messages[{i}].content"), c)?,
    };
    let mut parts = Vec::new();
    match role {
        Role::Tool => {
            let call_id = m.tool_call_id.ok_or_else(|| {
                let param = format!("messages[{i}].tool_call_id");
                bad(param, "tool messages need `tool_call_id`")
            })?;
            parts.push(Part::ToolResult(ir::ToolResult {
                call_id,
                name: m.name,
                content,
                is_error: false,
            }));
            return Ok(ir::Message {
                role,
                parts,
                name: None,
            });
        }
        Role::Assistant => {
            // Thinking first: Anthropic refuses a turn whose thinking follows its text.
            let blocks = m.thinking_blocks.unwrap_or_default();
            if blocks.is_empty() {
                if let Some(text) = m.reasoning_content.filter(|t| !t.is_empty()) {
                    parts.push(Part::Thinking {
                        text,
                        signature: None,
                    });
                }
            }
            parts.extend(blocks.into_iter().map(|b| match b {
                ThinkingBlockIn::Thinking {
                    thinking,
                    signature,
                } => Part::Thinking {
                    text: thinking,
                    signature: signature.filter(|s| !s.is_empty()),
                },
                ThinkingBlockIn::RedactedThinking { data } => Part::RedactedThinking(data),
            }));
            let calls = m.tool_calls.unwrap_or_default();
            // `content: ""` beside tool calls is how many SDKs write "no text".
            let empty = matches!(&content[..], [Part::Text(t)] if t.is_empty());
            if !empty || calls.is_empty() {
                parts.extend(content);
            }
            parts.extend(calls.into_iter().map(|c| {
                Part::ToolCall(ir::ToolCall {
                    id: c.id,
                    name: c.function.name,
                    arguments: c.function.arguments,
                })
            }));
        }
        Role::System | Role::User => parts = content,
    }
    Ok(ir::Message {
        role,
        parts,
        name: m.name,
    })
}

fn decode_content(path: &str, content: ContentIn) -> Result<Vec<Part>, ApiError> {
    let parts = match content {
        OneOrMany::One(t) => return Ok(vec![Part::Text(t)]),
        OneOrMany::Many(p) => p,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.into_iter().enumerate() {
        out.push(match part {
            // A refusal on an earlier assistant turn is what the model said: keep it as text.
            PartIn::Text { text } | PartIn::Refusal { refusal: text } => Part::Text(text),
            PartIn::ImageUrl { image_url } => {
                let param = format!("{path}[{j}].image_url.url");
                Part::Image(decode_image_url(&param, image_url.url)?)
            }
        });
    }
    Ok(out)
}

/// `data:<mime>;base64,<data>` becomes inline bytes; anything else is a URL the provider fetches.
fn decode_image_url(param: &str, url: String) -> Result<Image, ApiError> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Ok(Image::Url(url));
    };
    match rest.split_once(',') {
        Some((header, data)) if header.ends_with(";base64") => Ok(Image::Base64 {
            media_type: header.trim_end_matches(";base64").to_owned(),
            data: data.to_owned(),
        }),
        _ => Err(bad(
            param.to_owned(),
            "image data URLs must have the form data:<media type>;base64,<data>",
        )),
    }
}

/// A 400 naming the field in both `param` and the message, as `ir::body_error` does.
fn bad(param: String, why: &str) -> ApiError {
    let message = format!("invalid field `{param}`: {why}");
    ApiError::invalid(param, message)
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OneOrMany::One(v.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OneOrMany::Many(items))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// `ir::body_error` for everything but broken JSON, whose "path" is wherever the parser
/// stopped (`messages[0].?`): that is a bad body, not a bad field.
fn body_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    if err.inner().is_syntax() || err.inner().is_eof() {
        let message = format!("invalid JSON body: {}", err.inner());
        return ApiError::invalid("body", message);
    }
    ir::body_error(err)
}

#[derive(Deserialize)]
struct EmbeddingsIn {
    model: Option<String>,
    input: Option<Value>,
    encoding_format: Option<String>,
    dimensions: Option<u32>,
    user: Option<String>,
}

/// Decodes a client's `/v1/embeddings` body.
pub fn decode_embeddings(body: &[u8]) -> Result<ir::EmbeddingRequest, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let req: EmbeddingsIn = serde_path_to_error::deserialize(de).map_err(body_error)?;
    let model = req
        .model
        .ok_or_else(|| ApiError::invalid("model", "missing required field `model`"))?;
    // Token-id inputs are tokenizer-specific: no other provider could read them.
    let not_text = || {
        bad(
            "input".into(),
            "must be a string or an array of strings; token arrays are not supported",
        )
    };
    let input = match req.input {
        None => return Err(ApiError::invalid("input", "missing required field `input`")),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(not_text()),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(not_text()),
    };
    if input.is_empty() {
        return Err(ApiError::invalid("input", "`input` must not be empty"));
    }
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            let msg = format!("unknown encoding_format `{other}`; expected float or base64");
            return Err(bad("encoding_format".into(), &msg));
        }
    };
    Ok(ir::EmbeddingRequest {
        model,
        input,
        dimensions: req.dimensions,
        base64,
        user: req.user,
    })
}

// ---- provider side: encoding ------------------------------------------------------------

#[derive(Serialize)]
struct ChatOut<'a> {
    model: &'a str,
    messages: Vec<MessageOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<ToolChoiceOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<ResponseFormatOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    /// Not an OpenAI parameter: vLLM, Ollama and other compatible servers take it, and OpenAI
    /// itself answers a 400 naming it, so the client learns it was not applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    /// `max_tokens` rather than `max_completion_tokens`: every OpenAI-compatible server knows
    /// it, and OpenAI still takes it for non-reasoning models.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    /// `None` is written as `null`: OpenAI wants the key on assistant tool-call turns.
    content: Option<ContentOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<ToolCallOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ContentOut<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<PartOut<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PartOut<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrlOut<'a> },
}

#[derive(Serialize)]
struct ImageUrlOut<'a> {
    url: Cow<'a, str>,
}

#[derive(Serialize)]
pub(crate) struct ToolCallOut<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCallOut<'a>,
}

#[derive(Serialize)]
pub(crate) struct FunctionCallOut<'a> {
    pub name: &'a str,
    pub arguments: &'a str,
}

#[derive(Serialize)]
struct ToolOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<&'a Value>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ToolChoiceOut<'a> {
    Mode(&'static str),
    Named {
        #[serde(rename = "type")]
        kind: &'static str,
        function: NamedFunctionOut<'a>,
    },
}

#[derive(Serialize)]
struct NamedFunctionOut<'a> {
    name: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ResponseFormatOut<'a> {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaOut<'a> },
}

#[derive(Serialize)]
struct JsonSchemaOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Value::is_null")]
    schema: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    strict: Option<bool>,
}

/// Encodes a chat request for an OpenAI-compatible provider; `model` is the provider's name.
pub fn encode_chat(req: &ir::ChatRequest, model: &str) -> Result<Vec<u8>, ApiError> {
    let mut messages = Vec::with_capacity(req.messages.len());
    // OpenAI tool messages take text only. Images from tool results go in a user message
    // right after the run of tool messages (the nearest equivalent; a user message between
    // two tool messages would break the turn).
    let mut tool_images: Vec<PartOut> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        if m.role != Role::Tool && !tool_images.is_empty() {
            messages.push(user_parts(std::mem::take(&mut tool_images)));
        }
        encode_message(i, m, &mut messages, &mut tool_images)?;
    }
    if !tool_images.is_empty() {
        messages.push(user_parts(tool_images));
    }
    let tool_choice = req.tool_choice.as_ref().map(|c| match c {
        ir::ToolChoice::Auto => ToolChoiceOut::Mode("auto"),
        ir::ToolChoice::None => ToolChoiceOut::Mode("none"),
        ir::ToolChoice::Required => ToolChoiceOut::Mode("required"),
        ir::ToolChoice::Tool(name) => ToolChoiceOut::Named {
            kind: "function",
            function: NamedFunctionOut { name },
        },
    });
    let response_format = req.response_format.as_ref().map(|f| match f {
        ir::ResponseFormat::Text => ResponseFormatOut::Text,
        ir::ResponseFormat::JsonObject => ResponseFormatOut::JsonObject,
        ir::ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => ResponseFormatOut::JsonSchema {
            json_schema: JsonSchemaOut {
                name,
                schema,
                strict: *strict,
            },
        },
    });
    let out = ChatOut {
        model,
        messages,
        tools: req
            .tools
            .iter()
            .map(|t| ToolOut {
                kind: "function",
                function: FunctionOut {
                    name: &t.name,
                    description: t.description.as_deref(),
                    parameters: t.parameters.as_ref(),
                },
            })
            .collect(),
        tool_choice,
        parallel_tool_calls: req.parallel_tool_calls,
        response_format,
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        max_tokens: req.max_tokens,
        stop: &req.stop,
        n: req.n,
        seed: req.seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        user: req.user.as_deref(),
        reasoning_effort: req.thinking.as_ref().and_then(effort),
        stream: req.stream,
        // Always: the gateway meters usage even when the client did not ask to see it.
        stream_options: req.stream.then_some(StreamOptions {
            include_usage: Some(true),
        }),
    };
    serde_json::to_vec(&out).map_err(|e| ApiError::invalid("body", e.to_string()))
}

/// OpenAI chat has no thinking budget, only an effort level: a budget maps to the level
/// nearest its size (Anthropic's minimum budget is 1024 tokens).
fn effort(t: &ir::Thinking) -> Option<&str> {
    if let Some(e) = &t.effort {
        return Some(e);
    }
    t.budget_tokens.map(|b| match b {
        0..=4095 => "low",
        4096..=16383 => "medium",
        _ => "high",
    })
}

fn user_parts(parts: Vec<PartOut>) -> MessageOut {
    MessageOut {
        role: "user",
        content: Some(ContentOut::Parts(parts)),
        name: None,
        tool_calls: Vec::new(),
        tool_call_id: None,
    }
}

fn encode_message<'a>(
    i: usize,
    m: &'a ir::Message,
    out: &mut Vec<MessageOut<'a>>,
    tool_images: &mut Vec<PartOut<'a>>,
) -> Result<(), ApiError> {
    let unsupported = |what: &str| {
        let msg = format!("a {} message cannot carry {what}", m.role.as_str());
        ApiError::invalid(format!("messages[{i}].content"), msg)
    };
    let mut msg = MessageOut {
        role: m.role.as_str(),
        content: None,
        name: m.name.as_deref(),
        tool_calls: Vec::new(),
        tool_call_id: None,
    };
    match m.role {
        Role::System | Role::User => {
            let mut parts = Vec::with_capacity(m.parts.len());
            for p in &m.parts {
                parts.push(match p {
                    Part::Text(text) => PartOut::Text { text },
                    Part::Image(img) if m.role == Role::User => image_part(img),
                    Part::Image(_) => return Err(unsupported("images")),
                    _ => return Err(unsupported("tool calls, tool results or thinking")),
                });
            }
            msg.content = Some(match &parts[..] {
                [PartOut::Text { text }] => ContentOut::Text(Cow::Borrowed(text)),
                // System content parts are text only, and joined text is what every
                // compatible server accepts.
                _ if m.role == Role::System => ContentOut::Text(Cow::Owned(m.joined_text())),
                _ => ContentOut::Parts(parts),
            });
        }
        Role::Assistant => {
            for p in &m.parts {
                match p {
                    Part::Text(_) => {}
                    Part::ToolCall(c) => msg.tool_calls.push(ToolCallOut {
                        id: &c.id,
                        kind: "function",
                        function: FunctionCallOut {
                            name: &c.name,
                            arguments: &c.arguments,
                        },
                    }),
                    // OpenAI chat takes no reasoning on earlier turns (DeepSeek rejects
                    // `reasoning_content` in input): leaving it out is what OpenAI clients do.
                    Part::Thinking { .. } | Part::RedactedThinking(_) => {}
                    Part::Image(_) => return Err(unsupported("images")),
                    Part::ToolResult(_) => return Err(unsupported("tool results")),
                }
            }
            // OpenAI refuses an assistant turn with neither content nor tool calls, which is
            // what a turn of only thinking would leave: send it as empty text.
            if msg.tool_calls.is_empty() || m.parts.iter().any(|p| matches!(p, Part::Text(_))) {
                msg.content = Some(ContentOut::Text(Cow::Owned(m.joined_text())));
            }
        }
        Role::Tool => {
            for (j, p) in m.parts.iter().enumerate() {
                let Part::ToolResult(r) = p else {
                    return Err(unsupported("anything but tool results"));
                };
                let mut text = String::new();
                if r.is_error {
                    // No error flag in OpenAI's tool messages: say it in the text.
                    text.push_str("Error: ");
                }
                for c in &r.content {
                    match c {
                        Part::Text(t) => text.push_str(t),
                        Part::Image(img) => tool_images.push(image_part(img)),
                        _ => {
                            let param = format!("messages[{i}].content[{j}]");
                            let msg = "tool results carry text and images only";
                            return Err(ApiError::invalid(param, msg));
                        }
                    }
                }
                out.push(MessageOut {
                    role: "tool",
                    content: Some(ContentOut::Text(Cow::Owned(text))),
                    name: None,
                    tool_calls: Vec::new(),
                    tool_call_id: Some(&r.call_id),
                });
            }
            return Ok(());
        }
    }
    out.push(msg);
    Ok(())
}

fn image_part(img: &Image) -> PartOut<'_> {
    let url = match img {
        Image::Url(u) => Cow::Borrowed(u.as_str()),
        Image::Base64 { media_type, data } => {
            Cow::Owned(format!("data:{media_type};base64,{data}"))
        }
    };
    PartOut::ImageUrl {
        image_url: ImageUrlOut { url },
    }
}

#[derive(Serialize)]
struct EmbeddingsOut<'a> {
    model: &'a str,
    input: &'a [String],
    // No `encoding_format`: float is every compatible server's default, and the response
    // decoder reads base64 too should one send it anyway.
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
}

/// Encodes an embeddings request for an OpenAI-compatible provider.
pub fn encode_embeddings(req: &ir::EmbeddingRequest, model: &str) -> Result<Vec<u8>, ApiError> {
    let out = EmbeddingsOut {
        model,
        input: &req.input,
        dimensions: req.dimensions,
        user: req.user.as_deref(),
    };
    serde_json::to_vec(&out).map_err(|e| ApiError::invalid("body", e.to_string()))
}
