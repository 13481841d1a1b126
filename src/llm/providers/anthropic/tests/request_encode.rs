//! The ir encoded as an Anthropic request: defaults, nearest equivalents, what is left out or
//! refused, and round trips through the ir.

use serde_json::json;

use super::{result, text, value, REQ_THINKING_TOOLS, REQ_VISION};
use crate::llm::ir::{
    self, ChatRequest, ErrorKind, Image, Message, Part, ResponseFormat, Role, ToolChoice,
    ToolResult,
};
use crate::llm::providers::anthropic::request;

#[test]
fn encodes_the_ir_as_anthropic_expects() {
    let req = ChatRequest {
        model: "public-name".into(),
        messages: vec![
            text(Role::System, "Be terse."),
            text(Role::User, "Weather and time in Paris?"),
            Message::new(
                Role::Assistant,
                vec![
                    Part::Thinking {
                        text: "two calls".into(),
                        signature: Some("sig==".into()),
                    },
                    Part::RedactedThinking("opaque".into()),
                    Part::Thinking {
                        text: "from elsewhere".into(),
                        signature: None,
                    },
                    Part::tool_call("c1", "weather", r#"{"city":"Paris"}"#),
                    Part::tool_call("c2", "time", ""),
                ],
            ),
            Message::new(Role::Tool, vec![result("c1", "20C")]),
            Message::new(
                Role::Tool,
                vec![Part::ToolResult(ToolResult {
                    call_id: "c2".into(),
                    name: Some("time".into()),
                    content: vec![
                        Part::Text("noon".into()),
                        Part::Image(Image::Url("https://x/clock.png".into())),
                    ],
                    is_error: true,
                })],
            ),
            text(Role::User, "Thanks. Summarise."),
            text(Role::System, "Use metric units."),
        ],
        tools: vec![
            ir::Tool {
                name: "weather".into(),
                description: Some("Weather by city".into()),
                parameters: Some(
                    json!({"type": "object", "properties": {"city": {"type": "string"}}}),
                ),
            },
            ir::Tool {
                name: "time".into(),
                description: None,
                parameters: None,
            },
        ],
        tool_choice: Some(ToolChoice::Required),
        parallel_tool_calls: Some(false),
        response_format: Some(ResponseFormat::JsonSchema {
            name: "summary".into(),
            schema: json!({"type": "object"}),
            strict: Some(true),
        }),
        temperature: Some(1.0),
        max_tokens: Some(8000),
        stop: vec!["STOP".into()],
        seed: Some(7),
        presence_penalty: Some(0.5),
        user: Some("u-1".into()),
        thinking: Some(ir::Thinking {
            budget_tokens: Some(2048),
            effort: None,
        }),
        stream: true,
        ..ChatRequest::default()
    };
    let body = request::encode_chat(&req, "claude-sonnet-4-5").expect("encodes");
    let expected = json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 8000,
        "system": "Be terse.\n\nUse metric units.\n\nRespond with only a JSON value, no prose and no code fences, that conforms to this JSON Schema (named `summary`):\n{\"type\":\"object\"}",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Weather and time in Paris?"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "two calls", "signature": "sig=="},
                {"type": "redacted_thinking", "data": "opaque"},
                {"type": "tool_use", "id": "c1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "c2", "name": "time", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": "20C"},
                {"type": "tool_result", "tool_use_id": "c2", "is_error": true, "content": [
                    {"type": "text", "text": "noon"},
                    {"type": "image", "source": {"type": "url", "url": "https://x/clock.png"}},
                ]},
                {"type": "text", "text": "Thanks. Summarise."},
            ]},
        ],
        "stop_sequences": ["STOP"],
        "temperature": 1.0,
        "tools": [
            {"name": "weather", "description": "Weather by city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
            {"name": "time", "input_schema": {"type": "object"}},
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
        "metadata": {"user_id": "u-1"},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "stream": true,
    });
    assert_eq!(value(&body), expected);
    // The arguments text goes out byte for byte, not re-serialised.
    assert!(String::from_utf8(body)
        .unwrap()
        .contains(r#""input":{"city":"Paris"}"#));
}

#[test]
fn request_round_trips_through_the_ir() {
    let req = request::decode_chat(REQ_THINKING_TOOLS.as_bytes()).expect("decodes");
    let body = request::encode_chat(&req, "claude-sonnet-4-5").expect("encodes");
    assert_eq!(value(&body), value(REQ_THINKING_TOOLS.as_bytes()));
    assert_eq!(request::decode_chat(&body).expect("decodes again"), req);
    // The vision request: everything but the cache hint, which the ir does not carry.
    let req = request::decode_chat(REQ_VISION.as_bytes()).expect("decodes");
    let body = value(&request::encode_chat(&req, "claude-sonnet-4-5").unwrap());
    let mut expected = value(REQ_VISION.as_bytes());
    expected["system"] = json!("You describe images.\n\nAnswer briefly.");
    assert_eq!(body, expected);
}

#[test]
fn encode_defaults_and_nearest_equivalents() {
    let base = ChatRequest {
        messages: vec![text(Role::User, "hi")],
        ..ChatRequest::default()
    };
    let encode = |req: &ChatRequest| request::encode_chat(req, "claude").map(|b| value(&b));

    let body = encode(&base).unwrap();
    assert_eq!(body["max_tokens"], json!(request::DEFAULT_MAX_TOKENS));
    assert!(body.get("stream").is_none() && body.get("system").is_none());

    let json_mode = ChatRequest {
        response_format: Some(ResponseFormat::JsonObject),
        ..base.clone()
    };
    assert!(encode(&json_mode).unwrap()["system"]
        .as_str()
        .unwrap()
        .contains("JSON object"));

    let high = ChatRequest {
        thinking: Some(ir::Thinking {
            budget_tokens: None,
            effort: Some("high".into()),
        }),
        ..base.clone()
    };
    let body = encode(&high).unwrap();
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 16384})
    );
    assert_eq!(
        body["max_tokens"],
        json!(16384 + request::DEFAULT_MAX_TOKENS)
    );

    let capped = ChatRequest {
        max_tokens: Some(3000),
        ..high.clone()
    };
    assert_eq!(
        encode(&capped).unwrap()["thinking"]["budget_tokens"],
        json!(2999)
    );
    let too_small = ChatRequest {
        max_tokens: Some(500),
        ..high.clone()
    };
    assert_eq!(
        encode(&too_small).unwrap_err().param.as_deref(),
        Some("max_tokens")
    );

    let images = ChatRequest {
        messages: vec![Message::new(
            Role::User,
            vec![
                Part::Image(Image::Base64 {
                    media_type: "image/jpeg".into(),
                    data: "/9j/4AAQ".into(),
                }),
                Part::Image(Image::Url("https://example.com/a.jpg".into())),
            ],
        )],
        ..base.clone()
    };
    assert_eq!(
        encode(&images).unwrap()["messages"][0]["content"],
        json!([
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
        ])
    );

    let parallel_only = ChatRequest {
        tools: vec![ir::Tool {
            name: "f".into(),
            description: None,
            parameters: None,
        }],
        parallel_tool_calls: Some(false),
        ..base.clone()
    };
    assert_eq!(
        encode(&parallel_only).unwrap()["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );

    let named = ChatRequest {
        tool_choice: Some(ToolChoice::Tool("f".into())),
        ..parallel_only.clone()
    };
    assert_eq!(
        encode(&named).unwrap()["tool_choice"],
        json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true})
    );
}

#[test]
fn encode_leaves_out_what_anthropic_rejects_and_nothing_needs() {
    // An OpenAI-style history: empty text beside a tool call, a thinking block another
    // provider produced (unsigned), a tool choice without tools.
    let req = ChatRequest {
        messages: vec![
            text(Role::User, "hi"),
            Message::new(
                Role::Assistant,
                vec![Part::Text(String::new()), Part::tool_call("c", "f", "{}")],
            ),
            Message::new(Role::Tool, vec![result("c", "ok")]),
            Message::new(
                Role::Assistant,
                vec![Part::Thinking {
                    text: "x".into(),
                    signature: Some(String::new()),
                }],
            ),
        ],
        tool_choice: Some(ToolChoice::Auto),
        ..ChatRequest::default()
    };
    let body = value(&request::encode_chat(&req, "c").unwrap());
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "c", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c", "content": "ok"}]},
        ])
    );
    assert!(body.get("tool_choice").is_none());
}

#[test]
fn encode_rejects_what_anthropic_cannot_take() {
    let base = ChatRequest {
        messages: vec![text(Role::User, "hi")],
        ..ChatRequest::default()
    };
    let n = ChatRequest {
        n: Some(2),
        ..base.clone()
    };
    assert_eq!(
        request::encode_chat(&n, "c").unwrap_err().param.as_deref(),
        Some("n")
    );

    for bad in ["{\"city\":", "[1, 2]", "not json"] {
        let req = ChatRequest {
            messages: vec![
                text(Role::User, "hi"),
                Message::new(Role::Assistant, vec![Part::tool_call("c1", "f", bad)]),
            ],
            ..base.clone()
        };
        let err = request::encode_chat(&req, "c").unwrap_err();
        assert_eq!(
            (err.kind, err.param.as_deref()),
            (ErrorKind::InvalidRequest, Some("messages[1]")),
            "{bad}"
        );
    }
    let effort = ChatRequest {
        thinking: Some(ir::Thinking {
            budget_tokens: None,
            effort: Some("extreme".into()),
        }),
        ..base
    };
    assert_eq!(
        request::encode_chat(&effort, "c")
            .unwrap_err()
            .param
            .as_deref(),
        Some("reasoning_effort")
    );
}
