//! The ir encoded as the `POST /v1/messages` body api.anthropic.com takes: the translation and
//! the wire types, whose content blocks the response encoder reuses.

use serde::Serialize;
use serde_json::value::RawValue;

use crate::llm::ir::{self, ApiError, Image, Part, ResponseFormat, Role, ToolChoice};
use crate::llm::providers::json;

/// `max_tokens` when the client gave none: Anthropic requires the field, other formats don't.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

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
    Ok(json::to_vec(&out).unwrap_or_default())
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
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "json::opt_text"
    )]
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
pub(in crate::llm::providers::anthropic) enum OutBlock<'a> {
    Text {
        #[serde(serialize_with = "json::text")]
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
        #[serde(serialize_with = "json::text")]
        thinking: &'a str,
        #[serde(serialize_with = "json::text")]
        signature: &'a str,
    },
    RedactedThinking {
        #[serde(serialize_with = "json::text")]
        data: &'a str,
    },
}

impl<'a> OutBlock<'a> {
    /// Text, image and thinking parts, which map one to one. Tool calls and results, whose
    /// mapping depends on the direction, are the caller's (`None` here).
    pub(in crate::llm::providers::anthropic) fn from_part(part: &'a Part) -> Option<OutBlock<'a>> {
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
pub(in crate::llm::providers::anthropic) enum ResultContent<'a> {
    Text(#[serde(serialize_with = "json::text")] &'a str),
    Blocks(Vec<OutBlock<'a>>),
}

impl ResultContent<'_> {
    fn is_empty(&self) -> bool {
        matches!(self, ResultContent::Blocks(b) if b.is_empty())
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(in crate::llm::providers::anthropic) enum OutSource<'a> {
    Base64 {
        media_type: &'a str,
        #[serde(serialize_with = "json::text")]
        data: &'a str,
    },
    Url {
        #[serde(serialize_with = "json::text")]
        url: &'a str,
    },
}

/// A `tool_use` input: the arguments' JSON text embedded as is.
#[derive(Serialize)]
#[serde(untagged)]
pub(in crate::llm::providers::anthropic) enum ToolInput<'a> {
    Raw(&'a RawValue),
    Empty {},
    /// Arguments that are not a JSON object, kept as text (response side only).
    Fallback {
        #[serde(rename = "_raw_arguments", serialize_with = "json::text")]
        raw: &'a str,
    },
}

impl<'a> ToolInput<'a> {
    /// `None` when `arguments` is not a JSON object (Anthropic's `input` must be one).
    pub(in crate::llm::providers::anthropic) fn parse(arguments: &'a str) -> Option<ToolInput<'a>> {
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
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "json::opt_text"
    )]
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
