//! In-test provider servers: canned answers in each provider's wire format, served by the
//! in-test upstream, and the configuration that points the gateway at them.

#![allow(dead_code)]

use super::upstream::{Reply, Request, Upstream};
use std::time::Duration;

pub fn openai_chat(text: &str) -> String {
    serde_json::json!({
        "id": "chatcmpl-123", "object": "chat.completion", "created": 1_700_000_000,
        "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_1", "x_provider_extra": {"kept": true},
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": null},
                     "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
                  "prompt_tokens_details": {"cached_tokens": 4}}
    })
    .to_string()
}

/// An OpenAI stream of `words`, ending with a usage chunk and `[DONE]`, as separate SSE events.
pub fn openai_stream_events(words: &[&str], with_usage: bool) -> Vec<String> {
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        serde_json::json!({"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": "gpt-4o-2024-08-06", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut out = vec![chunk(
        serde_json::json!({"role": "assistant", "content": ""}),
        None,
    )];
    for w in words {
        out.push(chunk(serde_json::json!({"content": w}), None));
    }
    out.push(chunk(serde_json::json!({}), Some("stop")));
    if with_usage {
        out.push(serde_json::json!({"id": "chatcmpl-9", "object": "chat.completion.chunk",
            "created": 1_700_000_000, "model": "gpt-4o-2024-08-06", "choices": [],
            "usage": {"prompt_tokens": 12, "completion_tokens": words.len(), "total_tokens": 12 + words.len()}}));
    }
    let mut events: Vec<String> = out.iter().map(|v| format!("data: {v}\n\n")).collect();
    events.push("data: [DONE]\n\n".into());
    events
}

pub fn anthropic_message(content: serde_json::Value, stop: &str) -> String {
    serde_json::json!({
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929", "content": content, "stop_reason": stop,
        "stop_sequence": null,
        "usage": {"input_tokens": 25, "output_tokens": 12, "cache_read_input_tokens": 100,
                  "cache_creation_input_tokens": 0}
    })
    .to_string()
}

pub fn anthropic_text(text: &str) -> String {
    anthropic_message(
        serde_json::json!([{"type": "text", "text": text}]),
        "end_turn",
    )
}

/// Anthropic's documented event sequence for a text answer, one string per event.
pub fn anthropic_stream_events(words: &[&str]) -> Vec<String> {
    let ev = |name: &str, data: serde_json::Value| format!("event: {name}\ndata: {data}\n\n");
    let mut out = vec![
        ev(
            "message_start",
            serde_json::json!({"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "content": [],
            "model": "claude-sonnet-4-5-20250929", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 7}}}),
        ),
        ev(
            "content_block_start",
            serde_json::json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ),
        ev("ping", serde_json::json!({"type": "ping"})),
    ];
    for w in words {
        out.push(ev(
            "content_block_delta",
            serde_json::json!({"type": "content_block_delta",
            "index": 0, "delta": {"type": "text_delta", "text": w}}),
        ));
    }
    out.push(ev(
        "content_block_stop",
        serde_json::json!({"type": "content_block_stop", "index": 0}),
    ));
    out.push(ev("message_delta", serde_json::json!({"type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 15}})));
    out.push(ev(
        "message_stop",
        serde_json::json!({"type": "message_stop"}),
    ));
    out
}

pub fn gemini_text(text: &str) -> String {
    serde_json::json!({
        "candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                        "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 5, "totalTokenCount": 13},
        "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"
    })
    .to_string()
}

pub fn gemini_stream_events(words: &[&str]) -> Vec<String> {
    let n = words.len();
    words
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let mut cand = serde_json::json!({"content": {"parts": [{"text": w}], "role": "model"}, "index": 0});
            let mut chunk = serde_json::json!({"modelVersion": "gemini-2.5-flash", "responseId": "resp-2"});
            if i + 1 == n {
                cand["finishReason"] = "STOP".into();
                chunk["usageMetadata"] = serde_json::json!({"promptTokenCount": 8,
                    "candidatesTokenCount": n, "totalTokenCount": 8 + n});
            }
            chunk["candidates"] = serde_json::json!([cand]);
            format!("data: {chunk}\r\n\r\n")
        })
        .collect()
}

/// SSE events re-split into chunks of `size` bytes, so boundaries fall inside events.
pub fn rechunk(events: &[String], size: usize) -> Vec<Vec<u8>> {
    events
        .concat()
        .into_bytes()
        .chunks(size)
        .map(|c| c.to_vec())
        .collect()
}

pub fn sse_reply(events: &[String]) -> Reply {
    Reply::chunked(rechunk(events, 7), Duration::ZERO).header("content-type", "text/event-stream")
}

pub fn json_reply(body: String) -> Reply {
    Reply::ok(body).header("content-type", "application/json")
}

/// An OpenAI-format server: streams when the body asks, else one JSON answer.
pub fn openai_server(text: &'static str) -> Upstream {
    Upstream::start("openai", move |r: &Request| {
        if body_json(r)["stream"] == true {
            let words: Vec<&str> = text.split_inclusive(' ').collect();
            sse_reply(&openai_stream_events(&words, true))
        } else {
            json_reply(openai_chat(text))
        }
    })
}

pub fn anthropic_server(text: &'static str) -> Upstream {
    Upstream::start("anthropic", move |r: &Request| {
        if body_json(r)["stream"] == true {
            let words: Vec<&str> = text.split_inclusive(' ').collect();
            sse_reply(&anthropic_stream_events(&words))
        } else {
            json_reply(anthropic_text(text))
        }
    })
}

pub fn gemini_server(text: &'static str) -> Upstream {
    Upstream::start("gemini", move |r: &Request| {
        if r.path.contains("streamGenerateContent") {
            let words: Vec<&str> = text.split_inclusive(' ').collect();
            sse_reply(&gemini_stream_events(&words))
        } else {
            json_reply(gemini_text(text))
        }
    })
}

pub fn body_json(r: &Request) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null)
}

/// A provider section pointing at an in-test server.
pub fn provider(name: &str, kind: &str, up: &Upstream, extra: &str) -> String {
    format!(
        "[[providers]]\nname = \"{name}\"\nkind = \"{kind}\"\nbase_url = \"http://{}\"\napi_key = \"sk-{name}\"\n{extra}\n",
        up.addr()
    )
}

pub const LLM_ROUTE: &str =
    "[[routes]]\nname = \"llm\"\npath_prefix = \"/v1\"\nhandler = \"llm\"\n";

macro_rules! mock_provider {
    () => {
        "[[providers]]\nname = \"mock\"\nkind = \"mock\"\n\n[[models]]\nname = \"demo\"\ndeployments = [{ provider = \"mock\", model = \"mock-1\" }]\n"
    };
}

pub const MOCK: &str = mock_provider!();

/// `MOCK` behind an LLM route at `/v1`.
pub const MOCK_LLM: &str = concat!(
    mock_provider!(),
    "\n[[routes]]\nname = \"llm\"\npath_prefix = \"/v1\"\nhandler = \"llm\"\n"
);

pub fn model(name: &str, deployments: &[(&str, &str)], extra: &str) -> String {
    let ds: Vec<String> = deployments
        .iter()
        .map(|(p, m)| format!("{{ provider = \"{p}\", model = \"{m}\" }}"))
        .collect();
    format!(
        "[[models]]\nname = \"{name}\"\ndeployments = [{}]\n{extra}\n",
        ds.join(", ")
    )
}

/// Reads a whole SSE response body and returns its `data:` payloads, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .flat_map(|ev| {
            ev.lines()
                .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
        })
        .map(|s| s.to_string())
        .collect()
}

/// Event names of an SSE body.
pub fn sse_names(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .map(|s| s.to_string())
        .collect()
}

/// The chunks of an OpenAI stream that ends with `[DONE]`, and the text their deltas carry.
pub fn openai_chunks(body: &str) -> (Vec<serde_json::Value>, String) {
    let data = sse_data(body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{body}");
    let chunks: Vec<serde_json::Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let said = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    (chunks, said)
}

/// The text of the last user turn of a request body in `format` (`openai`, `anthropic`,
/// `gemini`): a string content, or its text parts joined.
pub fn last_user_text(format: &str, body: &serde_json::Value) -> String {
    let (turns, role, content) = match format {
        "gemini" => ("contents", "user", "parts"),
        _ => ("messages", "user", "content"),
    };
    let Some(turn) = body[turns]
        .as_array()
        .and_then(|ts| ts.iter().rev().find(|t| t["role"] == role))
    else {
        return String::new();
    };
    match &turn[content] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(parts) => {
            parts.iter().filter_map(|p| p["text"].as_str()).collect()
        }
        _ => String::new(),
    }
}

/// A server of `format` that answers as the mock provider does (`You said: <the last user
/// text>`), streamed when asked, so the SDK scenarios can run through real provider formats.
pub fn echo_server(format: &'static str) -> Upstream {
    Upstream::start(format, move |r: &Request| {
        let body = body_json(r);
        let said = format!("You said: {}", last_user_text(format, &body));
        let words: Vec<&str> = said.split_inclusive(' ').collect();
        let stream = match format {
            "gemini" => r.path.contains("streamGenerateContent"),
            _ => body["stream"] == true,
        };
        match (format, stream) {
            ("openai", true) => sse_reply(&openai_stream_events(&words, true)),
            ("openai", false) => json_reply(openai_chat(&said)),
            ("anthropic", true) => sse_reply(&anthropic_stream_events(&words)),
            ("anthropic", false) => json_reply(anthropic_text(&said)),
            (_, true) => sse_reply(&gemini_stream_events(&words)),
            (_, false) => json_reply(gemini_text(&said)),
        }
    })
}

/// The assistant's text in an OpenAI chat answer: the stream's deltas (which must end with
/// `[DONE]`) or the message of a plain answer.
pub fn openai_answer_text(body: &str, stream: bool) -> String {
    if stream {
        return openai_chunks(body).1;
    }
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_else(|| panic!("no message content: {body}"))
        .to_string()
}
