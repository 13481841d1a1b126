//! Local request limits: exact across two workers through the shared table, the tightest of
//! several limits answering, refused requests costing the other limits nothing, and the
//! rate-limit headers on allowed and refused responses.

use crate::common;
use common::*;

fn echo() -> Upstream {
    Upstream::start("echo", |_| Reply::ok("ok"))
}

/// The issue's example, with a second limit and route to see refunds.
fn gateway(up: &Upstream) -> Gateway {
    Gateway::start(
        2,
        &format!(
            r#"
[[upstreams]]
name = "echo"
targets = ["{}"]

[[limits]]
name = "per-ip"
counts = "requests"
rate = 10
period = "1m"
burst = 10
key = ["client_ip"]
scope = "local"

[[limits]]
name = "wide"
rate = 100
period = "1m"
key = ["client_ip"]

[[limits]]
name = "narrow"
rate = 3
period = "1h"
key = ["client_ip", "route"]

[[routes]]
name = "echo"
path_prefix = "/echo"
upstream = "echo"
limits = ["per-ip"]

[[routes]]
name = "both"
path_prefix = "/both"
upstream = "echo"
limits = ["wide", "narrow"]

[[routes]]
name = "wide-only"
path_prefix = "/wide"
upstream = "echo"
limits = ["wide"]
"#,
            up.addr()
        ),
    )
}

/// A GET on a new connection, so a volley spreads over both workers.
fn get(gw: &Gateway, path: &str) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .get(gw.url(path))
        .send()
        .unwrap()
}

fn header<'a>(r: &'a reqwest::blocking::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", r.headers()))
        .to_str()
        .unwrap()
}

#[test]
fn a_volley_over_two_workers_gets_exactly_the_burst() {
    let up = echo();
    let gw = gateway(&up);
    let mut statuses = Vec::new();
    let mut remaining = Vec::new();
    for _ in 0..30 {
        let r = get(&gw, "/echo/x");
        statuses.push(r.status().as_u16());
        match r.status().as_u16() {
            200 => {
                assert_eq!(header(&r, "ratelimit-policy"), "\"per-ip\";q=10;w=60");
                assert_eq!(header(&r, "x-ratelimit-limit"), "10");
                remaining.push(header(&r, "x-ratelimit-remaining").parse::<u64>().unwrap());
            }
            429 => {
                assert_eq!(header(&r, "retry-after"), "6");
                assert_eq!(header(&r, "x-ratelimit-remaining"), "0");
                assert_eq!(header(&r, "ratelimit"), "\"per-ip\";r=0;t=60");
                let v: serde_json::Value = r.json().unwrap();
                assert_eq!(v["error"]["code"], "rate_limit_exceeded", "{v}");
                assert!(v["error"]["message"].as_str().unwrap().contains("per-ip"));
            }
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|&&s| s == 429).count(), 20);
    assert_eq!(remaining, (0..10).rev().collect::<Vec<u64>>());
    assert_eq!(up.hits(), 10);
    // Summed over both workers.
    let metrics = gw.metrics();
    for line in [
        "tollgate_limit_decisions_total{limit=\"per-ip\",decision=\"allowed\"} 10",
        "tollgate_limit_decisions_total{limit=\"per-ip\",decision=\"limited\"} 20",
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }
}

#[test]
fn the_tightest_limit_answers_and_refusals_cost_the_others_nothing() {
    let up = echo();
    let gw = gateway(&up);
    for i in 0..3 {
        let r = get(&gw, "/both");
        assert_eq!(r.status(), 200);
        // narrow (3 per hour) is tighter than wide (100 per minute).
        assert!(header(&r, "ratelimit-policy").starts_with("\"narrow\""));
        assert_eq!(header(&r, "x-ratelimit-remaining"), (2 - i).to_string());
    }
    for _ in 0..5 {
        let r = get(&gw, "/both");
        assert_eq!(r.status(), 429);
        assert_eq!(header(&r, "retry-after"), "1200");
    }
    // wide was charged for the 3 admitted requests only, not the 5 refused.
    let r = get(&gw, "/wide");
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-remaining"), "96");
}

/// Buckets keyed on the caller's tenant and app: each app has its own, whatever its IP.
#[test]
fn buckets_follow_the_key_parts() {
    let up = echo();
    let keys: Vec<_> = (0..3)
        .map(|_| tollgate::base::api_key::generate().unwrap())
        .collect();
    let key_lines = |k: &tollgate::base::api_key::NewKey| {
        format!(
            "[[tenants.apps.keys]]\nid = \"{}\"\nsha256 = \"{}\"\n",
            k.public_id,
            tollgate::base::api_key::to_hex(&k.hash)
        )
    };
    let gw = Gateway::start(
        2,
        &format!(
            r#"
[store]
path = "tollgate.db"

[[upstreams]]
name = "echo"
targets = ["{}"]

[[limits]]
name = "per-app"
rate = 2
period = "1h"
key = ["tenant", "app"]

[[routes]]
name = "api"
path_prefix = "/api"
upstream = "echo"
limits = ["per-app"]
[routes.api]
auth = "api_key"

[[tenants]]
name = "acme"
[[tenants.apps]]
name = "web"
subscriptions = ["api"]
{}{}
[[tenants.apps]]
name = "batch"
subscriptions = ["api"]
{}
"#,
            up.addr(),
            key_lines(&keys[0]),
            key_lines(&keys[1]),
            key_lines(&keys[2]),
        ),
    );
    let call = |k: &tollgate::base::api_key::NewKey| {
        reqwest::blocking::Client::new()
            .get(gw.url("/api"))
            .header("authorization", format!("Bearer {}", k.full))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    // web's two keys share web's bucket; batch has its own.
    assert_eq!(
        [call(&keys[0]), call(&keys[1]), call(&keys[0])],
        [200, 200, 429]
    );
    assert_eq!(
        [call(&keys[2]), call(&keys[2]), call(&keys[2])],
        [200, 200, 429]
    );
}

fn llm_gateway(limits: &str) -> Gateway {
    Gateway::start(
        2,
        &format!(
            r#"
{limits}

[[routes]]
name = "llm"
path_prefix = "/v1"
handler = "llm"
limits = ["budget"]

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "demo"
input_price = 10000.0
output_price = 20000.0
deployments = [{{ provider = "mock", model = "mock-1" }}]
"#
        ),
    )
}

fn chat(gw: &Gateway, max_tokens: u64, stream: bool) -> reqwest::blocking::Response {
    chat_on(&reqwest::blocking::Client::new(), gw, max_tokens, stream)
}

fn chat_on(
    c: &reqwest::blocking::Client,
    gw: &Gateway,
    max_tokens: u64,
    stream: bool,
) -> reqwest::blocking::Response {
    let body = serde_json::json!({
        "model": "demo", "max_tokens": max_tokens, "stream": stream,
        "messages": [{"role": "user", "content": "hi"}]
    });
    c.post(gw.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .unwrap()
}

#[test]
fn token_limits_reserve_the_estimate_and_settle_the_usage() {
    let gw = llm_gateway(
        "[[limits]]\nname = \"budget\"\ncounts = \"tokens\"\nrate = 1000\nperiod = \"1h\"\nkey = [\"client_ip\", \"model\"]\n",
    );
    // Each call reserves about 900 of the 1000 tokens and uses a few dozen: without the
    // settlement the second one would be refused.
    for stream in [false, true, false] {
        let r = chat(&gw, 900, stream);
        assert_eq!(r.status(), 200, "stream {stream}");
        assert_eq!(header(&r, "x-ratelimit-limit"), "1000");
        let remaining: u64 = header(&r, "x-ratelimit-remaining").parse().unwrap();
        assert!((50..100).contains(&remaining), "{remaining}");
        let text = r.text().unwrap();
        assert_eq!(
            common::providers::openai_answer_text(&text, stream),
            "You said: hi",
            "stream {stream}"
        );
    }
    // More than the bucket holds: refused in OpenAI's shape, with the headers.
    let r = chat(&gw, 5000, false);
    assert_eq!(r.status(), 429);
    assert!(header(&r, "retry-after").parse::<u64>().unwrap() > 0);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("budget"));
}

#[test]
fn a_cost_budget_refuses_once_spent() {
    // $10,000 and $20,000 per million tokens: a call reserves about $0.32 (its prompt's bytes
    // and one output token) and costs about $0.07 (the mock's usage).
    let gw = llm_gateway(
        "[[limits]]\nname = \"budget\"\ncounts = \"cost\"\nrate = 2.0\nperiod = \"1d\"\nkey = []\n",
    );
    // One connection: a call is settled once its answer is written, before the worker reads
    // the next request on the connection, so no call sees its predecessor's reservation.
    let c = client();
    let mut ok = 0;
    for _ in 0..40 {
        let r = chat_on(&c, &gw, 1, false);
        match r.status().as_u16() {
            200 => ok += 1,
            429 => break,
            s => panic!("status {s}"),
        }
    }
    // The body is 90 bytes, so a call reserves 23 prompt tokens and 1 output token: $0.25 at
    // these prices; the mock reports 1 prompt and 3 completion tokens: $0.07. Settled at the
    // real cost, 25 calls leave exactly the 26th one's reservation ($1.75 + $0.25 = $2); left
    // at the estimate (never settled), the budget would hold 8.
    assert_eq!(ok, 26, "calls before the budget ran out");
    assert_eq!(chat(&gw, 10, false).status(), 429);
}

#[test]
fn a_models_limits_apply_to_its_calls_on_any_route() {
    let gw = Gateway::start(
        2,
        r#"
[[limits]]
name = "demo-calls"
rate = 2
period = "1h"
key = ["client_ip"]

[[limits]]
name = "demo-tokens"
counts = "tokens"
rate = 1000
period = "1h"
key = []

[[routes]]
name = "llm"
path_prefix = "/v1"
handler = "llm"

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "demo"
deployments = [{ provider = "mock", model = "mock-1" }]
limits = ["demo-calls", "demo-tokens"]

[[models]]
name = "other"
deployments = [{ provider = "mock", model = "mock-1" }]
"#,
    );
    let call = |model: &str, max_tokens: u64| {
        let body = serde_json::json!({
            "model": model, "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": "hi"}]
        });
        client()
            .post(gw.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .unwrap()
    };
    // More than the model's token bucket holds: refused, naming the model's limit.
    let r = call("demo", 5000);
    assert_eq!(r.status(), 429);
    assert!(r.text().unwrap().contains("demo-tokens"));
    let statuses: Vec<u16> = (0..3).map(|_| call("demo", 10).status().as_u16()).collect();
    assert_eq!(statuses, [200, 200, 429], "two calls of the model per hour");
    let r = call("demo", 10);
    assert_eq!(header(&r, "x-ratelimit-limit-requests"), "2");
    assert_eq!(header(&r, "x-ratelimit-remaining-requests"), "0");
    // Another model on the same route has none of them.
    for _ in 0..3 {
        assert_eq!(call("other", 5000).status(), 200);
    }
}

#[test]
fn allowed_answers_carry_the_reset_and_the_ratelimit_state() {
    let up = echo();
    let gw = gateway(&up);
    // One connection, so the ten calls are decided in this order, fast.
    let c = client();
    let first_sent = std::time::Instant::now();
    for k in 1..=10u64 {
        let r = c.get(gw.url("/echo/x")).send().unwrap();
        let since_first = first_sent.elapsed().as_secs();
        assert_eq!(r.status(), 200, "call {k}");
        assert_eq!(header(&r, "ratelimit-policy"), "\"per-ip\";q=10;w=60");
        assert_eq!(header(&r, "x-ratelimit-limit"), "10");
        let remaining: u64 = header(&r, "x-ratelimit-remaining").parse().unwrap();
        assert_eq!(remaining, 10 - k);
        // 10 a minute: each call takes 6 s of the bucket, so after k calls it is full again
        // 6k s after the first, less the time gone since (rounded up to whole seconds).
        let reset: u64 = header(&r, "x-ratelimit-reset").parse().unwrap();
        assert!(
            (6 * k - since_first..=6 * k).contains(&reset),
            "call {k}: reset {reset}, {since_first} s after the first call"
        );
        assert_eq!(
            header(&r, "ratelimit"),
            format!("\"per-ip\";r={remaining};t={reset}"),
            "call {k}"
        );
    }
}
