//! Table tests of the OpenAI codec over the samples in `fixtures/` (see its README), in both
//! directions, plus the round trips the format supports. The tests sit in `tests/` by subject;
//! this file holds the helpers they share.

mod embeddings;
mod errors;
mod request;
mod response;
mod stream;
mod thinking;

use bytes::BytesMut;
use serde_json::Value;

use super::stream::{StreamDecoder, StreamEncoder};
use crate::llm::ir::{
    self, ApiError, FinishReason, Message, Part, Role, StreamEvent, ToolCall, Usage,
};
use crate::llm::sse;

fn value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

fn sse_events(bytes: &[u8], chunk: usize) -> Vec<sse::Event> {
    let mut dec = sse::Decoder::new();
    let mut events = Vec::new();
    for piece in bytes.chunks(chunk) {
        dec.push(piece, &mut events).expect("valid SSE");
    }
    dec.finish().expect("complete SSE");
    events
}

/// Feeds `bytes` through the SSE decoder in `chunk`-byte pieces, then the stream decoder.
fn decode_stream(bytes: &[u8], chunk: usize) -> Result<(Vec<StreamEvent>, bool), ApiError> {
    let mut dec = StreamDecoder::new();
    let mut out = Vec::new();
    for event in sse_events(bytes, chunk) {
        dec.decode(&event, &mut out)?;
    }
    Ok((out, dec.is_done()))
}

fn encode_stream(events: &[StreamEvent], include_usage: bool) -> BytesMut {
    let mut enc = StreamEncoder::new(include_usage);
    let mut out = BytesMut::new();
    for e in events {
        enc.encode(e, &mut out);
    }
    enc.finish(&mut out);
    out
}

fn text(role: Role, t: &str) -> Message {
    Message::text(role, t)
}

fn tool_call_response() -> ir::ChatResponse {
    ir::ChatResponse {
        id: "chatcmpl-BxR4kT0qLw7hM2nQe9ZpVfJcY1sD3".into(),
        model: "o4-mini-2025-04-16".into(),
        created: 1753776000,
        choices: vec![ir::Choice {
            index: 0,
            message: Message {
                role: Role::Assistant,
                parts: vec![
                    Part::ToolCall(ToolCall {
                        id: "call_8fKq2LmZ0rTn5WvXy7HbCdEa".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris","units":"c"}"#.into(),
                    }),
                    Part::ToolCall(ToolCall {
                        id: "call_3GhJ6kLp9QrSt1UvWx4YzAbC".into(),
                        name: "get_time".into(),
                        arguments: r#"{"timezone":"Europe/Paris"}"#.into(),
                    }),
                ],
                name: None,
            },
            finish_reason: Some(FinishReason::ToolCalls),
        }],
        usage: Usage {
            prompt_tokens: 1843,
            completion_tokens: 342,
            cached_tokens: 1536,
            cache_creation_tokens: 0,
            reasoning_tokens: 256,
        },
    }
}

fn decode_data(lines: &[&str]) -> Result<Vec<StreamEvent>, ApiError> {
    let mut dec = StreamDecoder::new();
    let mut out = Vec::new();
    for data in lines {
        let event = sse::Event {
            data: data.to_string(),
            ..sse::Event::default()
        };
        dec.decode(&event, &mut out)?;
    }
    Ok(out)
}

fn data_values(bytes: &[u8]) -> Vec<Value> {
    sse_events(bytes, 1 << 20)
        .into_iter()
        .map(|e| {
            if e.data == "[DONE]" {
                Value::String(e.data)
            } else {
                serde_json::from_str(&e.data).unwrap()
            }
        })
        .collect()
}
