//! The two ways the patched Pingora proxies a request to an HTTP/1 upstream: a request without
//! a body in one future (`proxy_1to1_joined` in `vendor/pingora-proxy/src/proxy_h1.rs`), any
//! other in two halves joined by task pipes. Which path a request took shows in Pingora's debug
//! log; each path must still end a request whose client went away mid-response, and close the
//! upstream connection left half-read.

use crate::common;
use common::raw::Conn;
use common::*;
use std::ffi::OsStr;
use std::io::Read;
use std::time::Duration;

/// Pingora's debug line for a request proxied in one future.
const JOINED: &str = "proxying a bodiless request without the task pipes";

fn gateway(up: &Upstream, env: &[(&str, &OsStr)]) -> Gateway {
    let cfg = format!(
        r#"
[[upstreams]]
name = "up"
targets = ["{}"]

[[routes]]
name = "pub"
path_prefix = "/pub"
upstream = "up"
"#,
        up.addr()
    );
    Gateway::start_env(1, &cfg, env)
}

fn joined_count(gw: &Gateway) -> usize {
    gw.stderr().matches(JOINED).count()
}

#[test]
fn a_bodiless_request_is_proxied_in_one_future_and_one_with_a_body_in_two_halves() {
    let up = Upstream::start("up", |req| {
        Reply::ok(format!("{} {} {}", req.method, req.path, req.body.len()))
    });
    let gw = gateway(&up, &[("RUST_LOG", OsStr::new("info,pingora_proxy=debug"))]);
    let mut c = Conn::open(gw.port);

    c.send(b"GET /pub/a HTTP/1.1\r\nHost: h\r\n\r\n");
    let resp = c.response().expect("a response to the GET");
    assert_eq!((resp.status, resp.body.as_str()), (200, "GET /pub/a 0"));
    wait_for(
        "the joined path's debug line",
        Duration::from_secs(10),
        || (joined_count(&gw) == 1).then_some(()),
    );

    // A body to read: the two halves, on the same connection, which the GET left reusable.
    c.send(b"POST /pub/b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
    let resp = c.response().expect("a response to the POST");
    assert_eq!((resp.status, resp.body.as_str()), (200, "POST /pub/b 5"));

    // A bodiless request again, after which the POST's path must not have logged the line.
    c.send(b"DELETE /pub/c HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
    let resp = c.response().expect("a response to the DELETE");
    assert_eq!((resp.status, resp.body.as_str()), (200, "DELETE /pub/c 0"));
    wait_for(
        "the second joined debug line",
        Duration::from_secs(10),
        || (joined_count(&gw) == 2).then_some(()),
    );
    assert_eq!(up.hits(), 3);
}

#[test]
fn a_client_that_leaves_a_get_mid_stream_ends_the_request_and_its_upstream_connection() {
    let gate = Gate::new();
    let opener = gate.opener();
    let up = Upstream::start("up", move |_| {
        let gate = gate.clone();
        let events: Vec<Vec<u8>> = (0..20)
            .map(|i| format!("data: {i}\n\n").into_bytes())
            .collect();
        // The first event, then nothing until the test opens the gate: only the gateway
        // watching the client can notice it leave meanwhile.
        Reply::chunked(events, Duration::from_millis(20))
            .header("content-type", "text/event-stream")
            .pause_before(1, move || gate.wait())
    });
    let gw = gateway(&up, &[]);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    std::io::Write::write_all(&mut s, b"GET /pub/events HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("data: 0") {
        let n = s.read(&mut buf).expect("the first event");
        assert!(n > 0, "closed before the first event");
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(seen.starts_with(b"HTTP/1.1 200"));
    drop(s);

    // Ended while the upstream is silent: from watching the client, not from a failed write.
    let line = wait_for("the access log line", Duration::from_secs(10), || {
        gw.access_log()
            .lines()
            .find(|l| l.contains("/pub/events"))
            .map(str::to_string)
    });
    assert!(line.contains("client closed the connection"), "{line}");
    assert_eq!(up.aborted(), 0);
    // The upstream connection, left mid-response, is closed: the next events fail to send.
    drop(opener);
    wait_for(
        "the upstream connection to close",
        Duration::from_secs(10),
        || (up.aborted() == 1).then_some(()),
    );
}
