//! Retries, fallbacks, the circuit breaker, key rotation, timeouts, broken streams and clients
//! that leave: what happens to an LLM call when things go wrong.

use crate::common;
use common::providers::*;
use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::Duration;

fn chat(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "hi"}]})
}

fn post(gw: &Gateway, body: &Value) -> reqwest::blocking::Response {
    client()
        .post(gw.url("/v1/chat/completions"))
        .json(body)
        .send()
        .unwrap()
}

fn failing(status: u16, retry_after: Option<&'static str>) -> Upstream {
    Upstream::start("failing", move |_| {
        let body = json!({"error": {"message": format!("failing with {status}"), "type": "server_error", "code": null}});
        let r = json_reply(body.to_string()).status(status);
        match retry_after {
            Some(s) => r.header("retry-after", s),
            None => r,
        }
    })
}

const FAST: &str = "[llm]\nbackoff = \"10ms\"\nmax_backoff = \"50ms\"\nmax_retry_after = \"1s\"\n";

#[test]
fn the_issue_example_falls_back_from_anthropic_to_demo() {
    let mut anthropic = anthropic_server("from claude");
    let cfg = format!(
        "[[providers]]\nname = \"anthropic\"\nkind = \"anthropic\"\nbase_url = \"http://{}\"\napi_key = \"${{ANTHROPIC_API_KEY}}\"\n\n\
         [[providers]]\nname = \"mock\"\nkind = \"mock\"\n\n\
         [[models]]\nname = \"claude\"\ndeployments = [{{ provider = \"anthropic\", model = \"claude-sonnet-4-5\" }}]\nfallbacks = [\"demo\"]\n\n\
         [[models]]\nname = \"demo\"\ndeployments = [{{ provider = \"mock\", model = \"mock-1\" }}]\n\n{LLM_ROUTE}{FAST}",
        anthropic.addr()
    );
    let gw = Gateway::start_env(1, &cfg, &[("ANTHROPIC_API_KEY", "sk-ant-test".as_ref())]);
    let r = post(&gw, &chat("claude"));
    assert_eq!(r.headers()["x-tollgate-model"], "claude");
    let v: Value = r.json().unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "from claude");
    assert_eq!(
        anthropic.last_request().unwrap().header("x-api-key"),
        Some("sk-ant-test")
    );

    anthropic.stop();
    let r = post(&gw, &chat("claude"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-tollgate-model"], "demo");
    assert_eq!(r.headers()["x-tollgate-deployment"], "mock/mock-1");
    let v: Value = r.json().unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "You said: hi");
}

#[test]
fn a_long_retry_after_moves_on_at_once_and_a_5xx_is_retried_first() {
    let limited = failing(429, Some("30"));
    let broken = failing(500, None);
    let good = openai_server("good");
    let cfg = format!(
        "{}{}{}{}{}{}{LLM_ROUTE}{FAST}",
        provider("limited", "openai", &limited, ""),
        provider("broken", "openai", &broken, ""),
        provider("good", "openai", &good, ""),
        model("a", &[("limited", "m")], "fallbacks = [\"b\"]\nretries = 2"),
        model("b", &[("broken", "m")], "fallbacks = [\"c\"]\nretries = 1"),
        model("c", &[("good", "m")], ""),
    );
    let gw = Gateway::start(1, &cfg);
    let r = post(&gw, &chat("a"));
    assert_eq!(r.status(), 200, "{:?}", r.text());
    assert_eq!(r.headers()["x-tollgate-model"], "c");
    assert_eq!(r.headers()["x-tollgate-attempts"], "4");
    assert_eq!(
        limited.hits(),
        1,
        "a Retry-After past max_retry_after is not waited for"
    );
    assert_eq!(broken.hits(), 2, "one retry, then the fallback");
}

#[test]
fn errors_keep_their_status_and_retry_after_reaches_the_client() {
    let limited = failing(429, Some("7"));
    let bad = Upstream::start("bad", |_| {
        json_reply(json!({"error": {"message": "Invalid value for 'temperature'", "type": "invalid_request_error", "param": "temperature", "code": null}}).to_string()).status(400)
    });
    let denied = Upstream::start("denied", |_| {
        json_reply(json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}).to_string()).status(401)
    });
    let cfg = format!(
        "{}{}{}{}{}{}{LLM_ROUTE}[llm]\nbackoff = \"10ms\"\nmax_backoff = \"50ms\"\nmax_retry_after = \"10s\"\nretries = 0\n",
        provider("limited", "openai", &limited, ""),
        provider("bad", "openai", &bad, ""),
        provider("denied", "openai", &denied, ""),
        model("limited", &[("limited", "m")], ""),
        model("bad", &[("bad", "m")], "fallbacks = [\"limited\"]"),
        model("denied", &[("denied", "m")], ""),
    );
    let gw = Gateway::start(1, &cfg);
    let r = post(&gw, &chat("limited"));
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(
        r.json::<Value>().unwrap()["error"]["type"],
        "rate_limit_error"
    );

    let r = post(&gw, &chat("bad"));
    assert_eq!(r.status(), 400);
    let v: Value = r.json().unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("temperature"),
        "{v}"
    );
    assert_eq!(bad.hits(), 1);
    assert_eq!(limited.hits(), 1, "a 400 does not fall back");

    let r = post(&gw, &chat("denied"));
    assert_eq!(r.status(), 401);
    let v: Value = r.json().unwrap();
    assert_eq!(v["error"]["type"], "authentication_error", "{v}");
    assert_eq!(v["error"]["code"], "invalid_api_key", "{v}");
    assert_eq!(
        v["error"]["message"],
        "provider denied: Incorrect API key provided"
    );
    assert_eq!(denied.hits(), 1, "a 401 is not retried");
}

#[test]
fn a_deployment_that_keeps_failing_is_skipped_and_keys_rotate() {
    let broken = failing(503, None);
    let good = openai_server("good");
    let cfg = format!(
        "{}{}{}{LLM_ROUTE}[llm]\nbackoff = \"1ms\"\nmax_backoff = \"1ms\"\nfailure_threshold = 2\ncooldown = \"10m\"\n",
        provider("broken", "openai", &broken, ""),
        provider("good", "openai", &good, "api_keys = [\"k2\"]"),
        model("m", &[("broken", "x"), ("good", "y")], "retries = 3"),
    );
    let gw = Gateway::start(1, &cfg);
    for _ in 0..12 {
        assert_eq!(post(&gw, &chat("m")).status(), 200);
    }
    // One attempt per call at most (the retry goes to the other deployment), and none once the
    // second failure in a row opened the breaker for the cool-down.
    assert_eq!(broken.hits(), 2, "breaker opened after 2 failures");
    let keys: std::collections::HashSet<String> = good
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
}

#[test]
fn a_slow_provider_times_out_into_the_fallback() {
    let slow = Upstream::start("slow", |_| {
        json_reply(openai_chat("late")).delay(Duration::from_secs(3))
    });
    let cfg = format!(
        "{}{MOCK}{}{LLM_ROUTE}{FAST}",
        provider("slow", "openai", &slow, "timeouts = { read = \"300ms\" }"),
        model("m", &[("slow", "x")], "retries = 0\nfallbacks = [\"demo\"]"),
    );
    let gw = Gateway::start(1, &cfg);
    let r = post(&gw, &chat("m"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-tollgate-model"], "demo");
}

#[test]
fn a_stream_cut_after_the_first_byte_ends_with_an_error_and_is_not_retried() {
    let cut = Upstream::start("cut", |_| {
        let events = openai_stream_events(&["one ", "two ", "three"], true);
        Reply::chunked(
            events[..3].iter().map(|e| e.clone().into_bytes()).collect(),
            Duration::ZERO,
        )
        .cut()
    });
    let cfg = format!(
        "{}{MOCK}{}{LLM_ROUTE}{FAST}",
        provider("cut", "openai", &cut, ""),
        model("m", &[("cut", "x")], "fallbacks = [\"demo\"]"),
    );
    let gw = Gateway::start(1, &cfg);
    let mut body = chat("m");
    body["stream"] = json!(true);
    let text = post(&gw, &body).text().unwrap();
    assert!(text.contains("one "), "{text}");
    assert!(!text.contains("[DONE]"), "never a clean end: {text}");
    let last: Value = serde_json::from_str(sse_data(&text).last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{text}");
    assert_eq!(cut.hits(), 1, "no retry after the first byte");

    // The same through Anthropic's surface ends with an `error` event.
    let text = client()
        .post(gw.url("/v1/messages"))
        .json(&json!({"model": "m", "max_tokens": 10, "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(
        sse_names(&text).last().map(String::as_str),
        Some("error"),
        "{text}"
    );
}

#[test]
fn a_client_that_leaves_mid_stream_cancels_the_provider_call() {
    let endless = Upstream::start("endless", |_| {
        let words: Vec<String> = (0..400).map(|i| format!("w{i} ")).collect();
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        let events = openai_stream_events(&refs, true);
        Reply::chunked(
            events.into_iter().map(String::into_bytes).collect(),
            Duration::from_millis(25),
        )
    });
    let cfg = format!(
        "{}{}{LLM_ROUTE}",
        provider("endless", "openai", &endless, ""),
        model("m", &[("endless", "x")], ""),
    );
    let gw = Gateway::start(1, &cfg);
    let body = r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    drop(s);
    wait_for(
        "the provider call to be cancelled",
        Duration::from_secs(10),
        || (endless.aborted() == 1).then_some(()),
    );
    let line = wait_for("the access log line", Duration::from_secs(10), || {
        gw.access_log()
            .lines()
            .find(|l| l.contains("\"llm\""))
            .map(str::to_owned)
    });
    assert!(line.contains("\"outcome\":\"cancelled\""), "{line}");
}

#[test]
fn a_short_retry_after_is_waited_out_then_retried() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<std::time::Instant>::new()));
    let log = seen.clone();
    let flaky = Upstream::start("flaky", move |_| {
        let mut at = log.lock().unwrap();
        at.push(std::time::Instant::now());
        if at.len() == 1 {
            let body = json!({"error": {"message": "slow down", "type": "rate_limit_error", "code": null}});
            json_reply(body.to_string())
                .status(429)
                .header("retry-after", "1")
        } else {
            json_reply(openai_chat("after the wait"))
        }
    });
    let cfg = format!(
        "{}{MOCK}{}{LLM_ROUTE}[llm]\nbackoff = \"10ms\"\nmax_backoff = \"50ms\"\nmax_retry_after = \"3s\"\n",
        provider("flaky", "openai", &flaky, ""),
        model("m", &[("flaky", "x")], "retries = 1\nfallbacks = [\"demo\"]"),
    );
    let gw = Gateway::start(1, &cfg);
    let r = post(&gw, &chat("m"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-tollgate-model"], "m", "not the fallback");
    assert_eq!(r.headers()["x-tollgate-attempts"], "2");
    let v: Value = r.json().unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "after the wait");
    assert_eq!(flaky.hits(), 2);
    let at = seen.lock().unwrap();
    let waited = at[1] - at[0];
    // A lower bound only: the second attempt came no sooner than Retry-After said.
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
}

/// A provider that sends the first `n` of `events` and then closes the connection mid-stream.
fn cut_after(name: &str, events: Vec<String>, n: usize) -> Upstream {
    Upstream::start(name, move |_| {
        Reply::chunked(
            events[..n].iter().map(|e| e.clone().into_bytes()).collect(),
            Duration::ZERO,
        )
        .header("content-type", "text/event-stream")
        .cut()
    })
}

/// Asserts an OpenAI client's stream carried `first` and then ended with an error chunk and no
/// `[DONE]`, and an Anthropic client's stream ended with an `error` event and no
/// `message_stop`.
fn assert_cut_both_ways(gw: &Gateway, model: &str, first: &str) {
    let mut body = chat(model);
    body["stream"] = json!(true);
    let text = post(gw, &body).text().unwrap();
    assert!(text.contains(first), "{text}");
    assert!(!text.contains("[DONE]"), "never a clean end: {text}");
    let last: Value = serde_json::from_str(sse_data(&text).last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{text}");

    let text = client()
        .post(gw.url("/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": model, "max_tokens": 10, "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(text.contains(first), "{text}");
    let names = sse_names(&text);
    assert_eq!(names.last().map(String::as_str), Some("error"), "{text}");
    assert!(!names.iter().any(|n| n == "message_stop"), "{text}");
}

#[test]
fn anthropic_and_gemini_streams_cut_mid_way_end_with_an_error_and_are_not_retried() {
    // message_start, content_block_start, ping, the first delta; then the connection drops.
    let anthropic = cut_after(
        "anthropic-cut",
        anthropic_stream_events(&["one ", "two ", "three"]),
        4,
    );
    let gemini = cut_after(
        "gemini-cut",
        gemini_stream_events(&["one ", "two ", "three"]),
        1,
    );
    let cfg = format!(
        "{}{}{MOCK}{}{}{LLM_ROUTE}{FAST}",
        provider("ant", "anthropic", &anthropic, ""),
        provider("gem", "gemini", &gemini, ""),
        model("claude", &[("ant", "claude-x")], "fallbacks = [\"demo\"]"),
        model("flash", &[("gem", "gemini-x")], "fallbacks = [\"demo\"]"),
    );
    let gw = Gateway::start(1, &cfg);
    // OpenAI clients are translated from both; Anthropic clients pass through to Anthropic.
    assert_cut_both_ways(&gw, "claude", "one ");
    assert_eq!(anthropic.hits(), 2, "no retry after the first byte");
    assert_cut_both_ways(&gw, "flash", "one ");
    assert_eq!(gemini.hits(), 2, "no retry after the first byte");
    let records: Vec<Value> = wait_for("four call records", Duration::from_secs(10), || {
        let lines: Vec<Value> = gw
            .access_log()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|v: &Value| v.get("llm").is_some())
            .collect();
        (lines.len() >= 4).then_some(lines)
    });
    for r in &records {
        assert_eq!(r["llm"]["outcome"], "truncated", "{r}");
    }
}

/// A kept-alive provider connection that the provider closes as the gateway reuses it is
/// retried once on a new connection, with the same request: the head is made again for the
/// retry (the session takes the first one), so it must carry the key, the length and the host.
#[test]
fn a_reused_provider_connection_closed_unanswered_is_retried_with_the_same_request() {
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let openai = Upstream::start("closing", move |_| {
        let reply = json_reply(openai_chat("kept"));
        // The second call comes on the first one's connection: closed without an answer.
        match calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            1 => reply.unanswered(),
            _ => reply,
        }
    });
    let cfg = format!(
        "{}[[models]]\nname = \"gpt\"\ndeployments = [{{ provider = \"oai\", model = \"gpt-4o-mini\" }}]\n{LLM_ROUTE}",
        provider("oai", "openai", &openai, "")
    );
    let gw = Gateway::start(1, &cfg);
    for call in 1..=2 {
        let r = post(&gw, &chat("gpt"));
        assert_eq!(r.status(), 200, "call {call}");
        let v: Value = r.json().unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "kept", "call {call}");
    }
    let seen = openai.requests();
    assert_eq!(seen.len(), 3, "the unanswered request is sent once more");
    let (given_up, retried) = (&seen[1], &seen[2]);
    assert_eq!(retried.headers, given_up.headers);
    assert_eq!(retried.body, given_up.body);
    assert_eq!(retried.header("authorization"), Some("Bearer sk-oai"));
    assert_eq!(retried.header("host"), Some(openai.addr().as_str()));
    let length = retried.body.len().to_string();
    assert_eq!(retried.header("content-length"), Some(length.as_str()));
    let sent: Value = serde_json::from_slice(&retried.body).unwrap();
    assert_eq!(sent["model"], "gpt-4o-mini");
}
