//! Table tests over the Anthropic fixtures (see `fixtures/README.md`), in both directions. The
//! tests sit in `tests/` by subject; this file holds the fixtures and helpers they share.

mod errors;
mod request_decode;
mod request_encode;
mod response;
mod stream_decode;
mod stream_encode;

use serde_json::Value;

use super::stream;
use crate::llm::ir::{ApiError, Message, Part, Role, StreamEvent, ToolResult, Usage};
use crate::llm::sse;

const REQ_THINKING_TOOLS: &str = include_str!("fixtures/request_thinking_tools.json");
const REQ_VISION: &str = include_str!("fixtures/request_vision_options.json");
const STREAM_TEXT: &[u8] = include_bytes!("fixtures/stream_text.sse");
const STREAM_TOOL: &[u8] = include_bytes!("fixtures/stream_tool_use.sse");
const STREAM_THINKING: &[u8] = include_bytes!("fixtures/stream_thinking.sse");

fn value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

fn text(role: Role, t: &str) -> Message {
    Message::text(role, t)
}

fn result(call_id: &str, t: &str) -> Part {
    Part::ToolResult(ToolResult {
        call_id: call_id.into(),
        name: None,
        content: vec![Part::Text(t.into())],
        is_error: false,
    })
}

/// SSE bytes through `sse::Decoder` in `chunk`-byte pieces, then through `StreamDecoder`.
/// `Start::created` is zeroed so results compare.
fn decode_stream(bytes: &[u8], chunk: usize) -> (Result<(), ApiError>, Vec<StreamEvent>, bool) {
    let mut sse_decoder = sse::Decoder::new();
    let mut decoder = stream::StreamDecoder::new();
    let mut events = Vec::new();
    let mut out = Vec::new();
    let mut status = Ok(());
    'outer: for piece in bytes.chunks(chunk) {
        events.clear();
        sse_decoder.push(piece, &mut events).expect("valid SSE");
        for event in &events {
            if let Err(e) = decoder.decode(event, &mut out) {
                status = Err(e);
                break 'outer;
            }
        }
    }
    if status.is_ok() {
        sse_decoder.finish().expect("complete SSE");
    }
    for event in &mut out {
        if let StreamEvent::Start { created, .. } = event {
            assert!(*created > 0, "created is stamped");
            *created = 0;
        }
    }
    (status, out, decoder.is_done())
}

fn start(id: &str, model: &str) -> StreamEvent {
    StreamEvent::Start {
        id: id.into(),
        model: model.into(),
        created: 0,
    }
}

fn usage(prompt: u64, completion: u64) -> StreamEvent {
    StreamEvent::Usage(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        ..Usage::default()
    })
}

fn text_ev(t: &str) -> StreamEvent {
    StreamEvent::Text {
        index: 0,
        text: t.into(),
    }
}

fn merged_usage(events: &[StreamEvent]) -> Usage {
    let mut total = Usage::default();
    for event in events {
        if let StreamEvent::Usage(u) = event {
            total.merge(u);
        }
    }
    total
}
