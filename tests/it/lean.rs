//! The lean HTTP/1 path (`[server] lean_http1 = true`): the same answers and the same
//! upstream heads as Pingora's path, for the requests it takes; the others, and every bad
//! request, go to Pingora's path and meet its checks.

use crate::common;
use common::raw::Conn;
use common::*;
use std::time::Duration;

fn echo() -> Upstream {
    Upstream::echo_head("echo")
}

fn config(up: &Upstream, extra: &str) -> String {
    format!(
        r#"
[[upstreams]]
name = "up"
targets = ["{}"]
{extra}

[[routes]]
name = "svc"
path_prefix = "/svc"
strip_prefix = true
upstream = "up"
upstream_host = "internal.example"
[routes.request_headers]
set = {{ "X-Env" = "prod", "X-Client-Tier" = "gold" }}
remove = ["X-Debug"]
[routes.response_headers]
set = {{ "X-Served-By" = "tollgate" }}
remove = ["X-Upstream-Secret"]

[[limits]]
name = "roomy"
rate = 1000000
period = "1s"
key = ["client_ip"]

[[routes]]
name = "limited"
path_prefix = "/limited"
upstream = "up"
limits = ["roomy"]
"#,
        up.addr()
    )
}

fn lean_gateway(body: &str) -> Gateway {
    Gateway::start_with(1, "lean_http1 = true", body)
}

fn lean_served(gw: &Gateway) -> u64 {
    let metrics = gw.metrics();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("tollgate_lean_requests_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no lean counter in:\n{metrics}"))
}

/// Asserts the lean counter reaches `want` and goes no further: it is counted when a request
/// ends, which may be just after its client has read the answer.
fn assert_lean_served(gw: &Gateway, want: u64) {
    let seen = wait_for("the lean counter", Duration::from_secs(10), || {
        let n = lean_served(gw);
        (n >= want).then_some(n)
    });
    assert_eq!(seen, want);
}

const REQUEST: &[u8] = b"GET /svc/items?page=2 HTTP/1.1\r\nHost: shop.example:8080\r\nX-Forwarded-For: 10.0.0.1\r\nX-Debug: 1\r\nX-Env: dev\r\nConnection: keep-alive\r\nKeep-Alive: timeout=9\r\nX-Case-Kept: Yes\r\n\r\n";

/// The answer's head as a sorted list of lines, without those that differ per request.
fn comparable(head: &str) -> Vec<String> {
    let mut lines: Vec<String> = head
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_ascii_lowercase)
        .filter(|l| !l.starts_with("x-request-id:"))
        // The date differs; whether there is one may not.
        .map(|l| match l.starts_with("date:") {
            true => "date: (a date)".to_string(),
            false => l,
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn the_lean_path_sends_and_answers_what_pingoras_path_does() {
    let up = echo();
    let body = config(&up, "");
    let pingora = Gateway::start_with(1, "lean_http1 = false", &body);
    let lean = lean_gateway(&body);
    let mut seen = Vec::new();
    for gw in [&pingora, &lean] {
        let mut c = Conn::open(gw.port);
        let r = c.send(REQUEST).response().expect("an answer");
        assert_eq!(r.status, 200, "{}", r.head);
        let id = r.header("x-request-id").expect("a request id").to_string();
        let mut echoed: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(echoed["headers"]["x-request-id"], id.as_str());
        echoed["headers"]
            .as_object_mut()
            .unwrap()
            .remove("x-request-id");
        seen.push((comparable(&r.head), echoed));
        // The connection is kept: a second request on it is answered too.
        let again = c.send(REQUEST).response().expect("a second answer");
        assert_eq!(again.status, 200);
    }
    assert_eq!(seen[0], seen[1], "Pingora's path, then the lean path");
    let (head, echoed) = &seen[1];
    assert!(
        head.contains(&"x-served-by: tollgate".to_string()),
        "{head:?}"
    );
    assert!(!head.iter().any(|l| l.starts_with("x-upstream-secret")
        || l.starts_with("keep-alive")
        || l.starts_with("proxy-authenticate")));
    assert_eq!(echoed["path"], "/items?page=2");
    let h = &echoed["headers"];
    assert_eq!(h["host"], "internal.example");
    assert_eq!(h["x-forwarded-for"], "10.0.0.1, 127.0.0.1");
    assert_eq!(h["x-real-ip"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "shop.example:8080");
    assert_eq!(
        (&h["x-env"], &h["x-client-tier"]),
        (&"prod".into(), &"gold".into())
    );
    assert!(
        h.get("x-debug").is_none() && h.get("keep-alive").is_none(),
        "{h}"
    );
    assert_eq!(h["x-case-kept"], "Yes");
    assert_lean_served(&lean, 2);
    assert_eq!(lean_served(&pingora), 0);
}

/// A keyed route: a request whose key passes the gate takes the lean path, with the same
/// upstream head (the client's key never reaches the upstream) and answer as on Pingora's
/// path, and its record names the caller; a missing or wrong key is answered by Pingora's
/// path, the same refusal on both gateways.
#[test]
fn a_granted_key_takes_the_lean_path_and_a_refused_one_pingoras() {
    let up = echo();
    let key = common::keys::TestKey::new();
    let body = format!(
        r#"{}
[store]
path = "tollgate.db"

[[routes]]
name = "keyed"
path_prefix = "/keyed"
upstream = "up"
[routes.api]
auth = "api_key"

[[tenants]]
name = "acme"
[[tenants.apps]]
name = "web"
subscriptions = ["keyed"]
{}"#,
        config(&up, ""),
        key.lines("")
    );
    let pingora = Gateway::start_with(1, "lean_http1 = false", &body);
    let lean = lean_gateway(&body);
    let granted = format!(
        "GET /keyed/items HTTP/1.1\r\nHost: shop\r\nAuthorization: Bearer {k}\r\nX-Api-Key: {k}\r\nX-Goog-Api-Key: {k}\r\nX-Kept: 1\r\n\r\n",
        k = key.full
    );
    let missing = "GET /keyed/items HTTP/1.1\r\nHost: shop\r\n\r\n".to_string();
    let wrong = granted.replace(
        &key.full,
        "tg_0000000000000000_000000000000000000000000000000000000",
    );
    let mut seen = Vec::new();
    for gw in [&pingora, &lean] {
        let mut answers = Vec::new();
        for request in [&granted, &missing, &wrong] {
            let r = Conn::open(gw.port)
                .send(request.as_bytes())
                .response()
                .expect("an answer");
            let mut body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            if let Some(h) = body["headers"].as_object_mut() {
                h.remove("x-request-id");
            }
            body.as_object_mut().map(|b| b.remove("request_id"));
            answers.push((r.status, comparable(&r.head), body));
        }
        seen.push(answers);
    }
    assert_eq!(seen[0], seen[1], "Pingora's path, then the lean path");
    let statuses: Vec<u16> = seen[1].iter().map(|a| a.0).collect();
    assert_eq!(statuses, [200, 401, 401], "{:?}", seen[1]);
    let echoed = &seen[1][0].2["headers"];
    assert_eq!(echoed["x-kept"], "1");
    for name in ["authorization", "x-api-key", "x-goog-api-key"] {
        assert!(
            echoed.get(name).is_none(),
            "{name} reached the upstream: {echoed}"
        );
    }
    assert!(!format!("{:?}", up.last_request().unwrap().headers).contains(&key.full));
    // Only the granted request took the lean path.
    assert_lean_served(&lean, 1);
    let line = wait_for("the keyed call's record", Duration::from_secs(10), || {
        lean.access_log()
            .lines()
            .find(|l| l.contains("\"status\":200"))
            .map(str::to_string)
    });
    let rec: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (&rec["route"], &rec["tenant"], &rec["app"]),
        (&"keyed".into(), &"acme".into(), &"web".into())
    );
    assert_eq!(rec["key"], key.id.as_str(), "{rec}");
    assert!(!lean.access_log().contains(&key.full));
}

#[test]
fn lean_requests_are_recorded_and_counted_like_the_others() {
    let up = echo();
    let gw = lean_gateway(&config(&up, ""));
    let post = b"POST /svc/orders HTTP/1.1\r\nHost: shop\r\nContent-Length: 11\r\n\r\nhello world";
    let r = Conn::open(gw.port).send(post).response().unwrap();
    assert_eq!(r.status, 200);
    let line = wait_for("the call's record", Duration::from_secs(10), || {
        gw.access_log()
            .lines()
            .find(|l| l.contains("/svc/orders"))
            .map(str::to_string)
    });
    let rec: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(rec["route"], "svc");
    assert_eq!(rec["method"], "POST");
    assert_eq!(rec["status"], 200);
    assert_eq!(rec["bytes_in"], 11);
    assert_eq!(rec["bytes_out"], r.body.len());
    assert_eq!(rec["upstream"], up.addr());
    assert_eq!(rec["client"], "127.0.0.1");
    assert_eq!(rec["request_id"], r.header("x-request-id").unwrap());
    assert!(rec["upstream_latency_ms"].as_f64().is_some(), "{rec}");
    let metrics = gw.metrics();
    assert!(
        metrics.contains("tollgate_requests_total{route=\"svc\",status=\"2xx\"} 1"),
        "{metrics}"
    );
    assert_lean_served(&gw, 1);
}

/// A route with a local limit: admitted requests carry the limit's fields, and the refusal is
/// answered on the lean path, as on Pingora's (the same heads and bodies), the connection kept.
#[test]
fn a_local_limit_admits_and_refuses_as_on_pingoras_path() {
    let up = echo();
    let body = format!(
        r#"{}
[[limits]]
name = "tight"
rate = 2
period = "1h"
key = ["client_ip"]

[[routes]]
name = "tight"
path_prefix = "/tight"
upstream = "up"
limits = ["tight"]

[[limits]]
name = "tight-too"
rate = 2
period = "1h"
key = ["client_ip"]

[[routes]]
name = "tight-too"
path_prefix = "/too"
upstream = "up"
limits = ["tight-too"]
"#,
        config(&up, "")
    );
    let pingora = Gateway::start_with(1, "lean_http1 = false", &body);
    let lean = lean_gateway(&body);
    let request = b"GET /tight/x HTTP/1.1\r\nHost: shop\r\n\r\n";
    let mut seen = Vec::new();
    for gw in [&pingora, &lean] {
        let mut c = Conn::open(gw.port);
        let mut answers = Vec::new();
        for _ in 0..3 {
            let r = c.send(request).response().expect("an answer");
            let mut body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            if let Some(h) = body["headers"].as_object_mut() {
                h.remove("x-request-id");
            }
            answers.push((r.status, comparable(&r.head), body));
        }
        seen.push(answers);
    }
    assert_eq!(seen[0], seen[1], "Pingora's path, then the lean path");
    let answers = &seen[1];
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [200, 200, 429], "{answers:?}");
    let fields = |i: usize| answers[i].1.join("\n");
    assert!(
        fields(1).contains("x-ratelimit-remaining: 0"),
        "{}",
        fields(1)
    );
    assert!(fields(2).contains("retry-after:"), "{}", fields(2));
    assert!(
        fields(2).contains("connection: keep-alive"),
        "{}",
        fields(2)
    );
    assert_eq!(
        answers[2].2["error"]["code"], "rate_limit_exceeded",
        "{:?}",
        answers[2]
    );
    assert_eq!(up.hits(), 4, "two admitted through each gateway");
    assert_lean_served(&lean, 3);
    assert_eq!(lean_served(&pingora), 0);
    // A body over the lean path's 16 KiB goes to Pingora's path before any limit is drawn:
    // each of these draws once, so the third request is the one refused.
    let big = [
        &b"POST /too/x HTTP/1.1\r\nHost: shop\r\nContent-Length: 20000\r\n\r\n"[..],
        &[b'a'; 20000][..],
    ]
    .concat();
    for status in [200, 200] {
        let r = Conn::open(lean.port)
            .send(&big)
            .response()
            .expect("an answer");
        assert_eq!(r.status, status, "{}", r.head);
    }
    let r = Conn::open(lean.port)
        .send(b"GET /too/x HTTP/1.1\r\nHost: shop\r\n\r\n")
        .response()
        .expect("an answer");
    assert_eq!(r.status, 429, "{}", r.head);
    assert_lean_served(&lean, 4);
}

#[test]
fn what_the_lean_path_does_not_take_pingoras_path_serves() {
    let up = echo();
    let gw = lean_gateway(&config(&up, ""));
    for request in [
        // A chunked body.
        &b"POST /svc/x HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"[..],
        // HTTP/1.0.
        b"GET /svc/x HTTP/1.0\r\nHost: shop\r\n\r\n",
        // A target to normalise.
        b"GET /svc/a/../x HTTP/1.1\r\nHost: shop\r\n\r\n",
        // A body over the lean path's 16 KiB is read by Pingora's path.
        b"POST /svc/x HTTP/1.1\r\nHost: shop\r\nContent-Length: 20000\r\n\r\n",
    ] {
        let mut c = Conn::open(gw.port);
        c.send(request);
        if request.ends_with(b"20000\r\n\r\n") {
            c.send(&vec![b'a'; 20000]);
        }
        let r = c.response().expect("an answer");
        assert_eq!(r.status, 200, "{}: {}", String::from_utf8_lossy(request), r.head);
    }
    assert_eq!(up.last_request().unwrap().path, "/x");
    assert_eq!(lean_served(&gw), 0);
}

#[test]
fn bad_requests_meet_the_same_checks_as_without_the_lean_path() {
    let up = echo();
    let gw = lean_gateway(&config(&up, ""));
    for (request, status) in [
        (&b"POST /svc/x HTTP/1.1\r\nHost: shop\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..], 400),
        (b"POST /svc/x HTTP/1.1\r\nHost: shop\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        (b"GET /svc/x HTTP/1.1\r\nHost: sh op\r\n\r\n", 400),
        (b"GET /svc/x HTTP/1.1\r\n\r\n", 400),
        (b"GET /svc/x HTTP/1.1\r\nHost: shop\r\nExpect: something\r\n\r\n", 417),
        (b"GET /nowhere HTTP/1.1\r\nHost: shop\r\n\r\n", 404),
    ] {
        let r = Conn::open(gw.port).send(request).response();
        let r = r.unwrap_or_else(|| panic!("no answer to {}", String::from_utf8_lossy(request)));
        assert_eq!(r.status, status, "{}: {}", String::from_utf8_lossy(request), r.head);
    }
    assert_eq!(up.hits(), 0, "nothing reached the upstream");
    assert_eq!(lean_served(&gw), 0);
}

#[test]
fn a_target_that_refuses_is_retried_elsewhere_and_a_dead_group_answers_502() {
    let up = echo();
    let dead = free_port();
    let body = format!(
        "[[upstreams]]\nname = \"pair\"\ntargets = [\"127.0.0.1:{dead}\", \"{}\"]\nretries = 1\n\
         [[upstreams]]\nname = \"gone\"\ntargets = [\"127.0.0.1:{dead}\"]\n\
         [[routes]]\nname = \"pair\"\npath_prefix = \"/pair\"\nupstream = \"pair\"\n\
         [[routes]]\nname = \"gone\"\npath_prefix = \"/gone\"\nupstream = \"gone\"\n",
        up.addr()
    );
    let gw = lean_gateway(&body);
    for _ in 0..4 {
        let r = Conn::open(gw.port)
            .send(b"GET /pair HTTP/1.1\r\nHost: x\r\n\r\n")
            .response()
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.head);
    }
    let (r, closed) = raw::exchange(gw.port, b"GET /gone HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = r.unwrap();
    assert_eq!(r.status, 502, "{}", r.head);
    assert!(closed, "the connection ends after a gateway error");
    let err: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(err["error"]["type"], "upstream_error", "{err}");
    let id = r.header("x-request-id").unwrap().to_string();
    let line = wait_for("the 502's record", Duration::from_secs(10), || {
        gw.access_log()
            .lines()
            .find(|l| l.contains(&id))
            .map(str::to_string)
    });
    let rec: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(
        (&rec["status"], &rec["route"]),
        (&502.into(), &"gone".into())
    );
    assert!(
        rec["error"].as_str().is_some_and(|e| e.contains("gone")),
        "{rec}"
    );
    assert_lean_served(&gw, 5);
}

#[test]
fn a_slow_upstream_answers_504_and_an_idle_client_is_closed() {
    let slow = Upstream::start("slow", |_| Reply::ok("late").delay(Duration::from_secs(3)));
    let body = format!(
        "[[upstreams]]\nname = \"slow\"\ntargets = [\"{}\"]\n[upstreams.timeouts]\nread = \"300ms\"\n\
         [[routes]]\nname = \"slow\"\npath_prefix = \"/\"\nupstream = \"slow\"\n",
        slow.addr()
    );
    let gw = Gateway::start_with(1, "lean_http1 = true\nkeepalive_timeout = \"300ms\"", &body);
    let (r, _) = raw::exchange(gw.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.unwrap().status, 504);
    // A client that sends nothing more is closed after the keep-alive timeout (the connection
    // layer's, as on Pingora's path): `closed` waits up to 10 s for it.
    let fast = echo();
    let body = format!(
        "[[upstreams]]\nname = \"up\"\ntargets = [\"{}\"]\n\
         [[routes]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"up\"\n",
        fast.addr()
    );
    let gw = Gateway::start_with(1, "lean_http1 = true\nkeepalive_timeout = \"300ms\"", &body);
    let mut c = Conn::open(gw.port);
    assert_eq!(
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .response()
            .unwrap()
            .status,
        200
    );
    assert!(c.closed(), "closed by the idle timeout");
    assert_lean_served(&gw, 1);
}

#[test]
fn a_client_that_leaves_while_its_answer_is_awaited_is_recorded_as_gone() {
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let slow = Upstream::start("slow", move |_| {
        let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(20));
        Reply::ok("late")
    });
    let body = format!(
        "[[upstreams]]\nname = \"slow\"\ntargets = [\"{}\"]\n\
         [[routes]]\nname = \"slow\"\npath_prefix = \"/\"\nupstream = \"slow\"\n",
        slow.addr()
    );
    let gw = lean_gateway(&body);
    let mut c = Conn::open(gw.port);
    c.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_for("the request upstream", Duration::from_secs(10), || {
        (slow.hits() == 1).then_some(())
    });
    drop(c);
    // Recorded before the upstream answers: the gateway saw the client leave.
    let line = wait_for("the access log line", Duration::from_secs(15), || {
        gw.access_log()
            .lines()
            .find(|l| l.contains("/slow"))
            .map(str::to_string)
    });
    let _ = release.send(());
    assert!(line.contains("client closed the connection"), "{line}");
    assert_lean_served(&gw, 1);
}

#[test]
fn http1_over_tls_takes_the_lean_path_with_its_scheme_hsts_and_client_certificate() {
    use common::pki::{self, Ca};
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let server = ca.server(dir.path(), "gw", "gw.test", &["gw.test"], 30);
    let client_ca = ca.write(dir.path(), "clients.pem");
    let alice = ca.client(dir.path(), "alice", "alice", "Acme");
    let up = echo();
    let (port, tls_port, admin) = (free_port(), free_port(), free_port());
    let text = format!(
        r#"
[server]
listen = ["127.0.0.1:{port}", {{ addr = "127.0.0.1:{tls_port}", tls = true, client_ca = "{client_ca}", client_auth = "optional" }}]
workers = 1
lean_http1 = true

[admin]
listen = "127.0.0.1:{admin}"
token = "{ADMIN_TOKEN}"

[log]
access = "ACCESS_LOG"

[tls]
hsts = "max-age=600"

[[tls.certificates]]
cert = "{cert}"
key = "{key}"
default = true

[[upstreams]]
name = "up"
targets = ["{addr}"]

[[routes]]
name = "all"
path_prefix = "/"
upstream = "up"
{llm}
"#,
        llm = common::providers::MOCK_LLM,
        client_ca = client_ca.display(),
        cert = server.cert.display(),
        key = server.key.display(),
        addr = up.addr()
    );
    let gw = Gateway::start_text(port, admin, &text);
    let url = format!("https://gw.test:{tls_port}/x");
    for identity in [None, Some(&alice)] {
        let https = pki::client(&[&ca.pem()], &["gw.test"], tls_port, identity);
        let r = https
            .get(&url)
            .header("X-Client-Cert-Subject", "forged")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["strict-transport-security"], "max-age=600");
        let echoed: serde_json::Value = r.json().unwrap();
        assert_eq!(echoed["headers"]["x-forwarded-proto"], "https");
        // Only a verified certificate's subject is passed on, never the client's claim.
        let seen = echoed["headers"]["x-client-cert-subject"].as_str();
        match identity {
            None => assert_eq!(seen, None),
            Some(_) => {
                assert!(seen.is_some_and(|s| s.contains("CN=alice") && s.contains("O=Acme")))
            }
        }
    }
    // Plain HTTP gets no HSTS and says so upstream.
    let r = client().get(gw.url("/x")).send().unwrap();
    assert!(r.headers().get("strict-transport-security").is_none());
    let echoed: serde_json::Value = r.json().unwrap();
    assert_eq!(echoed["headers"]["x-forwarded-proto"], "http");
    // An LLM route's answer, written by its handler, gets HSTS over TLS only, as on Pingora's
    // path.
    let https = pki::client(&[&ca.pem()], &["gw.test"], tls_port, None);
    let r = https
        .get(format!("https://gw.test:{tls_port}/v1/models"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=600");
    let r = client().get(gw.url("/v1/models")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("strict-transport-security").is_none());
    assert_lean_served(&gw, 5);
}

/// Two models behind an LLM route: `gpt` on an OpenAI server (passed through), `claude` on an
/// Anthropic one (translated).
fn llm_config(openai: &Upstream, anthropic: &Upstream) -> String {
    use common::providers::{provider, LLM_ROUTE};
    format!(
        "{}{}[[models]]\nname = \"gpt\"\ndeployments = [{{ provider = \"oai\", model = \"gpt-4o-mini\" }}]\n\
         [[models]]\nname = \"claude\"\ndeployments = [{{ provider = \"ant\", model = \"claude-x\" }}]\n{LLM_ROUTE}",
        provider("oai", "openai", openai, ""),
        provider("ant", "anthropic", anthropic, "")
    )
}

fn post_chat(body: &str) -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn chat(model: &str, stream: bool) -> String {
    serde_json::json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
        .to_string()
}

/// The body, with what differs per call (a translated answer's creation time) left out.
fn comparable_body(body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(mut v) => {
            if let Some(o) = v.as_object_mut() {
                o.remove("created");
            }
            v.to_string()
        }
        Err(_) => body.to_string(),
    }
}

#[test]
fn llm_calls_take_the_lean_path_and_are_answered_as_on_pingoras_path() {
    use common::providers::{anthropic_server, openai_server};
    let (openai, anthropic) = (openai_server("as it came"), anthropic_server("translated"));
    let body = llm_config(&openai, &anthropic);
    let pingora = Gateway::start_with(1, "lean_http1 = false", &body);
    let lean = lean_gateway(&body);
    let requests = [
        post_chat(&chat("gpt", false)),
        post_chat(&chat("claude", false)),
        post_chat(&chat("nope", false)),
        post_chat("{not json"),
        "GET /v1/models HTTP/1.1\r\nHost: gw\r\nAnthropic-Version: 2023-06-01\r\n\r\n".to_string(),
        "GET /v1/nothing HTTP/1.1\r\nHost: gw\r\n\r\n".to_string(),
        // Larger than a proxied body may be on the lean path: an LLM call's is read whole.
        post_chat(&chat("gpt", false).replace("\"hi\"", &format!("\"{}\"", "long ".repeat(8000)))),
    ];
    let mut seen = Vec::new();
    for gw in [&pingora, &lean] {
        // One connection for all of them: each answer leaves it open for the next.
        let mut c = Conn::open(gw.port);
        let mut answers = Vec::new();
        for request in &requests {
            let r = c.send(request.as_bytes()).response().expect("an answer");
            assert!(r.header("x-request-id").is_some(), "{}", r.head);
            answers.push((r.status, comparable(&r.head), comparable_body(&r.body)));
        }
        // A stream, chunked, on a connection of its own.
        let mut s = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        std::io::Write::write_all(&mut s, post_chat(&chat("gpt", true)).as_bytes()).unwrap();
        let text = common::raw::read_until_end(&mut s, b"\r\n0\r\n\r\n");
        let (head, stream) = text.split_once("\r\n\r\n").unwrap();
        answers.push((0, comparable(head), stream.to_string()));
        seen.push(answers);
    }
    for (i, (theirs, ours)) in seen[0].iter().zip(&seen[1]).enumerate() {
        assert_eq!(
            theirs, ours,
            "answer {i}: Pingora's path, then the lean path"
        );
    }
    let statuses: Vec<u16> = seen[1].iter().map(|a| a.0).collect();
    assert_eq!(statuses, [200, 200, 404, 400, 200, 404, 200, 0]);
    assert!(seen[1][0].2.contains("as it came") && seen[1][1].2.contains("translated"));
    assert!(
        seen[1][4].2.contains("\"has_more\":false"),
        "Anthropic's model list"
    );
    assert!(seen[1][7].2.contains("data: [DONE]"));
    let long = openai
        .requests()
        .iter()
        .filter(|r| r.body.len() > 40_000)
        .count();
    assert_eq!(
        long, 2,
        "the long call reached the provider whole from both paths"
    );
    assert_lean_served(&lean, 8);
    assert_eq!(lean_served(&pingora), 0);
    let records = lean.llm_records(3);
    let rec = records
        .iter()
        .find(|r| r["llm"]["model"] == "claude")
        .expect("the translated call's record");
    assert_eq!(rec["llm"]["provider"], "ant");
    assert!(rec["llm"]["prompt_tokens"].as_u64().unwrap() > 0, "{rec}");
    let metrics = lean.metrics();
    assert!(
        metrics.contains("model=\"gpt\""),
        "the model's metrics count lean calls: {metrics}"
    );
}

#[test]
fn an_llm_client_that_leaves_mid_call_on_the_lean_path_cancels_it() {
    use common::providers::{json_reply, openai_chat, provider, LLM_ROUTE};
    let gate = Gate::new();
    // Opens the gate when the test ends, however it ends.
    let _opener = gate.opener();
    let slow = Upstream::start("slow", move |_| {
        gate.wait();
        json_reply(openai_chat("late"))
    });
    let body = format!(
        "{}[[models]]\nname = \"gpt\"\ndeployments = [{{ provider = \"oai\", model = \"gpt-4o-mini\" }}]\n{LLM_ROUTE}",
        provider("oai", "openai", &slow, "")
    );
    let gw = lean_gateway(&body);
    let mut c = Conn::open(gw.port);
    c.send(post_chat(&chat("gpt", false)).as_bytes());
    wait_for("the provider call", Duration::from_secs(10), || {
        (slow.hits() == 1).then_some(())
    });
    drop(c);
    let rec = &gw.llm_records(1)[0];
    assert_eq!(rec["llm"]["outcome"], "cancelled", "{rec}");
    assert_lean_served(&gw, 1);
}
