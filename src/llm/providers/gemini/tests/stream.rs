//! Streams: Gemini's SSE chunks decoded to ir events, when a stream is done, and stream errors.

use crate::llm::ir::{ErrorKind, FinishReason, StreamEvent, Usage};
use crate::llm::providers::gemini::stream::StreamDecoder;
use crate::llm::sse;

/// The fixture through `sse::Decoder` in `chunk`-byte pieces, then `StreamDecoder`.
fn run_stream(raw: &[u8], chunk: usize) -> (Vec<StreamEvent>, bool) {
    let mut sse_dec = sse::Decoder::new();
    let mut dec = StreamDecoder::new();
    let mut events = Vec::new();
    let mut out = Vec::new();
    for piece in raw.chunks(chunk) {
        sse_dec.push(piece, &mut events).unwrap();
        for ev in events.drain(..) {
            dec.decode(&ev, &mut out).unwrap();
        }
    }
    sse_dec.finish().unwrap();
    for ev in &mut out {
        if let StreamEvent::Start { created, .. } = ev {
            assert!(*created > 1_700_000_000);
            *created = 0;
        }
    }
    (out, dec.is_done())
}

#[test]
fn decodes_text_stream() {
    let raw = include_bytes!("../fixtures/stream_text.sse");
    let prompt_only = StreamEvent::Usage(Usage {
        prompt_tokens: 5,
        ..Usage::default()
    });
    let want = vec![
        StreamEvent::Start {
            id: "tTCwacuEBMvnitYP06qsgQY".into(),
            model: "gemini-3-flash-preview".into(),
            created: 0,
        },
        StreamEvent::Text {
            index: 0,
            text: "Hello!".into(),
        },
        prompt_only.clone(),
        StreamEvent::Text {
            index: 0,
            text: " How can I help you today".into(),
        },
        prompt_only.clone(),
        StreamEvent::Text {
            index: 0,
            text: "?".into(),
        },
        prompt_only,
        StreamEvent::ThinkingSignature {
            index: 0,
            signature: "AY89a18iOcFus5wr5bW5xN6zZ4aUiCyhgmg6HE2YjtYDV/dwZ5oZlZHeTmiUKv34qq0="
                .into(),
        },
        StreamEvent::Finish {
            index: 0,
            reason: FinishReason::Stop,
        },
        StreamEvent::Usage(Usage {
            prompt_tokens: 5,
            completion_tokens: 33,
            cached_tokens: 0,
            cache_creation_tokens: 0,
            reasoning_tokens: 24,
        }),
    ];
    for chunk in [1, 5, 64, raw.len()] {
        let (got, done) = run_stream(raw, chunk);
        assert_eq!(got, want, "chunk size {chunk}");
        assert!(done);
    }
}

#[test]
fn decodes_function_call_stream() {
    let raw = include_bytes!("../fixtures/stream_function_call.sse");
    let want = vec![
        StreamEvent::Start {
            id: "x1OtaNqXJtKoz7IP5r6B0A0".into(),
            model: "gemini-2.5-flash".into(),
            created: 0,
        },
        StreamEvent::Thinking {
            index: 0,
            text: "**Checking the weather**\n\nI should call the weather tool for both cities."
                .into(),
        },
        StreamEvent::Usage(Usage {
            prompt_tokens: 74,
            ..Usage::default()
        }),
        StreamEvent::ThinkingSignature {
            index: 0,
            signature: "CtwBAdHtim+2p9w3dqfLq8T0xq+5Zl0yHh3m5Vq1kQ==".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            call: 0,
            id: "call_0_0".into(),
            name: "get_weather".into(),
        },
        StreamEvent::ToolCallArguments {
            index: 0,
            call: 0,
            fragment: r#"{"location":"Paris"}"#.into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            call: 1,
            id: "call_0_1".into(),
            name: "get_weather".into(),
        },
        StreamEvent::ToolCallArguments {
            index: 0,
            call: 1,
            fragment: r#"{"location":"London"}"#.into(),
        },
        StreamEvent::Finish {
            index: 0,
            reason: FinishReason::ToolCalls,
        },
        StreamEvent::Usage(Usage {
            prompt_tokens: 74,
            completion_tokens: 78,
            cached_tokens: 0,
            cache_creation_tokens: 0,
            reasoning_tokens: 48,
        }),
    ];
    let (got, done) = run_stream(raw, 5);
    assert_eq!(got, want);
    assert!(done);
}

fn event(data: &str) -> sse::Event {
    sse::Event {
        data: data.into(),
        ..Default::default()
    }
}

#[test]
fn stream_done_only_when_every_candidate_finished() {
    let mut dec = StreamDecoder::new();
    let mut out = Vec::new();
    assert!(!dec.is_done());
    dec.decode(
        &event(r#"{"candidates":[{"content":{"parts":[{"text":"a"}]},"index":0},{"content":{"parts":[{"text":"b"}]},"index":1}]}"#),
        &mut out,
    )
    .unwrap();
    assert!(!dec.is_done());
    dec.decode(
        &event(r#"{"candidates":[{"finishReason":"STOP","index":0}]}"#),
        &mut out,
    )
    .unwrap();
    assert!(!dec.is_done());
    dec.decode(
        &event(r#"{"candidates":[{"finishReason":"MAX_TOKENS","index":1}]}"#),
        &mut out,
    )
    .unwrap();
    assert!(dec.is_done());
    assert!(matches!(&out[0], StreamEvent::Start { id, .. } if id.starts_with("gemini-")));
    assert_eq!(
        out[1..],
        [
            StreamEvent::Text {
                index: 0,
                text: "a".into()
            },
            StreamEvent::Text {
                index: 1,
                text: "b".into()
            },
            StreamEvent::Finish {
                index: 0,
                reason: FinishReason::Stop
            },
            StreamEvent::Finish {
                index: 1,
                reason: FinishReason::Length
            },
        ]
    );
}

#[test]
fn stream_blocked_prompt_finishes() {
    let mut dec = StreamDecoder::new();
    let mut out = Vec::new();
    dec.decode(
        &event(r#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"responseId":"r"}"#),
        &mut out,
    )
    .unwrap();
    assert!(dec.is_done());
    assert_eq!(
        out[1],
        StreamEvent::Finish {
            index: 0,
            reason: FinishReason::ContentFilter
        }
    );
}

#[test]
fn stream_errors() {
    let mut dec = StreamDecoder::new();
    let mut out = Vec::new();
    let err = dec
        .decode(
            &event(r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert_eq!(err.message, "The model is overloaded.");
    let err = dec
        .decode(&event("{\"candidates\": [tru"), &mut out)
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadResponse);
    assert!(out.is_empty());
    assert!(!dec.is_done());
}
