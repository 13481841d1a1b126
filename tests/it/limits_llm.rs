//! Limits on LLM routes: budgets answering 402, OpenAI's rate-limit headers on every answer
//! (streams included, refusals too), and a stream cut short charged for what it delivered.

use crate::common;
use common::providers::*;
use common::*;
use std::time::Duration;

const MOCK_MODEL: &str = r#"
[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "demo"
input_price = 10000.0
output_price = 20000.0
deployments = [{ provider = "mock", model = "mock-1" }]
"#;

/// An LLM route `/v1` with `route_limits`, the mock provider, and the `limits` sections.
fn gateway(limits: &str, route_limits: &str, provider: &str) -> Gateway {
    Gateway::start(
        2,
        &format!(
            "{limits}\n[[routes]]\nname = \"llm\"\npath_prefix = \"/v1\"\nhandler = \"llm\"\nlimits = [{route_limits}]\n{provider}"
        ),
    )
}

fn chat_body(max_tokens: u64, stream: bool) -> String {
    serde_json::json!({
        "model": "demo", "max_tokens": max_tokens, "stream": stream,
        "messages": [{"role": "user", "content": "hi"}]
    })
    .to_string()
}

fn chat(gw: &Gateway, max_tokens: u64, stream: bool) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(chat_body(max_tokens, stream))
        .send()
        .unwrap()
}

fn header(r: &reqwest::blocking::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

fn number(r: &reqwest::blocking::Response, name: &str) -> u64 {
    header(r, name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", r.headers()))
        .parse()
        .unwrap()
}

#[test]
fn a_budget_with_status_402_answers_402_once_spent() {
    let gw = gateway(
        "[[limits]]\nname = \"daily\"\ncounts = \"cost\"\nrate = 1.0\nperiod = \"1d\"\nkey = []\nstatus = 402\n",
        "\"daily\"",
        MOCK_MODEL,
    );
    let mut ok = 0;
    let refused = loop {
        let r = chat(&gw, 1, false);
        match r.status().as_u16() {
            200 => ok += 1,
            402 => break r,
            s => panic!("status {s}"),
        }
        assert!(ok < 40, "the budget never ran out");
    };
    // Each call reserves its estimate ($0.25: a 90-byte body is 23 prompt tokens at $0.01, and
    // 1 output token at $0.02) and settles what the mock used ($0.07: 1 prompt token, 3 of
    // "You said: hi"). With $1, call k+1 fits while 0.07k + 0.25 <= 1: eleven calls. Had the
    // reservations never been settled, four.
    assert_eq!(ok, 11);
    assert!(number(&refused, "retry-after") > 0);
    let v: serde_json::Value = refused.json().unwrap();
    assert_eq!(v["error"]["code"], "budget_exhausted", "{v}");
    assert_eq!(v["error"]["type"], "insufficient_quota", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("daily"));
    // An Anthropic client gets it in its own format (100 output tokens: $2, over the budget).
    let r = reqwest::blocking::Client::new()
        .post(gw.url("/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .json(&serde_json::json!({"model": "demo", "max_tokens": 100,
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 402);
    assert!(header(&r, "retry-after").is_some());
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["error"]["type"], "billing_error", "{v}");
}

#[test]
fn a_request_limit_with_status_402_answers_402_on_a_rest_route() {
    let up = Upstream::start("echo", |_| Reply::ok("ok"));
    let gw = Gateway::start(
        2,
        &format!(
            "[[upstreams]]\nname = \"echo\"\ntargets = [\"{}\"]\n\n[[limits]]\nname = \"quota\"\nrate = 1\nperiod = \"1h\"\nkey = []\nstatus = 402\n\n[[routes]]\nname = \"echo\"\npath_prefix = \"/echo\"\nupstream = \"echo\"\nlimits = [\"quota\"]\n",
            up.addr()
        ),
    );
    assert_eq!(client().get(gw.url("/echo")).send().unwrap().status(), 200);
    let r = client().get(gw.url("/echo")).send().unwrap();
    assert_eq!(r.status(), 402);
    assert_eq!(header(&r, "retry-after").as_deref(), Some("3600"));
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["error"]["code"], "budget_exhausted", "{v}");
}

const BOTH: &str = r#"
[[limits]]
name = "rpm"
rate = 5
period = "1m"
key = ["client_ip"]

[[limits]]
name = "tpm"
counts = "tokens"
rate = 1000
period = "1h"
key = ["client_ip"]

[[limits]]
name = "spend"
counts = "cost"
rate = 100.0
period = "1d"
key = []
"#;

#[test]
fn openai_headers_come_on_answers_streams_and_refusals() {
    let gw = gateway(BOTH, "\"rpm\", \"tpm\", \"spend\"", MOCK_MODEL);
    let r = chat(&gw, 100, false);
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-ratelimit-limit-requests").as_deref(),
        Some("5")
    );
    assert_eq!(number(&r, "x-ratelimit-remaining-requests"), 4);
    // One request of 5 per minute is back in 12 s.
    assert_eq!(
        header(&r, "x-ratelimit-reset-requests").as_deref(),
        Some("12s")
    );
    assert_eq!(
        header(&r, "x-ratelimit-limit-tokens").as_deref(),
        Some("1000")
    );
    // The reservation (the prompt's bytes / 4 plus 100) stands while the answer is written.
    let tokens = number(&r, "x-ratelimit-remaining-tokens");
    assert!((850..900).contains(&tokens), "{tokens}");
    // Over a hundred tokens of 1,000 per hour take minutes to come back.
    let reset = header(&r, "x-ratelimit-reset-tokens").unwrap();
    assert!(reset.contains('m') && reset.ends_with('s'), "{reset}");
    // A stream has them in its headers, before any byte of the body.
    let r = chat(&gw, 100, true);
    assert_eq!(r.status(), 200);
    assert_eq!(number(&r, "x-ratelimit-remaining-requests"), 3);
    assert!(number(&r, "x-ratelimit-remaining-tokens") < tokens);
    let text = r.text().unwrap();
    let (_, said) = openai_chunks(&text);
    assert_eq!(said, "You said: hi", "{text}");
    // Refused for tokens: the headers show what the bucket still holds.
    let r = chat(&gw, 5000, false);
    assert_eq!(r.status(), 429);
    assert_eq!(number(&r, "x-ratelimit-remaining-requests"), 2);
    let left = number(&r, "x-ratelimit-remaining-tokens");
    assert!((700..1000).contains(&left), "{left}");
    let _ = r.text();
    // Refused for requests: remaining-requests is 0.
    for _ in 0..2 {
        assert_eq!(chat(&gw, 1, false).status(), 200);
    }
    let r = chat(&gw, 1, false);
    assert_eq!(r.status(), 429);
    assert_eq!(number(&r, "x-ratelimit-remaining-requests"), 0);
    assert!(header(&r, "x-ratelimit-limit-tokens").is_some());
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded", "{v}");
}

#[test]
fn headers_of_a_kind_the_route_lacks_are_absent() {
    let gw = gateway(BOTH, "\"tpm\"", MOCK_MODEL);
    let r = chat(&gw, 10, false);
    assert_eq!(r.status(), 200);
    assert!(header(&r, "x-ratelimit-limit-tokens").is_some());
    assert!(header(&r, "x-ratelimit-limit-requests").is_none());
    let gw = gateway(BOTH, "\"spend\"", MOCK_MODEL);
    let r = chat(&gw, 10, true);
    assert_eq!(r.status(), 200);
    for name in ["x-ratelimit-limit-tokens", "x-ratelimit-limit-requests"] {
        assert!(header(&r, name).is_none(), "{name} in {:?}", r.headers());
    }
}

#[test]
fn a_stream_cut_short_is_charged_for_what_it_delivered() {
    // A stream of 40 words of 10 bytes (400 bytes, about 100 tokens), then the provider
    // drops the connection: no usage chunk, no end marker.
    let words: Vec<String> = (0..40).map(|i| format!("word{i:05} ")).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let events = openai_stream_events(&words, false);
    let cut_at = events.len() - 2;
    let up = Upstream::start("openai", move |r: &Request| {
        if body_json(r)["stream"] == true {
            sse_reply(&events[..cut_at]).cut()
        } else {
            json_reply(openai_chat("whole"))
        }
    });
    let gw = gateway(
        "[[limits]]\nname = \"tpd\"\ncounts = \"tokens\"\nrate = 100000\nperiod = \"1d\"\nkey = [\"client_ip\"]\n",
        "\"tpd\"",
        &format!(
            "{}{}",
            provider("openai", "openai", &up, ""),
            model("demo", &[("openai", "gpt-4o")], "")
        ),
    );
    let r = chat(&gw, 5000, true);
    assert_eq!(r.status(), 200);
    let body = r.text().unwrap();
    assert!(body.contains("stream_truncated"), "{body}");
    // The next call's reservation is taken from what the cut stream left: 100,000 less its
    // prompt estimate and its ~100 delivered tokens (not its 5,000 reserved, nor nothing).
    let prompt = (chat_body(5000, true).len() as u64).div_ceil(4);
    let next = chat(&gw, 1, false);
    assert_eq!(next.status(), 200);
    let remaining = number(&next, "x-ratelimit-remaining");
    let reserved_now = (chat_body(1, false).len() as u64).div_ceil(4) + 1;
    let charged = 100_000 - reserved_now - remaining;
    assert!(
        (prompt + 95..=prompt + 105).contains(&charged),
        "charged {charged}, prompt {prompt}"
    );
    let log = wait_for(
        "the cut call in the access log",
        Duration::from_secs(10),
        || {
            let log = gw.access_log();
            log.lines()
                .find(|l| l.contains("\"truncated\""))
                .map(str::to_string)
        },
    );
    let v: serde_json::Value = serde_json::from_str(&log).unwrap();
    assert_eq!(v["llm"]["usage_estimated"], true, "{v}");
    assert_eq!(v["llm"]["prompt_tokens"], prompt, "{v}");
    let completion = v["llm"]["completion_tokens"].as_u64().unwrap();
    assert!((95..=105).contains(&completion), "{v}");
}
