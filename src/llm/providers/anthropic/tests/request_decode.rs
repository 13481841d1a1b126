//! Requests from Anthropic clients decoded to the ir, and the errors that name a bad field.

use serde_json::{json, Value};

use super::{result, text, REQ_THINKING_TOOLS, REQ_VISION};
use crate::llm::ir::{
    self, ApiError, ErrorKind, Image, Message, Part, Role, ToolChoice, ToolResult,
};
use crate::llm::providers::anthropic::request;

fn decode_err(body: Value) -> ApiError {
    request::decode_chat(body.to_string().as_bytes()).expect_err("must fail")
}

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

/// A refusal of a field deep in the body, whole, as the client reads it.
#[test]
fn a_nested_refusal_is_worded_in_full() {
    let err = decode_err(json!({"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": "x"},
        {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": 3, "data": "x"}}]}]}));
    assert_eq!(
        err.param.as_deref(),
        Some("messages[1].content[0].source.media_type")
    );
    assert_eq!(
        err.message,
        "invalid field `messages[1].content[0].source.media_type`: invalid type: integer `3`, \
         expected a string at line 1 column 106"
    );
}
