//! Responses: recorded `generateContent` answers decoded to the ir, edge cases, bad bodies, and
//! tool calls that encode back with their signature.

use serde_json::{json, Value};

use super::{decode, encode, result, user};
use crate::llm::ir::{
    ChatRequest, ChatResponse, Choice, ErrorKind, FinishReason, Message, Part, Role, Usage,
};
use crate::llm::providers::gemini::response;

fn assistant(parts: Vec<Part>) -> Message {
    Message::new(Role::Assistant, parts)
}

#[test]
fn decodes_responses() {
    let cases = [
        (
            include_str!("../fixtures/generate_content_text.json"),
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
            include_str!("../fixtures/generate_content_function_calls.json"),
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
        "../fixtures/generate_content_function_calls.json"
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
