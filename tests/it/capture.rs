//! Body capture and masking: REST and LLM routes (whole answers and streams) with `capture`,
//! checked on the bytes of the access log file: no secret or pattern anywhere, the marker and
//! the rest of the bodies there, `max_bytes` cutting, nothing kept on a route without
//! capture; and bad masking rules refused with their location.

use crate::common;
use common::providers::MOCK;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

const KEY: &str = "tg_abcdefghijkl_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
const BEARER: &str = "Bearer opaque-bearer-credential-0451";
const EMAIL: &str = "alice@example.com";
const CARD: &str = "4111 1111 1111 1111";
const SSN: &str = "123-45-6789";
const PASSWORD: &str = "pw-correct-horse-0451";
const HEADER_SECRET: &str = "hunter2-header-value";
/// What the upstream answers with: an e-mail address of its own among visible fields.
const UPSTREAM_EMAIL: &str = "carol@example.net";

/// Every secret the requests carry, as it must never appear in the log file, whole or in part.
const SECRETS: [&str; 11] = [
    KEY,
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345",
    "opaque-bearer-credential",
    EMAIL,
    "alice",
    "4111",
    SSN,
    PASSWORD,
    HEADER_SECRET,
    UPSTREAM_EMAIL,
    "carol",
];

fn mask_config(upstream: &Upstream) -> String {
    format!(
        r#"
[log.store]
path = "calls.db"

[log.mask]
json_paths = ["$.user.ssn", "$..password"]
patterns = ["[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{{2,}}", "\\b(?:\\d[ -]?){{13,19}}\\b"]
headers = ["x-my-secret"]

[[upstreams]]
name = "orders"
targets = ["{}"]

[[routes]]
name = "captured"
path_prefix = "/captured"
upstream = "orders"
capture = {{ bodies = true, headers = true, max_bytes = "16KiB" }}

[[routes]]
name = "small"
path_prefix = "/small"
upstream = "orders"
capture = {{ bodies = true, max_bytes = 96 }}

[[routes]]
name = "plain"
path_prefix = "/plain"
upstream = "orders"

[[routes]]
name = "llm"
path_prefix = "/v1"
handler = "llm"
capture = {{ bodies = true, headers = true }}

{MOCK}
[providers.mock]
chunk_chars = 4
"#,
        upstream.addr()
    )
}

fn rest_body() -> Value {
    json!({
        "user": {"name": "Zed Visible", "ssn": SSN, "email": EMAIL},
        "card": CARD,
        "password": PASSWORD,
        "nested": [{"password": PASSWORD, "keep": "visible-nested"}],
        "api_key": KEY,
        "note": "order for the visible-widget",
    })
}

fn llm_body(stream: bool) -> Value {
    json!({
        "model": "demo",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "visible-system-prompt"},
            {"role": "user", "content": format!("write to {EMAIL} card {CARD} key {KEY}")}
        ]
    })
}

fn send(gw: &Gateway, path: &str, body: &Value) -> reqwest::blocking::Response {
    client()
        .post(gw.url(path))
        .header("authorization", BEARER)
        .header("x-api-key", KEY)
        .header("x-my-secret", HEADER_SECRET)
        .header("x-trace-note", "visible-header-note")
        .json(body)
        .send()
        .unwrap()
}

/// The access log's lines, once `n` are there.
fn lines(gw: &Gateway, n: usize) -> (String, Vec<Value>) {
    wait_for("access log lines", Duration::from_secs(10), || {
        let text = gw.access_log();
        let parsed: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (parsed.len() >= n).then_some((text, parsed))
    })
}

fn line<'a>(lines: &'a [Value], route: &str, stream: Option<bool>) -> &'a Value {
    lines
        .iter()
        .find(|l| {
            l["route"] == route && stream.is_none_or(|s| l["llm"]["stream"].as_bool() == Some(s))
        })
        .unwrap_or_else(|| panic!("no line for route {route} in {lines:?}"))
}

#[test]
fn captured_bodies_reach_the_log_file_with_every_secret_masked() {
    let upstream = Upstream::start("orders", |_| {
        Reply::ok(
            json!({"status": "shipped-visible", "contact": UPSTREAM_EMAIL, "token": KEY})
                .to_string(),
        )
        .header("content-type", "application/json")
    });
    let gw = Gateway::start(1, &mask_config(&upstream));

    assert_eq!(send(&gw, "/captured/orders", &rest_body()).status(), 200);
    assert_eq!(send(&gw, "/plain/orders", &rest_body()).status(), 200);
    let long = json!({"pad": "p".repeat(60), "to": EMAIL, "tail": "t".repeat(200)});
    assert_eq!(send(&gw, "/small/orders", &long).status(), 200);
    let r = send(&gw, "/v1/chat/completions", &llm_body(false));
    assert_eq!(r.status(), 200);
    let said: Value = r.json().unwrap();
    assert!(
        said["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains(EMAIL),
        "the client itself gets the answer unmasked"
    );
    let r = send(&gw, "/v1/chat/completions", &llm_body(true));
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("data:"));

    let (file, lines) = lines(&gw, 5);
    for secret in SECRETS {
        assert!(
            !file.contains(secret),
            "{secret:?} is in the access log:\n{file}"
        );
    }
    assert!(file.contains("[MASKED]"));

    // The call store keeps the same masked record: no secret in the database's bytes.
    let stored = wait_for("the calls to be stored", Duration::from_secs(10), || {
        let page = common::admin::ok(&gw, "GET", "/admin/calls?route=captured", None);
        page["calls"].as_array()?.first().cloned()
    });
    assert_eq!(stored, *line(&lines, "captured", None));
    wait_for("every call to be stored", Duration::from_secs(10), || {
        let page = common::admin::ok(&gw, "GET", "/admin/calls", None);
        (page["calls"].as_array()?.len() == 5).then_some(())
    });
    let mut db = Vec::new();
    for file in ["calls.db", "calls.db-wal"] {
        db.extend(std::fs::read(gw.dir.path().join(file)).unwrap_or_default());
    }
    assert!(db.len() > 4096);
    for secret in SECRETS {
        assert!(
            !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret:?} is in the call store"
        );
    }
    assert!(db.windows(8).any(|w| w == b"[MASKED]"));

    let rest = line(&lines, "captured", None);
    let headers = &rest["request_headers"];
    for name in ["authorization", "x-api-key", "x-my-secret"] {
        assert_eq!(headers[name], "[MASKED]", "{name}: {headers}");
    }
    assert_eq!(headers["x-trace-note"], "visible-header-note");
    let req: Value = serde_json::from_str(rest["request_body"].as_str().unwrap()).unwrap();
    assert_eq!(req["user"]["name"], "Zed Visible");
    assert_eq!(req["user"]["ssn"], "[MASKED]", "a configured JSON path");
    assert_eq!(req["user"]["email"], "[MASKED]", "a configured pattern");
    assert_eq!(
        req["nested"][0]["password"], "[MASKED]",
        "recursive descent"
    );
    assert_eq!(req["nested"][0]["keep"], "visible-nested");
    assert_eq!(req["card"], "[MASKED]");
    assert_eq!(req["api_key"], "[MASKED]", "a Tollgate key, always");
    assert_eq!(req["note"], "order for the visible-widget");
    let resp: Value = serde_json::from_str(rest["response_body"].as_str().unwrap()).unwrap();
    assert_eq!(
        resp,
        json!({"status": "shipped-visible", "contact": "[MASKED]", "token": "[MASKED]"})
    );
    assert_eq!(rest["bodies_truncated"], false);

    let plain = line(&lines, "plain", None);
    for field in [
        "request_headers",
        "request_body",
        "response_body",
        "bodies_truncated",
    ] {
        assert!(
            plain.get(field).is_none(),
            "{field} on a route without capture"
        );
    }

    let small = line(&lines, "small", None);
    assert_eq!(small["bodies_truncated"], true);
    assert!(
        small.get("request_headers").is_none(),
        "headers not asked for"
    );
    let kept = small["request_body"].as_str().unwrap();
    assert!(kept.len() <= 96 && kept.contains("ppp"), "{kept}");

    for stream in [false, true] {
        let llm = line(&lines, "llm", Some(stream));
        assert_eq!(llm["request_headers"]["authorization"], "[MASKED]");
        let req: Value = serde_json::from_str(llm["request_body"].as_str().unwrap()).unwrap();
        assert_eq!(req["messages"][0]["content"], "visible-system-prompt");
        assert_eq!(
            req["messages"][1]["content"],
            "write to [MASKED] card [MASKED]key [MASKED]"
        );
        let resp = llm["response_body"].as_str().unwrap();
        assert!(resp.contains("[MASKED]"), "{resp}");
        assert!(resp.contains("You"), "the answer's visible words: {resp}");
        assert_eq!(llm["bodies_truncated"], false);
    }
}

#[test]
fn bad_masking_rules_and_capture_sizes_are_located_config_errors() {
    let upstream = Upstream::named("u");
    let text = format!(
        r#"
[log.mask]
json_paths = ["$.ok", "user.email"]
patterns = ["(unclosed"]

[[upstreams]]
name = "u"
targets = ["{}"]

[[routes]]
name = "r"
path_prefix = "/"
upstream = "u"
capture = {{ bodies = true, max_bytes = "2MiB" }}

[[routes]]
name = "nothing"
path_prefix = "/nothing"
upstream = "u"
capture = {{ max_bytes = "1KiB" }}
"#,
        upstream.addr()
    );
    let (ok, err) = validate(&text);
    assert!(!ok, "{err}");
    for (line, says) in [
        (
            3,
            "log.mask.json_paths[1]: \"user.email\": a JSON path starts at the root",
        ),
        (4, "log.mask.patterns[0]: not a valid regular expression"),
        (
            14,
            "routes[0].capture.max_bytes: must be between 1 byte and 1MiB",
        ),
        (
            20,
            "routes[1].capture: captures nothing: set bodies = true, headers = true",
        ),
    ] {
        let found = err
            .lines()
            .find(|l| l.contains(says))
            .unwrap_or_else(|| panic!("{says:?} not in:\n{err}"));
        assert!(found.contains(&format!("tollgate.toml:{line}:")), "{found}");
    }
}

/// A target that reads each request whole, body included, then closes without answering:
/// the gateway retries an idempotent request elsewhere, sending the body again.
struct Swallower {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Swallower {
    fn start(body_end: &'static str) -> Swallower {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    seen.extend_from_slice(&buf[..n]);
                    if String::from_utf8_lossy(&seen).contains(body_end) {
                        break;
                    }
                }
            }
        });
        Swallower { port, stop }
    }
}

impl Drop for Swallower {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

#[test]
fn a_retried_request_body_is_captured_and_counted_once() {
    let good = Upstream::named("good");
    let bad = Swallower::start("body-end");
    // No passive ejection: round robin sends every other request to the bad target first.
    let gw = Gateway::start(
        1,
        &format!(
            "[[upstreams]]\nname = \"pair\"\ntargets = [\"127.0.0.1:{}\", \"{}\"]\nretries = 1\n\
             passive = {{ max_fails = 0 }}\n\n[[routes]]\nname = \"r\"\npath_prefix = \"/\"\n\
             upstream = \"pair\"\ncapture = {{ bodies = true }}\n",
            bad.port,
            good.addr()
        ),
    );
    for _ in 0..2 {
        let r = client()
            .put(gw.url("/items/1"))
            .body("the-body body-end")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let (_, lines) = lines(&gw, 2);
    let retried = lines
        .iter()
        .find(|l| l["attempts"] == 2)
        .unwrap_or_else(|| panic!("no request was retried: {lines:?}"));
    assert_eq!(retried["request_body"], "the-body body-end");
    assert_eq!(retried["response_body"], "good");
    assert_eq!(
        retried["bytes_in"],
        "the-body body-end".len(),
        "counted once"
    );
}

#[test]
fn masking_rules_change_on_reload() {
    let up = Upstream::named("u");
    let body = |mask: &str| {
        format!(
            "[log.mask]\npatterns = [{mask}]\n\n[[upstreams]]\nname = \"u\"\ntargets = [\"{}\"]\n\n\
             [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n\
             capture = {{ bodies = true }}\n",
            up.addr()
        )
    };
    let gw = Gateway::start(1, &body(""));
    let send = |gw: &Gateway| {
        let r = client()
            .post(gw.url("/x"))
            .body("order zed-4471 now")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    send(&gw);
    let text = format!(
        "{}\n{}",
        base_config(gw.port, gw.admin_port, 1, ""),
        body("\"zed-[0-9]+\"")
    );
    crate::reload::reload(&gw, &text);
    send(&gw);
    let (_, lines) = lines(&gw, 2);
    assert_eq!(lines[0]["request_body"], "order zed-4471 now");
    assert_eq!(lines[1]["request_body"], "order [MASKED] now");
}
