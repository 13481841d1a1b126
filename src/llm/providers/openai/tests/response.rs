//! Chat responses: OpenAI's bodies decoded to the ir, the ir encoded for clients, and round trips.

use serde_json::json;

use super::{text, tool_call_response, value};
use crate::llm::ir::{self, ErrorKind, FinishReason, Message, Part, Role, Usage};
use crate::llm::providers::openai::response;

#[test]
fn decodes_provider_responses() {
    let resp = response::decode_chat(include_bytes!("../fixtures/chat_tool_calls.json")).unwrap();
    assert_eq!(resp, tool_call_response());

    let resp = response::decode_chat(include_bytes!("../fixtures/chat_text.json")).unwrap();
    assert_eq!(
        resp.choices[0].message,
        text(Role::Assistant, "Paris is the capital of France.")
    );
    assert_eq!(resp.choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(
        (resp.usage.prompt_tokens, resp.usage.cached_tokens),
        (24, 0)
    );

    let resp =
        response::decode_chat(include_bytes!("../fixtures/chat_deepseek_reasoning.json")).unwrap();
    assert_eq!(
        resp.choices[0].message.parts,
        vec![
            Part::Thinking {
                text: "Compare the tenths: 1 is less than 8, so 9.11 < 9.8.".into(),
                signature: None
            },
            Part::Text("9.11 is smaller than 9.8.".into()),
        ]
    );
    assert_eq!(resp.usage.reasoning_tokens, 71);

    // DeepSeek without the OpenAI details object, and a refusal.
    let resp = response::decode_chat(
        br#"{"id":"x","model":"deepseek-chat","created":1,"choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":100,"completion_tokens":5,"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}}"#,
    )
    .unwrap();
    assert_eq!(resp.usage.cached_tokens, 64);
    assert_eq!(
        resp.choices[0].message.parts,
        vec![Part::Text("I can't help with that.".into())]
    );
}

/// The usage of an answer passed on as it came is what decoding it gives, escaped strings
/// (which cannot be borrowed from the body) included.
#[test]
fn the_usage_of_a_passed_on_answer_is_the_decoded_usage() {
    let escaped = br#"{"id":"x","model":"m","choices":[{"index":0,"message":{"content":"a\n\"b\" \u00e9"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":2}}}"#;
    for body in [
        &include_bytes!("../fixtures/chat_tool_calls.json")[..],
        include_bytes!("../fixtures/chat_text.json"),
        include_bytes!("../fixtures/chat_deepseek_reasoning.json"),
        escaped,
    ] {
        let usage = response::chat_usage(body).unwrap();
        assert_eq!(usage, response::decode_chat(body).unwrap().usage);
    }
    assert_eq!(
        response::chat_usage(escaped).unwrap(),
        Usage {
            prompt_tokens: 7,
            completion_tokens: 3,
            cached_tokens: 2,
            ..Usage::default()
        }
    );
    let text = response::decode_chat(escaped).unwrap().choices[0]
        .message
        .parts[0]
        .clone();
    assert_eq!(text, Part::Text("a\n\"b\" \u{e9}".into()));
}

#[test]
fn unreadable_responses_are_bad_responses() {
    for body in [
        &b"<html>oops</html>"[..],
        br#"{"choices":[{"message":{"content":5}}]}"#,
        br#"{"choices":{"message":{"content":"x"}}}"#,
        br#"{"choices":[{"message":{"tool_calls":[{"id":"c"}]}}]}"#,
    ] {
        let err = response::decode_chat(body).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadResponse);
        assert!(err.message.contains("OpenAI"), "{}", err.message);
        // An answer passed on as it came is held to the same checks.
        assert_eq!(response::chat_usage(body).unwrap_err(), err);
    }
    let err = response::decode_embeddings(br#"{"data":[{"embedding":"!!"}]}"#).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadResponse);
    let err = response::decode_embeddings(br#"{"data":[{"embedding":"AAA="}]}"#).unwrap_err();
    assert!(err.message.contains("multiple of 4"), "{}", err.message);
}

#[test]
fn encodes_client_responses() {
    let body = response::encode_chat(&tool_call_response());
    let expected = json!({
        "id": "chatcmpl-BxR4kT0qLw7hM2nQe9ZpVfJcY1sD3",
        "object": "chat.completion",
        "created": 1753776000,
        "model": "o4-mini-2025-04-16",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": null,
                "tool_calls": [
                    {"id": "call_8fKq2LmZ0rTn5WvXy7HbCdEa", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"units\":\"c\"}"}},
                    {"id": "call_3GhJ6kLp9QrSt1UvWx4YzAbC", "type": "function",
                     "function": {"name": "get_time", "arguments": "{\"timezone\":\"Europe/Paris\"}"}}
                ]
            },
            "logprobs": null,
            "finish_reason": "tool_calls"
        }],
        "usage": {
            "prompt_tokens": 1843, "completion_tokens": 342, "total_tokens": 2185,
            "prompt_tokens_details": {"cached_tokens": 1536},
            "completion_tokens_details": {"reasoning_tokens": 256}
        }
    });
    assert_eq!(value(&body), expected);

    // Thinking (from Anthropic, signed) goes out as reasoning_content and, with its signature
    // and the redacted block, as thinking_blocks; no usage details when zero.
    let resp = ir::ChatResponse {
        id: "msg_1".into(),
        model: "claude".into(),
        created: 5,
        choices: vec![ir::Choice {
            index: 0,
            message: Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Thinking {
                        text: "think".into(),
                        signature: Some("sig".into()),
                    },
                    Part::RedactedThinking("x".into()),
                    Part::Text("Hello".into()),
                    Part::Text(" there".into()),
                ],
                name: None,
            },
            finish_reason: Some(FinishReason::Other("refusal".into())),
        }],
        usage: Usage {
            prompt_tokens: 10,
            completion_tokens: 2,
            cache_creation_tokens: 4,
            ..Usage::default()
        },
    };
    let expected = json!({
        "id": "msg_1", "object": "chat.completion", "created": 5, "model": "claude",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant", "content": "Hello there", "reasoning_content": "think",
                "thinking_blocks": [
                    {"type": "thinking", "thinking": "think", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "x"}
                ]
            },
            "logprobs": null,
            "finish_reason": "refusal"
        }],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    });
    assert_eq!(value(&response::encode_chat(&resp)), expected);
}

#[test]
fn response_round_trips() {
    for body in [
        &include_bytes!("../fixtures/chat_tool_calls.json")[..],
        include_bytes!("../fixtures/chat_text.json"),
        include_bytes!("../fixtures/chat_deepseek_reasoning.json"),
    ] {
        let resp = response::decode_chat(body).unwrap();
        assert_eq!(
            response::decode_chat(&response::encode_chat(&resp)).unwrap(),
            resp
        );
    }
}
