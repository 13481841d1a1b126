//! Streams: OpenAI's SSE chunks decoded to ir events (compatible servers' variations included),
//! ir events encoded as a client's stream, stream errors, and round trips.

use bytes::BytesMut;
use serde_json::{json, Value};

use super::{data_values, decode_data, decode_stream, encode_stream};
use crate::llm::ir::{ApiError, ErrorKind, FinishReason, StreamEvent, Usage};
use crate::llm::providers::openai::stream;

#[test]
fn decodes_a_text_stream() {
    for chunk in [7, 1, 64, 100_000] {
        let (events, done) =
            decode_stream(include_bytes!("../fixtures/stream_text.sse"), chunk).unwrap();
        assert!(done);
        let mut expected = vec![StreamEvent::Start {
            id: "chatcmpl-BxR6mN8bV7cX6zL5kJ4hG3fD2sA1q".into(),
            model: "gpt-4o-2024-08-06".into(),
            created: 1753776180,
        }];
        for w in ["The", " capital", " of", " France", " is", " Paris", "."] {
            expected.push(StreamEvent::Text {
                index: 0,
                text: w.into(),
            });
        }
        expected.push(StreamEvent::Finish {
            index: 0,
            reason: FinishReason::Stop,
        });
        expected.push(StreamEvent::Usage(Usage {
            prompt_tokens: 14,
            completion_tokens: 7,
            ..Usage::default()
        }));
        assert_eq!(events, expected, "chunk size {chunk}");
    }
}

#[test]
fn decodes_parallel_tool_calls_in_fragments() {
    let (events, done) =
        decode_stream(include_bytes!("../fixtures/stream_parallel_tools.sse"), 7).unwrap();
    assert!(done);
    let starts: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCallStart { call, id, name, .. } => {
                Some((*call, id.as_str(), name.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        vec![
            (0, "call_Qm3Xa7Lk2PzR8tVn1YbW5cHd", "get_weather"),
            (1, "call_Ju6Fe4Rs9NgT2wQo8ZlA3xKm", "get_stock_price"),
        ]
    );
    let mut args = [String::new(), String::new()];
    let mut fragments = 0;
    for e in &events {
        if let StreamEvent::ToolCallArguments {
            index: 0,
            call,
            fragment,
        } = e
        {
            args[*call as usize].push_str(fragment);
            fragments += 1;
        }
    }
    assert_eq!(fragments, 20);
    assert_eq!(
        args[0],
        r#"{"city": "Edinburgh", "country": "UK", "units": "c"}"#
    );
    assert_eq!(args[1], r#"{"ticker": "AAPL", "exchange": "NASDAQ"}"#);
    let n = events.len();
    assert_eq!(
        events[n - 2],
        StreamEvent::Finish {
            index: 0,
            reason: FinishReason::ToolCalls
        }
    );
    assert_eq!(
        events[n - 1],
        StreamEvent::Usage(Usage {
            prompt_tokens: 149,
            completion_tokens: 60,
            cached_tokens: 128,
            ..Usage::default()
        })
    );
}

#[test]
fn decodes_compatible_server_variations() {
    // Azure's prompt-filter chunk first, vLLM/DeepSeek reasoning, a start carrying its first arguments, a server that numbers
    // every call 0 with new ids, one that sends no ids, and content with finish in one chunk.
    let events = decode_data(&[
        r#"{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}"#,
        r#"{"id":"r","model":"deepseek-reasoner","created":9,"choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Let me"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"reasoning":" think"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"x\":"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}"#,
        r#"{"choices":[{"index":1,"delta":{"tool_calls":[{"function":{"name":"h","arguments":"{}"}}]}}]}"#,
        r#"{"choices":[{"index":1,"delta":{"content":"ok"},"finish_reason":"length"}],"usage":null}"#,
        "[DONE]",
    ])
    .unwrap();
    let t = |text: &str| StreamEvent::Thinking {
        index: 0,
        text: text.into(),
    };
    let start = |index, call, id: &str, name: &str| StreamEvent::ToolCallStart {
        index,
        call,
        id: id.into(),
        name: name.into(),
    };
    let args = |index, call, fragment: &str| StreamEvent::ToolCallArguments {
        index,
        call,
        fragment: fragment.into(),
    };
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "r".into(),
                model: "deepseek-reasoner".into(),
                created: 9
            },
            t("Let me"),
            t(" think"),
            start(0, 0, "a", "f"),
            args(0, 0, "{\"x\":"),
            args(0, 0, "1}"),
            start(0, 1, "b", "g"),
            args(0, 1, "{}"),
            start(1, 0, "call_1_0", "h"),
            args(1, 0, "{}"),
            StreamEvent::Text {
                index: 1,
                text: "ok".into()
            },
            StreamEvent::Finish {
                index: 1,
                reason: FinishReason::Length
            },
        ]
    );
}

#[test]
fn stream_errors() {
    let err = decode_stream(include_bytes!("../fixtures/stream_error.sse"), 7).unwrap_err();
    assert_eq!(err.kind, ErrorKind::ProviderFailure);
    assert!(
        err.message.contains("The server had an error"),
        "{}",
        err.message
    );

    let err = decode_data(&[
        r#"{"error":{"message":"slow","type":"tokens","code":"rate_limit_exceeded"}}"#,
    ])
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::RateLimited);
    assert_eq!(err.code.as_deref(), Some("rate_limit_exceeded"));

    let err = decode_data(&[r#"{"id":"x","choices":[{"delta":"#]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadResponse);
    let err = decode_data(&[r#"{"choices":[{"delta":{"content":7}}]}"#]).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadResponse);

    // A stream cut before [DONE] is not done.
    let (_, done) = decode_stream(
        br#"data: {"id":"x","choices":[{"index":0,"delta":{"content":"a"}}]}

"#,
        7,
    )
    .unwrap();
    assert!(!done);
}

fn sample_events() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "chatcmpl-1".into(),
            model: "gpt-4o".into(),
            created: 77,
        },
        StreamEvent::Thinking {
            index: 0,
            text: "plan".into(),
        },
        StreamEvent::ThinkingSignature {
            index: 0,
            signature: "sig".into(),
        },
        StreamEvent::Text {
            index: 0,
            text: "Checking.".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            call: 0,
            id: "call_a".into(),
            name: "f".into(),
        },
        StreamEvent::ToolCallArguments {
            index: 0,
            call: 0,
            fragment: "{\"q\":".into(),
        },
        StreamEvent::ToolCallStart {
            index: 0,
            call: 1,
            id: "call_b".into(),
            name: "g".into(),
        },
        StreamEvent::ToolCallArguments {
            index: 0,
            call: 0,
            fragment: "1}".into(),
        },
        StreamEvent::Usage(Usage {
            prompt_tokens: 20,
            cached_tokens: 8,
            ..Usage::default()
        }),
        StreamEvent::Finish {
            index: 0,
            reason: FinishReason::ToolCalls,
        },
        StreamEvent::Usage(Usage {
            completion_tokens: 5,
            reasoning_tokens: 2,
            ..Usage::default()
        }),
    ]
}

#[test]
fn encodes_client_stream() {
    let out = encode_stream(&sample_events(), true);
    let chunk = |choice: Value| {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 77,
               "model": "gpt-4o", "choices": [choice]})
    };
    let delta = |d: Value| json!({"index": 0, "delta": d, "logprobs": null, "finish_reason": null});
    let expected = vec![
        chunk(delta(json!({"role": "assistant", "content": ""}))),
        chunk(delta(json!({"reasoning_content": "plan"}))),
        chunk(delta(
            json!({"thinking_blocks": [{"type": "thinking", "thinking": "", "signature": "sig"}]}),
        )),
        chunk(delta(json!({"content": "Checking."}))),
        chunk(delta(
            json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                             "function": {"name": "f", "arguments": ""}}]}),
        )),
        chunk(delta(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"q\":"}}]}),
        )),
        chunk(delta(
            json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                                             "function": {"name": "g", "arguments": ""}}]}),
        )),
        chunk(delta(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
        )),
        chunk(json!({"index": 0, "delta": {}, "logprobs": null, "finish_reason": "tool_calls"})),
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 77,
               "model": "gpt-4o", "choices": [],
               "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25,
                         "prompt_tokens_details": {"cached_tokens": 8},
                         "completion_tokens_details": {"reasoning_tokens": 2}}}),
        json!("[DONE]"),
    ];
    assert_eq!(data_values(&out), expected);
    assert!(out.ends_with(b"data: [DONE]\n\n"));
    assert!(out.starts_with(b"data: {\"id\":\"chatcmpl-1\""));

    // Without include_usage: no usage chunk, still [DONE].
    let values = data_values(&encode_stream(&sample_events(), false));
    assert_eq!(values.len(), expected.len() - 1);
    assert!(values.iter().all(|v| v.get("usage").is_none()));
    assert_eq!(values.last(), Some(&json!("[DONE]")));
}

#[test]
fn each_choice_opens_with_its_role() {
    let events = [
        StreamEvent::Start {
            id: "x".into(),
            model: "m".into(),
            created: 1,
        },
        StreamEvent::Text {
            index: 1,
            text: "b".into(),
        },
        StreamEvent::Text {
            index: 0,
            text: "a".into(),
        },
        StreamEvent::Finish {
            index: 1,
            reason: FinishReason::Stop,
        },
    ];
    let values = data_values(&encode_stream(&events, false));
    let roles: Vec<_> = values[..4]
        .iter()
        .map(|v| v["choices"][0]["delta"].get("role").is_some())
        .collect();
    assert_eq!(roles, [true, true, false, false]);
}

#[test]
fn encodes_stream_errors_without_done() {
    let mut enc = stream::StreamEncoder::new(true);
    let mut out = BytesMut::new();
    enc.encode(
        &StreamEvent::Text {
            index: 0,
            text: "a".into(),
        },
        &mut out,
    );
    let err = ApiError::new(ErrorKind::Timeout, "provider timed out").with_code("timeout");
    enc.error(&err, &mut out);
    let values = data_values(&out);
    assert_eq!(
        values.last(),
        Some(
            &json!({"error": {"message": "provider timed out", "type": "timeout_error",
                                "param": null, "code": "timeout"}})
        )
    );
    assert!(!out.windows(6).any(|w| w == b"[DONE]"));
    // And the gateway's own decoder reads it as an error.
    let err = decode_stream(&out, 7).unwrap_err();
    assert_eq!(err.message, "provider timed out");
}

#[test]
fn stream_round_trips() {
    // ir -> OpenAI SSE -> ir: the same events (the signature rides in thinking_blocks), with
    // usage merged into one event at the end.
    let events = sample_events();
    let (back, done) = decode_stream(&encode_stream(&events, true), 7).unwrap();
    assert!(done);
    let mut expected: Vec<_> = events
        .iter()
        .filter(|e| !matches!(e, StreamEvent::Usage(_)))
        .cloned()
        .collect();
    expected.push(StreamEvent::Usage(Usage {
        prompt_tokens: 20,
        completion_tokens: 5,
        cached_tokens: 8,
        reasoning_tokens: 2,
        ..Usage::default()
    }));
    assert_eq!(back, expected);

    // Provider SSE -> ir -> client SSE -> ir: unchanged.
    for fixture in [
        &include_bytes!("../fixtures/stream_text.sse")[..],
        include_bytes!("../fixtures/stream_parallel_tools.sse"),
    ] {
        let (events, _) = decode_stream(fixture, 7).unwrap();
        let (again, done) = decode_stream(&encode_stream(&events, true), 5).unwrap();
        assert!(done);
        assert_eq!(again, events);
    }
}
