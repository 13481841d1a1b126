//! Requests: the ir encoded as the JSON Gemini expects, what Gemini cannot take, and the
//! request path of each operation.

use serde_json::{json, Value};

use super::{encode, result, user};
use crate::llm::ir::{
    ChatRequest, ErrorKind, Image, Message, Part, ResponseFormat, Role, Thinking, Tool, ToolChoice,
    ToolResult,
};
use crate::llm::providers::descriptor::Operation;
use crate::llm::providers::gemini::descriptor;

fn weather_tool() -> Tool {
    Tool {
        name: "get_weather".into(),
        description: Some("Current weather in a city".into()),
        parameters: Some(json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
            "additionalProperties": false
        })),
    }
}

#[test]
fn encodes_requests() {
    let cases: Vec<(&str, ChatRequest, Value)> = vec![
        (
            "system instruction and sampling",
            ChatRequest {
                messages: vec![
                    Message::text(Role::System, "Be brief."),
                    user("Hi"),
                    Message::text(Role::Assistant, "Hello."),
                    Message::text(Role::System, "Answer in French."),
                    user("Weather?"),
                ],
                temperature: Some(0.5),
                top_p: Some(0.9),
                top_k: Some(40),
                max_tokens: Some(256),
                stop: vec!["END".into()],
                n: Some(2),
                seed: Some(7),
                presence_penalty: Some(0.1),
                frequency_penalty: Some(0.2),
                user: Some("user-1".into()),
                ..Default::default()
            },
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "Hi"}]},
                    {"role": "model", "parts": [{"text": "Hello."}]},
                    {"role": "user", "parts": [{"text": "Weather?"}]}
                ],
                "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]},
                "generationConfig": {
                    "temperature": 0.5, "topP": 0.9, "topK": 40, "maxOutputTokens": 256,
                    "stopSequences": ["END"], "candidateCount": 2, "seed": 7,
                    "presencePenalty": 0.1, "frequencyPenalty": 0.2
                }
            }),
        ),
        (
            "tools with a forced tool",
            ChatRequest {
                messages: vec![user("Weather in Paris?")],
                tools: vec![
                    weather_tool(),
                    Tool {
                        name: "now".into(),
                        description: None,
                        parameters: None,
                    },
                ],
                tool_choice: Some(ToolChoice::Tool("get_weather".into())),
                parallel_tool_calls: Some(false),
                ..Default::default()
            },
            json!({
                "contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}],
                "tools": [{"functionDeclarations": [
                    {
                        "name": "get_weather",
                        "description": "Current weather in a city",
                        "parametersJsonSchema": {
                            "type": "object",
                            "properties": {"location": {"type": "string"}},
                            "required": ["location"],
                            "additionalProperties": false
                        }
                    },
                    {"name": "now"}
                ]}],
                "toolConfig": {"functionCallingConfig": {
                    "mode": "ANY", "allowedFunctionNames": ["get_weather"]
                }}
            }),
        ),
        (
            "tool choice modes",
            ChatRequest {
                messages: vec![user("x")],
                tool_choice: Some(ToolChoice::Required),
                ..Default::default()
            },
            json!({
                "contents": [{"role": "user", "parts": [{"text": "x"}]}],
                "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}
            }),
        ),
        (
            "tool call round trip, results matched by name",
            ChatRequest {
                messages: vec![
                    user("Weather in Paris and London?"),
                    Message::new(
                        Role::Assistant,
                        vec![
                            Part::Thinking {
                                text: "I'll call the tool twice.".into(),
                                signature: Some("sig-1".into()),
                            },
                            Part::tool_call("call_0_0", "get_weather", r#"{"location":"Paris"}"#),
                            Part::tool_call("call_0_1", "get_weather", r#"{"location":"London"}"#),
                            Part::tool_call("call_0_2", "now", ""),
                        ],
                    ),
                    Message::new(
                        Role::Tool,
                        vec![result("call_0_0", None, r#"{"temp":21}"#, false)],
                    ),
                    Message::new(
                        Role::Tool,
                        vec![result("call_0_1", Some("get_weather"), "rainy, 14C", false)],
                    ),
                    Message::new(
                        Role::Tool,
                        vec![result("call_0_2", None, "clock broken", true)],
                    ),
                    user("Thanks"),
                ],
                ..Default::default()
            },
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "Weather in Paris and London?"}]},
                    {"role": "model", "parts": [
                        {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}},
                         "thoughtSignature": "sig-1"},
                        {"functionCall": {"name": "get_weather", "args": {"location": "London"}}},
                        {"functionCall": {"name": "now", "args": {}}}
                    ]},
                    {"role": "user", "parts": [
                        {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                        {"functionResponse": {"name": "get_weather", "response": {"output": "rainy, 14C"}}},
                        {"functionResponse": {"name": "now", "response": {"error": "clock broken"}}}
                    ]},
                    {"role": "user", "parts": [{"text": "Thanks"}]}
                ]
            }),
        ),
        (
            "trailing and unsigned thinking",
            ChatRequest {
                messages: vec![
                    user("Hi"),
                    Message::new(
                        Role::Assistant,
                        vec![
                            Part::Thinking {
                                text: "unsigned".into(),
                                signature: None,
                            },
                            Part::RedactedThinking("opaque".into()),
                            Part::Text("Hello".into()),
                            Part::Thinking {
                                text: String::new(),
                                signature: Some("sig-a".into()),
                            },
                            Part::Thinking {
                                text: String::new(),
                                signature: Some("sig-b".into()),
                            },
                        ],
                    ),
                    Message::new(
                        Role::Assistant,
                        vec![Part::Thinking {
                            text: "only thinking".into(),
                            signature: None,
                        }],
                    ),
                    user("Again"),
                ],
                ..Default::default()
            },
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "Hi"}]},
                    {"role": "model", "parts": [
                        {"text": "Hello"},
                        {"text": "", "thoughtSignature": "sig-a"},
                        {"text": "", "thoughtSignature": "sig-b"}
                    ]},
                    {"role": "user", "parts": [{"text": "Again"}]}
                ]
            }),
        ),
        (
            "images by URL and base64",
            ChatRequest {
                messages: vec![Message::new(
                    Role::User,
                    vec![
                        Part::Text("What is in these?".into()),
                        Part::Image(Image::Url("https://example.com/cat.PNG?size=2".into())),
                        Part::Image(Image::Url("https://example.com/photo".into())),
                        Part::Image(Image::Base64 {
                            media_type: "image/webp".into(),
                            data: "UklGRg==".into(),
                        }),
                    ],
                )],
                ..Default::default()
            },
            json!({
                "contents": [{"role": "user", "parts": [
                    {"text": "What is in these?"},
                    {"fileData": {"fileUri": "https://example.com/cat.PNG?size=2", "mimeType": "image/png"}},
                    {"fileData": {"fileUri": "https://example.com/photo", "mimeType": "image/jpeg"}},
                    {"inlineData": {"mimeType": "image/webp", "data": "UklGRg=="}}
                ]}]
            }),
        ),
        (
            "JSON schema",
            ChatRequest {
                messages: vec![user("A recipe")],
                response_format: Some(ResponseFormat::JsonSchema {
                    name: "recipe".into(),
                    schema: json!({
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "additionalProperties": false
                    }),
                    strict: Some(true),
                }),
                ..Default::default()
            },
            json!({
                "contents": [{"role": "user", "parts": [{"text": "A recipe"}]}],
                "generationConfig": {
                    "responseMimeType": "application/json",
                    "responseJsonSchema": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "additionalProperties": false
                    }
                }
            }),
        ),
        (
            "JSON mode",
            ChatRequest {
                messages: vec![user("JSON please")],
                response_format: Some(ResponseFormat::JsonObject),
                ..Default::default()
            },
            json!({
                "contents": [{"role": "user", "parts": [{"text": "JSON please"}]}],
                "generationConfig": {"responseMimeType": "application/json"}
            }),
        ),
        (
            "thinking budget",
            ChatRequest {
                messages: vec![user("Think")],
                thinking: Some(Thinking {
                    budget_tokens: Some(2048),
                    effort: None,
                }),
                ..Default::default()
            },
            json!({
                "contents": [{"role": "user", "parts": [{"text": "Think"}]}],
                "generationConfig": {"thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": true}}
            }),
        ),
        (
            "thinking effort",
            ChatRequest {
                messages: vec![user("Think")],
                thinking: Some(Thinking {
                    budget_tokens: None,
                    effort: Some("low".into()),
                }),
                ..Default::default()
            },
            json!({
                "contents": [{"role": "user", "parts": [{"text": "Think"}]}],
                "generationConfig": {"thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true}}
            }),
        ),
    ];
    for (name, req, want) in cases {
        let got = encode(&req).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn tool_result_with_image_goes_beside_the_response() {
    let req = ChatRequest {
        messages: vec![
            user("Screenshot?"),
            Message::new(Role::Assistant, vec![Part::tool_call("c1", "shot", "{}")]),
            Message::new(
                Role::Tool,
                vec![Part::ToolResult(ToolResult {
                    call_id: "c1".into(),
                    name: None,
                    content: vec![
                        Part::Text("done".into()),
                        Part::Image(Image::Base64 {
                            media_type: "image/png".into(),
                            data: "iVBORw0=".into(),
                        }),
                    ],
                    is_error: false,
                })],
            ),
        ],
        ..Default::default()
    };
    assert_eq!(
        encode(&req).unwrap()["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"name": "shot", "response": {"output": "done"}}},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0="}}
        ]})
    );
}

#[test]
fn rejects_requests_gemini_cannot_take() {
    let bad_args = ChatRequest {
        messages: vec![
            user("x"),
            Message::new(
                Role::Assistant,
                vec![Part::tool_call("c1", "f", "{not json")],
            ),
        ],
        ..Default::default()
    };
    let array_args = ChatRequest {
        messages: vec![
            user("x"),
            Message::new(Role::Assistant, vec![Part::tool_call("c1", "f", "[1]")]),
        ],
        ..Default::default()
    };
    let unknown_call = ChatRequest {
        messages: vec![
            user("x"),
            Message::new(Role::Tool, vec![result("nope", None, "r", false)]),
        ],
        ..Default::default()
    };
    let only_system = ChatRequest {
        messages: vec![Message::text(Role::System, "s")],
        ..Default::default()
    };
    let image_in_system = ChatRequest {
        messages: vec![
            Message::new(Role::System, vec![Part::Image(Image::Url("u".into()))]),
            user("x"),
        ],
        ..Default::default()
    };
    let big_seed = ChatRequest {
        messages: vec![user("x")],
        seed: Some(i64::MAX),
        ..Default::default()
    };
    let bad_effort = ChatRequest {
        messages: vec![user("x")],
        thinking: Some(Thinking {
            budget_tokens: None,
            effort: Some("extreme".into()),
        }),
        ..Default::default()
    };
    let cases = [
        (
            bad_args,
            "messages[1].tool_calls[0].arguments",
            "messages[1]",
        ),
        (
            array_args,
            "messages[1].tool_calls[0].arguments",
            "JSON object",
        ),
        (unknown_call, "messages[1].tool_call_id", "`nope`"),
        (only_system, "messages", "at least one"),
        (image_in_system, "messages[0].content", "image"),
        (big_seed, "seed", "32-bit"),
        (bad_effort, "reasoning_effort", "extreme"),
    ];
    for (req, param, needle) in cases {
        let err = encode(&req).expect_err(param);
        assert_eq!(err.kind, ErrorKind::InvalidRequest, "{param}");
        assert_eq!(err.param.as_deref(), Some(param));
        assert!(err.message.contains(needle), "{param}: {}", err.message);
    }
}

#[test]
fn paths() {
    let http = descriptor::GEMINI
        .http
        .as_ref()
        .expect("gemini is called over HTTP");
    let path = |op: Operation, model: &str| {
        let template = http.paths.get(op).expect("gemini has the operation");
        http.path("", template, model, "")
    };
    let (chat, stream) = (
        Operation::Chat { stream: false },
        Operation::Chat { stream: true },
    );
    assert_eq!(
        path(chat, "gemini-2.5-flash").unwrap(),
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        path(stream, "gemini-2.5-flash").unwrap(),
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        path(Operation::Embeddings, "gemini-embedding-001").unwrap(),
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    for bad in ["", "a/b", "a?b", "a#b", "a b", "a\tb"] {
        let err = path(chat, bad).expect_err(bad);
        assert_eq!(err.param.as_deref(), Some("model"), "{bad:?}");
        assert!(path(Operation::Embeddings, bad).is_err(), "{bad:?}");
    }
}
