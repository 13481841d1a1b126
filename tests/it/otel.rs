//! OpenTelemetry: traces (and log records) the real gateway exports over OTLP, received and
//! decoded by tests/it/otel/receiver.py, which is built on the official `opentelemetry-proto`
//! package and `grpcio` (target/sdk-venv, made by scripts/sdk-venv.sh); and the `traceparent`
//! that in-test upstreams and providers receive.

use crate::common;
use common::providers::{self, openai_server, provider, LLM_ROUTE};
use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";
const TRACESTATE: &str = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";

/// How long an export may take to show up: batches leave every 50ms in these tests.
const EXPORT_WAIT: Duration = Duration::from_secs(20);

fn traceparent(flags: &str) -> String {
    format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-{flags}")
}

/// The in-test collector: receiver.py on two kernel-chosen ports, writing what it receives
/// to `out`; killed when dropped.
struct Receiver {
    _process: Running,
    out: PathBuf,
    http: u16,
    grpc: u16,
    _dir: tempfile::TempDir,
}

impl Receiver {
    fn start() -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("received.jsonl");
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/otel/receiver.py");
        let mut child = Command::new(crate::sdk::python())
            .arg(&script)
            .arg(&out)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the OTLP receiver starts");
        let stdout = child.stdout.take().unwrap();
        let process = Running(Some(child));
        // The first line names the ports; read on a thread so a receiver that never prints
        // fails the test at the deadline instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the OTLP receiver prints its ports");
        let ports: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("receiver's first line {line:?}: {e}"));
        Receiver {
            _process: process,
            out,
            http: ports["http"].as_u64().unwrap() as u16,
            grpc: ports["grpc"].as_u64().unwrap() as u16,
            _dir: dir,
        }
    }

    fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc)
    }

    /// Every export request received so far, in order.
    fn exports(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// Every span received so far, each with the `transport` it came by.
    fn spans(&self) -> Vec<Value> {
        self.items("traces", "resource_spans", "scope_spans", "spans")
    }

    fn logs(&self) -> Vec<Value> {
        self.items("logs", "resource_logs", "scope_logs", "log_records")
    }

    fn items(&self, signal: &str, resource: &str, scope: &str, list: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for e in self.exports().iter().filter(|e| e["signal"] == signal) {
            for r in e["request"][resource].as_array().into_iter().flatten() {
                assert_eq!(attr(&r["resource"], "service.name"), json!("tollgate"));
                for s in r[scope].as_array().into_iter().flatten() {
                    assert_eq!(s["scope"]["name"], "tollgate");
                    for item in s[list].as_array().into_iter().flatten() {
                        assert_unique_keys(item);
                        let mut item = item.clone();
                        item["transport"] = e["transport"].clone();
                        out.push(item);
                    }
                }
            }
        }
        out
    }

    /// Polls until the server span of request `id` has arrived; returns it and its trace's
    /// other spans.
    fn trace_of(&self, id: &str) -> (Value, Vec<Value>) {
        wait_for(&format!("the spans of request {id}"), EXPORT_WAIT, || {
            let spans = self.spans();
            let server = spans
                .iter()
                .find(|s| attr(s, "tollgate.request_id") == json!(id))?
                .clone();
            let children = spans
                .into_iter()
                .filter(|s| s["parent_span_id"] == server["span_id"])
                .collect();
            Some((server, children))
        })
    }
}

/// OTLP forbids an attribute key twice on one span or record.
fn assert_unique_keys(item: &Value) {
    let mut keys: Vec<&str> = item["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|kv| kv["key"].as_str().unwrap())
        .collect();
    let n = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), n, "an attribute key twice: {item}");
}

/// An attribute's value (`Null` when absent), ints as numbers.
fn attr(item: &Value, key: &str) -> Value {
    let Some(kv) = item["attributes"]
        .as_array()
        .and_then(|a| a.iter().find(|kv| kv["key"] == key))
    else {
        return Value::Null;
    };
    let v = &kv["value"];
    if let Some(i) = v["int_value"].as_str() {
        return json!(i.parse::<i64>().unwrap());
    }
    for k in ["string_value", "bool_value", "double_value", "int_value"] {
        if !v[k].is_null() {
            return v[k].clone();
        }
    }
    Value::Null
}

fn nanos(span: &Value, field: &str) -> u64 {
    span[field].as_str().unwrap().parse().unwrap()
}

fn otel(endpoint: &str, extra: &str) -> String {
    format!("[otel]\nendpoint = \"{endpoint}\"\ninterval = \"50ms\"\n{extra}\n")
}

fn rest(upstream_targets: &str, retries: u32) -> String {
    format!(
        "[[upstreams]]\nname = \"svc\"\ntargets = [{upstream_targets}]\nretries = {retries}\n\n\
         [[routes]]\nname = \"api\"\npath_prefix = \"/\"\nupstream = \"svc\"\n"
    )
}

fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> reqwest::blocking::Response {
    let mut req = client().get(gw.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().unwrap()
}

/// An upstream that keeps the head of every request it served.
fn recording_upstream() -> (Upstream, Arc<Mutex<Vec<Request>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    let up = Upstream::start("svc", move |r: &Request| {
        keep.lock().unwrap().push(r.clone());
        Reply::ok("hi")
    });
    (up, seen)
}

#[test]
fn a_rest_request_is_a_child_of_the_clients_span_with_a_client_span_per_attempt() {
    let rx = Receiver::start();
    let up = Upstream::start("svc", |_| Reply::ok("hi"));
    // Reserved and never listening: the first attempt's connect is refused.
    let dead = format!("127.0.0.1:{}", free_port());
    let targets = format!("\"{dead}\", \"{}\"", up.addr());
    let cfg = format!("{}{}", rest(&targets, 1), otel(&rx.http_endpoint(), ""));
    let gw = Gateway::start(1, &cfg);
    let tp = traceparent("01");
    let headers = [
        ("traceparent", tp.as_str()),
        ("tracestate", TRACESTATE),
        ("x-request-id", "rest-1"),
    ];
    let resp = get(&gw, "/items?secret=1", &headers);
    assert_eq!(resp.status(), 200);

    let (server, attempts) = rx.trace_of("rest-1");
    assert_eq!(server["trace_id"], CLIENT_TRACE);
    assert_eq!(server["parent_span_id"], CLIENT_SPAN);
    assert_eq!(server["kind"], "SPAN_KIND_SERVER");
    assert_eq!(server["name"], "GET api");
    assert_eq!(server["trace_state"], TRACESTATE);
    assert_eq!(attr(&server, "http.request.method"), "GET");
    assert_eq!(attr(&server, "url.path"), "/items");
    assert_eq!(attr(&server, "http.response.status_code"), 200);
    assert_eq!(attr(&server, "tollgate.route"), "api");
    assert_eq!(attr(&server, "http.route"), "/*");
    assert_eq!(attr(&server, "client.address"), "127.0.0.1");
    assert!(server["status"].get("code").is_none(), "{server}");

    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    let (refused, served) = (&attempts[0], &attempts[1]);
    for a in &attempts {
        assert_eq!(a["trace_id"], CLIENT_TRACE);
        assert_eq!(a["kind"], "SPAN_KIND_CLIENT");
        assert_eq!(a["name"], "GET svc");
        assert!(nanos(a, "start_time_unix_nano") >= nanos(&server, "start_time_unix_nano"));
        assert!(nanos(a, "end_time_unix_nano") <= nanos(&server, "end_time_unix_nano"));
        assert!(nanos(a, "start_time_unix_nano") <= nanos(a, "end_time_unix_nano"));
    }
    assert_eq!(attr(refused, "tollgate.target"), dead.as_str());
    assert_eq!(attr(refused, "error.type"), "ConnectRefused");
    assert_eq!(refused["status"]["code"], "STATUS_CODE_ERROR");
    assert_eq!(attr(served, "tollgate.target"), up.addr().as_str());
    assert_eq!(attr(served, "http.response.status_code"), 200);
    assert_eq!(attr(served, "http.request.resend_count"), 1);
    assert!(nanos(refused, "end_time_unix_nano") <= nanos(served, "start_time_unix_nano"));

    // The upstream saw the served attempt's span as its parent, in the client's trace.
    let got = up.last_request().unwrap();
    let sent = format!(
        "00-{CLIENT_TRACE}-{}-01",
        served["span_id"].as_str().unwrap()
    );
    assert_eq!(got.header("traceparent"), Some(sent.as_str()));
    assert_eq!(got.header("tracestate"), Some(TRACESTATE));
}

#[test]
fn llm_attempts_carry_gen_ai_attributes_and_a_fallback_is_a_second_span() {
    let rx = Receiver::start();
    let ok = openai_server("hello there");
    let down = Upstream::start("down", |_| {
        Reply::ok(r#"{"error":{"message":"boom","type":"server_error"}}"#)
            .status(500)
            .header("content-type", "application/json")
    });
    let cfg = format!(
        "{}{}{}{}{}{}",
        provider("down", "openai", &down, ""),
        provider("echo", "openai", &ok, ""),
        providers::model(
            "primary",
            &[("down", "m-down")],
            "retries = 0\nfallbacks = [\"demo\"]"
        ),
        providers::model("demo", &[("echo", "gpt-4o")], ""),
        LLM_ROUTE,
        otel(&rx.http_endpoint(), ""),
    );
    let gw = Gateway::start(1, &cfg);
    let tp = traceparent("01");
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .header("traceparent", tp.as_str())
        .header("x-request-id", "llm-1")
        .json(&json!({"model": "primary", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tollgate-attempts"], "2");

    let (server, attempts) = rx.trace_of("llm-1");
    assert_eq!(server["parent_span_id"], CLIENT_SPAN);
    assert_eq!(server["name"], "POST llm");
    assert_eq!(attr(&server, "gen_ai.operation.name"), "chat");
    assert_eq!(attr(&server, "gen_ai.request.model"), "primary");
    assert_eq!(attr(&server, "gen_ai.response.model"), "demo");
    assert_eq!(attr(&server, "gen_ai.provider.name"), "openai");
    assert_eq!(attr(&server, "gen_ai.usage.input_tokens"), 19);
    assert_eq!(attr(&server, "gen_ai.usage.output_tokens"), 10);
    assert_eq!(attr(&server, "tollgate.stream"), false);
    assert!(attr(&server, "tollgate.cost_usd").is_number());

    assert_eq!(attempts.len(), 2, "{attempts:#?}");
    let (failed, served) = (&attempts[0], &attempts[1]);
    assert_eq!(failed["kind"], "SPAN_KIND_CLIENT");
    assert_eq!(failed["name"], "chat m-down");
    assert_eq!(attr(failed, "tollgate.provider"), "down");
    assert_eq!(attr(failed, "gen_ai.request.model"), "m-down");
    assert_eq!(attr(failed, "http.response.status_code"), 500);
    assert_eq!(failed["status"]["code"], "STATUS_CODE_ERROR");
    assert!(attr(failed, "gen_ai.usage.input_tokens").is_null());
    assert_eq!(served["name"], "chat gpt-4o");
    assert_eq!(attr(served, "gen_ai.operation.name"), "chat");
    assert_eq!(attr(served, "gen_ai.provider.name"), "openai");
    assert_eq!(attr(served, "gen_ai.request.model"), "gpt-4o");
    assert_eq!(attr(served, "gen_ai.response.model"), "gpt-4o");
    assert_eq!(attr(served, "gen_ai.request.stream"), false);
    assert_eq!(attr(served, "gen_ai.usage.input_tokens"), 19);
    assert_eq!(attr(served, "gen_ai.usage.output_tokens"), 10);
    assert_eq!(attr(served, "gen_ai.usage.cache_read.input_tokens"), 4);
    assert_eq!(attr(served, "http.response.status_code"), 200);

    // Each provider saw its own attempt's span as the parent.
    for (up, span) in [(&down, failed), (&ok, served)] {
        let sent = format!("00-{CLIENT_TRACE}-{}-01", span["span_id"].as_str().unwrap());
        let got = up.last_request().unwrap();
        assert_eq!(got.header("traceparent"), Some(sent.as_str()));
    }
}

#[test]
fn a_stream_is_one_attempt_span_with_its_usage() {
    let rx = Receiver::start();
    let ok = openai_server("one two three");
    let cfg = format!(
        "{}{}{}{}",
        provider("echo", "openai", &ok, ""),
        providers::model("demo", &[("echo", "gpt-4o")], ""),
        LLM_ROUTE,
        otel(&rx.http_endpoint(), ""),
    );
    let gw = Gateway::start(1, &cfg);
    let body = json!({"model": "demo", "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "hi"}]});
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .header("x-request-id", "stream-1")
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let _ = resp.text().unwrap();
    let (server, attempts) = rx.trace_of("stream-1");
    assert!(server.get("parent_span_id").is_none(), "a root: {server}");
    assert_eq!(attr(&server, "tollgate.stream"), true);
    assert_eq!(attempts.len(), 1);
    assert_eq!(attr(&attempts[0], "gen_ai.request.stream"), true);
    assert_eq!(attr(&attempts[0], "gen_ai.usage.input_tokens"), 12);
    assert_eq!(attr(&attempts[0], "gen_ai.usage.output_tokens"), 3);
    // The provider got a new trace's context, with the attempt as parent.
    let got = ok.last_request().unwrap();
    let sent = format!(
        "00-{}-{}-01",
        server["trace_id"].as_str().unwrap(),
        attempts[0]["span_id"].as_str().unwrap()
    );
    assert_eq!(got.header("traceparent"), Some(sent.as_str()));
}

#[test]
fn sample_ratio_zero_exports_no_root_trace_but_follows_a_sampled_parent() {
    let rx = Receiver::start();
    let (up, seen) = recording_upstream();
    let cfg = format!(
        "{}{}",
        rest(&format!("\"{}\"", up.addr()), 0),
        otel(&rx.http_endpoint(), "sample_ratio = 0.0"),
    );
    let gw = Gateway::start(1, &cfg);
    assert_eq!(get(&gw, "/", &[("x-request-id", "root-1")]).status(), 200);
    let unsampled = traceparent("00");
    let h = [
        ("traceparent", unsampled.as_str()),
        ("x-request-id", "unsampled-1"),
    ];
    assert_eq!(get(&gw, "/", &h).status(), 200);
    // A malformed traceparent (uppercase) starts a new root trace: not kept either.
    let bad = traceparent("01").to_uppercase();
    let h = [
        ("traceparent", bad.as_str()),
        ("x-request-id", "bad-1"),
        ("tracestate", "a=b"),
    ];
    assert_eq!(get(&gw, "/", &h).status(), 200);
    let sampled = traceparent("01");
    let h = [
        ("traceparent", sampled.as_str()),
        ("x-request-id", "sampled-1"),
    ];
    assert_eq!(get(&gw, "/", &h).status(), 200);

    let (server, attempts) = rx.trace_of("sampled-1");
    assert_eq!(server["trace_id"], CLIENT_TRACE);
    assert_eq!(attempts.len(), 1);
    // One worker exports in order: the requests before it would be there by now.
    let ids: Vec<Value> = rx
        .spans()
        .iter()
        .map(|s| attr(s, "tollgate.request_id"))
        .collect();
    for id in ["root-1", "unsampled-1", "bad-1"] {
        assert!(!ids.contains(&json!(id)), "{id} was exported: {ids:?}");
    }

    // Every request still sent a context upstream: unsampled ones with flags 00.
    let seen = seen.lock().unwrap();
    let sent: Vec<&str> = seen
        .iter()
        .map(|r| r.header("traceparent").unwrap())
        .collect();
    assert_eq!(sent.len(), 4);
    assert!(
        sent[0].starts_with("00-") && sent[0].ends_with("-00"),
        "{sent:?}"
    );
    assert!(!sent[0].contains(CLIENT_TRACE));
    assert!(sent[1].starts_with(&format!("00-{CLIENT_TRACE}-")) && sent[1].ends_with("-00"));
    assert!(
        !sent[1].contains(CLIENT_SPAN),
        "our attempt's span replaces the client's"
    );
    assert!(!sent[2].to_lowercase().contains(CLIENT_TRACE), "{sent:?}");
    assert_eq!(
        seen[2].header("tracestate"),
        None,
        "a tracestate without a valid traceparent"
    );
    assert!(sent[3].starts_with(&format!("00-{CLIENT_TRACE}-")) && sent[3].ends_with("-01"));
}

#[test]
fn grpc_exports_traces_and_logs() {
    let rx = Receiver::start();
    let up = Upstream::start("svc", |_| Reply::ok("hi"));
    let cfg = format!(
        "{}{}",
        rest(&format!("\"{}\"", up.addr()), 0),
        otel(
            &rx.grpc_endpoint(),
            "protocol = \"grpc\"\nlogs = true\nheaders = { \"x-collector-token\" = \"t0k\" }"
        ),
    );
    let gw = Gateway::start(1, &cfg);
    assert_eq!(
        get(&gw, "/grpc", &[("x-request-id", "grpc-1")]).status(),
        200
    );
    let (server, attempts) = rx.trace_of("grpc-1");
    assert_eq!(server["transport"], "grpc");
    assert_eq!(attr(&server, "url.path"), "/grpc");
    assert_eq!(attempts.len(), 1);
    let log = wait_for("the log record over gRPC", EXPORT_WAIT, || {
        rx.logs()
            .into_iter()
            .find(|l| attr(l, "tollgate.request_id") == "grpc-1")
    });
    assert_eq!(log["transport"], "grpc");
    assert_eq!(log["trace_id"], server["trace_id"]);
    assert_eq!(log["span_id"], server["span_id"]);
}

#[test]
fn logs_carry_the_requests_fields_whatever_the_sampling() {
    let rx = Receiver::start();
    let up = Upstream::start("svc", |_| Reply::ok("hi").status(503));
    let cfg = format!(
        "{}{}",
        rest(&format!("\"{}\"", up.addr()), 0),
        otel(&rx.http_endpoint(), "logs = true\nsample_ratio = 0.0"),
    );
    let gw = Gateway::start(1, &cfg);
    assert_eq!(
        get(&gw, "/logged", &[("x-request-id", "log-1")]).status(),
        503
    );
    let log = wait_for("the log record", EXPORT_WAIT, || {
        rx.logs()
            .into_iter()
            .find(|l| attr(l, "tollgate.request_id") == "log-1")
    });
    assert_eq!(log["transport"], "http");
    assert_eq!(log["body"]["string_value"], "GET api");
    assert_eq!(log["severity_text"], "ERROR");
    assert_eq!(log["severity_number"], "SEVERITY_NUMBER_ERROR");
    assert_eq!(log["event_name"], "tollgate.request");
    assert_eq!(attr(&log, "http.request.method"), "GET");
    assert_eq!(attr(&log, "url.path"), "/logged");
    assert_eq!(attr(&log, "http.response.status_code"), 503);
    assert_eq!(attr(&log, "tollgate.route"), "api");
    assert_eq!(attr(&log, "tollgate.attempts"), 1);
    assert!(attr(&log, "tollgate.duration_ms").is_number());
    assert!(rx.spans().is_empty(), "sample_ratio 0: no spans, only logs");
}

#[test]
fn an_unreachable_collector_leaves_requests_alone_and_counts_the_loss() {
    let up = Upstream::start("svc", |_| Reply::ok("hi"));
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let cfg = format!(
        "{}{}",
        rest(&format!("\"{}\"", up.addr()), 0),
        otel(&nobody, "timeout = \"200ms\""),
    );
    let gw = Gateway::start(1, &cfg);
    for _ in 0..5 {
        assert_eq!(get(&gw, "/", &[]).status(), 200);
    }
    // Five requests of two spans each (the server span and one attempt), all lost.
    let text = wait_for("the lost spans counted", EXPORT_WAIT, || {
        let text = gw.metrics();
        let dropped = sample(&text, "tollgate_otlp_dropped_total")?;
        let errors = sample(&text, "tollgate_otlp_export_errors_total")?;
        (dropped >= 10.0 && errors >= 1.0).then_some(text)
    });
    assert_eq!(sample(&text, "tollgate_otlp_dropped_total"), Some(10.0));
    assert!(sample(&text, "tollgate_otlp_export_errors_total").unwrap() >= 1.0);
    assert_eq!(sample(&text, "tollgate_otlp_queued_spans"), Some(0.0));
    assert!(
        gw.stderr().contains("OTLP export to 127.0.0.1:"),
        "{}",
        gw.stderr()
    );
}

#[test]
fn without_otel_a_clients_traceparent_goes_on_unchanged() {
    let up = Upstream::start("svc", |_| Reply::ok("hi"));
    let ok = openai_server("hello");
    let cfg = format!(
        "{}{}{}[[routes]]\nname = \"llm\"\npath_prefix = \"/v1\"\nhandler = \"llm\"\n\n\
         [[upstreams]]\nname = \"svc\"\ntargets = [\"{}\"]\n\n\
         [[routes]]\nname = \"api\"\npath_prefix = \"/rest\"\nupstream = \"svc\"\n",
        provider("echo", "openai", &ok, ""),
        providers::model("demo", &[("echo", "gpt-4o")], ""),
        "",
        up.addr(),
    );
    let gw = Gateway::start(1, &cfg);
    let tp = traceparent("01");
    let h = [("traceparent", tp.as_str()), ("tracestate", TRACESTATE)];
    assert_eq!(get(&gw, "/rest/x", &h).status(), 200);
    let got = up.last_request().unwrap();
    assert_eq!(got.header("traceparent"), Some(tp.as_str()));
    assert_eq!(got.header("tracestate"), Some(TRACESTATE));
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .header("traceparent", tp.as_str())
        .header("tracestate", TRACESTATE)
        .json(&json!({"model": "demo", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = ok.last_request().unwrap();
    assert_eq!(got.header("traceparent"), Some(tp.as_str()));
    assert_eq!(got.header("tracestate"), Some(TRACESTATE));
    // No traceparent from the client: none is made up.
    assert_eq!(get(&gw, "/rest/y", &[]).status(), 200);
    assert_eq!(up.last_request().unwrap().header("traceparent"), None);
}

#[test]
fn bad_otel_settings_are_refused_with_their_place() {
    let cfg = format!(
        "{}\n{}[otel]\nendpoint = \"https://collector:4318\"\nsample_ratio = 1.5\nbatch = 0\n\
         headers = {{ \"Content-Type\" = \"x\" }}\n",
        base_config(free_port(), free_port(), 1, ""),
        rest("\"127.0.0.1:1\"", 0),
    );
    let (ok, err) = validate(&cfg);
    assert!(!ok);
    for expected in [
        "otel.endpoint: \"https://collector:4318\": https is not supported",
        "otel.sample_ratio: must be between 0.0",
        "otel.batch: must be between 1 and 65536",
        "otel.headers.Content-Type: \"Content-Type\" is set by the exporter itself",
    ] {
        assert!(err.contains(expected), "{expected:?} not in:\n{err}");
    }
    // file:line:col of the key.
    assert!(err.contains("tollgate.toml:"), "{err}");
    let (ok, err) = validate(&cfg.replace("[otel]", "[otel]\nprotocol = \"http/json\""));
    assert!(!ok);
    assert!(err.contains("otel.protocol"), "{err}");
}

#[test]
fn a_collector_answering_errors_gets_one_retry_then_the_batch_is_dropped() {
    // An in-test HTTP server stands in for a collector that refuses: 503 is worth one retry
    // (OTLP/HTTP's rule), 400 is not.
    for (status, tries) in [(503, 2), (400, 1)] {
        let collector = Upstream::start("collector", move |_| Reply::ok("").status(status));
        let up = Upstream::start("svc", |_| Reply::ok("hi"));
        let cfg = format!(
            "{}{}",
            rest(&format!("\"{}\"", up.addr()), 0),
            otel(&format!("http://{}", collector.addr()), "timeout = \"2s\""),
        );
        let gw = Gateway::start(1, &cfg);
        assert_eq!(get(&gw, "/", &[]).status(), 200);
        let text = wait_for("the failed export counted", EXPORT_WAIT, || {
            let text = gw.metrics();
            (sample(&text, "tollgate_otlp_export_errors_total")? >= 1.0).then_some(text)
        });
        assert_eq!(
            sample(&text, "tollgate_otlp_export_errors_total"),
            Some(1.0)
        );
        assert_eq!(sample(&text, "tollgate_otlp_dropped_total"), Some(2.0));
        assert_eq!(collector.hits(), tries, "HTTP {status}");
        let req = collector.last_request().unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/v1/traces");
        assert_eq!(req.header("content-type"), Some("application/x-protobuf"));
    }
}

#[test]
fn queued_spans_are_flushed_when_a_worker_stops() {
    let rx = Receiver::start();
    let up = Upstream::start("svc", |_| Reply::ok("hi"));
    // Neither the interval nor the batch would send it before the stop.
    let cfg = format!(
        "{}[otel]\nendpoint = \"{}\"\ninterval = \"10m\"\nbatch = 1000\n",
        rest(&format!("\"{}\"", up.addr()), 0),
        rx.http_endpoint(),
    );
    let mut gw = Gateway::start(1, &cfg);
    assert_eq!(get(&gw, "/", &[("x-request-id", "last-1")]).status(), 200);
    assert_eq!(gw.stop(), Some(0));
    let (_, attempts) = rx.trace_of("last-1");
    assert_eq!(attempts.len(), 1);
}

#[test]
fn otel_changes_wait_for_a_restart_and_the_running_exporter_keeps_going() {
    let rx = Receiver::start();
    let up = Upstream::start("svc", |_| Reply::ok("hi"));
    let cfg = format!(
        "{}{}",
        rest(&format!("\"{}\"", up.addr()), 0),
        otel(&rx.http_endpoint(), ""),
    );
    let gw = Gateway::start(1, &cfg);
    let text = std::fs::read_to_string(&gw.config_path).unwrap();
    let nobody = format!("http://127.0.0.1:{}", free_port());
    gw.rewrite_config(&text.replace(&rx.http_endpoint(), &nobody));
    gw.signal(libc::SIGHUP);
    wait_for("the reload to be applied", EXPORT_WAIT, || {
        gw.stderr()
            .contains("reload applied by every worker")
            .then_some(())
    });
    let log = gw.stderr();
    assert!(
        log.contains("[otel] changes apply on restart only"),
        "{log}"
    );
    assert_eq!(get(&gw, "/", &[("x-request-id", "after-1")]).status(), 200);
    rx.trace_of("after-1");
}
