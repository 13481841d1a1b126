//! `POST /v1/messages` as clients send it, decoded to the ir: the wire types and the translation.
//!
//! DESIGN: content blocks are read into one flat struct (`WireBlock`) and checked by type by
//! hand rather than through a serde tagged enum. A tagged enum buffers its content, which breaks
//! `RawValue` (a `tool_use` input must keep the client's JSON text) and loses the error path;
//! the hand check names the exact field at fault (`messages[2].content[0].source.type`).

use std::marker::PhantomData;

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::llm::ir::{
    self, ApiError, Image, Message, Part, Role, ToolCall, ToolChoice, ToolResult,
};
use crate::llm::providers::json;

/// Client side: a `/v1/messages` body to the ir.
pub fn decode_chat(body: &[u8]) -> Result<ir::ChatRequest, ApiError> {
    let wire: WireRequest = json::read_body(body).map_err(|e| {
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
pub(in crate::llm::providers::anthropic) struct WireBlock {
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
