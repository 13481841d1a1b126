//! Anthropic's SSE streams decoded to ir events: text, tool calls, thinking, cached usage, errors.

use super::{
    decode_stream, merged_usage, start, text_ev, usage, STREAM_TEXT, STREAM_THINKING, STREAM_TOOL,
};
use crate::llm::ir::{ErrorKind, FinishReason, StreamEvent, Usage};
use crate::llm::providers::anthropic::stream;
use crate::llm::sse;

const STREAM_ERROR: &[u8] = include_bytes!("../fixtures/stream_error.sse");

#[test]
fn decodes_the_documented_text_stream() {
    for chunk in [5, 1, 64, usize::MAX] {
        let (status, events, done) = decode_stream(STREAM_TEXT, chunk);
        status.expect("no error");
        assert!(done);
        assert_eq!(
            events,
            vec![
                start(
                    "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
                    "claude-opus-4-20250514"
                ),
                usage(25, 1),
                text_ev("Hello"),
                text_ev("!"),
                StreamEvent::Finish {
                    index: 0,
                    reason: FinishReason::Stop
                },
                usage(25, 15),
            ],
            "chunk {chunk}"
        );
    }
}

#[test]
fn decodes_a_streamed_tool_call() {
    let (status, events, done) = decode_stream(STREAM_TOOL, 5);
    status.expect("no error");
    assert!(done);
    let text: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Okay, let's check the weather for San Francisco, CA:");
    assert!(events.contains(&StreamEvent::ToolCallStart {
        index: 0,
        call: 0,
        id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
        name: "get_weather".into(),
    }));
    let fragments: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallArguments {
                call: 0, fragment, ..
            } => Some(fragment.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(fragments.len(), 8, "the empty first fragment is skipped");
    assert_eq!(
        fragments.concat(),
        r#"{"location": "San Francisco, CA", "unit": "fahrenheit"}"#
    );
    assert!(events.contains(&StreamEvent::Finish {
        index: 0,
        reason: FinishReason::ToolCalls
    }));
    assert_eq!(
        merged_usage(&events),
        Usage {
            prompt_tokens: 472,
            completion_tokens: 89,
            ..Usage::default()
        }
    );
}

#[test]
fn decodes_a_streamed_thinking_answer() {
    let (status, events, done) = decode_stream(STREAM_THINKING, 5);
    status.expect("no error");
    assert!(done);
    let thinking: String = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Thinking { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        thinking.starts_with("Let me solve this step by step:\n\n1. First break down 27 * 453\n2.")
    );
    assert!(thinking.ends_with("= 12,231"));
    let tail = &events[events.len() - 3..];
    assert_eq!(
        tail,
        &[
            StreamEvent::ThinkingSignature {
                index: 0,
                signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...".into()
            },
            text_ev("27 * 453 = 12,231"),
            StreamEvent::Finish {
                index: 0,
                reason: FinishReason::Stop
            },
        ]
    );
    assert_eq!(events[0], start("msg_01...", "claude-opus-4-20250514"));
}

#[test]
fn stream_usage_counts_cached_input_from_message_start() {
    let sse = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\",\"usage\":{\"input_tokens\":40,\"cache_read_input_tokens\":900,\"cache_creation_input_tokens\":60,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"redacted_thinking\",\"data\":\"RED\"}}\n\n",
        "event: content_block_stop\n",
        "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: some_future_event\n",
        "data: {\"type\":\"some_future_event\",\"x\":1}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"},\"usage\":{\"output_tokens\":77}}\n\n",
    );
    let (status, events, done) = decode_stream(sse.as_bytes(), 5);
    status.expect("no error");
    assert!(!done, "no message_stop: truncated");
    assert!(events.contains(&StreamEvent::RedactedThinking {
        index: 0,
        data: "RED".into()
    }));
    assert!(events.contains(&StreamEvent::Finish {
        index: 0,
        reason: FinishReason::Length
    }));
    let expected = Usage {
        prompt_tokens: 1000,
        completion_tokens: 77,
        cached_tokens: 900,
        cache_creation_tokens: 60,
        reasoning_tokens: 0,
    };
    // The last usage event alone is complete, whatever the caller does with earlier ones.
    assert_eq!(events.last(), Some(&StreamEvent::Usage(expected)));
}

#[test]
fn stream_errors() {
    let (status, events, done) = decode_stream(STREAM_ERROR, 5);
    let err = status.unwrap_err();
    assert_eq!(
        (err.kind, err.message.as_str(), err.code.as_deref()),
        (
            ErrorKind::Unavailable,
            "Overloaded",
            Some("overloaded_error")
        )
    );
    assert!(!done);
    assert_eq!(events.len(), 2, "start and usage came before the error");

    let mut decoder = stream::StreamDecoder::new();
    let mut out = Vec::new();
    let bad_json = sse::Event {
        event: Some("content_block_delta".into()),
        data: "{\"type\":".into(),
        ..Default::default()
    };
    assert_eq!(
        decoder.decode(&bad_json, &mut out).unwrap_err().kind,
        ErrorKind::BadResponse
    );
    let orphan = sse::Event {
        event: Some("content_block_delta".into()),
        data: r#"{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#.into(),
        ..Default::default()
    };
    assert_eq!(
        decoder.decode(&orphan, &mut out).unwrap_err().kind,
        ErrorKind::BadResponse
    );
    let bare_error = sse::Event {
        event: Some("error".into()),
        data: "{}".into(),
        ..Default::default()
    };
    assert_eq!(
        decoder.decode(&bare_error, &mut out).unwrap_err().kind,
        ErrorKind::ProviderFailure
    );
    let text_error = sse::Event {
        event: Some("error".into()),
        data: "upstream connect error".into(),
        ..Default::default()
    };
    let err = decoder.decode(&text_error, &mut out).unwrap_err();
    assert_eq!(err.kind, ErrorKind::ProviderFailure);
    assert!(err.message.contains("upstream connect error"));
    assert!(out.is_empty());
}
