//! Anthropic Messages API request bodies: `POST /v1/messages` as clients send it (decode) and as
//! api.anthropic.com takes it (encode).
//!
//! DESIGN: content blocks are read into one flat struct (`WireBlock`) and checked by type by
//! hand rather than through a serde tagged enum. A tagged enum buffers its content, which breaks
//! `RawValue` (a `tool_use` input must keep the client's JSON text) and loses the error path;
//! the hand check names the exact field at fault (`messages[2].content[0].source.type`).

use std::marker::PhantomData;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::llm::ir::{
    self, ApiError, Image, Message, Part, ResponseFormat, Role, ToolCall, ToolChoice, ToolResult,
};

/// `max_tokens` when the client gave none: Anthropic requires the field, other formats don't.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Client side: a `/v1/messages` body to the ir.
pub fn decode_chat(body: &[u8]) -> Result<ir::ChatRequest, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let wire: WireRequest = serde_path_to_error::deserialize(de).map_err(|e| {
        // Broken JSON has no meaningful field path (serde_path_to_error gives `?`).
        if e.inner().is_syntax() || e.inner().is_eof() {
            ApiError::invalid("body", format!("invalid JSON body: {}", e.inner()))
        } else {
            ir::body_error(e)
        }
    })?;
    let model = wire.model.ok_or_else(|| missing("model"))?;
    let max_tokens = wire.max_tokens.ok_or_else(|| missing("max_tokens"))?;
    let wire_messages = wire.messages.ok_or_else(|| missing("messages"))?;

    let mut messages = Vec::with_capacity(wire_messages.len() + 1);
    match wire.system {
        Some(OneOrMany::Text(text)) => messages.push(Message::text(Role::System, text)),
        Some(OneOrMany::Blocks(blocks)) => {
            for (i, block) in blocks.into_iter().enumerate() {
                let path = format!("system[{i}]");
                if block.kind != "text" {
                    return Err(unsupported(&path, &block.kind));
                }
                messages.push(Message::text(
                    Role::System,
                    need(block.text, &path, "text")?,
                ));
            }
        }
        None => {}
    }
    for (i, m) in wire_messages.into_iter().enumerate() {
        push_message(i, m, &mut messages)?;
    }

    let tools = wire.tools.unwrap_or_default();
    let mut ir_tools = Vec::with_capacity(tools.len());
    for (i, tool) in tools.into_iter().enumerate() {
        // Server tools (web search, bash, ...) run inside Anthropic; no other provider has them.
        if let Some(kind) = tool.kind.filter(|k| k != "custom") {
            return Err(ApiError::invalid(
                format!("tools[{i}].type"),
                format!("`tools[{i}].type`: server tool `{kind}` is not supported by this gateway"),
            ));
        }
        ir_tools.push(ir::Tool {
            name: tool
                .name
                .ok_or_else(|| missing(&format!("tools[{i}].name")))?,
            description: tool.description,
            parameters: tool.input_schema,
        });
    }

    let (tool_choice, parallel_tool_calls) = match wire.tool_choice {
        Some(c) => {
            let choice = match c.kind.as_str() {
                "auto" => ToolChoice::Auto,
                "any" => ToolChoice::Required,
                "none" => ToolChoice::None,
                "tool" => ToolChoice::Tool(c.name.ok_or_else(|| missing("tool_choice.name"))?),
                other => return Err(unsupported("tool_choice", other)),
            };
            (Some(choice), c.disable_parallel_tool_use.map(|d| !d))
        }
        None => (None, None),
    };

    let thinking = match wire.thinking {
        Some(t) if t.kind == "enabled" => Some(ir::Thinking {
            budget_tokens: Some(
                t.budget_tokens
                    .ok_or_else(|| missing("thinking.budget_tokens"))?,
            ),
            effort: None,
        }),
        Some(t) if t.kind == "disabled" => None,
        Some(t) => return Err(unsupported("thinking", &t.kind)),
        None => None,
    };

    Ok(ir::ChatRequest {
        model,
        messages,
        tools: ir_tools,
        tool_choice,
        parallel_tool_calls,
        temperature: wire.temperature,
        top_p: wire.top_p,
        top_k: wire.top_k,
        max_tokens: Some(max_tokens),
        stop: wire.stop_sequences.unwrap_or_default(),
        user: wire.metadata.and_then(|m| m.user_id),
        thinking,
        stream: wire.stream.unwrap_or(false),
        // Anthropic clients always get usage in the stream (message_start / message_delta).
        include_usage: true,
        ..ir::ChatRequest::default()
    })
}

/// One Anthropic message becomes one ir message, except that a user turn's `tool_result`
/// blocks become a `Role::Tool` message of their own, followed by the rest of the turn.
fn push_message(i: usize, m: WireMessage, out: &mut Vec<Message>) -> Result<(), ApiError> {
    let role = match m.role {
        WireRole::User => Role::User,
        WireRole::Assistant => Role::Assistant,
    };
    let blocks = match m.content {
        OneOrMany::Text(text) => {
            out.push(Message::text(role, text));
            return Ok(());
        }
        OneOrMany::Blocks(blocks) => blocks,
    };
    let mut results = Vec::new();
    let mut parts = Vec::with_capacity(blocks.len());
    for (j, block) in blocks.into_iter().enumerate() {
        let path = format!("messages[{i}].content[{j}]");
        let kind = block.kind.as_str();
        let wrong_turn = match role {
            Role::User => matches!(kind, "tool_use" | "thinking" | "redacted_thinking"),
            _ => kind == "tool_result",
        };
        if wrong_turn {
            return Err(ApiError::invalid(
                format!("{path}.type"),
                format!(
                    "`{path}`: a `{kind}` block cannot appear in a `{}` message",
                    role.as_str()
                ),
            ));
        }
        if kind == "tool_result" {
            results.push(Part::ToolResult(tool_result(block, &path)?));
        } else {
            parts.push(content_part(block, &path)?);
        }
    }
    let had_results = !results.is_empty();
    if had_results {
        out.push(Message {
            role: Role::Tool,
            parts: results,
            name: None,
        });
    }
    if !parts.is_empty() || !had_results {
        out.push(Message {
            role,
            parts,
            name: None,
        });
    }
    Ok(())
}

fn content_part(b: WireBlock, path: &str) -> Result<Part, ApiError> {
    Ok(match b.kind.as_str() {
        "text" => Part::Text(need(b.text, path, "text")?),
        "image" => Part::Image(image(b.source, path)?),
        "tool_use" => Part::ToolCall(ToolCall {
            id: need(b.id, path, "id")?,
            name: need(b.name, path, "name")?,
            arguments: need(b.input, path, "input")?.get().to_owned(),
        }),
        "thinking" => Part::Thinking {
            text: need(b.thinking, path, "thinking")?,
            // An empty signature is none: it came from a provider that signs nothing.
            signature: b.signature.filter(|s| !s.is_empty()),
        },
        "redacted_thinking" => Part::RedactedThinking(need(b.data, path, "data")?),
        other => return Err(unsupported(path, other)),
    })
}

fn tool_result(b: WireBlock, path: &str) -> Result<ToolResult, ApiError> {
    let content = match b.content {
        None => Vec::new(),
        Some(OneOrMany::Text(text)) => vec![Part::Text(text)],
        Some(OneOrMany::Blocks(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (k, inner) in blocks.into_iter().enumerate() {
                let inner_path = format!("{path}.content[{k}]");
                match inner.kind.as_str() {
                    "text" | "image" => parts.push(content_part(inner, &inner_path)?),
                    other => return Err(unsupported(&inner_path, other)),
                }
            }
            parts
        }
    };
    Ok(ToolResult {
        call_id: need(b.tool_use_id, path, "tool_use_id")?,
        name: None,
        content,
        is_error: b.is_error.unwrap_or(false),
    })
}

fn image(source: Option<WireSource>, path: &str) -> Result<Image, ApiError> {
    let source = need(source, path, "source")?;
    let path = format!("{path}.source");
    match source.kind.as_str() {
        "base64" => Ok(Image::Base64 {
            media_type: need(source.media_type, &path, "media_type")?,
            data: need(source.data, &path, "data")?,
        }),
        "url" => Ok(Image::Url(need(source.url, &path, "url")?)),
        other => Err(unsupported(&path, other)),
    }
}

fn need<T>(value: Option<T>, path: &str, field: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| missing(&format!("{path}.{field}")))
}

fn missing(param: &str) -> ApiError {
    ApiError::invalid(param, format!("missing required field `{param}`"))
}

fn unsupported(path: &str, kind: &str) -> ApiError {
    ApiError::invalid(
        format!("{path}.type"),
        format!("unsupported type `{kind}` at `{path}`"),
    )
}

#[derive(Deserialize)]
struct WireRequest {
    model: Option<String>,
    max_tokens: Option<u32>,
    messages: Option<Vec<WireMessage>>,
    system: Option<OneOrMany<WireBlock>>,
    stop_sequences: Option<Vec<String>>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<u32>,
    tools: Option<Vec<WireTool>>,
    tool_choice: Option<WireToolChoice>,
    metadata: Option<WireMetadata>,
    thinking: Option<WireThinking>,
    stream: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireRole {
    User,
    Assistant,
}

#[derive(Deserialize)]
struct WireMessage {
    role: WireRole,
    content: OneOrMany<WireBlock>,
}

/// Any content block, in a request or a response; which fields matter depends on `type`.
/// `cache_control` is not read: the ir has no place for prompt-cache breakpoints, and leaving
/// them out changes cost, not the answer.
#[derive(Deserialize)]
pub(super) struct WireBlock {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    source: Option<WireSource>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub input: Option<Box<RawValue>>,
    tool_use_id: Option<String>,
    content: Option<OneOrMany<WireBlock>>,
    is_error: Option<bool>,
    pub thinking: Option<String>,
    pub signature: Option<String>,
    pub data: Option<String>,
}

#[derive(Deserialize)]
struct WireSource {
    #[serde(rename = "type")]
    kind: String,
    media_type: Option<String>,
    data: Option<String>,
    url: Option<String>,
}

#[derive(Deserialize)]
struct WireTool {
    #[serde(rename = "type")]
    kind: Option<String>,
    name: Option<String>,
    description: Option<String>,
    input_schema: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct WireToolChoice {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Deserialize)]
struct WireMetadata {
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct WireThinking {
    #[serde(rename = "type")]
    kind: String,
    budget_tokens: Option<u32>,
}

/// Anthropic's "a string or an array of blocks". Written by hand rather than as an untagged
/// enum so the blocks are read straight from the input (RawValue and error paths survive).
enum OneOrMany<T> {
    Text(String),
    Blocks(Vec<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of content blocks")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Self::Value, E> {
                Ok(OneOrMany::Text(s.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Self::Value, E> {
                Ok(OneOrMany::Text(s))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut blocks = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(block) = seq.next_element()? {
                    blocks.push(block);
                }
                Ok(OneOrMany::Blocks(blocks))
            }
        }
        de.deserialize_any(V(PhantomData))
    }
}

/// Provider side: the ir to a body for api.anthropic.com, naming `model` there.
pub fn encode_chat(req: &ir::ChatRequest, model: &str) -> Result<Vec<u8>, ApiError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(ApiError::invalid(
            "n",
            "Anthropic returns one choice; `n` must be 1",
        ));
    }
    let mut system = String::new();
    let mut messages: Vec<OutMessage> = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.iter().enumerate() {
        let role = match m.role {
            // Anthropic has one system field: every system message, wherever it stood, joins it.
            Role::System => {
                if m.parts.iter().any(|p| !matches!(p, Part::Text(_))) {
                    return Err(ApiError::invalid(
                        format!("messages[{i}]"),
                        "Anthropic's system prompt takes text only",
                    ));
                }
                push_paragraph(&mut system, &m.joined_text());
                continue;
            }
            // Tool results travel inside a user turn.
            Role::User | Role::Tool => "user",
            Role::Assistant => "assistant",
        };
        // `Message::name` (OpenAI's participant name) has no Anthropic form and is left out.
        let mut content = Vec::with_capacity(m.parts.len());
        for part in &m.parts {
            if let Some(block) = out_block(part, i)? {
                content.push(block);
            }
        }
        // Consecutive turns of one role merge: all tool results of a turn must share one user
        // message, and the text a client sends after them follows them there. A turn left
        // empty (Anthropic rejects those) had nothing in it to lose.
        match messages.last_mut() {
            _ if content.is_empty() => {}
            Some(last) if last.role == role => last.content.extend(content),
            _ => messages.push(OutMessage { role, content }),
        }
    }
    // Anthropic has no JSON mode in this API version: the nearest equivalent is an instruction
    // in the system prompt (with the schema when one was given).
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => push_paragraph(
            &mut system,
            "Respond with a single valid JSON object and nothing else: no prose, no code fences.",
        ),
        Some(ResponseFormat::JsonSchema { name, schema, .. }) => push_paragraph(
            &mut system,
            &format!(
                "Respond with only a JSON value, no prose and no code fences, that conforms to \
                 this JSON Schema (named `{name}`):\n{schema}"
            ),
        ),
        Some(ResponseFormat::Text) | None => {}
    }

    let budget = match &req.thinking {
        Some(t) => Some(thinking_budget(t, req.max_tokens)?),
        None => None,
    };
    // Anthropic requires max_tokens > budget_tokens, so a default leaves room for the answer.
    let max_tokens = req
        .max_tokens
        .unwrap_or_else(|| budget.map_or(DEFAULT_MAX_TOKENS, |b| b + DEFAULT_MAX_TOKENS));

    // Without tools, auto and none (and parallelism) mean nothing, and Anthropic rejects a
    // tool_choice without tools; a forced choice is left for Anthropic to reject.
    let tool_choice = match (&req.tool_choice, req.parallel_tool_calls) {
        (Some(ToolChoice::Auto | ToolChoice::None) | None, _) if req.tools.is_empty() => None,
        (None, Some(false)) => Some(out_choice(&ToolChoice::Auto, true)),
        (Some(c), parallel) => Some(out_choice(c, parallel == Some(false))),
        (None, _) => None,
    };
    // presence_penalty, frequency_penalty and seed have no Anthropic form and are left out.
    let out = OutRequest {
        model,
        max_tokens,
        system: (!system.is_empty()).then_some(system),
        messages,
        stop_sequences: &req.stop,
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        tools: req.tools.iter().map(out_tool).collect(),
        tool_choice,
        metadata: req.user.as_deref().map(|user_id| OutMetadata { user_id }),
        thinking: budget.map(|budget_tokens| OutThinking {
            kind: "enabled",
            budget_tokens,
        }),
        stream: req.stream,
    };
    Ok(serde_json::to_vec(&out).unwrap_or_default())
}

fn push_paragraph(buf: &mut String, text: &str) {
    if !buf.is_empty() {
        buf.push_str("\n\n");
    }
    buf.push_str(text);
}

/// Anthropic takes a token budget. OpenAI's `reasoning_effort` has none, so it maps to fixed
/// budgets: low (and minimal) 1024 (Anthropic's minimum), medium 4096, high 16384; thinking
/// asked for with neither is medium. An effort budget is capped below the client's max_tokens.
fn thinking_budget(t: &ir::Thinking, max_tokens: Option<u32>) -> Result<u32, ApiError> {
    if let Some(b) = t.budget_tokens {
        return Ok(b);
    }
    let budget = match t.effort.as_deref() {
        Some("minimal" | "low") => 1024,
        Some("medium") | None => 4096,
        Some("high") => 16384,
        Some(other) => {
            return Err(ApiError::invalid(
                "reasoning_effort",
                format!("unsupported reasoning effort `{other}` (low, medium or high)"),
            ))
        }
    };
    match max_tokens {
        Some(max) if max <= 1024 => Err(ApiError::invalid(
            "max_tokens",
            "Anthropic needs max_tokens above 1024 when reasoning is on",
        )),
        Some(max) => Ok(budget.min(max - 1)),
        None => Ok(budget),
    }
}

fn out_block(part: &Part, i: usize) -> Result<Option<OutBlock<'_>>, ApiError> {
    Ok(Some(match part {
        Part::ToolCall(call) => OutBlock::ToolUse {
            id: &call.id,
            name: &call.name,
            input: ToolInput::parse(&call.arguments).ok_or_else(|| {
                ApiError::invalid(
                    format!("messages[{i}]"),
                    format!(
                        "tool call `{}` has arguments that are not a JSON object",
                        call.id
                    ),
                )
            })?,
        },
        Part::ToolResult(result) => {
            let content = match result.content.as_slice() {
                // The common case, and the form most clients send.
                [Part::Text(text)] if !text.is_empty() => ResultContent::Text(text),
                parts => {
                    let mut blocks = Vec::with_capacity(parts.len());
                    for inner in parts {
                        match inner {
                            Part::Text(_) | Part::Image(_) => blocks.extend(out_block(inner, i)?),
                            _ => {
                                return Err(ApiError::invalid(
                                    format!("messages[{i}]"),
                                    "a tool result may hold only text and images",
                                ))
                            }
                        }
                    }
                    ResultContent::Blocks(blocks)
                }
            };
            OutBlock::ToolResult {
                tool_use_id: &result.call_id,
                content,
                is_error: result.is_error,
            }
        }
        // Anthropic rejects an unsigned thinking block (one another provider produced) and
        // drops earlier turns' thinking from the context anyway, so it is left out.
        Part::Thinking { signature, .. } if signature.as_deref().is_none_or(str::is_empty) => {
            return Ok(None)
        }
        // Anthropic rejects empty text blocks; OpenAI clients send `""` beside tool calls.
        Part::Text(text) if text.is_empty() => return Ok(None),
        other => return Ok(OutBlock::from_part(other)),
    }))
}

fn out_choice(choice: &ToolChoice, disable_parallel: bool) -> OutToolChoice<'_> {
    let (kind, name) = match choice {
        ToolChoice::Auto => ("auto", None),
        ToolChoice::None => ("none", None),
        ToolChoice::Required => ("any", None),
        ToolChoice::Tool(name) => ("tool", Some(name.as_str())),
    };
    OutToolChoice {
        kind,
        name,
        disable_parallel_tool_use: disable_parallel.then_some(true),
    }
}

fn out_tool(tool: &ir::Tool) -> OutTool<'_> {
    OutTool {
        name: &tool.name,
        description: tool.description.as_deref(),
        // Anthropic requires a schema; a tool without parameters takes an empty object.
        input_schema: match &tool.parameters {
            Some(schema) => Schema::Given(schema),
            None => Schema::Empty { kind: "object" },
        },
    }
}

#[derive(Serialize)]
struct OutRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<OutMessage<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<OutTool<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<OutToolChoice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<OutMetadata<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<OutThinking>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Serialize)]
struct OutMessage<'a> {
    role: &'static str,
    content: Vec<OutBlock<'a>>,
}

/// A content block as Anthropic takes it (requests) and gives it (responses).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutBlock<'a> {
    Text {
        text: &'a str,
    },
    Image {
        source: OutSource<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: ToolInput<'a>,
    },
    ToolResult {
        tool_use_id: &'a str,
        #[serde(skip_serializing_if = "ResultContent::is_empty")]
        content: ResultContent<'a>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
}

impl<'a> OutBlock<'a> {
    /// Text, image and thinking parts, which map one to one. Tool calls and results, whose
    /// mapping depends on the direction, are the caller's (`None` here).
    pub(super) fn from_part(part: &'a Part) -> Option<OutBlock<'a>> {
        Some(match part {
            Part::Text(text) => OutBlock::Text { text },
            Part::Image(Image::Url(url)) => OutBlock::Image {
                source: OutSource::Url { url },
            },
            Part::Image(Image::Base64 { media_type, data }) => OutBlock::Image {
                source: OutSource::Base64 { media_type, data },
            },
            Part::Thinking { text, signature } => OutBlock::Thinking {
                thinking: text,
                signature: signature.as_deref().unwrap_or(""),
            },
            Part::RedactedThinking(data) => OutBlock::RedactedThinking { data },
            Part::ToolCall(_) | Part::ToolResult(_) => return None,
        })
    }
}

#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum ResultContent<'a> {
    Text(&'a str),
    Blocks(Vec<OutBlock<'a>>),
}

impl ResultContent<'_> {
    fn is_empty(&self) -> bool {
        matches!(self, ResultContent::Blocks(b) if b.is_empty())
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum OutSource<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

/// A `tool_use` input: the arguments' JSON text embedded as is.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum ToolInput<'a> {
    Raw(&'a RawValue),
    Empty {},
    /// Arguments that are not a JSON object, kept as text (response side only).
    Fallback {
        #[serde(rename = "_raw_arguments")]
        raw: &'a str,
    },
}

impl<'a> ToolInput<'a> {
    /// `None` when `arguments` is not a JSON object (Anthropic's `input` must be one).
    pub(super) fn parse(arguments: &'a str) -> Option<ToolInput<'a>> {
        if arguments.trim().is_empty() {
            return Some(ToolInput::Empty {});
        }
        let raw: &RawValue = serde_json::from_str(arguments).ok()?;
        raw.get().starts_with('{').then_some(ToolInput::Raw(raw))
    }
}

#[derive(Serialize)]
struct OutTool<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: Schema<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Schema<'a> {
    Given(&'a serde_json::Value),
    Empty {
        #[serde(rename = "type")]
        kind: &'static str,
    },
}

#[derive(Serialize)]
struct OutToolChoice<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_parallel_tool_use: Option<bool>,
}

#[derive(Serialize)]
struct OutMetadata<'a> {
    user_id: &'a str,
}

#[derive(Serialize)]
struct OutThinking {
    #[serde(rename = "type")]
    kind: &'static str,
    budget_tokens: u32,
}
