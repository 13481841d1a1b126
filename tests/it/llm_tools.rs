//! Tool calls and thinking across formats: OpenAI clients served by Anthropic and Gemini,
//! whole and streamed, and the follow-up turn carrying the tool result back.

use crate::common;
use common::providers::*;
use common::*;
use serde_json::{json, Value};

const WEATHER_TOOL: &str = r#"{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}"#;

fn has_tool_result(body: &Value) -> bool {
    body.to_string().contains("tool_result") || body.to_string().contains("functionResponse")
}

/// Anthropic: a tool_use answer (two calls, streamed as input_json_delta fragments when asked)
/// until the conversation carries the results, then text.
fn anthropic_tools() -> Upstream {
    Upstream::start("anthropic", |r| {
        let body = body_json(r);
        if has_tool_result(&body) {
            return json_reply(anthropic_text("It is sunny in Paris and rainy in Oslo"));
        }
        if body["stream"] != true {
            return json_reply(anthropic_message(
                json!([
                    {"type": "thinking", "thinking": "Two cities.", "signature": "sig-abc=="},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_02", "name": "get_weather", "input": {"city": "Oslo"}}
                ]),
                "tool_use",
            ));
        }
        let ev = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
        let mut events = vec![ev(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_2", "type": "message",
            "role": "assistant", "content": [], "model": "claude-sonnet-4-5", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 40, "output_tokens": 1}}}),
        )];
        for (i, (id, city)) in [("toolu_01", "Paris"), ("toolu_02", "Oslo")]
            .iter()
            .enumerate()
        {
            events.push(ev("content_block_start", json!({"type": "content_block_start", "index": i,
                "content_block": {"type": "tool_use", "id": id, "name": "get_weather", "input": {}}})));
            for frag in ["{\"ci", "ty\": \"", city, "\"}"] {
                events.push(ev(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": i,
                    "delta": {"type": "input_json_delta", "partial_json": frag}}),
                ));
            }
            events.push(ev(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": i}),
            ));
        }
        events.push(ev("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"output_tokens": 30}})));
        events.push(ev("message_stop", json!({"type": "message_stop"})));
        sse_reply(&events)
    })
}

fn gemini_tools() -> Upstream {
    Upstream::start("gemini", |r| {
        let body = body_json(r);
        if has_tool_result(&body) {
            return json_reply(gemini_text("Sunny in Paris"));
        }
        json_reply(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
                "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 5, "totalTokenCount": 25},
            "modelVersion": "gemini-2.5-flash"
        }).to_string())
    })
}

fn gateway(kind: &str, up: &Upstream, model_name: &str) -> Gateway {
    let cfg = format!(
        "{}{}{LLM_ROUTE}",
        provider("p", kind, up, ""),
        model("m", &[("p", model_name)], ""),
    );
    Gateway::start(1, &cfg)
}

fn ask(stream: bool) -> Value {
    json!({"model": "m", "stream": stream, "tools": [serde_json::from_str::<Value>(WEATHER_TOOL).unwrap()],
           "messages": [{"role": "user", "content": "Weather in Paris and Oslo?"}]})
}

fn post(gw: &Gateway, body: &Value) -> reqwest::blocking::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .json(body)
        .send()
        .unwrap()
}

#[test]
fn tool_calls_round_trip_through_anthropic() {
    let up = anthropic_tools();
    let gw = gateway("anthropic", &up, "claude-sonnet-4-5");
    let v: Value = post(&gw, &ask(false)).json().unwrap();
    let msg = &v["choices"][0]["message"];
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let calls = msg["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["id"], "toolu_01");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(calls[1]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Oslo"}));
    assert_eq!(msg["reasoning_content"], "Two cities.");
    let sent = body_json(&up.last_request().unwrap());
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    assert_eq!(sent["tools"][0]["input_schema"]["required"][0], "city");

    // The next turn: the assistant's calls and both results go back in Anthropic's shape.
    let mut next = ask(false);
    let history = next["messages"].as_array_mut().unwrap();
    history.push(msg.clone());
    history.push(json!({"role": "tool", "tool_call_id": "toolu_01", "content": "sunny"}));
    history.push(json!({"role": "tool", "tool_call_id": "toolu_02", "content": "rainy"}));
    let v: Value = post(&gw, &next).json().unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "It is sunny in Paris and rainy in Oslo"
    );
    let sent = body_json(&up.last_request().unwrap());
    let turns = sent["messages"].as_array().unwrap();
    assert_eq!(
        turns.len(),
        3,
        "user, assistant, one user turn with both results: {sent}"
    );
    let blocks = turns[1]["content"].as_array().unwrap();
    let thinking = blocks
        .iter()
        .find(|b| b["type"] == "thinking")
        .expect("thinking kept");
    assert_eq!(thinking["signature"], "sig-abc==");
    assert!(blocks
        .iter()
        .any(|b| b["type"] == "tool_use" && b["id"] == "toolu_02" && b["input"]["city"] == "Oslo"));
    let results = turns[2]["content"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["type"], "tool_result");
    assert_eq!(results[0]["tool_use_id"], "toolu_01");
    assert_eq!(results[1]["tool_use_id"], "toolu_02");
}

#[test]
fn streamed_tool_calls_from_anthropic_arrive_as_openai_deltas() {
    let up = anthropic_tools();
    let gw = gateway("anthropic", &up, "claude-sonnet-4-5");
    let mut body = ask(true);
    body["stream_options"] = json!({"include_usage": true});
    let text = post(&gw, &body).text().unwrap();
    let data = sse_data(&text);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let mut ids = vec![String::new(); 2];
    let mut args = vec![String::new(); 2];
    let mut finish = None;
    let mut usage = Value::Null;
    for d in &data[..data.len() - 1] {
        let c: Value = serde_json::from_str(d).unwrap();
        if !c["usage"].is_null() {
            usage = c["usage"].clone();
        }
        if let Some(f) = c["choices"][0]["finish_reason"].as_str() {
            finish = Some(f.to_owned());
        }
        for tc in c["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = tc["index"].as_u64().unwrap() as usize;
            if let Some(id) = tc["id"].as_str() {
                ids[i] = id.to_owned();
            }
            args[i].push_str(tc["function"]["arguments"].as_str().unwrap_or(""));
        }
    }
    assert_eq!(ids, ["toolu_01", "toolu_02"]);
    assert_eq!(
        serde_json::from_str::<Value>(&args[0]).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(
        serde_json::from_str::<Value>(&args[1]).unwrap(),
        json!({"city": "Oslo"})
    );
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    assert_eq!(usage["prompt_tokens"], 40);
    assert_eq!(usage["completion_tokens"], 30);
}

#[test]
fn tool_calls_round_trip_through_gemini() {
    let up = gemini_tools();
    let gw = gateway("gemini", &up, "gemini-2.5-flash");
    let v: Value = post(&gw, &ask(false)).json().unwrap();
    let msg = v["choices"][0]["message"].clone();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = &msg["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["city"], "Paris");
    let sent = body_json(&up.last_request().unwrap());
    assert_eq!(
        sent["tools"][0]["functionDeclarations"][0]["name"],
        "get_weather"
    );

    let mut next = ask(false);
    let history = next["messages"].as_array_mut().unwrap();
    history.push(msg.clone());
    history.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "{\"temp\": 21}"}));
    let v: Value = post(&gw, &next).json().unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "Sunny in Paris");
    let sent = body_json(&up.last_request().unwrap());
    let contents = sent["contents"].as_array().unwrap();
    let call_part = &contents[1]["parts"][0]["functionCall"];
    assert_eq!(call_part["name"], "get_weather");
    let response = &contents[2]["parts"][0]["functionResponse"];
    assert_eq!(response["name"], "get_weather", "{sent}");
    assert_eq!(response["response"]["temp"], 21);
}
