//! Table tests for the Gemini codec: ir requests encoded and compared with the JSON Gemini
//! expects, recorded responses, streams and error bodies decoded to the ir.

use serde_json::{json, Value};

use super::{descriptor, request, response, stream::StreamDecoder};
use crate::llm::ir::{
    ApiError, ChatRequest, ChatResponse, Choice, EmbeddingRequest, ErrorKind, FinishReason, Image,
    Message, Part, ResponseFormat, Role, StreamEvent, Thinking, Tool, ToolChoice, ToolResult,
    Usage,
};
use crate::llm::providers::descriptor::Operation;
use crate::llm::sse;

fn user(text: &str) -> Message {
    Message::text(Role::User, text)
}

fn result(call_id: &str, name: Option<&str>, text: &str, is_error: bool) -> Part {
    Part::ToolResult(ToolResult {
        call_id: call_id.into(),
        name: name.map(Into::into),
        content: vec![Part::Text(text.into())],
        is_error,
    })
}

fn encode(req: &ChatRequest) -> Result<Value, ApiError> {
    let bytes = request::encode_chat(req, "gemini-2.5-flash")?;
    Ok(serde_json::from_slice(&bytes).expect("encoder wrote JSON"))
}

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

#[test]
fn encodes_embeddings() {
    let req = EmbeddingRequest {
        model: "embed".into(),
        input: vec!["hello".into(), "world".into()],
        dimensions: Some(768),
        base64: true,
        user: None,
    };
    let body = request::encode_embeddings(&req, "gemini-embedding-001").unwrap();
    let got: Value = serde_json::from_slice(&body).unwrap();
    let one = |t: &str| {
        json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]},
               "outputDimensionality": 768})
    };
    assert_eq!(got, json!({"requests": [one("hello"), one("world")]}));
    let empty = EmbeddingRequest::default();
    assert_eq!(
        request::encode_embeddings(&empty, "m")
            .unwrap_err()
            .param
            .as_deref(),
        Some("input")
    );
}

/// `created` is the arrival time: checked, then zeroed so the rest compares exactly.
fn decode(body: &str) -> ChatResponse {
    let mut resp = response::decode_chat(body.as_bytes()).unwrap();
    assert!(resp.created > 1_700_000_000);
    resp.created = 0;
    resp
}

fn assistant(parts: Vec<Part>) -> Message {
    Message::new(Role::Assistant, parts)
}

#[test]
fn decodes_responses() {
    let cases = [
        (
            include_str!("fixtures/generate_content_text.json"),
            ChatResponse {
                id: "mAitaLmkHPPlz7IPvtfUqQ4".into(),
                model: "gemini-2.5-flash".into(),
                created: 0,
                choices: vec![Choice {
                    index: 0,
                    message: assistant(vec![
                        Part::Thinking {
                            text: "**Comparing the languages**\n\nThe user wants a short comparison of Python and JavaScript.".into(),
                            signature: None,
                        },
                        Part::Thinking {
                            text: String::new(),
                            signature: Some("CiQB0e2Kb7kTqf0lLbwZ4YKmTHu3ZJ2pDMI1Sqy9gkLrVAE=".into()),
                        },
                        Part::Text("Python favours readability and is strong in data science; JavaScript runs in every browser and dominates web front ends.".into()),
                    ]),
                    finish_reason: Some(FinishReason::Stop),
                }],
                usage: Usage {
                    prompt_tokens: 2110,
                    completion_tokens: 27 + 345,
                    cached_tokens: 2048,
                    cache_creation_tokens: 0,
                    reasoning_tokens: 345,
                },
            },
        ),
        (
            include_str!("fixtures/generate_content_function_calls.json"),
            ChatResponse {
                id: "rRetaIvXJ5_Tz7IP6aqM8AM".into(),
                model: "gemini-2.5-flash".into(),
                created: 0,
                choices: vec![Choice {
                    index: 0,
                    message: assistant(vec![
                        Part::Thinking {
                            text: String::new(),
                            signature: Some("CsgCAdHtim9Uh1zA5b8J7g0mxqg6Ld+2uN5hHCKpj1SH3Nw=".into()),
                        },
                        Part::tool_call("call_0_0", "power_disco_ball", r#"{"power":true}"#),
                        Part::tool_call("call_0_1", "start_music", r#"{"energetic":true,"loud":true}"#),
                    ]),
                    finish_reason: Some(FinishReason::ToolCalls),
                }],
                usage: Usage {
                    prompt_tokens: 161,
                    completion_tokens: 19 + 62,
                    cached_tokens: 0,
                    cache_creation_tokens: 0,
                    reasoning_tokens: 62,
                },
            },
        ),
    ];
    for (body, want) in cases {
        let got = decode(body);
        assert_eq!(got, want, "{}", want.id);
        assert_eq!(got.usage.total(), got_total(body));
    }
}

fn got_total(body: &str) -> u64 {
    let v: Value = serde_json::from_str(body).unwrap();
    v["usageMetadata"]["totalTokenCount"].as_u64().unwrap()
}

#[test]
fn decoded_tool_calls_encode_back_with_their_signature() {
    let resp = decode(include_str!(
        "fixtures/generate_content_function_calls.json"
    ));
    let req = ChatRequest {
        messages: vec![
            user("Party!"),
            resp.choices[0].message.clone(),
            Message::new(
                Role::Tool,
                vec![
                    result("call_0_0", None, r#"{"ok":true}"#, false),
                    result("call_0_1", None, "playing", false),
                ],
            ),
        ],
        ..Default::default()
    };
    let got = encode(&req).unwrap();
    assert_eq!(
        got["contents"][1],
        json!({"role": "model", "parts": [
            {"functionCall": {"name": "power_disco_ball", "args": {"power": true}},
             "thoughtSignature": "CsgCAdHtim9Uh1zA5b8J7g0mxqg6Ld+2uN5hHCKpj1SH3Nw="},
            {"functionCall": {"name": "start_music", "args": {"energetic": true, "loud": true}}}
        ]})
    );
    assert_eq!(
        got["contents"][2]["parts"][1],
        json!({"functionResponse": {"name": "start_music", "response": {"output": "playing"}}})
    );
}

#[test]
fn decodes_edge_responses() {
    // Several candidates, a non-STOP reason, a call id from Gemini, no responseId.
    let body = r#"{"candidates":[
        {"content":{"parts":[{"text":"a"}]},"finishReason":"MAX_TOKENS"},
        {"content":{"parts":[{"functionCall":{"name":"f","id":"fc-9"}}]},"finishReason":"STOP","index":1},
        {"finishReason":"SAFETY","index":2},
        {"content":{"parts":[{"text":"b"}]},"finishReason":"MALFORMED_FUNCTION_CALL","index":3}
    ],"modelVersion":"gemini-2.5-pro"}"#;
    let got = decode(body);
    assert!(
        got.id.starts_with("gemini-") && got.id.len() == 23,
        "{}",
        got.id
    );
    assert_eq!(got.id, decode(body).id, "deterministic");
    let reasons: Vec<_> = got
        .choices
        .iter()
        .map(|c| c.finish_reason.clone())
        .collect();
    assert_eq!(
        reasons,
        [
            Some(FinishReason::Length),
            Some(FinishReason::ToolCalls),
            Some(FinishReason::ContentFilter),
            Some(FinishReason::Other("MALFORMED_FUNCTION_CALL".into())),
        ]
    );
    assert_eq!(
        got.choices[1].message.parts,
        [Part::tool_call("fc-9", "f", "{}")]
    );
    assert_eq!(got.choices[2].message.parts, [Part::Text(String::new())]);
    assert_eq!(got.usage, Usage::default());

    let blocked = decode(
        r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8},"responseId":"r1"}"#,
    );
    assert_eq!(
        blocked.choices,
        [Choice {
            index: 0,
            message: assistant(vec![Part::Text(String::new())]),
            finish_reason: Some(FinishReason::ContentFilter),
        }]
    );
    assert_eq!(blocked.usage.prompt_tokens, 8);
}

#[test]
fn malformed_bodies_are_bad_responses() {
    for body in [
        &b"not json"[..],
        b"{\"candidates\": 3}",
        b"{}",
        b"{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{}}]}}]}",
    ] {
        let err = response::decode_chat(body).expect_err("malformed");
        assert_eq!(err.kind, ErrorKind::BadResponse);
        assert!(err.message.contains("Gemini"), "{}", err.message);
    }
    let err = response::decode_embeddings(b"{\"embeddings\":[{\"values\":\"x\"}]}").unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadResponse);
}

#[test]
fn decodes_embeddings() {
    let got =
        response::decode_embeddings(include_bytes!("fixtures/batch_embed_contents.json")).unwrap();
    assert_eq!(
        got.data,
        vec![
            vec![-0.0015675843, 0.0040880083, -0.07141946, 0.028541852],
            vec![0.013124765, -0.021571316, -0.04596812, 0.007321432],
        ]
    );
    assert_eq!(got.usage, Usage::default());
}

#[test]
fn decodes_errors() {
    type Case<'a> = (u16, &'a [u8], ErrorKind, &'a str, Option<&'a str>);
    let cases: [Case; 13] = [
        (
            400,
            include_bytes!("fixtures/error_400_invalid_argument.json"),
            ErrorKind::InvalidRequest,
            "Unknown name \"$schema\"",
            Some("INVALID_ARGUMENT"),
        ),
        (
            400,
            include_bytes!("fixtures/error_400_api_key_invalid.json"),
            ErrorKind::Authentication,
            "API key not valid",
            Some("API_KEY_INVALID"),
        ),
        (
            403,
            include_bytes!("fixtures/error_403.json"),
            ErrorKind::PermissionDenied,
            "unregistered callers",
            Some("PERMISSION_DENIED"),
        ),
        (
            404,
            include_bytes!("fixtures/error_404.json"),
            ErrorKind::NotFound,
            "is not found",
            Some("NOT_FOUND"),
        ),
        (
            429,
            include_bytes!("fixtures/error_429.json"),
            ErrorKind::RateLimited,
            "exceeded your current quota",
            Some("RESOURCE_EXHAUSTED"),
        ),
        (
            500,
            include_bytes!("fixtures/error_500.json"),
            ErrorKind::ProviderFailure,
            "internal error",
            Some("INTERNAL"),
        ),
        (
            503,
            include_bytes!("fixtures/error_503.json"),
            ErrorKind::Unavailable,
            "overloaded",
            Some("UNAVAILABLE"),
        ),
        (
            401,
            br#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#,
            ErrorKind::Authentication,
            "invalid authentication",
            Some("UNAUTHENTICATED"),
        ),
        (
            400,
            br#"{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}"#,
            ErrorKind::InvalidRequest,
            "location",
            Some("FAILED_PRECONDITION"),
        ),
        (
            504,
            br#"{"error":{"code":504,"message":"Deadline expired before operation could complete.","status":"DEADLINE_EXCEEDED"}}"#,
            ErrorKind::Timeout,
            "Deadline",
            Some("DEADLINE_EXCEEDED"),
        ),
        (
            413,
            br#"{"error":{"code":413,"message":"Request payload size exceeds the limit"}}"#,
            ErrorKind::PayloadTooLarge,
            "payload size",
            None,
        ),
        (
            502,
            b"<html><body>502 Bad Gateway</body></html>",
            ErrorKind::BadResponse,
            "HTTP 502: <html><body>502 Bad Gateway",
            None,
        ),
        (
            500,
            b"",
            ErrorKind::ProviderFailure,
            "HTTP 500 with an empty body",
            None,
        ),
    ];
    for (status, body, kind, needle, code) in cases {
        let err = response::decode_error(status, body);
        assert_eq!(err.kind, kind, "{status} {needle}");
        assert!(err.message.contains(needle), "{}", err.message);
        assert_eq!(err.code.as_deref(), code, "{needle}");
    }
    let long = "x".repeat(500);
    let err = response::decode_error(418, long.as_bytes());
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert!(err.message.len() < 260 && err.message.ends_with("..."));
}

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
    let raw = include_bytes!("fixtures/stream_text.sse");
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
    let raw = include_bytes!("fixtures/stream_function_call.sse");
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
