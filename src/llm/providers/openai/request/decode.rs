//! A client's `/v1/chat/completions` body decoded to the ir: the wire types as clients write
//! them (OpenAI's, plus DeepSeek's `reasoning_content` and LiteLLM's `thinking_blocks`) and the
//! translation, each bad field a 400 naming its path.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::{bad, body_error, StreamOptions};
use crate::llm::ir::{self, ApiError, Image, Part, Role};
use crate::llm::providers::json;

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
    let req: ChatIn = json::read_body(body).map_err(body_error)?;
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
