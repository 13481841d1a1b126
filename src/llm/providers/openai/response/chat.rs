//! Chat completion bodies: a provider's answer decoded to the ir (with DeepSeek's and LiteLLM's
//! reasoning fields), and the ir encoded as the gateway's answer to OpenAI clients.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

use super::{finish_reason, parse, to_vec, ThinkingBlockIn, ThinkingBlockOut, UsageIn, UsageOut};
use crate::llm::ir::{self, ApiError, FinishReason, Part, Role};
use crate::llm::providers::json;
use crate::llm::providers::openai::request::{FunctionCallOut, ToolCallOut};

// Strings are borrowed from the body where they need no unescaping: an answer passed on as it
// came (`chat_usage`) is checked as thoroughly as a translated one without being copied.
#[derive(Deserialize)]
struct ChatIn<'a> {
    #[serde(default, borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default)]
    created: u64,
    #[serde(default, borrow)]
    choices: Vec<ChoiceIn<'a>>,
    usage: Option<UsageIn>,
}

#[derive(Deserialize)]
struct ChoiceIn<'a> {
    #[serde(default)]
    index: u32,
    #[serde(borrow)]
    message: MessageIn<'a>,
    #[serde(borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct MessageIn<'a> {
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    /// LiteLLM's signed thinking; when present, it says all `reasoning_content` says.
    thinking_blocks: Option<Vec<ThinkingBlockIn>>,
    #[serde(borrow)]
    refusal: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tool_calls: Option<Vec<ToolCallIn<'a>>>,
}

#[derive(Deserialize)]
struct ToolCallIn<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    function: FunctionIn<'a>,
}

#[derive(Deserialize)]
struct FunctionIn<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    arguments: Cow<'a, str>,
}

/// The usage of a provider's chat completion that is passed on to the client as it came,
/// after the same checks as `decode_chat`.
pub fn chat_usage(body: &[u8]) -> Result<ir::Usage, ApiError> {
    let resp: ChatIn = parse("chat completion", body)?;
    Ok(resp.usage.map(|u| u.to_ir()).unwrap_or_default())
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
                        text: text.into_owned(),
                        signature: None,
                    });
                }
            }
            if let Some(text) = m.content.filter(|t| !t.is_empty()) {
                parts.push(Part::Text(text.into_owned()));
            }
            // The ir has no refusal part: the refusal is what the model answered, so text.
            if let Some(text) = m.refusal.filter(|t| !t.is_empty()) {
                parts.push(Part::Text(text.into_owned()));
            }
            for call in m.tool_calls.unwrap_or_default() {
                parts.push(Part::ToolCall(ir::ToolCall {
                    id: call.id.into_owned(),
                    name: call.function.name.into_owned(),
                    arguments: call.function.arguments.into_owned(),
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
        id: resp.id.into_owned(),
        model: resp.model.into_owned(),
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
    #[serde(serialize_with = "json::opt_text")]
    content: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "json::opt_text"
    )]
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
