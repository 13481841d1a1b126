//! Client side: ir stream events to the exact event sequence `/v1/messages` clients expect
//! (`StreamEncoder`).

use bytes::BytesMut;
use serde::Serialize;

use crate::llm::ir::{self, ApiError, StreamEvent};
use crate::llm::providers::anthropic::response::{self, OutUsage};
use crate::llm::sse;

/// Client side: ir events to Anthropic's event sequence. Only choice 0 is sent: Anthropic
/// streams one message.
#[derive(Debug, Default)]
pub struct StreamEncoder {
    id: String,
    model: String,
    usage: ir::Usage,
    /// `Start` came, so `message_start` waits only for the usage that may follow it.
    seen_start: bool,
    /// `message_start` was written.
    started: bool,
    open: Option<Open>,
    next_index: u32,
    /// Every tool_use block so far: (ir call number, block index).
    tool_blocks: Vec<(u32, u32)>,
    stop_reason: Option<String>,
    /// `finish` or `error` was written; nothing may follow.
    ended: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(u32),
    Thinking(u32),
    Tool(u32),
}

impl StreamEncoder {
    /// Anthropic clients always get usage, so `include_usage` changes nothing.
    pub fn new(_include_usage: bool) -> Self {
        Self::default()
    }

    pub fn encode(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.ended {
            return;
        }
        match event {
            StreamEvent::Start { id, model, .. } if !self.started => {
                self.id.clone_from(id);
                self.model.clone_from(model);
                self.seen_start = true;
            }
            StreamEvent::Usage(usage) => {
                self.usage.merge(usage);
                if self.seen_start {
                    self.ensure_started(out);
                }
            }
            StreamEvent::Text { index: 0, text } if !text.is_empty() => {
                let index = self.open_block(out, Open::Text, StartBlock::Text { text: "" });
                write(
                    out,
                    &OutEvent::ContentBlockDelta {
                        index,
                        delta: Delta::Text { text },
                    },
                );
            }
            StreamEvent::Thinking { index: 0, text } if !text.is_empty() => {
                let index = self.open_thinking(out);
                write(
                    out,
                    &OutEvent::ContentBlockDelta {
                        index,
                        delta: Delta::Thinking { thinking: text },
                    },
                );
            }
            StreamEvent::ThinkingSignature {
                index: 0,
                signature,
            } if !signature.is_empty() => {
                let index = self.open_thinking(out);
                write(
                    out,
                    &OutEvent::ContentBlockDelta {
                        index,
                        delta: Delta::Signature { signature },
                    },
                );
            }
            StreamEvent::RedactedThinking { index: 0, data } => {
                self.close_block(out);
                self.ensure_started(out);
                let index = self.take_index();
                write(
                    out,
                    &OutEvent::ContentBlockStart {
                        index,
                        content_block: StartBlock::RedactedThinking { data },
                    },
                );
                write(out, &OutEvent::ContentBlockStop { index });
            }
            StreamEvent::ToolCallStart {
                index: 0,
                call,
                id,
                name,
            } => {
                self.start_tool(out, *call, id, name);
            }
            StreamEvent::ToolCallArguments {
                index: 0,
                call,
                fragment,
            } if !fragment.is_empty() => {
                // Arguments normally follow their call's start in its open block. A provider
                // that interleaves calls gets them on the call's own (earlier) block index,
                // which the Anthropic SDKs accumulate by; one that never started the call gets
                // a block without id or name rather than lost arguments.
                let index = match self.tool_blocks.iter().find(|(c, _)| c == call) {
                    Some(&(_, index)) => index,
                    None => self.start_tool(out, *call, "", ""),
                };
                write(
                    out,
                    &OutEvent::ContentBlockDelta {
                        index,
                        delta: Delta::InputJson {
                            partial_json: fragment,
                        },
                    },
                );
            }
            StreamEvent::Finish { index: 0, reason } => {
                self.stop_reason = Some(response::stop_reason(reason).to_owned());
            }
            _ => {}
        }
    }

    pub fn finish(&mut self, out: &mut BytesMut) {
        if self.ended {
            return;
        }
        self.ensure_started(out);
        self.close_block(out);
        let stop_reason = self.stop_reason.as_deref().unwrap_or("end_turn");
        write(
            out,
            &OutEvent::MessageDelta {
                delta: MessageDelta {
                    stop_reason,
                    stop_sequence: None,
                },
                usage: OutUsage::from_ir(&self.usage),
            },
        );
        write(out, &OutEvent::MessageStop);
        self.ended = true;
    }

    pub fn error(&mut self, err: &ApiError, out: &mut BytesMut) {
        if self.ended {
            return;
        }
        let body = response::encode_error(err);
        sse::encode(Some("error"), &String::from_utf8_lossy(&body), out);
        self.ended = true;
    }

    fn ensure_started(&mut self, out: &mut BytesMut) {
        if self.started {
            return;
        }
        self.started = true;
        if self.id.is_empty() {
            // The provider never said: an id of the same shape, unique enough for logs.
            let nanos = crate::base::clock::now_unix_ns();
            self.id = format!("msg_{nanos:x}");
        }
        let mut usage = OutUsage::from_ir(&self.usage);
        usage.output_tokens = 0;
        let message = StartMessage {
            id: &self.id,
            kind: "message",
            role: "assistant",
            model: &self.model,
            content: [],
            stop_reason: None,
            stop_sequence: None,
            usage,
        };
        write(out, &OutEvent::MessageStart { message });
    }

    fn take_index(&mut self) -> u32 {
        let index = self.next_index;
        self.next_index += 1;
        index
    }

    /// The index of the open block of `kind`, opening one (and closing another) if needed.
    fn open_block(&mut self, out: &mut BytesMut, kind: fn(u32) -> Open, start: StartBlock) -> u32 {
        if let Some(open) = self.open {
            let index = open.index();
            if open == kind(index) {
                return index;
            }
        }
        self.close_block(out);
        self.ensure_started(out);
        let index = self.take_index();
        write(
            out,
            &OutEvent::ContentBlockStart {
                index,
                content_block: start,
            },
        );
        self.open = Some(kind(index));
        index
    }

    fn open_thinking(&mut self, out: &mut BytesMut) -> u32 {
        self.open_block(
            out,
            Open::Thinking,
            StartBlock::Thinking {
                thinking: "",
                signature: "",
            },
        )
    }

    fn start_tool(&mut self, out: &mut BytesMut, call: u32, id: &str, name: &str) -> u32 {
        self.close_block(out);
        self.ensure_started(out);
        let index = self.take_index();
        let block = StartBlock::ToolUse {
            id,
            name,
            input: EmptyObject {},
        };
        write(
            out,
            &OutEvent::ContentBlockStart {
                index,
                content_block: block,
            },
        );
        self.open = Some(Open::Tool(index));
        self.tool_blocks.push((call, index));
        index
    }

    fn close_block(&mut self, out: &mut BytesMut) {
        if let Some(open) = self.open.take() {
            write(
                out,
                &OutEvent::ContentBlockStop {
                    index: open.index(),
                },
            );
        }
    }
}

impl Open {
    fn index(self) -> u32 {
        match self {
            Open::Text(i) | Open::Thinking(i) | Open::Tool(i) => i,
        }
    }
}

fn write(out: &mut BytesMut, event: &OutEvent) {
    // Serializing these borrowed structs cannot fail: every map key is a string.
    let data = serde_json::to_string(event).unwrap_or_default();
    sse::encode(Some(event.name()), &data, out);
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutEvent<'a> {
    MessageStart {
        message: StartMessage<'a>,
    },
    ContentBlockStart {
        index: u32,
        content_block: StartBlock<'a>,
    },
    ContentBlockDelta {
        index: u32,
        delta: Delta<'a>,
    },
    ContentBlockStop {
        index: u32,
    },
    MessageDelta {
        delta: MessageDelta<'a>,
        usage: OutUsage,
    },
    MessageStop,
}

impl OutEvent<'_> {
    fn name(&self) -> &'static str {
        match self {
            OutEvent::MessageStart { .. } => "message_start",
            OutEvent::ContentBlockStart { .. } => "content_block_start",
            OutEvent::ContentBlockDelta { .. } => "content_block_delta",
            OutEvent::ContentBlockStop { .. } => "content_block_stop",
            OutEvent::MessageDelta { .. } => "message_delta",
            OutEvent::MessageStop => "message_stop",
        }
    }
}

#[derive(Serialize)]
struct StartMessage<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [(); 0],
    stop_reason: Option<&'a str>,
    stop_sequence: Option<&'a str>,
    usage: OutUsage,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StartBlock<'a> {
    Text {
        text: &'a str,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: EmptyObject,
    },
}

#[derive(Serialize)]
struct EmptyObject {}

#[derive(Serialize)]
#[serde(tag = "type")]
enum Delta<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

#[derive(Serialize)]
struct MessageDelta<'a> {
    stop_reason: &'a str,
    stop_sequence: Option<&'a str>,
}
