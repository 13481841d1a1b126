//! Reasoning in each direction: `reasoning_content` and LiteLLM's signed `thinking_blocks` on
//! earlier turns, in responses and in streams.

use serde_json::json;

use super::{data_values, decode_data, decode_stream, encode_stream, tool_call_response, value};
use crate::llm::ir::{
    self, ErrorKind, FinishReason, Message, Part, Role, StreamEvent, ToolCall, Usage,
};
use crate::llm::providers::openai::{request, response};

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
