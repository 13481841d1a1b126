//! Provider side: api.anthropic.com's SSE events to ir stream events (`StreamDecoder`).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::llm::ir::{ApiError, ErrorKind, StreamEvent};
use crate::llm::providers::anthropic::response::{self, WireUsage};
use crate::llm::sse;

/// Provider side: Anthropic's SSE events to ir events.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    /// Open `tool_use` blocks: (Anthropic block index, ir call number).
    tool_blocks: Vec<(u32, u32)>,
    next_call: u32,
    /// The counts `message_start` gave; `message_delta` may repeat some and omit others.
    usage: WireUsage,
    done: bool,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn decode(
        &mut self,
        event: &sse::Event,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ApiError> {
        if event.event.as_deref() == Some("error") {
            return Err(stream_error(&event.data));
        }
        let wire: WireEvent = serde_json::from_str(&event.data).map_err(|e| {
            ApiError::new(
                ErrorKind::BadResponse,
                format!("unreadable Anthropic stream event: {e}"),
            )
        })?;
        match wire.kind.as_str() {
            "error" => return Err(stream_error(&event.data)),
            "message_start" => {
                let message = wire.message.unwrap_or_default();
                out.push(StreamEvent::Start {
                    id: message.id,
                    model: message.model,
                    created: crate::base::clock::now_unix() as u64,
                });
                if let Some(usage) = message.usage {
                    self.usage = usage;
                    out.push(StreamEvent::Usage(usage.to_ir()));
                }
            }
            "content_block_start" => {
                let (index, block) = match (wire.index, wire.content_block) {
                    (Some(index), Some(block)) => (index, block),
                    _ => return Err(bad("content_block_start without index or content_block")),
                };
                self.block_start(index, block, out);
            }
            "content_block_delta" => {
                let (index, delta) = match (wire.index, wire.delta) {
                    (Some(index), Some(delta)) => (index, delta),
                    _ => return Err(bad("content_block_delta without index or delta")),
                };
                self.block_delta(index, delta, out)?;
            }
            "content_block_stop" => self.tool_blocks.retain(|&(i, _)| Some(i) != wire.index),
            "message_delta" => {
                if let Some(reason) = wire.delta.and_then(|d| d.stop_reason) {
                    out.push(StreamEvent::Finish {
                        index: 0,
                        reason: response::finish_reason(&reason),
                    });
                }
                if let Some(u) = wire.usage {
                    // Counts here are cumulative; those it leaves out keep message_start's value.
                    let known = &mut self.usage;
                    known.input_tokens = u.input_tokens.or(known.input_tokens);
                    known.output_tokens = u.output_tokens.or(known.output_tokens);
                    known.cache_read_input_tokens =
                        u.cache_read_input_tokens.or(known.cache_read_input_tokens);
                    known.cache_creation_input_tokens = u
                        .cache_creation_input_tokens
                        .or(known.cache_creation_input_tokens);
                    out.push(StreamEvent::Usage(known.to_ir()));
                }
            }
            "message_stop" => self.done = true,
            // `ping`, and event types Anthropic may add later (its docs say to expect them).
            _ => {}
        }
        Ok(())
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    fn block_start(&mut self, index: u32, block: WireStartBlock, out: &mut Vec<StreamEvent>) {
        match block.kind.as_str() {
            "text" => push_text(out, block.text, |text| StreamEvent::Text { index: 0, text }),
            "thinking" => {
                push_text(out, block.thinking, |text| StreamEvent::Thinking {
                    index: 0,
                    text,
                });
                push_text(out, block.signature, |signature| {
                    StreamEvent::ThinkingSignature {
                        index: 0,
                        signature,
                    }
                });
            }
            "redacted_thinking" => out.push(StreamEvent::RedactedThinking {
                index: 0,
                data: block.data.unwrap_or_default(),
            }),
            "tool_use" => {
                let call = self.next_call;
                self.next_call += 1;
                self.tool_blocks.push((index, call));
                out.push(StreamEvent::ToolCallStart {
                    index: 0,
                    call,
                    id: block.id.unwrap_or_default(),
                    name: block.name.unwrap_or_default(),
                });
                // The input normally arrives in input_json_delta events, after an empty `{}`.
                let input = block.input.map(|raw| raw.get().to_owned());
                let input = input.filter(|i| i.trim_start_matches('{').trim() != "}");
                push_text(out, input, |fragment| StreamEvent::ToolCallArguments {
                    index: 0,
                    call,
                    fragment,
                });
            }
            // Server tool blocks and the like: never requested through the gateway.
            _ => {}
        }
    }

    fn block_delta(
        &mut self,
        index: u32,
        delta: WireDelta,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), ApiError> {
        match delta.kind.as_deref() {
            Some("text_delta") => {
                push_text(out, delta.text, |text| StreamEvent::Text { index: 0, text })
            }
            Some("thinking_delta") => push_text(out, delta.thinking, |text| {
                StreamEvent::Thinking { index: 0, text }
            }),
            Some("signature_delta") => push_text(out, delta.signature, |signature| {
                StreamEvent::ThinkingSignature {
                    index: 0,
                    signature,
                }
            }),
            Some("input_json_delta") => {
                let Some(&(_, call)) = self.tool_blocks.iter().find(|(i, _)| *i == index) else {
                    return Err(bad(&format!(
                        "input_json_delta for block {index}, which is not an open tool_use"
                    )));
                };
                push_text(out, delta.partial_json, |fragment| {
                    StreamEvent::ToolCallArguments {
                        index: 0,
                        call,
                        fragment,
                    }
                });
            }
            // citations_delta and delta types added later carry nothing the ir holds.
            _ => {}
        }
        Ok(())
    }
}

fn push_text(
    out: &mut Vec<StreamEvent>,
    text: Option<String>,
    event: impl FnOnce(String) -> StreamEvent,
) {
    if let Some(text) = text.filter(|t| !t.is_empty()) {
        out.push(event(text));
    }
}

/// An `error` event. Its body is the error body of a failed request; anything else still
/// means the provider failed, and says so with the start of what it sent.
fn stream_error(data: &str) -> ApiError {
    response::error_from_body(data.as_bytes(), 500).unwrap_or_else(|| {
        let cut = data.char_indices().nth(200).map_or(data.len(), |(i, _)| i);
        ApiError::new(
            ErrorKind::ProviderFailure,
            format!("Anthropic stream error event: {}", &data[..cut]),
        )
    })
}

fn bad(message: &str) -> ApiError {
    ApiError::new(
        ErrorKind::BadResponse,
        format!("malformed Anthropic stream: {message}"),
    )
}

#[derive(Deserialize)]
struct WireEvent {
    #[serde(rename = "type", default)]
    kind: String,
    message: Option<WireStartMessage>,
    index: Option<u32>,
    content_block: Option<WireStartBlock>,
    delta: Option<WireDelta>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize, Default)]
struct WireStartMessage {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireStartBlock {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    thinking: Option<String>,
    signature: Option<String>,
    data: Option<String>,
    id: Option<String>,
    name: Option<String>,
    input: Option<Box<RawValue>>,
}

/// A `content_block_delta` delta or a `message_delta` delta.
#[derive(Deserialize)]
struct WireDelta {
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<String>,
    thinking: Option<String>,
    signature: Option<String>,
    partial_json: Option<String>,
    stop_reason: Option<String>,
}
