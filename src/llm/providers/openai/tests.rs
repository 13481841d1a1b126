//! Table tests of the OpenAI codec over the samples in `fixtures/` (see its README), in both
//! directions, plus the round trips the format supports.

use bytes::BytesMut;
use serde_json::{json, Value};

use super::{request, response, stream};
use crate::llm::ir::{
    self, ApiError, ChatRequest, ErrorKind, FinishReason, Image, Message, Part, Role, StreamEvent,
    ToolCall, ToolResult, Usage,
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
    let mut dec = stream::StreamDecoder::new();
    let mut out = Vec::new();
    for event in sse_events(bytes, chunk) {
        dec.decode(&event, &mut out)?;
    }
    Ok((out, dec.is_done()))
}

fn encode_stream(events: &[StreamEvent], include_usage: bool) -> BytesMut {
    let mut enc = stream::StreamEncoder::new(include_usage);
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

// ---- requests: decoding -----------------------------------------------------------------

#[test]
fn decodes_a_full_client_request() {
    let req = request::decode_chat(include_bytes!("fixtures/request_chat_full.json")).unwrap();
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

// ---- requests: encoding -----------------------------------------------------------------

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

#[test]
fn decodes_thinking_blocks_on_assistant_turns() {
    // LiteLLM's form: thinking_blocks beside reasoning_content, which they take precedence
    // over, and before the text and calls whatever the key order.
    let body = json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "Calling.",
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
             "reasoning_content": "plan",
             "thinking_blocks": [
                 {"type": "thinking", "thinking": "plan", "signature": "sig1", "cache_control": {"type": "ephemeral"}},
                 {"type": "redacted_thinking", "data": "opaque"},
                 {"type": "thinking", "thinking": "more", "signature": null}
             ]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
            {"role": "assistant", "content": "", "reasoning_content": "only text"}
        ]
    });
    let req = request::decode_chat(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(
        req.messages[1].parts,
        vec![
            Part::Thinking {
                text: "plan".into(),
                signature: Some("sig1".into()),
            },
            Part::RedactedThinking("opaque".into()),
            Part::Thinking {
                text: "more".into(),
                signature: None,
            },
            Part::Text("Calling.".into()),
            Part::ToolCall(ToolCall {
                id: "c1".into(),
                name: "f".into(),
                arguments: "{}".into(),
            }),
        ]
    );
    // Without blocks (or with none), reasoning_content still counts.
    assert_eq!(
        req.messages[3].parts,
        vec![
            Part::Thinking {
                text: "only text".into(),
                signature: None,
            },
            Part::Text(String::new()),
        ]
    );
    let empty = json!({"model": "m", "messages": [
        {"role": "assistant", "content": "a", "reasoning_content": "r", "thinking_blocks": []}
    ]});
    let req = request::decode_chat(&serde_json::to_vec(&empty).unwrap()).unwrap();
    assert_eq!(
        req.messages[0].parts[0],
        Part::Thinking {
            text: "r".into(),
            signature: None,
        }
    );

    // Thinking does not go upstream to OpenAI-format providers, in either form.
    let req = request::decode_chat(&serde_json::to_vec(&body).unwrap()).unwrap();
    let sent = value(&request::encode_chat(&req, "m").unwrap());
    assert_eq!(
        sent["messages"][1],
        json!({"role": "assistant", "content": "Calling.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ]})
    );
    assert!(!sent.to_string().contains("thinking"));
}

#[test]
fn bad_thinking_blocks_name_the_field() {
    let cases = [
        (
            r#"{"model":"m","messages":[{"role":"assistant","content":"a","thinking_blocks":[{"type":"thinking","thinking":"t"},{"type":"summary","text":"s"}]}]}"#,
            "messages[0].thinking_blocks[1].type",
        ),
        (
            r#"{"model":"m","messages":[{"role":"assistant","content":"a","thinking_blocks":[{"type":"redacted_thinking"}]}]}"#,
            "messages[0].thinking_blocks[0]",
        ),
        (
            r#"{"model":"m","messages":[{"role":"assistant","content":"a","thinking_blocks":{"type":"thinking"}}]}"#,
            "messages[0].thinking_blocks",
        ),
    ];
    for (body, param) in cases {
        let err = request::decode_chat(body.as_bytes()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest, "{body}");
        assert_eq!(err.param.as_deref(), Some(param), "{body}: {}", err.message);
    }
}

// ---- embeddings requests ----------------------------------------------------------------

#[test]
fn embeddings_requests() {
    let req = request::decode_embeddings(
        br#"{"model":"text-embedding-3-small","input":["a","b"],"encoding_format":"base64","dimensions":256,"user":"u"}"#,
    )
    .unwrap();
    assert_eq!(
        req,
        ir::EmbeddingRequest {
            model: "text-embedding-3-small".into(),
            input: vec!["a".into(), "b".into()],
            dimensions: Some(256),
            base64: true,
            user: Some("u".into()),
        }
    );
    let body = request::encode_embeddings(&req, "emb-prod").unwrap();
    assert_eq!(
        value(&body),
        json!({"model": "emb-prod", "input": ["a", "b"], "dimensions": 256, "user": "u"})
    );
    let one = request::decode_embeddings(br#"{"model":"m","input":"x"}"#).unwrap();
    assert_eq!((one.input, one.base64), (vec!["x".to_string()], false));

    let errors = [
        (r#"{"model":"m","input":[1,2,3]}"#, "input"),
        (r#"{"model":"m","input":[[1,2],[3]]}"#, "input"),
        (r#"{"model":"m","input":7}"#, "input"),
        (r#"{"model":"m","input":[]}"#, "input"),
        (r#"{"model":"m"}"#, "input"),
        (r#"{"input":"x"}"#, "model"),
        (
            r#"{"model":"m","input":"x","encoding_format":"int8"}"#,
            "encoding_format",
        ),
        (
            r#"{"model":"m","input":"x","dimensions":"big"}"#,
            "dimensions",
        ),
    ];
    for (body, param) in errors {
        let err = request::decode_embeddings(body.as_bytes()).unwrap_err();
        assert_eq!(err.param.as_deref(), Some(param), "{body}");
    }
}

// ---- responses --------------------------------------------------------------------------

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

#[test]
fn decodes_provider_responses() {
    let resp = response::decode_chat(include_bytes!("fixtures/chat_tool_calls.json")).unwrap();
    assert_eq!(resp, tool_call_response());

    let resp = response::decode_chat(include_bytes!("fixtures/chat_text.json")).unwrap();
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
        response::decode_chat(include_bytes!("fixtures/chat_deepseek_reasoning.json")).unwrap();
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

#[test]
fn unreadable_responses_are_bad_responses() {
    for body in [
        &b"<html>oops</html>"[..],
        br#"{"choices":[{"message":{"content":5}}]}"#,
    ] {
        let err = response::decode_chat(body).unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadResponse);
        assert!(err.message.contains("OpenAI"), "{}", err.message);
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
        &include_bytes!("fixtures/chat_tool_calls.json")[..],
        include_bytes!("fixtures/chat_text.json"),
        include_bytes!("fixtures/chat_deepseek_reasoning.json"),
    ] {
        let resp = response::decode_chat(body).unwrap();
        assert_eq!(
            response::decode_chat(&response::encode_chat(&resp)).unwrap(),
            resp
        );
    }
}

fn signed_thinking_response() -> ir::ChatResponse {
    ir::ChatResponse {
        id: "msg_1".into(),
        model: "claude-sonnet-4-5".into(),
        created: 5,
        choices: vec![ir::Choice {
            index: 0,
            message: Message {
                role: Role::Assistant,
                parts: vec![
                    Part::Thinking {
                        text: "First, ".into(),
                        signature: Some("sigA".into()),
                    },
                    Part::RedactedThinking("opaque".into()),
                    Part::Thinking {
                        text: "then.".into(),
                        signature: Some("sigB".into()),
                    },
                    Part::Text("Answer.".into()),
                    Part::ToolCall(ToolCall {
                        id: "toolu_1".into(),
                        name: "f".into(),
                        arguments: "{}".into(),
                    }),
                ],
                name: None,
            },
            finish_reason: Some(FinishReason::ToolCalls),
        }],
        usage: Usage::default(),
    }
}

#[test]
fn thinking_blocks_in_responses() {
    let resp = signed_thinking_response();
    let body = value(&response::encode_chat(&resp));
    let msg = &body["choices"][0]["message"];
    assert_eq!(msg["reasoning_content"], "First, then.");
    assert_eq!(
        msg["thinking_blocks"],
        json!([
            {"type": "thinking", "thinking": "First, ", "signature": "sigA"},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "thinking", "thinking": "then.", "signature": "sigB"}
        ])
    );
    // Read back without the reasoning_content copy doubling the thinking.
    let back = response::decode_chat(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(back, resp);

    // The next turn: the client sends the message back as it got it, and the request
    // carries the same parts, thinking first.
    let next = json!({"model": "m", "messages": [
        {"role": "user", "content": "q"},
        msg.clone(),
        {"role": "tool", "tool_call_id": "toolu_1", "content": "r"}
    ]});
    let req = request::decode_chat(&serde_json::to_vec(&next).unwrap()).unwrap();
    assert_eq!(req.messages[1], resp.choices[0].message);

    // No thinking: no thinking_blocks key.
    let plain = value(&response::encode_chat(&tool_call_response()));
    assert!(plain["choices"][0]["message"]
        .get("thinking_blocks")
        .is_none());

    // A provider's kinds the ir has no place for are skipped, and an unsigned block reads
    // as unsigned thinking.
    let resp = response::decode_chat(
        br#"{"choices":[{"message":{"content":"a","reasoning_content":"t",
            "thinking_blocks":[{"type":"summary","text":"s"},{"type":"thinking","thinking":"t"}]}}]}"#,
    )
    .unwrap();
    assert_eq!(
        resp.choices[0].message.parts,
        vec![
            Part::Thinking {
                text: "t".into(),
                signature: None,
            },
            Part::Text("a".into()),
        ]
    );
}

#[test]
fn embeddings_responses() {
    let float =
        response::decode_embeddings(include_bytes!("fixtures/embeddings_float.json")).unwrap();
    let b64 =
        response::decode_embeddings(include_bytes!("fixtures/embeddings_base64.json")).unwrap();
    assert_eq!(float, b64);
    assert_eq!(float.model, "text-embedding-3-small");
    assert_eq!(float.data.len(), 2);
    assert_eq!(float.data[0][1], -0.009327292);
    assert_eq!(float.usage.prompt_tokens, 9);

    let floats = response::encode_embeddings(&float, false);
    let mut expected = value(include_bytes!("fixtures/embeddings_float.json"));
    assert_eq!(value(&floats), expected);
    let base64 = response::encode_embeddings(&float, true);
    expected = value(include_bytes!("fixtures/embeddings_base64.json"));
    assert_eq!(value(&base64), expected);
    assert_eq!(response::decode_embeddings(&base64).unwrap(), float);

    // Out-of-order data is put back in index order.
    let resp = response::decode_embeddings(
        br#"{"model":"m","data":[{"index":1,"embedding":[2.0]},{"index":0,"embedding":[1.0]}]}"#,
    )
    .unwrap();
    assert_eq!(resp.data, vec![vec![1.0], vec![2.0]]);
}

// ---- errors -----------------------------------------------------------------------------

#[test]
fn decodes_provider_errors() {
    // (status, body, kind, code, part of the message)
    type Case<'a> = (u16, &'a [u8], ErrorKind, Option<&'a str>, &'a str);
    let cases: &[Case] = &[
        (
            400,
            include_bytes!("fixtures/error_400_context_length.json"),
            ErrorKind::InvalidRequest,
            Some("context_length_exceeded"),
            "maximum context length",
        ),
        (
            401,
            include_bytes!("fixtures/error_401_invalid_api_key.json"),
            ErrorKind::Authentication,
            Some("invalid_api_key"),
            "Incorrect API key",
        ),
        (
            404,
            include_bytes!("fixtures/error_404_model_not_found.json"),
            ErrorKind::NotFound,
            Some("model_not_found"),
            "does not exist",
        ),
        (
            429,
            include_bytes!("fixtures/error_429_rate_limit.json"),
            ErrorKind::RateLimited,
            Some("rate_limit_exceeded"),
            "Rate limit reached",
        ),
        (
            429,
            include_bytes!("fixtures/error_429_insufficient_quota.json"),
            ErrorKind::RateLimited,
            Some("insufficient_quota"),
            "exceeded your current quota",
        ),
        (
            500,
            include_bytes!("fixtures/error_500_server_error.json"),
            ErrorKind::ProviderFailure,
            None,
            "The server had an error",
        ),
        (
            503,
            include_bytes!("fixtures/error_500_server_error.json"),
            ErrorKind::Unavailable,
            None,
            "The server had an error",
        ),
        (
            404,
            include_bytes!("fixtures/error_azure_404_deployment.json"),
            ErrorKind::NotFound,
            Some("DeploymentNotFound"),
            "deployment for this resource",
        ),
        (
            429,
            include_bytes!("fixtures/error_azure_429.json"),
            ErrorKind::RateLimited,
            Some("429"),
            "exceeded token rate limit",
        ),
        (
            502,
            include_bytes!("fixtures/error_502.html"),
            ErrorKind::BadResponse,
            None,
            "HTTP 502: <html>",
        ),
        (
            404,
            br#"{"error":"model 'llama9' not found"}"#,
            ErrorKind::NotFound,
            None,
            "model 'llama9' not found",
        ),
        (
            400,
            br#"{"object":"error","message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}"#,
            ErrorKind::InvalidRequest,
            None,
            "max_tokens is too large",
        ),
        (422, br#"{"detail":"bad field"}"#, ErrorKind::InvalidRequest, None, "bad field"),
        (500, b"", ErrorKind::ProviderFailure, None, "HTTP 500"),
    ];
    for (status, body, kind, code, message) in cases {
        let err = response::decode_error(*status, body);
        assert_eq!(err.kind, *kind, "{status} {}", err.message);
        assert_eq!(err.code.as_deref(), *code, "{status} {}", err.message);
        assert!(err.message.contains(message), "{status}: {}", err.message);
    }
    let err = response::decode_error(
        400,
        include_bytes!("fixtures/error_400_context_length.json"),
    );
    assert_eq!(err.param.as_deref(), Some("messages"));
    let err = response::decode_error(502, include_bytes!("fixtures/error_502.html"));
    assert!(err.message.len() < 240, "{}", err.message);
}

#[test]
fn encodes_client_errors() {
    let err = ApiError::invalid("messages[0].role", "unknown role");
    assert_eq!(
        value(&response::encode_error(&err)),
        json!({"error": {"message": "unknown role", "type": "invalid_request_error",
                         "param": "messages[0].role", "code": "invalid_request"}})
    );
    let err = ApiError::new(ErrorKind::RateLimited, "slow down");
    assert_eq!(
        value(&response::encode_error(&err)),
        json!({"error": {"message": "slow down", "type": "rate_limit_error", "param": null, "code": null}})
    );
    // What the gateway writes, it reads back the same.
    let err = ApiError::new(ErrorKind::NotFound, "no such model").with_code("model_not_found");
    assert_eq!(
        response::decode_error(404, &response::encode_error(&err)),
        err
    );
}

// ---- streams: decoding ------------------------------------------------------------------

#[test]
fn decodes_a_text_stream() {
    for chunk in [7, 1, 64, 100_000] {
        let (events, done) =
            decode_stream(include_bytes!("fixtures/stream_text.sse"), chunk).unwrap();
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
        decode_stream(include_bytes!("fixtures/stream_parallel_tools.sse"), 7).unwrap();
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

fn decode_data(lines: &[&str]) -> Result<Vec<StreamEvent>, ApiError> {
    let mut dec = stream::StreamDecoder::new();
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
    let err = decode_stream(include_bytes!("fixtures/stream_error.sse"), 7).unwrap_err();
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

// ---- streams: encoding ------------------------------------------------------------------

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
        &include_bytes!("fixtures/stream_text.sse")[..],
        include_bytes!("fixtures/stream_parallel_tools.sse"),
    ] {
        let (events, _) = decode_stream(fixture, 7).unwrap();
        let (again, done) = decode_stream(&encode_stream(&events, true), 5).unwrap();
        assert!(done);
        assert_eq!(again, events);
    }
}

#[test]
fn decodes_thinking_blocks_in_streams() {
    // LiteLLM repeats the thinking text in thinking_blocks beside reasoning_content (once),
    // then sends the signature alone; redacted thinking comes whole.
    let events = decode_data(&[
        r#"{"id":"x","model":"claude","created":1,"choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"hm","thinking_blocks":[{"type":"thinking","thinking":"hm","signature":null}]}}]}"#,
        r#"{"id":"x","choices":[{"index":0,"delta":{"thinking_blocks":[{"type":"thinking","thinking":"","signature":"sig"}]}}]}"#,
        r#"{"id":"x","choices":[{"index":0,"delta":{"thinking_blocks":[{"type":"thinking","thinking":"alone"}]}}]}"#,
        r#"{"id":"x","choices":[{"index":0,"delta":{"thinking_blocks":[{"type":"redacted_thinking","data":"opaque"},{"type":"summary"}]}}]}"#,
        "[DONE]",
    ])
    .unwrap();
    assert_eq!(
        events[1..],
        [
            StreamEvent::Thinking {
                index: 0,
                text: "hm".into(),
            },
            StreamEvent::ThinkingSignature {
                index: 0,
                signature: "sig".into(),
            },
            StreamEvent::Thinking {
                index: 0,
                text: "alone".into(),
            },
            StreamEvent::RedactedThinking {
                index: 0,
                data: "opaque".into(),
            },
        ]
    );
}

#[test]
fn redacted_thinking_round_trips_in_streams() {
    let events = vec![
        StreamEvent::Start {
            id: "msg_1".into(),
            model: "claude".into(),
            created: 3,
        },
        StreamEvent::RedactedThinking {
            index: 0,
            data: "opaque".into(),
        },
        StreamEvent::Thinking {
            index: 0,
            text: "a".into(),
        },
        StreamEvent::ThinkingSignature {
            index: 0,
            signature: "sig".into(),
        },
        StreamEvent::Text {
            index: 0,
            text: "b".into(),
        },
        StreamEvent::Finish {
            index: 0,
            reason: FinishReason::Stop,
        },
    ];
    let out = encode_stream(&events, false);
    assert_eq!(
        data_values(&out)[1]["choices"][0]["delta"],
        json!({"thinking_blocks": [{"type": "redacted_thinking", "data": "opaque"}]})
    );
    let (back, done) = decode_stream(&out, 3).unwrap();
    assert!(done);
    assert_eq!(back, events);
}
