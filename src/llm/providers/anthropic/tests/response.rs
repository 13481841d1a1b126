//! Responses: Anthropic's bodies decoded to the ir, stop reasons, the ir encoded for Anthropic
//! clients, and round trips.

use serde_json::{json, Value};

use super::{text, value};
use crate::llm::ir::{ChatResponse, Choice, ErrorKind, FinishReason, Message, Part, Role, Usage};
use crate::llm::providers::anthropic::response;

const RESP_TOOL_USE: &str = include_str!("../fixtures/response_tool_use.json");
const RESP_THINKING: &str = include_str!("../fixtures/response_thinking.json");
const RESP_CACHE: &str = include_str!("../fixtures/response_cache_usage.json");

#[test]
fn decodes_response_fixtures() {
    let tool = response::decode_chat(RESP_TOOL_USE.as_bytes()).expect("decodes");
    assert_eq!(
        (tool.id.as_str(), tool.model.as_str()),
        ("msg_01Aq9w938a90dw8q", "claude-sonnet-4-5")
    );
    assert!(tool.created > 0);
    assert_eq!(
        tool.choices[0].message.parts,
        vec![
            Part::Text("I'll check the current weather and time in San Francisco for you.".into()),
            Part::tool_call(
                "toolu_01A09q90qw90lq917835lq9",
                "get_weather",
                r#"{"location": "San Francisco, CA", "unit": "celsius"}"#
            ),
            Part::tool_call(
                "toolu_01B8gU7Cv2Kq2bXp9ZHLcC5N",
                "get_time",
                r#"{"timezone": "America/Los_Angeles"}"#
            ),
        ]
    );
    assert_eq!(tool.choices[0].finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        tool.usage,
        Usage {
            prompt_tokens: 472,
            completion_tokens: 89,
            ..Usage::default()
        }
    );

    let thinking = response::decode_chat(RESP_THINKING.as_bytes()).expect("decodes");
    let parts = &thinking.choices[0].message.parts;
    assert!(
        matches!(&parts[0], Part::Thinking { text, signature: Some(s) }
        if text == "Let me analyze this step by step..." && s.starts_with("WaUjzkypQ2mUEVM36O2TxuC06KN8"))
    );
    assert!(matches!(&parts[1], Part::RedactedThinking(d) if d.starts_with("EmwKAhgBEgy3va3pzix")));
    assert_eq!(parts[2], Part::Text("Based on my analysis...".into()));
    assert_eq!(thinking.choices[0].finish_reason, Some(FinishReason::Stop));

    let cache = response::decode_chat(RESP_CACHE.as_bytes()).expect("decodes");
    assert_eq!(
        cache.usage,
        Usage {
            prompt_tokens: 50 + 100_000 + 248,
            completion_tokens: 503,
            cached_tokens: 100_000,
            cache_creation_tokens: 248,
            reasoning_tokens: 0,
        }
    );
    assert_eq!(cache.choices[0].finish_reason, Some(FinishReason::Length));
}

#[test]
fn stop_reasons_map_both_ways() {
    for (wire, reason) in [
        ("end_turn", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
        ("refusal", FinishReason::ContentFilter),
        ("pause_turn", FinishReason::Other("pause_turn".into())),
    ] {
        assert_eq!(response::finish_reason(wire), reason);
        assert_eq!(response::stop_reason(&reason), wire);
    }
    assert_eq!(response::finish_reason("stop_sequence"), FinishReason::Stop);
}

#[test]
fn response_fixtures_round_trip() {
    for fixture in [RESP_TOOL_USE, RESP_THINKING, RESP_CACHE] {
        let resp = response::decode_chat(fixture.as_bytes()).expect("decodes");
        let body = response::encode_chat(&resp);
        assert_eq!(
            value(&body),
            value(fixture.as_bytes()).with_full_usage(),
            "{fixture}"
        );
        let mut again = response::decode_chat(&body).expect("decodes again");
        again.created = resp.created;
        assert_eq!(again, resp);
    }
}

trait FullUsage {
    fn with_full_usage(self) -> Value;
}

impl FullUsage for Value {
    /// The encoder always writes both cache counts, as Anthropic does today.
    fn with_full_usage(mut self) -> Value {
        let usage = &mut self["usage"];
        for key in ["cache_read_input_tokens", "cache_creation_input_tokens"] {
            if usage.get(key).is_none() {
                usage[key] = json!(0);
            }
        }
        self
    }
}

#[test]
fn encodes_a_response_for_anthropic_clients() {
    let resp = ChatResponse {
        id: "chatcmpl-1".into(),
        model: "gpt-4o".into(),
        created: 1,
        choices: vec![
            Choice {
                index: 0,
                message: Message::new(
                    Role::Assistant,
                    vec![
                        Part::Text("Calling.".into()),
                        Part::tool_call("call_1", "f", r#"{"a":1}"#),
                        Part::tool_call("call_2", "g", ""),
                        Part::tool_call("call_3", "h", "{\"a\":"),
                    ],
                ),
                finish_reason: Some(FinishReason::ToolCalls),
            },
            Choice {
                index: 1,
                message: text(Role::Assistant, "second choice"),
                finish_reason: None,
            },
        ],
        usage: Usage {
            prompt_tokens: 100,
            completion_tokens: 20,
            cached_tokens: 60,
            cache_creation_tokens: 10,
            reasoning_tokens: 5,
        },
    };
    assert_eq!(
        value(&response::encode_chat(&resp)),
        json!({
            "id": "chatcmpl-1", "type": "message", "role": "assistant", "model": "gpt-4o",
            "content": [
                {"type": "text", "text": "Calling."},
                {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
                {"type": "tool_use", "id": "call_2", "name": "g", "input": {}},
                {"type": "tool_use", "id": "call_3", "name": "h", "input": {"_raw_arguments": "{\"a\":"}},
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 30, "output_tokens": 20, "cache_read_input_tokens": 60, "cache_creation_input_tokens": 10},
        })
    );
}

#[test]
fn malformed_response_is_a_bad_response() {
    for body in [&b"<html>502</html>"[..], b"{\"content\": 5}", b""] {
        let err = response::decode_chat(body).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadResponse);
        assert!(err.message.contains("Anthropic"), "{}", err.message);
    }
    // An error body with status 200 is still an error.
    let err = response::decode_chat(include_bytes!("../fixtures/error_529.json")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable);
}
