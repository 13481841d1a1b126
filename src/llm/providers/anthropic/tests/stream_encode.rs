//! ir events encoded as Anthropic's SSE event sequence for clients, checked by decoding it back.

use bytes::BytesMut;
use serde_json::{json, Value};

use super::{
    decode_stream, merged_usage, start, text_ev, usage, value, STREAM_TEXT, STREAM_THINKING,
    STREAM_TOOL,
};
use crate::llm::ir::{ApiError, ErrorKind, FinishReason, StreamEvent, Usage};
use crate::llm::providers::anthropic::stream;

fn encode_all(events: &[StreamEvent]) -> String {
    let mut encoder = stream::StreamEncoder::new(false);
    let mut out = BytesMut::new();
    for event in events {
        encoder.encode(event, &mut out);
    }
    encoder.finish(&mut out);
    String::from_utf8(out.to_vec()).expect("utf-8")
}

fn event_names(sse_text: &str) -> Vec<&str> {
    sse_text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect()
}

fn without_usage(events: &[StreamEvent]) -> Vec<StreamEvent> {
    events
        .iter()
        .filter(|e| !matches!(e, StreamEvent::Usage(_)))
        .cloned()
        .collect()
}

#[test]
fn encoder_output_decodes_to_the_same_events() {
    for fixture in [STREAM_TEXT, STREAM_TOOL, STREAM_THINKING] {
        let (status, events, _) = decode_stream(fixture, usize::MAX);
        status.expect("no error");
        let encoded = encode_all(&events);
        let (status, again, done) = decode_stream(encoded.as_bytes(), 5);
        status.expect("re-decodes");
        assert!(done);
        assert_eq!(without_usage(&again), without_usage(&events));
        assert_eq!(merged_usage(&again), merged_usage(&events));
    }
    let (_, events, _) = decode_stream(STREAM_TOOL, usize::MAX);
    let (_, again, _) = decode_stream(encode_all(&events).as_bytes(), 7);
    let usage = merged_usage(&again);
    assert!(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
}

#[test]
fn encoder_writes_anthropics_event_sequence() {
    let events = vec![
        start("msg_x", "claude"),
        StreamEvent::Usage(Usage {
            prompt_tokens: 1000,
            cached_tokens: 900,
            cache_creation_tokens: 60,
            ..Usage::default()
        }),
        StreamEvent::Thinking {
            index: 0,
            text: "hmm".into(),
        },
        StreamEvent::ThinkingSignature {
            index: 0,
            signature: "sig".into(),
        },
        StreamEvent::RedactedThinking {
            index: 0,
            data: "RED".into(),
        },
        text_ev("Let me look."),
        StreamEvent::ToolCallStart {
            index: 0,
            call: 0,
            id: "t0".into(),
            name: "f".into(),
        },
        StreamEvent::ToolCallArguments {
            index: 0,
            call: 0,
            fragment: "{\"a\":".into(),
        },
        StreamEvent::ToolCallArguments {
            index: 0,
            call: 0,
            fragment: "1}".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            call: 1,
            id: "t1".into(),
            name: "g".into(),
        },
        StreamEvent::Text {
            index: 1,
            text: "another choice".into(),
        },
        StreamEvent::Finish {
            index: 0,
            reason: FinishReason::ToolCalls,
        },
        StreamEvent::Usage(Usage {
            completion_tokens: 50,
            ..Usage::default()
        }),
    ];
    let out = encode_all(&events);
    assert_eq!(
        event_names(&out),
        vec![
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let data: Vec<Value> = out
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| value(d.as_bytes()))
        .collect();
    assert_eq!(
        data[0],
        json!({"type": "message_start", "message": {
            "id": "msg_x", "type": "message", "role": "assistant", "model": "claude", "content": [],
            "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 40, "output_tokens": 0, "cache_read_input_tokens": 900, "cache_creation_input_tokens": 60}}})
    );
    assert_eq!(
        data[1],
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
    );
    assert_eq!(
        data[3],
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}})
    );
    assert_eq!(
        data[5],
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "RED"}})
    );
    assert_eq!(
        data[10],
        json!({"type": "content_block_start", "index": 3, "content_block": {"type": "tool_use", "id": "t0", "name": "f", "input": {}}})
    );
    assert_eq!(
        data[11],
        json!({"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}})
    );
    assert_eq!(data[15], json!({"type": "content_block_stop", "index": 4}));
    assert_eq!(
        data[16],
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
               "usage": {"input_tokens": 40, "output_tokens": 50, "cache_read_input_tokens": 900, "cache_creation_input_tokens": 60}})
    );
    assert_eq!(data[17], json!({"type": "message_stop"}));
    assert!(!out.contains("another choice"));
}

#[test]
fn encoder_without_start_still_writes_a_valid_stream() {
    let out = encode_all(&[]);
    assert_eq!(
        event_names(&out),
        vec!["message_start", "message_delta", "message_stop"]
    );
    let (status, events, done) = decode_stream(out.as_bytes(), 3);
    status.expect("decodes");
    assert!(done);
    assert!(matches!(&events[0], StreamEvent::Start { id, .. } if id.starts_with("msg_")));
    assert!(events.contains(&StreamEvent::Finish {
        index: 0,
        reason: FinishReason::Stop
    }));

    // Content before Start: message_start comes first all the same.
    let out = encode_all(&[
        text_ev("hi"),
        StreamEvent::Finish {
            index: 0,
            reason: FinishReason::Length,
        },
    ]);
    assert_eq!(
        event_names(&out),
        vec![
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert!(out.contains("\"stop_reason\":\"max_tokens\""));
}

#[test]
fn encoder_error_ends_the_stream() {
    let mut encoder = stream::StreamEncoder::new(true);
    let mut out = BytesMut::new();
    encoder.encode(&start("m", "c"), &mut out);
    encoder.encode(&text_ev("partial"), &mut out);
    encoder.error(
        &ApiError::new(ErrorKind::Unavailable, "Overloaded"),
        &mut out,
    );
    encoder.finish(&mut out);
    encoder.encode(&text_ev("late"), &mut out);
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert!(text.ends_with(
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
    ));
    assert!(!text.contains("message_stop") && !text.contains("late"));
    let (status, _, done) = decode_stream(text.as_bytes(), 5);
    assert_eq!(status.unwrap_err().kind, ErrorKind::Unavailable);
    assert!(!done);
}

#[test]
fn encoder_keeps_interleaved_arguments_on_their_call() {
    let events = vec![
        start("m", "c"),
        StreamEvent::ToolCallStart {
            index: 0,
            call: 0,
            id: "a".into(),
            name: "f".into(),
        },
        StreamEvent::ToolCallArguments {
            index: 0,
            call: 0,
            fragment: "{\"x\":".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            call: 1,
            id: "b".into(),
            name: "g".into(),
        },
        StreamEvent::ToolCallArguments {
            index: 0,
            call: 1,
            fragment: "{}".into(),
        },
        StreamEvent::ToolCallArguments {
            index: 0,
            call: 0,
            fragment: "1}".into(),
        },
    ];
    let out = encode_all(&events);
    let data: Vec<Value> = out
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| value(d.as_bytes()))
        .collect();
    let deltas: Vec<(u64, &str)> = data
        .iter()
        .filter(|d| d["type"] == "content_block_delta")
        .map(|d| {
            (
                d["index"].as_u64().unwrap(),
                d["delta"]["partial_json"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(deltas, vec![(0, "{\"x\":"), (1, "{}"), (0, "1}")]);
}

#[test]
fn encoder_writes_message_start_once_the_input_count_is_known() {
    let mut encoder = stream::StreamEncoder::new(false);
    let mut out = BytesMut::new();
    encoder.encode(&start("msg_1", "claude"), &mut out);
    assert!(out.is_empty(), "held for the usage that follows Start");
    encoder.encode(&usage(25, 1), &mut out);
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert_eq!(event_names(&text), vec!["message_start"]);
    assert!(text.contains("\"input_tokens\":25,\"output_tokens\":0"));
}
