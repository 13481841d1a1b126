//! The hostile-client regression suite: raw bytes against the real binary, each case asserting
//! the status, whether the connection closed, and what the upstream received. It covers the
//! defects a hostile client found (dot segments, pipelining, odd hosts, `Expect`, transfer
//! codings, slow clients) and the framing and smuggling families that already held, so that a
//! later change to the HTTP path cannot regress them unseen.

use crate::common;
use common::raw::{exchange, Conn};
use common::*;
use std::time::Duration;

/// An upstream that answers every request with its method and path.
fn recorder() -> Upstream {
    Upstream::start("rec", |req| {
        Reply::ok(format!("{} {} {}", req.method, req.path, req.body.len()))
    })
}

/// `/pub` open, `/priv` keyed, `/limited` allowing one request a minute, `/open` open, and a
/// keyed route bound to the host `api.example.com`.
fn gateway(up: &Upstream, extra_server: &str) -> Gateway {
    let body = format!(
        r#"
[store]
path = "tollgate.db"

[[upstreams]]
name = "rec"
targets = ["{addr}"]

[[limits]]
name = "one"
counts = "requests"
rate = 1
period = "1m"
key = []

[[routes]]
name = "pub"
path_prefix = "/pub"
upstream = "rec"

[[routes]]
name = "open"
path_prefix = "/open"
upstream = "rec"

[[routes]]
name = "priv"
path_prefix = "/priv"
upstream = "rec"
[routes.api]
auth = "api_key"

[[routes]]
name = "limited"
path_prefix = "/limited"
upstream = "rec"
limits = ["one"]

[[routes]]
name = "api-host"
host = "api.example.com"
upstream = "rec"
[routes.api]
auth = "api_key"

[[routes]]
name = "rest"
upstream = "rec"
"#,
        addr = up.addr()
    );
    Gateway::start_with(1, extra_server, &body)
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n").into_bytes()
}

/// Sends `req` on a fresh connection and expects a refusal: `status`, `code` (`""` for
/// Pingora's own bodiless refusal), the connection closed, nothing at the upstream.
#[track_caller]
fn refused_and_closed(gw: &Gateway, up: &Upstream, req: &[u8], status: u16, code: &str) {
    let hits = up.hits();
    let (resp, closed) = exchange(gw.port, req);
    let resp = resp.unwrap_or_else(|| panic!("no answer to {:?}", String::from_utf8_lossy(req)));
    assert_eq!(
        resp.status,
        status,
        "{:?}: {resp:?}",
        String::from_utf8_lossy(req)
    );
    assert_eq!(resp.code(), code, "{resp:?}");
    assert!(
        closed,
        "connection kept after {:?}",
        String::from_utf8_lossy(req)
    );
    assert_eq!(
        up.hits(),
        hits,
        "{:?} reached the upstream",
        String::from_utf8_lossy(req)
    );
}

#[test]
fn dot_segments_cannot_reach_a_keyed_route_through_an_open_one() {
    let up = recorder();
    let gw = gateway(&up, "");
    for path in [
        "/pub/../priv/secret.txt",
        "/pub/%2e%2e/priv/secret.txt",
        "/pub/.%2E/priv/secret.txt",
        "//priv/secret.txt",
        "/pub/./../priv/secret.txt",
    ] {
        let mut c = Conn::open(gw.port);
        let resp = c.send(&get(path)).response().unwrap();
        assert_eq!(resp.status, 401, "{path}: {resp:?}");
        assert_eq!(resp.code(), "missing_api_key", "{path}");
        // A refusal of a well-framed request keeps the connection.
        let next = c.send(&get("/pub/x")).response().unwrap();
        assert_eq!(next.status, 200, "{path}: {next:?}");
    }
    assert_eq!(up.hits(), 5, "only the /pub/x requests reach the upstream");
    // Encoded separators are refused outright: upstreams disagree on what they mean.
    for path in [
        "/pub/..%2fpriv/secret.txt",
        "/pub/..%5Cpriv/secret.txt",
        "/pub/%zz",
    ] {
        let mut c = Conn::open(gw.port);
        let resp = c.send(&get(path)).response().unwrap();
        assert_eq!(resp.status, 400, "{path}: {resp:?}");
        assert_eq!(resp.code(), "bad_request_target", "{path}");
    }
    assert_eq!(up.hits(), 5);
}

#[test]
fn the_upstream_gets_the_normalised_path_and_the_query_as_sent() {
    let up = recorder();
    let gw = gateway(&up, "");
    let mut c = Conn::open(gw.port);
    let resp = c
        .send(&get("/pub/a/./b/../%7Ec//d?x=%2e%2e&y=../z"))
        .response()
        .unwrap();
    assert_eq!(resp.status, 200, "{resp:?}");
    assert_eq!(resp.body, "GET /pub/a/~c/d?x=%2e%2e&y=../z 0");
    assert_eq!(
        up.last_request().unwrap().path,
        "/pub/a/~c/d?x=%2e%2e&y=../z"
    );
}

#[test]
fn dot_segments_cannot_skip_a_limit() {
    let up = recorder();
    let gw = gateway(&up, "");
    assert_eq!(
        Conn::open(gw.port)
            .send(&get("/limited/x"))
            .response()
            .unwrap()
            .status,
        200
    );
    for path in ["/limited/x", "/open/../limited/x", "/open/%2E%2E/limited/x"] {
        let resp = Conn::open(gw.port).send(&get(path)).response().unwrap();
        assert_eq!(resp.status, 429, "{path}: {resp:?}");
    }
    assert_eq!(up.hits(), 1);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let up = recorder();
    let gw = gateway(&up, "");
    let mut c = Conn::open(gw.port);
    c.send(b"GET /pub/1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /pub/2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /pub/3 HTTP/1.1\r\nHost: h\r\n\r\n");
    let bodies: Vec<String> = (0..3).map(|_| c.response().unwrap().body).collect();
    assert_eq!(bodies, ["GET /pub/1 0", "POST /pub/2 3", "GET /pub/3 0"]);
    let paths: Vec<String> = up
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(paths, ["/pub/1", "/pub/2", "/pub/3"]);
    // The connection still serves.
    assert_eq!(c.send(&get("/pub/4")).response().unwrap().status, 200);
}

#[test]
fn a_refusal_between_pipelined_requests_keeps_their_order() {
    let up = recorder();
    let gw = gateway(&up, "");
    let mut c = Conn::open(gw.port);
    c.send(b"GET /priv/x HTTP/1.1\r\nHost: h\r\n\r\nGET /pub/after HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(c.response().unwrap().status, 401);
    assert_eq!(c.response().unwrap().body, "GET /pub/after 0");
}

#[test]
fn hosts_are_checked_before_routing() {
    let up = recorder();
    let gw = gateway(&up, "");
    // A fully qualified name with its trailing dot is the same host: the keyed route applies.
    for host in ["api.example.com.", "API.example.com.:80", "api.example.com"] {
        let req = format!("GET /x HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let resp = Conn::open(gw.port).send(req.as_bytes()).response().unwrap();
        assert_eq!(resp.status, 401, "{host}: {resp:?}");
    }
    // (request, error code); "" where Pingora refuses it before any phase, with no body.
    let bad: [(&[u8], &str); 5] = [
        (b"GET /pub HTTP/1.1\r\n\r\n", "bad_request"),
        (b"GET /pub HTTP/1.1\r\nHost: a b\r\n\r\n", "bad_request"),
        (b"GET /pub HTTP/1.1\r\nHost: a:8x\r\n\r\n", "bad_request"),
        (b"GET /pub HTTP/1.1\r\nHost: a@b\r\n\r\n", ""),
        (b"GET /pub HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", ""),
    ];
    let mut wrong = Vec::new();
    for (req, code) in bad {
        let (resp, closed) = exchange(gw.port, req);
        let got = resp.map(|r| (r.status, r.code()));
        if got != Some((400, code.into())) || !closed {
            wrong.push(format!(
                "{:?}: {got:?} closed={closed}",
                String::from_utf8_lossy(req)
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    assert_eq!(up.hits(), 0);
    // HTTP/1.0 needs no Host.
    let resp = Conn::open(gw.port)
        .send(b"GET /pub/ten HTTP/1.0\r\n\r\n")
        .response();
    assert_eq!(resp.unwrap().body, "GET /pub/ten 0");
}

#[test]
fn expect_100_continue_is_answered_once_the_request_may_go_on() {
    let up = recorder();
    let gw = gateway(&up, "");
    let mut c = Conn::open(gw.port);
    c.send(
        b"POST /pub/up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    let interim = c.response().unwrap();
    assert_eq!(interim.status, 100, "{interim:?}");
    let resp = c.send(b"hello").response().unwrap();
    assert_eq!(resp.body, "POST /pub/up 5");
    assert!(up.last_request().unwrap().header("expect").is_none());

    // Refused: the final answer at once, no 100, and the body is not waited for.
    let mut c = Conn::open(gw.port);
    c.send(
        b"POST /priv/up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
    );
    let resp = c.response().unwrap();
    assert_eq!(resp.status, 401, "{resp:?}");
    assert!(c.closed());

    let req =
        b"POST /pub/up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 200-ok\r\n\r\nhello";
    refused_and_closed(&gw, &up, req, 417, "expectation_failed");
}

#[test]
fn transfer_codings_other_than_chunked_are_refused() {
    let up = recorder();
    let gw = gateway(&up, "");
    let gzip = b"POST /pub HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    refused_and_closed(&gw, &up, gzip, 501, "unsupported_transfer_encoding");
    // Pingora itself refuses a coding it does not know, and any on HTTP/1.0.
    let ten = b"POST /pub HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    refused_and_closed(&gw, &up, ten, 400, "");
    let unknown =
        b"POST /pub HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    refused_and_closed(&gw, &up, unknown, 400, "");
}

#[test]
fn framing_and_smuggling_attempts_are_refused_and_closed() {
    let up = recorder();
    let gw = gateway(&up, "");
    let cases: [(&[u8], u16); 12] = [
        // CL.TE and TE.CL
        (b"POST /pub HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /priv/x HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        (b"POST /pub HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\nGET /priv/x HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        // duplicate, listed and signed lengths
        (b"POST /pub HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
        (b"POST /pub HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", 400),
        (b"POST /pub HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", 400),
        (b"POST /pub HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\nabc", 400),
        // obfuscated transfer encodings
        (b"POST /pub HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400),
        (b"POST /pub HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400),
        // bad chunk size
        (b"POST /pub HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
        // obs-fold, NUL and a bare CR in a header value
        (b"GET /pub HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", 400),
        (b"GET /pub HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n", 400),
        (b"GET /pub HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400),
    ];
    for (req, status) in cases {
        let hits = up.hits();
        let (resp, closed) = exchange(gw.port, req);
        let shown = String::from_utf8_lossy(req);
        // Pingora refuses some of these before any phase runs, with no answer at all.
        if let Some(resp) = &resp {
            assert_eq!(resp.status, status, "{shown:?}: {resp:?}");
        }
        assert!(closed, "connection kept after {shown:?}");
        assert!(up.hits() <= hits + 1, "{shown:?}");
        let smuggled = up
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.path.starts_with("/priv"));
        assert!(!smuggled, "{shown:?} smuggled a request");
    }
}

#[test]
fn query_strings_never_reach_the_process_log() {
    let up = recorder();
    let gw = gateway(&up, "");
    drop(up); // the upstream is gone: the proxy error is logged with the request's summary
    let resp = Conn::open(gw.port)
        .send(&get("/pub/x?api_key=SECRET-IN-QUERY"))
        .response()
        .unwrap();
    assert_eq!(resp.status, 502, "{resp:?}");
    let rid = resp.header("x-request-id").unwrap().to_string();
    let logged = wait_for(
        "the proxy error in the log",
        Duration::from_secs(10),
        || {
            let text = gw.stderr();
            text.contains(&rid).then_some(text)
        },
    );
    assert!(!logged.contains("SECRET-IN-QUERY"), "{logged}");
}

#[test]
fn a_client_that_goes_away_is_logged_as_gone_not_as_bad_framing() {
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let up = Upstream::start("slow", move |_| {
        let _ = gate.lock().unwrap().recv_timeout(Duration::from_secs(20));
        Reply::ok("late")
    });
    let gw = gateway(&up, "");
    let mut c = Conn::open(gw.port);
    c.send(&get("/pub/slow"));
    wait_for("the request upstream", Duration::from_secs(10), || {
        (up.hits() == 1).then_some(())
    });
    drop(c);
    // The upstream answers only once the gateway has given up on the request.
    let line = wait_for("the access log line", Duration::from_secs(15), || {
        gw.access_log()
            .lines()
            .find(|l| l.contains("/pub/slow"))
            .map(str::to_string)
    });
    let _ = release.send(());
    assert!(line.contains("client closed the connection"), "{line}");
    assert!(!line.contains("framing"), "{line}");
}

/// The gateway's worker processes (its children other than the admin process are all
/// workers here: no `[admin]`-less test runs these).
fn max_child_rss_kib(gw: &Gateway) -> u64 {
    gw.children()
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .max()
        .unwrap_or(0)
}

/// Whether the server has closed `s` (EOF or reset), without blocking.
fn peer_closed(s: &std::net::TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let closed = match s.peek(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    s.set_nonblocking(false).unwrap();
    closed
}

#[test]
fn slow_headers_are_cut_off_while_other_clients_are_served() {
    use std::io::Write;
    const SLOW: usize = 1000;
    let up = recorder();
    let gw = gateway(&up, "header_timeout = \"2s\"");
    let started = std::time::Instant::now();
    let mut slow: Vec<(std::net::TcpStream, Option<Duration>)> = (0..SLOW)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
            s.write_all(b"GET /pub/slow HTTP/1.1\r\nHost: h\r\nX-Slow: ")
                .unwrap();
            (s, None)
        })
        .collect();
    let mut latencies = Vec::new();
    let mut max_rss = 0;
    // Each round: one more header byte on every slow connection still open, then twenty
    // ordinary clients. Bounded by the round count and by the time.
    for _ in 0..2000 {
        for (s, closed_at) in slow.iter_mut().filter(|(_, c)| c.is_none()) {
            if s.write_all(b"a").is_err() || peer_closed(s) {
                *closed_at = Some(started.elapsed());
            }
        }
        for _ in 0..20 {
            let t = std::time::Instant::now();
            let resp = Conn::open(gw.port).send(&get("/pub/fast")).response();
            latencies.push(t.elapsed());
            assert_eq!(resp.map(|r| r.status), Some(200), "a client was not served");
        }
        max_rss = max_rss.max(max_child_rss_kib(&gw));
        if slow.iter().all(|(_, c)| c.is_some()) || started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    let open = slow.iter().filter(|(_, c)| c.is_none()).count();
    assert_eq!(
        open,
        0,
        "{open} slow connections still open after {:?}",
        started.elapsed()
    );
    let first_close = slow.iter().filter_map(|(_, c)| *c).min().unwrap();
    assert!(
        first_close >= Duration::from_secs(2),
        "closed before the deadline: {first_close:?}"
    );
    assert!(max_rss < 200 * 1024, "a worker grew to {max_rss} KiB");
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let p99 = latencies[latencies.len() * 99 / 100];
    let last_close = slow.iter().filter_map(|(_, c)| *c).max().unwrap();
    println!(
        "slowloris: {SLOW} slow connections closed {first_close:?}..{last_close:?} after the start; \
         {} ordinary requests meanwhile, median {median:?}, p99 {p99:?}; worker RSS at most {} MiB",
        latencies.len(),
        max_rss / 1024
    );
    let timeouts = sample(&gw.metrics(), "tollgate_client_header_timeouts_total").unwrap();
    assert!(timeouts >= SLOW as f64, "{timeouts}");
    assert!(up
        .requests
        .lock()
        .unwrap()
        .iter()
        .all(|r| r.path == "/pub/fast"));
}

#[test]
fn a_slow_head_on_a_kept_connection_is_cut_off_too() {
    let up = recorder();
    let gw = gateway(&up, "header_timeout = \"1s\"");
    let mut c = Conn::open(gw.port);
    assert_eq!(c.send(&get("/pub/1")).response().unwrap().status, 200);
    c.send(b"GET /pub/2 HTTP/1.1\r\nHo");
    let t = std::time::Instant::now();
    assert!(c.closed(), "the slow second head was not cut off");
    assert!(t.elapsed() < Duration::from_secs(9), "{:?}", t.elapsed());
    assert_eq!(up.hits(), 1);
    // Pingora logs the broken head before it drops the connection; such lines stay out.
    let log = gw.stderr();
    assert!(!log.contains("while reading request headers"), "{log}");
}

#[test]
fn connections_over_the_cap_are_closed_on_arrival() {
    let up = recorder();
    let gw = gateway(&up, "max_connections = 8\nheader_timeout = \"60s\"");
    let open = |gw: &Gateway| sample(&gw.metrics(), "tollgate_client_connections");
    let mut held: Vec<Conn> = (0..8).map(|_| Conn::open(gw.port)).collect();
    wait_for("8 open connections", Duration::from_secs(10), || {
        (open(&gw) == Some(8.0)).then_some(())
    });
    let mut extra = Conn::open(gw.port);
    assert!(extra.closed(), "a ninth connection was kept");
    assert_eq!(
        sample(&gw.metrics(), "tollgate_client_connections_refused_total"),
        Some(1.0)
    );
    // The held connections still serve, and a freed place is taken again.
    assert_eq!(held[0].send(&get("/pub/x")).response().unwrap().status, 200);
    held.truncate(4);
    wait_for("4 open connections", Duration::from_secs(10), || {
        (open(&gw) == Some(4.0)).then_some(())
    });
    assert_eq!(
        Conn::open(gw.port)
            .send(&get("/pub/y"))
            .response()
            .unwrap()
            .status,
        200
    );
}

#[test]
fn a_body_that_stops_coming_is_timed_out() {
    let up = recorder();
    let gw = gateway(&up, "body_timeout = \"1s\"");
    let mut c = Conn::open(gw.port);
    c.send(b"POST /pub/upload HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nab");
    let resp = c.response().expect("an answer to the stalled body");
    assert_eq!(
        (resp.status, resp.code()),
        (408, "request_timeout".to_string()),
        "{resp:?}"
    );
    assert!(c.closed());
}

#[test]
fn an_idle_kept_connection_is_closed_after_the_keepalive_timeout() {
    let up = recorder();
    // Under a second: Pingora's own keep-alive timer counts whole seconds (it took "500ms"
    // as 0, which it reads as "no timeout", and kept the connection for ever).
    let gw = gateway(
        &up,
        "keepalive_timeout = \"500ms\"\nheader_timeout = \"60s\"",
    );
    let mut c = Conn::open(gw.port);
    assert_eq!(c.send(&get("/pub/1")).response().unwrap().status, 200);
    let idle = std::time::Instant::now();
    assert!(c.closed(), "the idle connection was kept");
    let after = idle.elapsed();
    assert!(
        after >= Duration::from_millis(450) && after < Duration::from_secs(5),
        "closed after {after:?}"
    );
    assert_eq!(up.hits(), 1);
}

#[test]
fn the_keepalive_timeout_counts_idle_time_only() {
    let up = recorder();
    let gw = gateway(&up, "keepalive_timeout = \"1s\"");
    let mut c = Conn::open(gw.port);
    // Requests 400 ms apart for 2.4 s, longer than the timeout in all: the connection is idle
    // for less than the timeout each time, so it serves them all.
    for i in 0..6 {
        let path = format!("/pub/{i}");
        assert_eq!(c.send(&get(&path)).response().unwrap().status, 200, "{i}");
        std::thread::sleep(Duration::from_millis(400));
    }
    assert_eq!(up.hits(), 6);
    let idle = std::time::Instant::now();
    assert!(c.closed(), "the idle connection was kept");
    assert!(
        idle.elapsed() < Duration::from_secs(5),
        "{:?}",
        idle.elapsed()
    );
}
