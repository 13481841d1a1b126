//! Chat requests: a client's body decoded to the ir, the ir encoded for OpenAI, and round trips.

use serde_json::json;

use super::{text, value};
use crate::llm::ir::{
    self, ChatRequest, ErrorKind, Image, Message, Part, Role, ToolCall, ToolResult,
};
use crate::llm::providers::openai::request;

#[test]
fn decodes_a_full_client_request() {
    let req = request::decode_chat(include_bytes!("../fixtures/request_chat_full.json")).unwrap();
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let expected = ChatRequest {
        model: "gpt-4o".into(),
        messages: vec![
            text(Role::System, "You are a travel assistant."),
            Message {
                role: Role::User,
                parts: vec![
                    Part::Text("What's the weather where this photo was taken?".into()),
                    Part::Image(Image::Url("https://example.com/paris.jpg".into())),
                    Part::Image(Image::Base64 {
                        media_type: "image/png".into(),
                        data: png.into(),
                    }),
                ],
                name: Some("alice".into()),
            },
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Thinking {
                        text: "The photo shows the Eiffel Tower.".into(),
                        signature: None,
                    },
                    Part::ToolCall(ToolCall {
                        id: "call_8fKq2LmZ0rTn5WvXy7HbCdEa".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"city":"Paris"}"#.into(),
                    }),
                ],
                name: None,
            },
            Message {
                role: Role::Tool,
                parts: vec![Part::ToolResult(ToolResult {
                    call_id: "call_8fKq2LmZ0rTn5WvXy7HbCdEa".into(),
                    name: None,
                    content: vec![Part::Text(r#"{"temp_c":21,"sky":"clear"}"#.into())],
                    is_error: false,
                })],
                name: None,
            },
        ],
        tools: vec![ir::Tool {
            name: "get_weather".into(),
            description: Some("Current weather for a city".into()),
            parameters: Some(json!({
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"]
            })),
        }],
        tool_choice: Some(ir::ToolChoice::Tool("get_weather".into())),
        parallel_tool_calls: Some(false),
        response_format: Some(ir::ResponseFormat::JsonSchema {
            name: "weather".into(),
            schema: json!({
                "type": "object",
                "properties": {"summary": {"type": "string"}},
                "required": ["summary"],
                "additionalProperties": false
            }),
            strict: Some(true),
        }),
        temperature: Some(0.2),
        top_p: Some(0.9),
        top_k: None,
        max_tokens: Some(800),
        stop: vec!["\n\n".into(), "END".into()],
        n: Some(2),
        seed: Some(42),
        presence_penalty: Some(0.1),
        frequency_penalty: Some(-0.1),
        user: Some("user-1234".into()),
        thinking: Some(ir::Thinking {
            budget_tokens: None,
            effort: Some("low".into()),
        }),
        stream: true,
        include_usage: true,
    };
    assert_eq!(req, expected);
}

#[test]
fn decodes_the_small_forms() {
    type Check = fn(&ChatRequest);
    let cases: &[(&str, Check)] = &[
        (
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":"END","max_tokens":7}"#,
            |r| {
                assert_eq!(r.messages, vec![text(Role::User, "hi")]);
                assert_eq!(r.stop, vec!["END".to_string()]);
                assert_eq!(r.max_tokens, Some(7));
                assert!(!r.stream && !r.include_usage);
            },
        ),
        (
            r#"{"model":"m","messages":[{"role":"system","content":"s"}],"tool_choice":"required","response_format":{"type":"json_object"}}"#,
            |r| {
                assert_eq!(r.messages, vec![text(Role::System, "s")]);
                assert_eq!(r.tool_choice, Some(ir::ToolChoice::Required));
                assert_eq!(r.response_format, Some(ir::ResponseFormat::JsonObject));
            },
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"none","response_format":{"type":"text"},"stream":true}"#,
            |r| {
                assert_eq!(r.tool_choice, Some(ir::ToolChoice::None));
                assert_eq!(r.response_format, Some(ir::ResponseFormat::Text));
                assert!(r.stream && !r.include_usage);
            },
        ),
        (
            // Assistant text beside a call; a tool result given as parts.
            r#"{"model":"m","messages":[
                {"role":"assistant","content":"Let me look.","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
                {"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}"#,
            |r| {
                assert_eq!(r.messages[0].parts.len(), 2);
                assert_eq!(r.messages[0].parts[0], Part::Text("Let me look.".into()));
                let Part::ToolResult(res) = &r.messages[1].parts[0] else {
                    panic!()
                };
                assert_eq!(
                    res.content,
                    vec![Part::Text("a".into()), Part::Text("b".into())]
                );
            },
        ),
        (
            // `content: ""` beside tool calls means no text.
            r#"{"model":"m","messages":[{"role":"assistant","content":"","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}]}"#,
            |r| assert_eq!(r.messages[0].parts.len(), 1),
        ),
    ];
    for (body, check) in cases {
        check(&request::decode_chat(body.as_bytes()).unwrap());
    }
}

#[test]
fn request_errors_name_the_field() {
    let cases = [
        (r#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (r#"{"model":"m"}"#, "messages"),
        (r#"{"model":"m","messages":[]}"#, "messages"),
        (r#"{"model":"m","messages":{"role":"user"}}"#, "messages"),
        (r#"{"model":7,"messages":[]}"#, "model"),
        (
            r#"{"model":"m","messages":[{"role":"user","content":42}]}"#,
            "messages[0].content",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"wizard","content":"x"}]}"#,
            "messages[1].role",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"input_audio","input_audio":{}}]}]}"#,
            "messages[0].content[1].type",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}"#,
            "messages[0].content[0].image_url.url",
        ),
        (
            r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#,
            "messages[0].tool_call_id",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"always"}"#,
            "tool_choice",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#,
            "temperature",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]}"#,
            "stop[0]",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","function":{"name":"f"}}]}"#,
            "tools[0].type",
        ),
        (r#"{"model":"m","messages":[{"role":"user","#, "body"),
        ("not json", "body"),
    ];
    for (body, param) in cases {
        let err = request::decode_chat(body.as_bytes()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest, "{body}");
        assert_eq!(err.param.as_deref(), Some(param), "{body}: {}", err.message);
        assert!(
            err.message.contains(param) || param == "body",
            "{}",
            err.message
        );
    }
}

#[test]
fn encodes_a_provider_request() {
    let req = ChatRequest {
        model: "public-name".into(),
        messages: vec![
            text(Role::System, "Be brief."),
            text(Role::System, " Use metric units."),
            Message {
                role: Role::User,
                parts: vec![
                    Part::Text("Look:".into()),
                    Part::Image(Image::Base64 {
                        media_type: "image/jpeg".into(),
                        data: "AAAA".into(),
                    }),
                ],
                name: None,
            },
            Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Thinking {
                        text: "hmm".into(),
                        signature: Some("sig".into()),
                    },
                    Part::RedactedThinking("opaque".into()),
                    Part::ToolCall(ToolCall {
                        id: "a".into(),
                        name: "shot".into(),
                        arguments: "{}".into(),
                    }),
                    Part::ToolCall(ToolCall {
                        id: "b".into(),
                        name: "fail".into(),
                        arguments: r#"{"x":1}"#.into(),
                    }),
                ],
                name: None,
            },
            Message {
                role: Role::Tool,
                parts: vec![
                    Part::ToolResult(ToolResult {
                        call_id: "a".into(),
                        name: Some("shot".into()),
                        content: vec![
                            Part::Text("here".into()),
                            Part::Image(Image::Url("https://x/y.png".into())),
                        ],
                        is_error: false,
                    }),
                    Part::ToolResult(ToolResult {
                        call_id: "b".into(),
                        name: None,
                        content: vec![Part::Text("boom".into())],
                        is_error: true,
                    }),
                ],
                name: None,
            },
            text(Role::User, "Thanks"),
        ],
        tool_choice: Some(ir::ToolChoice::Auto),
        response_format: Some(ir::ResponseFormat::JsonObject),
        max_tokens: Some(100),
        stop: vec!["STOP".into()],
        thinking: Some(ir::Thinking {
            budget_tokens: Some(8000),
            effort: None,
        }),
        top_k: Some(40),
        stream: true,
        include_usage: false,
        ..ChatRequest::default()
    };
    let body = request::encode_chat(&req, "gpt-4o-2024-08-06").unwrap();
    let expected = json!({
        "model": "gpt-4o-2024-08-06",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "system", "content": " Use metric units."},
            {"role": "user", "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}}
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "shot", "arguments": "{}"}},
                {"id": "b", "type": "function", "function": {"name": "fail", "arguments": "{\"x\":1}"}}
            ]},
            {"role": "tool", "tool_call_id": "a", "content": "here"},
            {"role": "tool", "tool_call_id": "b", "content": "Error: boom"},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
            ]},
            {"role": "user", "content": "Thanks"}
        ],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "top_k": 40,
        "max_tokens": 100,
        "stop": ["STOP"],
        "reasoning_effort": "medium",
        "stream": true,
        "stream_options": {"include_usage": true}
    });
    assert_eq!(value(&body), expected);
}

#[test]
fn encodes_tools_and_schemas() {
    let req = ChatRequest {
        messages: vec![text(Role::User, "q")],
        tools: vec![ir::Tool {
            name: "f".into(),
            description: None,
            parameters: Some(json!({"type": "object"})),
        }],
        tool_choice: Some(ir::ToolChoice::Tool("f".into())),
        parallel_tool_calls: Some(true),
        response_format: Some(ir::ResponseFormat::JsonSchema {
            name: "s".into(),
            schema: json!({"type": "object"}),
            strict: None,
        }),
        n: Some(3),
        seed: Some(-1),
        user: Some("u".into()),
        ..ChatRequest::default()
    };
    let body = request::encode_chat(&req, "m").unwrap();
    let expected = json!({
        "model": "m",
        "messages": [{"role": "user", "content": "q"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": true,
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}},
        "n": 3,
        "seed": -1,
        "user": "u"
    });
    assert_eq!(value(&body), expected);
}

#[test]
fn rejects_what_openai_cannot_carry() {
    let cases = [
        (
            Message {
                role: Role::System,
                parts: vec![Part::Image(Image::Url("u".into()))],
                name: None,
            },
            "messages[0].content",
        ),
        (
            Message {
                role: Role::Assistant,
                parts: vec![Part::Image(Image::Url("u".into()))],
                name: None,
            },
            "messages[0].content",
        ),
        (text(Role::Tool, "loose text"), "messages[0].content"),
    ];
    // An assistant turn of only thinking still has content, or OpenAI would refuse it.
    let req = ChatRequest {
        messages: vec![Message {
            role: Role::Assistant,
            parts: vec![Part::Thinking {
                text: "t".into(),
                signature: None,
            }],
            name: None,
        }],
        ..ChatRequest::default()
    };
    let body = value(&request::encode_chat(&req, "m").unwrap());
    assert_eq!(
        body["messages"][0],
        json!({"role": "assistant", "content": ""})
    );
    for (m, param) in cases {
        let req = ChatRequest {
            messages: vec![m],
            ..ChatRequest::default()
        };
        let err = request::encode_chat(&req, "m").unwrap_err();
        assert_eq!(err.param.as_deref(), Some(param));
    }
}

#[test]
fn request_round_trips() {
    // Bodies already in the canonical form the encoder writes come back unchanged.
    let bodies = [
        json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "name": "bob", "content": [
                    {"type": "text", "text": "a"},
                    {"type": "image_url", "image_url": {"url": "data:image/webp;base64,UklGR"}},
                    {"type": "image_url", "image_url": {"url": "https://e.com/i.png"}}
                ]},
                {"role": "assistant", "content": "calling", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":"}},
                    {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "c1", "content": "one"},
                {"role": "tool", "tool_call_id": "c2", "content": "two"},
                {"role": "assistant", "content": "done"}
            ],
            "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}],
            "tool_choice": "required",
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {}, "strict": false}},
            "temperature": 0.5, "top_p": 1.0, "max_tokens": 9, "stop": ["x", "y"], "n": 1, "seed": 3,
            "presence_penalty": 0.5, "frequency_penalty": 0.25, "user": "u", "reasoning_effort": "high",
            "stream": true, "stream_options": {"include_usage": true}
        }),
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
    ];
    for body in bodies {
        let bytes = serde_json::to_vec(&body).unwrap();
        let req = request::decode_chat(&bytes).unwrap();
        let again = request::encode_chat(&req, "m").unwrap();
        assert_eq!(value(&again), body);
        assert_eq!(request::decode_chat(&again).unwrap(), req);
    }
}

/// A refusal of a field deep in the body, whole, as the client reads it.
#[test]
fn a_nested_refusal_is_worded_in_full() {
    let body = r#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":7}}]}]}"#;
    let err = request::decode_chat(body.as_bytes()).unwrap_err();
    assert_eq!(
        err.param.as_deref(),
        Some("messages[1].tool_calls[0].function.name")
    );
    assert_eq!(
        err.message,
        "invalid field `messages[1].tool_calls[0].function.name`: invalid type: integer `7`, \
         expected a string at line 1 column 137"
    );
    // What follows the object is not read, as OpenAI's own server does not.
    let body = r#"{"model":"m","messages":[{"role":"user","content":"x"}]} trailing"#;
    assert!(request::decode_chat(body.as_bytes()).is_ok());
}
