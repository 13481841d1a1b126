//! Concurrency caps: requests and streams in flight per key, counted host-wide across two
//! workers, held until the request (or the stream) ends.

use crate::common;
use common::providers::*;
use common::*;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A gate the in-test upstream waits at until the test opens it (bounded, so a failed test
/// never leaves threads behind for long).
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    fn wait(&self) {
        let (open, cv) = &*self.0;
        let guard = open.lock().unwrap();
        let _ = cv
            .wait_timeout_while(guard, Duration::from_secs(30), |o| !*o)
            .unwrap();
    }
    fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }
}

/// (status, code from the error body, Retry-After) of a finished response.
fn outcome(r: reqwest::blocking::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body: serde_json::Value = r.json().unwrap_or(serde_json::Value::Null);
    let code = body["error"]["code"].as_str().unwrap_or("").to_string();
    (status, code, after)
}

#[test]
fn a_cap_admits_exactly_max_in_flight_over_two_workers() {
    let gate = Gate::default();
    let g = gate.clone();
    let up = Upstream::start("slow", move |_| {
        g.wait();
        Reply::ok("done")
    });
    let gw = Gateway::start(
        2,
        &format!(
            r#"
[[upstreams]]
name = "slow"
targets = ["{}"]

[[limits]]
name = "inflight"
counts = "concurrency"
max = 3
key = ["route"]

[[routes]]
name = "slow"
path_prefix = "/slow"
upstream = "slow"
limits = ["inflight"]
"#,
            up.addr()
        ),
    );
    // Seven at once, each on its own connection so they spread over both workers.
    let (tx, rx) = mpsc::channel();
    for _ in 0..7 {
        let (tx, url) = (tx.clone(), gw.url("/slow"));
        std::thread::spawn(move || {
            let r = reqwest::blocking::Client::new().get(url).send();
            let _ = tx.send(r.map(outcome).map_err(|e| e.to_string()));
        });
    }
    // While the upstream holds three, the other four are refused at once.
    let mut refused = Vec::new();
    for _ in 0..4 {
        refused.push(rx.recv_timeout(Duration::from_secs(20)).unwrap().unwrap());
    }
    for r in &refused {
        assert_eq!(
            r,
            &(
                429,
                "concurrency_limit_exceeded".to_string(),
                "1".to_string()
            )
        );
    }
    wait_for(
        "three requests at the upstream",
        Duration::from_secs(10),
        || (up.hits() == 3).then_some(()),
    );
    assert!(rx.try_recv().is_err(), "a held request finished early");
    gate.open();
    for _ in 0..3 {
        let (status, _, _) = rx.recv_timeout(Duration::from_secs(20)).unwrap().unwrap();
        assert_eq!(status, 200);
    }
    assert_eq!(up.hits(), 3);
    // Every place was given back: three at once pass again.
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let url = gw.url("/slow");
            std::thread::spawn(move || {
                reqwest::blocking::Client::new()
                    .get(url)
                    .send()
                    .unwrap()
                    .status()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    let metrics = gw.metrics();
    for line in [
        "tollgate_limit_decisions_total{limit=\"inflight\",decision=\"allowed\"} 6",
        "tollgate_limit_decisions_total{limit=\"inflight\",decision=\"limited\"} 4",
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }
}

fn llm_gateway(up: &Upstream, limits: &str, route_limits: &str) -> Gateway {
    Gateway::start(
        2,
        &format!(
            "{limits}\n[[routes]]\nname = \"llm\"\npath_prefix = \"/v1\"\nhandler = \"llm\"\nlimits = [{route_limits}]\n\n{}{}",
            provider("openai", "openai", up, ""),
            model("demo", &[("openai", "gpt-4o")], ""),
        ),
    )
}

fn chat(gw: &Gateway, stream: bool) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .post(gw.url("/v1/chat/completions"))
        .json(&serde_json::json!({"model": "demo", "stream": stream,
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap()
}

#[test]
fn a_stream_holds_its_place_until_it_ends() {
    let gate = Gate::default();
    let g = gate.clone();
    let up = Upstream::start("openai", move |r: &Request| {
        if body_json(r)["stream"] != true {
            return json_reply(openai_chat("whole"));
        }
        // One chunk per event; the stream stops after its first word until the gate opens.
        let chunks = openai_stream_events(&["one ", "two"], true)
            .into_iter()
            .map(String::into_bytes)
            .collect();
        let g = g.clone();
        Reply::chunked(chunks, Duration::ZERO)
            .header("content-type", "text/event-stream")
            .pause_before(2, move || g.wait())
    });
    let gw = llm_gateway(
        &up,
        "[[limits]]\nname = \"streams\"\ncounts = \"concurrency\"\nmax = 1\nkey = [\"client_ip\"]\n",
        "\"streams\"",
    );
    let mut held = chat(&gw, true);
    assert_eq!(held.status(), 200);
    let mut first = [0u8; 64];
    assert!(held.read(&mut first).unwrap() > 0, "the stream started");
    // While it runs, other calls (streamed or not, on any worker) are refused in OpenAI's shape.
    for stream in [true, false, true] {
        let (status, code, after) = outcome(chat(&gw, stream));
        assert_eq!(
            (status, code.as_str(), after.as_str()),
            (429, "concurrency_limit_exceeded", "1")
        );
    }
    gate.open();
    let mut rest = String::new();
    held.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("[DONE]"), "{rest}");
    // The place is given back when the stream has ended.
    wait_for("the stream's place back", Duration::from_secs(10), || {
        (chat(&gw, false).status() == 200).then_some(())
    });
}

#[test]
fn refusals_on_llm_routes_use_the_clients_format() {
    let gate = Gate::default();
    let g = gate.clone();
    let up = Upstream::start("openai", move |_: &Request| {
        g.wait();
        json_reply(openai_chat("late"))
    });
    let gw = llm_gateway(
        &up,
        "[[limits]]\nname = \"one\"\ncounts = \"concurrency\"\nmax = 1\nkey = []\n",
        "\"one\"",
    );
    let url = gw.url("/v1/chat/completions");
    let first = std::thread::spawn(move || {
        reqwest::blocking::Client::new()
            .post(url)
            .json(&serde_json::json!({"model": "demo", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .unwrap()
            .status()
    });
    wait_for(
        "the first call at the provider",
        Duration::from_secs(10),
        || (up.hits() == 1).then_some(()),
    );
    let r = reqwest::blocking::Client::new()
        .post(gw.url("/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .json(&serde_json::json!({"model": "demo", "max_tokens": 10,
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("one"));
    gate.open();
    assert_eq!(first.join().unwrap(), 200);
}

/// The master's children that listen on the data port: the workers.
fn worker_pids(gw: &Gateway) -> Vec<u32> {
    gw.children()
        .into_iter()
        .filter(|&p| tollgate::procfs::listening_ports(&p.to_string()).contains(&gw.port))
        .collect()
}

#[test]
fn a_crashed_workers_places_are_given_back_when_it_is_restarted() {
    let gate = Gate::default();
    let (g, slow) = (gate.clone(), Arc::new(AtomicUsize::new(0)));
    let arrived = slow.clone();
    let up = Upstream::start("slow", move |r: &Request| {
        if r.path.starts_with("/slow") {
            arrived.fetch_add(1, SeqCst);
            g.wait();
        }
        Reply::ok("done")
    });
    let mut gw = Gateway::start(
        1,
        &format!(
            "[[upstreams]]\nname = \"slow\"\ntargets = [\"{}\"]\n\n[[limits]]\nname = \"one\"\ncounts = \"concurrency\"\nmax = 1\nkey = []\n\n[[routes]]\nname = \"slow\"\npath_prefix = \"/slow\"\nupstream = \"slow\"\nlimits = [\"one\"]\n\n[[routes]]\nname = \"fast\"\npath_prefix = \"/fast\"\nupstream = \"slow\"\n",
            up.addr()
        ),
    );
    let victim = wait_for("the worker", Duration::from_secs(10), || {
        worker_pids(&gw).first().copied()
    });
    let url = gw.url("/slow");
    std::thread::spawn(move || reqwest::blocking::Client::new().get(url).send());
    wait_for(
        "the held request at the upstream",
        Duration::from_secs(10),
        || (slow.load(SeqCst) == 1).then_some(()),
    );
    assert_eq!(
        outcome(client().get(gw.url("/slow")).send().unwrap()).0,
        429
    );
    // SAFETY: kill(2) on the worker this test's gateway forked.
    unsafe { libc::kill(victim as i32, libc::SIGKILL) };
    wait_for("a new worker", Duration::from_secs(20), || {
        let w = worker_pids(&gw);
        (w.len() == 1 && !w.contains(&victim)).then_some(())
    });
    gw.wait_ready();
    wait_for(
        "the restarted worker answering",
        Duration::from_secs(10),
        || {
            client()
                .get(gw.url("/fast"))
                .send()
                .ok()
                .filter(|r| r.status() == 200)
        },
    );
    // The dead worker's place is free: the next request reaches the upstream.
    let url = gw.url("/slow");
    let next = std::thread::spawn(move || reqwest::blocking::Client::new().get(url).send());
    wait_for(
        "the next request at the upstream",
        Duration::from_secs(10),
        || (slow.load(SeqCst) == 2).then_some(()),
    );
    gate.open();
    assert_eq!(next.join().unwrap().unwrap().status(), 200);
    drop(up);
}
