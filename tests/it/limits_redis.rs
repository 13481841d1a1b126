//! Cluster-scope limits against a real `redis-server` started by each test: one limit held by
//! two gateways, leasing within its stated bound, each failure policy while Redis is stopped,
//! killed and restarted, TLS with a password, and LLM tokens reserved and settled in Redis.

use crate::common;
use common::redis::RedisServer;
use common::*;
use std::time::{Duration, Instant};

const TIMEOUT_MS: u64 = 100;

fn echo() -> Upstream {
    Upstream::start("echo", |_| Reply::ok("ok"))
}

/// A gateway with two workers, `[redis]` at `url`, and one route per limit in `limits`: the
/// route `/<limit name>` is limited by that limit.
fn gateway(up: &Upstream, redis: &str, limits: &[(&str, &str)]) -> Gateway {
    let mut body = format!(
        "[[upstreams]]\nname = \"echo\"\ntargets = [\"{}\"]\n\n[redis]\n{redis}\ntimeout = \"{TIMEOUT_MS}ms\"\nbreaker_failures = 2\nbreaker_cooldown = \"300ms\"\n",
        up.addr()
    );
    for (name, settings) in limits {
        body.push_str(&format!(
            "\n[[limits]]\nname = \"{name}\"\n{settings}\n\n[[routes]]\nname = \"{name}\"\npath_prefix = \"/{name}\"\nupstream = \"echo\"\nlimits = [\"{name}\"]\n"
        ));
    }
    Gateway::start(2, &body)
}

/// The issue's example, in Redis.
const PER_IP: &str = "rate = 10\nperiod = \"1m\"\nburst = 10\nkey = [\"client_ip\"]\nscope = \"cluster\"\non_redis_error = \"fail_closed\"";

/// A GET on a new connection, so requests spread over both workers.
fn get(gw: &Gateway, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = reqwest::blocking::Client::new()
        .get(gw.url(path))
        .timeout(Duration::from_secs(10))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().unwrap())
}

fn count(statuses: &[u16], s: u16) -> usize {
    statuses.iter().filter(|&&x| x == s).count()
}

#[test]
fn two_gateways_share_one_cluster_limit_exactly() {
    let redis = RedisServer::start();
    let up = echo();
    let url = format!("url = \"{}\"", redis.url());
    let a = gateway(&up, &url, &[("per-ip", PER_IP)]);
    let b = gateway(&up, &url, &[("per-ip", PER_IP)]);
    let mut statuses = Vec::new();
    for i in 0..30 {
        let gw = if i % 2 == 0 { &a } else { &b };
        let (status, headers, _) = get(gw, "/per-ip/x");
        if status == 429 {
            assert_eq!(headers["retry-after"], "6");
            assert_eq!(headers["x-ratelimit-remaining"], "0");
        } else {
            assert_eq!(headers["x-ratelimit-limit"], "10");
        }
        statuses.push(status);
    }
    assert_eq!(count(&statuses, 200), 10, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 20, "{statuses:?}");
    assert_eq!(up.hits(), 10);
    // One hash-tagged bucket, expiring once full again.
    let keys = redis.command(&["KEYS", "*"]);
    assert!(keys.contains("tollgate:{per-ip:"), "{keys}");
    let key = keys.lines().find(|l| l.starts_with("tollgate:")).unwrap();
    let ttl: i64 = redis
        .command(&["PTTL", key])
        .trim_start_matches(':')
        .trim()
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "{ttl}");
    let metrics = a.metrics();
    assert!(
        metrics.contains("tollgate_limit_redis_errors_total{limit=\"per-ip\"} 0"),
        "{metrics}"
    );

    // The admin API reads the bucket in Redis, lists it among this host's most refused, and
    // resets it for both gateways.
    let bucket = "/admin/limits/per-ip/bucket?client_ip=127.0.0.1";
    let state = common::admin::ok(&a, "GET", bucket, None);
    let held = (state["capacity"].as_u64(), state["remaining"].as_u64());
    assert_eq!(held, (Some(10), Some(0)), "{state}");
    let retry = state["retry_after_ms"].as_u64().unwrap();
    assert!((1..=6_000).contains(&retry), "{state}");
    let top = common::admin::ok(&a, "GET", "/admin/limits/top?n=3", None);
    assert_eq!(top[0]["label"], "per-ip client_ip=127.0.0.1", "{top}");
    assert_eq!(top[0]["bucket"], state["bucket"]);
    let after = common::admin::ok(&a, "DELETE", bucket, None);
    assert_eq!(after["remaining"], 10, "{after}");
    assert_eq!(get(&b, "/per-ip/x").0, 200);
}

#[test]
fn a_leased_limit_stays_within_its_bound_and_gives_idle_units_back() {
    let redis = RedisServer::start();
    let up = echo();
    let url = format!("url = \"{}\"", redis.url());
    let leased = "rate = 100\nperiod = \"1h\"\nkey = []\nscope = \"cluster\"\nsync = \"lease\"\nlease = 5\non_redis_error = \"fail_closed\"";
    let a = gateway(&up, &url, &[("leased", leased)]);
    let b = gateway(&up, &url, &[("leased", leased)]);
    let mut statuses = Vec::new();
    for i in 0..160 {
        let gw = if i % 2 == 0 { &a } else { &b };
        statuses.push(get(gw, "/leased").0);
    }
    // Every unit spent was taken in Redis first: never more than the burst (plus what the
    // rate adds in these seconds). Four workers hold at most 5 units each, so never fewer
    // than the burst minus 20.
    let ok = count(&statuses, 200);
    assert!((80..=101).contains(&ok), "{ok} admitted: {statuses:?}");
    assert_eq!(ok + count(&statuses, 429), 160, "{statuses:?}");
    let refills = |gw: &Gateway| {
        let m = gw.metrics();
        let series = "tollgate_limit_lease_refills_total{limit=\"leased\"}";
        sample(&m, series).unwrap_or_else(|| panic!("no {series} in:\n{m}"))
    };
    // 100 units over leases of 5: far fewer round trips than requests.
    let trips = refills(&a) + refills(&b);
    assert!((2.0..=60.0).contains(&trips), "{trips} lease refills");
    // Units held by idle workers go back to Redis within about a second, so asking on, the
    // admitted total reaches the burst, and never passes it.
    let mut total = ok;
    wait_for(
        "idle leases to be given back",
        Duration::from_secs(20),
        || {
            if get(&a, "/leased").0 == 200 {
                total += 1;
            }
            assert!(total <= 101, "{total} admitted with a burst of 100");
            (total >= 100).then_some(())
        },
    );
}

#[test]
fn each_failure_policy_answers_within_the_timeout_while_redis_is_stopped_killed_and_back() {
    let mut redis = RedisServer::start();
    let up = echo();
    let url = format!("url = \"{}\"", redis.url());
    let open = "rate = 1000\nperiod = \"1m\"\nkey = []\nscope = \"cluster\"\non_redis_error = \"fail_open\"";
    let closed = "rate = 1000\nperiod = \"1m\"\nkey = []\nscope = \"cluster\"\non_redis_error = \"fail_closed\"";
    let local = "rate = 1000\nperiod = \"1h\"\nburst = 8\nkey = []\nscope = \"cluster\"\non_redis_error = \"local\"\nlocal_share = 0.5";
    let gw = gateway(
        &up,
        &url,
        &[("open", open), ("closed", closed), ("local", local)],
    );
    for path in ["/open", "/closed", "/local"] {
        assert_eq!(get(&gw, path).0, 200, "{path} with Redis up");
    }

    // Stopped: connections stay open but nothing answers.
    redis.pause();
    let slowest = outage(&gw, 4);
    assert!(
        slowest < Duration::from_millis(TIMEOUT_MS + 900),
        "a request waited {slowest:?} with a {TIMEOUT_MS}ms timeout"
    );
    redis.resume();
    recovered(&gw);

    // Killed: connections refused.
    // The host's fallback bucket is still spent from the first outage.
    redis.kill();
    outage(&gw, 0);
    redis.restart();
    recovered(&gw);

    let m = gw.metrics();
    for line in [
        "tollgate_limit_redis_fallback_total{limit=\"open\",policy=\"fail_open\"}",
        "tollgate_limit_redis_fallback_total{limit=\"closed\",policy=\"fail_closed\"}",
        "tollgate_limit_redis_fallback_total{limit=\"local\",policy=\"local\"}",
    ] {
        let v = sample(&m, line).unwrap_or_else(|| panic!("{line} not in:\n{m}"));
        assert!(v > 0.0, "{line} is {v}");
    }
    let errors = sample(&m, "tollgate_limit_redis_errors_total{limit=\"closed\"}");
    assert!(errors.is_some_and(|v| v > 0.0), "{m}");
}

/// While Redis does not answer: fail_open allows, fail_closed refuses with 503, and local
/// decides at half the burst on this host (`local_ok` of 8 pass). Returns the slowest answer.
fn outage(gw: &Gateway, local_ok: usize) -> Duration {
    let mut slowest = Duration::ZERO;
    let mut timed = |path: &str| {
        let start = Instant::now();
        let r = get(gw, path);
        slowest = slowest.max(start.elapsed());
        r
    };
    for _ in 0..6 {
        assert_eq!(timed("/open").0, 200);
        let (status, headers, body) = timed("/closed");
        assert_eq!(status, 503, "{body}");
        assert_eq!(headers["retry-after"], "1");
        assert!(body.contains("rate_limiter_unavailable"), "{body}");
    }
    // Half of a burst of 8, in the host's own table, whichever worker answers.
    let local: Vec<u16> = (0..8).map(|_| timed("/local").0).collect();
    assert_eq!(count(&local, 200), local_ok, "{local:?}");
    assert_eq!(count(&local, 429), 8 - local_ok, "{local:?}");
    slowest
}

/// Polls until fail_closed answers 200 again: Redis is used again, without a restart.
fn recovered(gw: &Gateway) {
    wait_for("Redis to be used again", Duration::from_secs(15), || {
        (get(gw, "/closed").0 == 200).then_some(())
    });
}

#[test]
fn redis_over_tls_with_a_password() {
    let redis = RedisServer::start_with(|dir| {
        tls::make_certs(dir);
        let p = |f: &str| dir.join(f).display().to_string();
        vec![
            "--tls-port".into(),
            "PORT".into(),
            "--tls-cert-file".into(),
            p("leaf.pem"),
            "--tls-key-file".into(),
            p("leaf.key"),
            "--tls-ca-cert-file".into(),
            p("ca.pem"),
            "--tls-auth-clients".into(),
            "no".into(),
            "--requirepass".into(),
            "s3cret".into(),
        ]
    });
    let up = echo();
    let ca = redis.dir().join("ca.pem");
    let tight = "rate = 2\nperiod = \"1h\"\nkey = []\nscope = \"cluster\"\non_redis_error = \"fail_closed\"";
    let settings = format!(
        "url = \"rediss://localhost:{}\"\npassword = \"s3cret\"\nca_file = \"{}\"",
        redis.port,
        ca.display()
    );
    let gw = gateway(&up, &settings, &[("tight", tight)]);
    let statuses: Vec<u16> = (0..4).map(|_| get(&gw, "/tight").0).collect();
    // Decided in Redis: 2 pass, then 429 (a failing link would answer 503).
    assert_eq!(statuses, [200, 200, 429, 429]);

    let wrong = settings.replace("s3cret", "wrong");
    let gw = gateway(&up, &wrong, &[("tight", tight)]);
    let (status, _, body) = get(&gw, "/tight");
    assert_eq!(status, 503, "{body}");
    let log = gw.stderr();
    assert!(log.contains("redis: cannot connect"), "{log}");
    assert!(
        !log.contains("wrong"),
        "the password is never logged:\n{log}"
    );
}

#[test]
fn llm_tokens_are_reserved_and_settled_in_redis() {
    let redis = RedisServer::start();
    let gw = Gateway::start(
        2,
        &format!(
            r#"
[redis]
url = "{}"

[[limits]]
name = "budget"
counts = "tokens"
rate = 1000
period = "1h"
key = ["client_ip", "model"]
scope = "cluster"
on_redis_error = "fail_closed"

[[limits]]
name = "calls"
rate = 50
period = "1h"
key = ["client_ip"]
scope = "cluster"
on_redis_error = "fail_closed"

[[routes]]
name = "llm"
path_prefix = "/v1"
handler = "llm"
limits = ["budget", "calls"]

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "demo"
deployments = [{{ provider = "mock", model = "mock-1" }}]
"#,
            redis.url()
        ),
    );
    let attempts = std::cell::Cell::new(0u64);
    let chat = |stream: bool| {
        let body = serde_json::json!({
            "model": "demo", "max_tokens": 900, "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]
        });
        attempts.set(attempts.get() + 1);
        let r = client()
            .post(gw.url("/v1/chat/completions"))
            .json(&body)
            .send()
            .unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        let text = r.text().unwrap();
        if status != 200 {
            return None;
        }
        assert_eq!(
            common::providers::openai_answer_text(&text, stream),
            "You said: hi",
            "stream {stream}"
        );
        Some(headers)
    };
    let number = |h: &reqwest::header::HeaderMap, name: &str| -> u64 {
        h[name].to_str().unwrap().parse().unwrap()
    };
    let started = Instant::now();
    // Each call reserves 923 of the 1000 tokens (its 91- or 92-byte body is 23 tokens, plus
    // 900) and uses 4 (the mock's 1 prompt and 3 completion tokens); the refund is sent to
    // Redis after the answer, so the next call may have to wait a moment for it.
    for (calls_before, stream) in [false, true, false].into_iter().enumerate() {
        let headers = wait_for("the last call's refund", Duration::from_secs(10), || {
            chat(stream)
        });
        // OpenAI's headers come from the decisions Redis returned for this call: what the
        // earlier calls used and this one's reservation, plus what the bucket regained since
        // the first call (1000 an hour).
        assert_eq!(headers["x-ratelimit-limit-tokens"], "1000");
        let left = number(&headers, "x-ratelimit-remaining-tokens");
        let want = 1000 - 4 * calls_before as u64 - 923;
        let regained = (started.elapsed().as_secs_f64() / 3.6).ceil() as u64;
        assert!(
            (want..=want + regained).contains(&left),
            "{left} tokens left, want {want} (+{regained} regained)"
        );
        // Every attempt, the ones refused for tokens too, took a request.
        assert_eq!(headers["x-ratelimit-limit-requests"], "50");
        assert_eq!(
            number(&headers, "x-ratelimit-remaining-requests"),
            50 - attempts.get(),
            "{headers:?}"
        );
    }
    let keys = redis.command(&["KEYS", "tollgate:{budget:*"]);
    assert!(keys.contains("tollgate:{budget:"), "{keys}");
}

#[test]
fn a_redis_cluster_holds_buckets_in_every_node() {
    let nodes = common::redis::cluster(3);
    let up = echo();
    // Six buckets (one per route) land in different slots, so on different nodes; each
    // gateway knows one seed node and finds the rest.
    let limits: Vec<(String, &str)> = (0..6)
        .map(|i| {
            let settings = "rate = 2\nperiod = \"1h\"\nkey = [\"route\"]\nscope = \"cluster\"\non_redis_error = \"fail_closed\"";
            (format!("r{i}"), settings)
        })
        .collect();
    let limits: Vec<(&str, &str)> = limits.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    let seed = |n: &RedisServer| format!("url = \"{}\"\ncluster = true", n.url());
    let a = gateway(&up, &seed(&nodes[0]), &limits);
    let b = gateway(&up, &seed(&nodes[1]), &limits);
    for (name, _) in &limits {
        let statuses: Vec<u16> = (0..4)
            .map(|i| get(if i % 2 == 0 { &a } else { &b }, &format!("/{name}")).0)
            .collect();
        assert_eq!(count(&statuses, 200), 2, "/{name}: {statuses:?}");
        assert_eq!(count(&statuses, 429), 2, "/{name}: {statuses:?}");
    }
    let held: Vec<usize> = nodes
        .iter()
        .map(|n| {
            n.command(&["DBSIZE"])
                .trim_start_matches(':')
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(held.iter().sum::<usize>(), 6, "{held:?}");
    assert!(held.iter().filter(|&&k| k > 0).count() >= 2, "{held:?}");
}
