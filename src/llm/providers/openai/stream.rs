//! OpenAI streamed chat completions (`chat.completion.chunk` events): `StreamDecoder` reads a
//! provider's stream into ir events, `StreamEncoder` writes ir events as OpenAI chunks for
//! clients of the gateway.
//!
//! DESIGN: the decoder keeps only what the next chunk needs: whether `Start` went out, and
//! which OpenAI tool-call slots (`(choice, index)`) are open under which ir call number. The
//! encoder keeps the stamp of `Start` (every OpenAI chunk repeats id, model and created), the
//! choices that already got their `role` delta, and the usage merged so far.

use bytes::BytesMut;
use serde::{Deserialize, Serialize};

use super::response::{
    finish_reason, parse, ErrorObject, ErrorOut, ThinkingBlockIn, ThinkingBlockOut, UsageIn,
    UsageOut,
};
use crate::llm::ir::{ApiError, ErrorKind, StreamEvent, Usage};
use crate::llm::sse;

#[derive(Deserialize)]
struct ChunkIn {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    created: u64,
    #[serde(default)]
    choices: Vec<ChoiceIn>,
    usage: Option<UsageIn>,
    error: Option<ErrorObject>,
}

#[derive(Deserialize)]
struct ChoiceIn {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: DeltaIn,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct DeltaIn {
    content: Option<String>,
    /// DeepSeek and vLLM; newer vLLM and OpenRouter say `reasoning`.
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    /// LiteLLM's: signatures and redacted thinking, and with some servers the thinking text
    /// again (then `reasoning_content` carries it too).
    thinking_blocks: Option<Vec<ThinkingBlockIn>>,
    refusal: Option<String>,
    tool_calls: Option<Vec<ToolCallDeltaIn>>,
}

#[derive(Deserialize)]
struct ToolCallDeltaIn {
    /// The call's number within the choice. Some compatible servers leave it out when they
    /// send each call whole, in which case the id tells the calls apart.
    index: Option<u32>,
    id: Option<String>,
    function: Option<FunctionDeltaIn>,
}

#[derive(Deserialize)]
struct FunctionDeltaIn {
    name: Option<String>,
    arguments: Option<String>,
}

/// The events of one `thinking_blocks` delta entry. Its text is skipped when the same delta
/// had `reasoning_content`, which servers that send both fill with the same text.
fn thinking_block(
    index: u32,
    block: ThinkingBlockIn,
    has_reasoning: bool,
    out: &mut Vec<StreamEvent>,
) {
    match block {
        ThinkingBlockIn::Thinking {
            thinking,
            signature,
        } => {
            if !has_reasoning && !thinking.is_empty() {
                out.push(StreamEvent::Thinking {
                    index,
                    text: thinking,
                });
            }
            if let Some(signature) = signature.filter(|s| !s.is_empty()) {
                out.push(StreamEvent::ThinkingSignature { index, signature });
            }
        }
        ThinkingBlockIn::RedactedThinking { data } => {
            out.push(StreamEvent::RedactedThinking { index, data });
        }
        ThinkingBlockIn::Other => {}
    }
}

/// An open tool call: the provider's slot and the ir call number it maps to.
struct Slot {
    choice: u32,
    index: u32,
    id: String,
    call: u32,
}

/// Reads an OpenAI-compatible provider's SSE stream.
#[derive(Default)]
pub struct StreamDecoder {
    started: bool,
    done: bool,
    slots: Vec<Slot>,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// True once `data: [DONE]` arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn decode(
        &mut self,
        event: &sse::Event,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ApiError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.done = true;
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let chunk: ChunkIn = parse("stream chunk", data.as_bytes())?;
        if let Some(err) = chunk.error {
            // The HTTP status was 200 when the stream began: the body names what failed.
            return Err(err.into_api_error(ErrorKind::ProviderFailure));
        }
        if !self.started {
            // Azure opens with a `prompt_filter_results` chunk that has no id, model or
            // choices: the stream really starts at the next one.
            if chunk.id.is_empty() && chunk.choices.is_empty() && chunk.usage.is_none() {
                return Ok(());
            }
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk.id,
                model: chunk.model,
                created: chunk.created,
            });
        }
        for c in chunk.choices {
            let index = c.index;
            let d = c.delta;
            let mut has_reasoning = false;
            for text in [d.reasoning_content, d.reasoning].into_iter().flatten() {
                if !text.is_empty() {
                    has_reasoning = true;
                    out.push(StreamEvent::Thinking { index, text });
                }
            }
            for block in d.thinking_blocks.unwrap_or_default() {
                thinking_block(index, block, has_reasoning, out);
            }
            // A refusal is what the model answered; the ir has no separate channel for it.
            for text in [d.content, d.refusal].into_iter().flatten() {
                if !text.is_empty() {
                    out.push(StreamEvent::Text { index, text });
                }
            }
            for tc in d.tool_calls.unwrap_or_default() {
                self.tool_call(index, tc, out);
            }
            if let Some(reason) = c.finish_reason {
                out.push(StreamEvent::Finish {
                    index,
                    reason: finish_reason(&reason),
                });
            }
        }
        if let Some(u) = chunk.usage {
            out.push(StreamEvent::Usage(u.to_ir()));
        }
        Ok(())
    }

    fn tool_call(&mut self, index: u32, tc: ToolCallDeltaIn, out: &mut Vec<StreamEvent>) {
        let (name, arguments) = match tc.function {
            Some(f) => (f.name, f.arguments),
            None => (None, None),
        };
        let in_choice = self.slots.iter().filter(|s| s.choice == index).count() as u32;
        let mine = |s: &&Slot| s.choice == index;
        // A new id under a used index is a new call (servers that number every call 0).
        let existing = match (tc.index, &tc.id) {
            (Some(i), id) => self.slots.iter().rposition(|s| {
                mine(&s) && s.index == i && id.as_ref().is_none_or(|id| s.id == *id)
            }),
            (None, Some(id)) => self.slots.iter().rposition(|s| mine(&s) && s.id == *id),
            (None, None) => self.slots.iter().rposition(|s| mine(&s)),
        };
        let call = match existing {
            Some(i) => self.slots[i].call,
            None => {
                let call = in_choice;
                // Some servers send no id: make one, since Anthropic clients need it.
                let id = tc.id.unwrap_or_else(|| format!("call_{index}_{call}"));
                out.push(StreamEvent::ToolCallStart {
                    index,
                    call,
                    id: id.clone(),
                    name: name.unwrap_or_default(),
                });
                self.slots.push(Slot {
                    choice: index,
                    index: tc.index.unwrap_or(call),
                    id,
                    call,
                });
                call
            }
        };
        if let Some(fragment) = arguments.filter(|a| !a.is_empty()) {
            out.push(StreamEvent::ToolCallArguments {
                index,
                call,
                fragment,
            });
        }
    }
}

#[derive(Serialize)]
struct ChunkOut<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<ChoiceOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<UsageOut>,
}

#[derive(Serialize)]
struct ChoiceOut<'a> {
    index: u32,
    delta: DeltaOut<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize, Default)]
struct DeltaOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_blocks: Option<[ThinkingBlockOut<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallDeltaOut<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCallDeltaOut<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDeltaOut<'a>,
}

#[derive(Serialize)]
struct FunctionDeltaOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

/// Writes ir stream events as OpenAI `chat.completion.chunk` events.
pub struct StreamEncoder {
    include_usage: bool,
    id: String,
    model: String,
    created: u64,
    /// Choices whose first chunk (carrying `role`) went out.
    opened: Vec<u32>,
    usage: Usage,
}

impl StreamEncoder {
    pub fn new(include_usage: bool) -> Self {
        StreamEncoder {
            include_usage,
            id: String::new(),
            model: String::new(),
            created: 0,
            opened: Vec::new(),
            usage: Usage::default(),
        }
    }

    pub fn encode(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        let (index, delta, finish) = match event {
            StreamEvent::Start { id, model, created } => {
                self.id.clone_from(id);
                self.model.clone_from(model);
                self.created = *created;
                // OpenAI opens choice 0 at once with an empty assistant message; clients
                // see the stream is alive before the first token.
                let delta = DeltaOut {
                    content: Some(""),
                    ..DeltaOut::default()
                };
                (0, delta, None)
            }
            StreamEvent::Text { index, text } => {
                let delta = DeltaOut {
                    content: Some(text),
                    ..DeltaOut::default()
                };
                (*index, delta, None)
            }
            StreamEvent::Thinking { index, text } => {
                let delta = DeltaOut {
                    reasoning_content: Some(text),
                    ..DeltaOut::default()
                };
                (*index, delta, None)
            }
            // Signatures and redacted thinking go out as LiteLLM's `thinking_blocks`: the text
            // already went out as `reasoning_content`, so the signed block carries none.
            StreamEvent::ThinkingSignature { index, signature } => {
                let block = ThinkingBlockOut::Thinking {
                    thinking: "",
                    signature: Some(signature),
                };
                let delta = DeltaOut {
                    thinking_blocks: Some([block]),
                    ..DeltaOut::default()
                };
                (*index, delta, None)
            }
            StreamEvent::RedactedThinking { index, data } => {
                let delta = DeltaOut {
                    thinking_blocks: Some([ThinkingBlockOut::RedactedThinking { data }]),
                    ..DeltaOut::default()
                };
                (*index, delta, None)
            }
            StreamEvent::ToolCallStart {
                index,
                call,
                id,
                name,
            } => {
                let tc = ToolCallDeltaOut {
                    index: *call,
                    id: Some(id),
                    kind: Some("function"),
                    function: FunctionDeltaOut {
                        name: Some(name),
                        arguments: "",
                    },
                };
                let delta = DeltaOut {
                    tool_calls: Some([tc]),
                    ..DeltaOut::default()
                };
                (*index, delta, None)
            }
            StreamEvent::ToolCallArguments {
                index,
                call,
                fragment,
            } => {
                let tc = ToolCallDeltaOut {
                    index: *call,
                    id: None,
                    kind: None,
                    function: FunctionDeltaOut {
                        name: None,
                        arguments: fragment,
                    },
                };
                let delta = DeltaOut {
                    tool_calls: Some([tc]),
                    ..DeltaOut::default()
                };
                (*index, delta, None)
            }
            StreamEvent::Finish { index, reason } => {
                (*index, DeltaOut::default(), Some(reason.openai()))
            }
            StreamEvent::Usage(u) => {
                self.usage.merge(u);
                return;
            }
        };
        self.write_choice(index, delta, finish, out);
    }

    fn write_choice(
        &mut self,
        index: u32,
        mut delta: DeltaOut,
        finish_reason: Option<&str>,
        out: &mut BytesMut,
    ) {
        if !self.opened.contains(&index) {
            self.opened.push(index);
            delta.role = Some("assistant");
        }
        let choice = ChoiceOut {
            index,
            delta,
            logprobs: None,
            finish_reason,
        };
        self.write(vec![choice], None, out);
    }

    fn write(&self, choices: Vec<ChoiceOut>, usage: Option<UsageOut>, out: &mut BytesMut) {
        let chunk = ChunkOut {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices,
            usage,
        };
        // Serializing plain structs with string keys cannot fail.
        if let Ok(json) = serde_json::to_string(&chunk) {
            sse::encode(None, &json, out);
        }
    }

    /// Writes the usage chunk (when the client asked for it) and `data: [DONE]`.
    pub fn finish(&mut self, out: &mut BytesMut) {
        if self.include_usage {
            self.write(Vec::new(), Some(UsageOut::new(&self.usage)), out);
        }
        sse::encode(None, "[DONE]", out);
    }

    /// Writes `data: {"error": {...}}` and no `[DONE]`, so the client sees a failed stream.
    pub fn error(&mut self, err: &ApiError, out: &mut BytesMut) {
        if let Ok(json) = serde_json::to_string(&ErrorOut::new(err)) {
            sse::encode(None, &json, out);
        }
    }
}
