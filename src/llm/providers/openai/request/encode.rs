//! The ir encoded as a chat request for OpenAI, Azure OpenAI or an OpenAI-compatible server: the
//! wire types as they are sent (borrowing from the ir) and the translation, with the nearest
//! equivalent where OpenAI has no place for a part (tool-result images, thinking budgets).

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use super::StreamOptions;
use crate::llm::ir::{self, ApiError, Image, Part, Role};
use crate::llm::providers::json;

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
    Text(#[serde(serialize_with = "json::text")] Cow<'a, str>),
    Parts(Vec<PartOut<'a>>),
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum PartOut<'a> {
    Text {
        #[serde(serialize_with = "json::text")]
        text: &'a str,
    },
    ImageUrl {
        image_url: ImageUrlOut<'a>,
    },
}

#[derive(Serialize)]
struct ImageUrlOut<'a> {
    #[serde(serialize_with = "json::text")]
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
    #[serde(serialize_with = "json::text")]
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
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "json::opt_text"
    )]
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
    json::to_vec(&out).map_err(|e| ApiError::invalid("body", e.to_string()))
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
