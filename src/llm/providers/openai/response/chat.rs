//! Chat completion bodies: a provider's answer decoded to the ir (with DeepSeek's and LiteLLM's
//! reasoning fields), and the ir encoded as the gateway's answer to OpenAI clients.

use serde::{Deserialize, Serialize};

use super::{finish_reason, parse, to_vec, ThinkingBlockIn, ThinkingBlockOut, UsageIn, UsageOut};
use crate::llm::ir::{self, ApiError, FinishReason, Part, Role};
use crate::llm::providers::openai::request::{FunctionCallOut, ToolCallOut};

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
