//! Table tests over the Anthropic fixtures (see `fixtures/README.md`), in both directions.

use bytes::BytesMut;
use serde_json::{json, Value};

use super::{request, response, stream};
use crate::llm::ir::{
    self, ApiError, ChatRequest, ChatResponse, Choice, ErrorKind, FinishReason, Image, Message,
    Part, ResponseFormat, Role, StreamEvent, ToolChoice, ToolResult, Usage,
};
use crate::llm::sse;

const REQ_THINKING_TOOLS: &str = include_str!("fixtures/request_thinking_tools.json");
const REQ_VISION: &str = include_str!("fixtures/request_vision_options.json");
const RESP_TOOL_USE: &str = include_str!("fixtures/response_tool_use.json");
const RESP_THINKING: &str = include_str!("fixtures/response_thinking.json");
const RESP_CACHE: &str = include_str!("fixtures/response_cache_usage.json");
const STREAM_TEXT: &[u8] = include_bytes!("fixtures/stream_text.sse");
const STREAM_TOOL: &[u8] = include_bytes!("fixtures/stream_tool_use.sse");
const STREAM_THINKING: &[u8] = include_bytes!("fixtures/stream_thinking.sse");
const STREAM_ERROR: &[u8] = include_bytes!("fixtures/stream_error.sse");

fn value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("valid JSON")
}

fn decode_err(body: Value) -> ApiError {
    request::decode_chat(body.to_string().as_bytes()).expect_err("must fail")
}

fn text(role: Role, t: &str) -> Message {
    Message::text(role, t)
}

fn result(call_id: &str, t: &str) -> Part {
    Part::ToolResult(ToolResult {
        call_id: call_id.into(),
        name: None,
        content: vec![Part::Text(t.into())],
        is_error: false,
    })
}

/// SSE bytes through `sse::Decoder` in `chunk`-byte pieces, then through `StreamDecoder`.
/// `Start::created` is zeroed so results compare.
fn decode_stream(bytes: &[u8], chunk: usize) -> (Result<(), ApiError>, Vec<StreamEvent>, bool) {
    let mut sse_decoder = sse::Decoder::new();
    let mut decoder = stream::StreamDecoder::new();
    let mut events = Vec::new();
    let mut out = Vec::new();
    let mut status = Ok(());
    'outer: for piece in bytes.chunks(chunk) {
        events.clear();
        sse_decoder.push(piece, &mut events).expect("valid SSE");
        for event in &events {
            if let Err(e) = decoder.decode(event, &mut out) {
                status = Err(e);
                break 'outer;
            }
        }
    }
    if status.is_ok() {
        sse_decoder.finish().expect("complete SSE");
    }
    for event in &mut out {
        if let StreamEvent::Start { created, .. } = event {
            assert!(*created > 0, "created is stamped");
            *created = 0;
        }
    }
    (status, out, decoder.is_done())
}

fn start(id: &str, model: &str) -> StreamEvent {
    StreamEvent::Start {
        id: id.into(),
        model: model.into(),
        created: 0,
    }
}

fn usage(prompt: u64, completion: u64) -> StreamEvent {
    StreamEvent::Usage(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        ..Usage::default()
    })
}

fn text_ev(t: &str) -> StreamEvent {
    StreamEvent::Text {
        index: 0,
        text: t.into(),
    }
}

fn merged_usage(events: &[StreamEvent]) -> Usage {
    let mut total = Usage::default();
    for event in events {
        if let StreamEvent::Usage(u) = event {
            total.merge(u);
        }
    }
    total
}

// ---------- request decode (client side) ----------

#[test]
fn decodes_thinking_tool_conversation() {
    let req = request::decode_chat(REQ_THINKING_TOOLS.as_bytes()).expect("decodes");
    assert_eq!(req.model, "claude-sonnet-4-5");
    assert_eq!(req.max_tokens, Some(16000));
    assert_eq!(
        req.thinking,
        Some(ir::Thinking {
            budget_tokens: Some(10000),
            effort: None
        })
    );
    assert_eq!(req.tools.len(), 1);
    assert_eq!(req.tools[0].name, "get_weather");
    assert_eq!(
        req.tools[0].parameters.as_ref().unwrap()["required"],
        json!(["location"])
    );
    let expected = vec![
        text(Role::System, "You are a helpful weather assistant."),
        text(Role::User, "What's the weather in Paris?"),
        Message::new(
            Role::Assistant,
            vec![
                Part::Thinking {
                    text: "The user wants to know the current weather in Paris. I have access to a function `get_weather`...".into(),
                    signature: Some("BDaL4VrbR2Oj0hO4XpJxT28J5TILnCrrUXoKiiNBZW9P+nr8XSj1zuZzAl4egiCCpQNvfyUuFFJP5CncdYZEQPPmLxYsNrcs....".into()),
                },
                Part::Text("I can help you get the current weather information for Paris. Let me check that for you".into()),
                Part::tool_call("toolu_01CswdEQBMshySk6Y9DFKrfq", "get_weather", r#"{"location": "Paris"}"#),
            ],
        ),
        Message::new(Role::Tool, vec![result("toolu_01CswdEQBMshySk6Y9DFKrfq", "Current temperature: 88°F")]),
    ];
    assert_eq!(req.messages, expected);
    assert!(!req.stream);
}

#[test]
fn decodes_images_system_blocks_and_options() {
    let req = request::decode_chat(REQ_VISION.as_bytes()).expect("decodes");
    assert_eq!(req.messages[0], text(Role::System, "You describe images."));
    assert_eq!(req.messages[1], text(Role::System, "Answer briefly."));
    assert_eq!(
        req.messages[2].parts,
        vec![
            Part::Image(Image::Url(
                "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg".into()
            )),
            Part::Image(Image::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==".into(),
            }),
            Part::Text("Compare these images.".into()),
        ]
    );
    assert_eq!(req.stop, vec!["\n\nHuman:".to_owned(), "END".to_owned()]);
    assert_eq!(
        (req.temperature, req.top_p, req.top_k),
        (Some(0.5), Some(0.9), Some(40))
    );
    assert_eq!(
        req.user.as_deref(),
        Some("13803d75-b4b5-4c3e-b2a2-6f21399b021b")
    );
    assert_eq!(req.tool_choice, Some(ToolChoice::Tool("describe".into())));
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert!(req.stream && req.include_usage);
}

#[test]
fn tool_results_split_from_the_rest_of_a_user_turn() {
    let req = request::decode_chat(
        json!({"model": "m", "max_tokens": 10, "messages": [
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "a", "content": "one"},
                {"type": "text", "text": "and then"},
                {"type": "tool_result", "tool_use_id": "b", "is_error": true,
                 "content": [{"type": "text", "text": "two"},
                             {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]},
            ]},
        ]})
        .to_string()
        .as_bytes(),
    )
    .expect("decodes");
    assert_eq!(
        req.messages,
        vec![
            Message::new(
                Role::Tool,
                vec![
                    result("a", "one"),
                    Part::ToolResult(ToolResult {
                        call_id: "b".into(),
                        name: None,
                        content: vec![
                            Part::Text("two".into()),
                            Part::Image(Image::Url("https://x/y.png".into()))
                        ],
                        is_error: true,
                    }),
                ]
            ),
            text(Role::User, "and then"),
        ]
    );
}

#[test]
fn tool_use_input_keeps_the_clients_json_text() {
    let body = br#"{"model":"m","max_tokens":5,"messages":[{"role":"assistant","content":[
        {"type":"tool_use","id":"t1","name":"f","input":{"z": 1, "a": [true, null]}}]}]}"#;
    let req = request::decode_chat(body).expect("decodes");
    assert_eq!(
        req.messages[0].parts,
        vec![Part::tool_call("t1", "f", r#"{"z": 1, "a": [true, null]}"#)]
    );
}

#[test]
fn request_errors_name_the_field() {
    let ok_msgs = json!([{"role": "user", "content": "hi"}]);
    let cases: Vec<(Value, &str)> = vec![
        (json!({"model": "m", "messages": ok_msgs}), "max_tokens"),
        (json!({"max_tokens": 5, "messages": ok_msgs}), "model"),
        (json!({"model": "m", "max_tokens": 5}), "messages"),
        (
            json!({"model": "m", "max_tokens": "lots", "messages": ok_msgs}),
            "max_tokens",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": 7}]}),
            "messages[0].content",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "text", "text": "read this"},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}]}]}),
            "messages[0].content[1].type",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "document"}]}]}]}),
            "messages[0].content[0].content[0].type",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "file", "file_id": "f"}}]}]}),
            "messages[0].content[0].source.type",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text"}]}]}),
            "messages[0].content[0].text",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "text", "text": 3}]}]}),
            "messages[0].content[0].text",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": [
                {"type": "tool_result", "tool_use_id": "t", "content": "x"}]}]}),
            "messages[0].content[0].type",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": ok_msgs,
                   "tools": [{"name": "f", "input_schema": {}}, {"type": "web_search_20250305", "name": "web_search"}]}),
            "tools[1].type",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": ok_msgs, "tool_choice": {"type": "tool"}}),
            "tool_choice.name",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": ok_msgs, "system": [{"type": "image"}]}),
            "system[0].type",
        ),
    ];
    for (body, param) in cases {
        let err = decode_err(body.clone());
        assert_eq!(err.kind, ErrorKind::InvalidRequest, "{body}");
        assert_eq!(err.param.as_deref(), Some(param), "{body}: {err:?}");
        assert!(
            err.message.contains(param.split('[').next().unwrap()),
            "{body}: {err:?}"
        );
    }
    let err = request::decode_chat(b"{\"model\": \"m\", ").expect_err("truncated");
    assert_eq!(
        (err.kind, err.param.as_deref()),
        (ErrorKind::InvalidRequest, Some("body"))
    );
}

// ---------- request encode (provider side) ----------

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

// ---------- responses ----------

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
    let err = response::decode_chat(include_bytes!("fixtures/error_529.json")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable);
}

// ---------- errors ----------

#[test]
fn decodes_error_fixtures() {
    let cases: [(u16, &[u8], ErrorKind, &str); 6] = [
        (
            400,
            include_bytes!("fixtures/error_400.json"),
            ErrorKind::InvalidRequest,
            "max_tokens: Field required",
        ),
        (
            401,
            include_bytes!("fixtures/error_401.json"),
            ErrorKind::Authentication,
            "invalid x-api-key",
        ),
        (
            404,
            include_bytes!("fixtures/error_404.json"),
            ErrorKind::NotFound,
            "The requested resource could not be found.",
        ),
        (
            429,
            include_bytes!("fixtures/error_429.json"),
            ErrorKind::RateLimited,
            "Number of request tokens",
        ),
        (
            500,
            include_bytes!("fixtures/error_500.json"),
            ErrorKind::ProviderFailure,
            "Internal server error",
        ),
        (
            529,
            include_bytes!("fixtures/error_529.json"),
            ErrorKind::Unavailable,
            "Overloaded",
        ),
    ];
    for (status, body, kind, message) in cases {
        let err = response::decode_error(status, body);
        assert_eq!(err.kind, kind, "{status}");
        assert!(
            err.message.starts_with(message),
            "{status}: {}",
            err.message
        );
        assert_eq!(
            err.code.as_deref(),
            Some(value(body)["error"]["type"].as_str().unwrap())
        );
        // And back: a client sees the same type and message.
        let out = value(&response::encode_error(&err));
        assert_eq!(out["type"], json!("error"));
        assert_eq!(
            out["error"]["type"],
            value(body)["error"]["type"],
            "{status}"
        );
        assert_eq!(out["error"]["message"], value(body)["error"]["message"]);
    }
}

#[test]
fn error_kind_falls_back_to_the_status() {
    let err = response::decode_error(503, b"<html><body>Service Unavailable</body></html>");
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert!(err.message.contains("503") && err.message.contains("Service Unavailable"));
    let long = "x".repeat(1000);
    let err = response::decode_error(502, long.as_bytes());
    assert_eq!(err.kind, ErrorKind::BadResponse);
    assert!(err.message.len() < 260);
    let err = response::decode_error(413, b"");
    assert_eq!(err.kind, ErrorKind::PayloadTooLarge);
    assert!(err.message.contains("413") && err.message.contains("empty"));
    let err = response::decode_error(
        403,
        br#"{"type":"error","error":{"type":"billing_error","message":"no credit"}}"#,
    );
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ErrorKind::PermissionDenied, "no credit")
    );
}

#[test]
fn encodes_gateway_errors() {
    let err = ApiError::invalid("messages[0].role", "invalid field `messages[0].role`");
    assert_eq!(
        value(&response::encode_error(&err)),
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "invalid field `messages[0].role`"}})
    );
}

// ---------- stream decode ----------

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

// ---------- stream encode (client side) ----------

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
