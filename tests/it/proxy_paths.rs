//! The two ways the patched Pingora proxies a request to an HTTP/1 upstream: most requests, with
//! a body or without, in one future (`proxy_1to1_joined` in `vendor/pingora-proxy/src/proxy_h1.rs`),
//! an upgrade in two halves joined by task pipes. Which path a request took shows in Pingora's
//! debug log. The one future must still be duplex as the two halves were: request bodies of
//! every framing and size, an upstream answering before the body is all sent, a client leaving
//! mid-body or mid-response, each ending the request and its upstream connection as before.
//! These gateways keep the lean HTTP/1 path off (`tests/it/lean.rs` is its own): their requests
//! are the ones Pingora's path is measured on.

use crate::common;
use common::raw::Conn;
use common::*;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

/// Pingora's debug line for a request proxied in one future.
const JOINED: &str = "proxying a request without the task pipes";

const DEBUG: (&str, &str) = ("RUST_LOG", "info,pingora_proxy=debug");

/// Pingora's path only, whatever the test run says (`TOLLGATE_TEST_LEAN`).
const PINGORA_PATH: &str = "lean_http1 = false";

fn start(cfg: &str, env: &[(&str, &OsStr)]) -> Gateway {
    Gateway::start_configured(1, PINGORA_PATH, cfg, |cmd| {
        cmd.envs(env.iter().copied());
    })
}

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
    start(&cfg, env)
}

fn joined_count(gw: &Gateway) -> usize {
    gw.stderr().matches(JOINED).count()
}

#[test]
fn requests_with_and_without_a_body_are_proxied_in_one_future() {
    let up = Upstream::start("up", |req| {
        let body = String::from_utf8_lossy(&req.body);
        Reply::ok(format!("{} {} {body}", req.method, req.path))
    });
    let gw = gateway(&up, &[(DEBUG.0, OsStr::new(DEBUG.1))]);
    let mut c = Conn::open(gw.port);
    // Each on the same connection, which the one before must leave reusable.
    let cases: [(&[u8], &str); 5] = [
        (b"GET /pub/a HTTP/1.1\r\nHost: h\r\n\r\n", "GET /pub/a "),
        (
            b"POST /pub/b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
            "POST /pub/b hello",
        ),
        (
            b"POST /pub/c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
              3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            "POST /pub/c abcde",
        ),
        (
            b"POST /pub/d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST /pub/d ",
        ),
        (
            b"DELETE /pub/e HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
            "DELETE /pub/e ",
        ),
    ];
    for (n, (req, want)) in cases.iter().enumerate() {
        c.send(req);
        let resp = c.response().expect("a response");
        assert_eq!((resp.status, resp.body.as_str()), (200, *want));
        wait_for(
            "the joined path's debug line",
            Duration::from_secs(10),
            || (joined_count(&gw) == n + 1).then_some(()),
        );
    }
    assert_eq!(up.hits(), cases.len());
}

/// An upstream for one connection, given the request head it read: `answer` writes what it
/// likes on the connection, then it is closed.
fn raw_upstream(
    answer: impl FnOnce(&str, &mut TcpStream) + Send + 'static,
) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let thread = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
            head.push(byte[0]);
        }
        answer(&String::from_utf8_lossy(&head), &mut stream);
    });
    (addr, thread)
}

/// The access log's line of the request to `path`, once it is written.
fn access_line(gw: &Gateway, path: &str) -> String {
    wait_for("the access log line", Duration::from_secs(10), || {
        gw.access_log()
            .lines()
            .find(|l| l.contains(path))
            .map(str::to_string)
    })
}

fn raw_gateway(addr: &str) -> Gateway {
    let cfg = format!(
        "[[upstreams]]\nname = \"raw\"\ntargets = [\"{addr}\"]\n\n\
         [[routes]]\nname = \"raw\"\npath_prefix = \"/raw\"\nupstream = \"raw\"\n"
    );
    start(&cfg, &[(DEBUG.0, OsStr::new(DEBUG.1))])
}

#[test]
fn an_upgrade_is_proxied_in_two_halves() {
    let (addr, server) = raw_upstream(|_, s| {
        s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            .unwrap();
        // Echo until the client closes.
        let mut buf = [0u8; 64];
        while let Ok(n @ 1..) = s.read(&mut buf) {
            s.write_all(&buf[..n]).unwrap();
        }
    });
    let gw = raw_gateway(&addr);
    let mut c = Conn::open(gw.port);
    c.send(
        b"GET /raw/ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    let resp = c.response().expect("the 101");
    assert_eq!(resp.status, 101, "{resp:?}");
    c.send(b"ping");
    let mut echo = [0u8; 4];
    let mut s = c.stream();
    s.read_exact(&mut echo).expect("the echo");
    assert_eq!(&echo, b"ping");
    drop(c);
    server.join().unwrap();
    // Pingora's debug log is on (this line is the upstream request's), and has no joined line.
    assert!(
        gw.stderr().contains("Sending header to upstream"),
        "no debug log"
    );
    assert_eq!(joined_count(&gw), 0);
}

#[test]
fn bodies_larger_than_the_socket_buffers_go_through_whole_both_ways() {
    let up = Upstream::start("up", |req| Reply::ok(req.body.clone()));
    let gw = gateway(&up, &[]);
    let body: Vec<u8> = (0..4 << 20).map(|i: u32| b'a' + (i % 26) as u8).collect();
    let mut c = Conn::open(gw.port);
    let mut req = format!(
        "PUT /pub/big HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    let resp = c
        .send(&req)
        .response()
        .expect("the echo of the Content-Length body");
    assert_eq!(resp.status, 200);
    assert!(resp.body.as_bytes() == body.as_slice(), "the echo differs");

    // Chunked, in pieces of every size, on the same connection.
    let mut req =
        b"PUT /pub/big HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let mut rest = body.as_slice();
    let mut size = 1;
    while !rest.is_empty() {
        let (piece, tail) = rest.split_at(size.min(rest.len()));
        req.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
        rest = tail;
        size = size * 3 + 1;
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let resp = c
        .send(&req)
        .response()
        .expect("the echo of the chunked body");
    assert_eq!(resp.status, 200);
    assert!(
        resp.body.as_bytes() == body.as_slice(),
        "the chunked echo differs"
    );
    assert_eq!(up.hits(), 2);
}

#[test]
fn a_body_sent_slowly_arrives_whole() {
    let up = Upstream::start("up", |req| Reply::ok(req.body.clone()));
    let gw = gateway(&up, &[]);
    let mut c = Conn::open(gw.port);
    c.send(b"POST /pub/slow HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n");
    for piece in [&b"slow"[..], b" bo", b"dy, ", b"a"] {
        std::thread::sleep(Duration::from_millis(50));
        c.send(piece);
    }
    let resp = c.response().expect("the echo");
    assert_eq!((resp.status, resp.body.as_str()), (200, "slow body, a"));
}

#[test]
fn an_upstream_answering_before_the_body_is_sent_is_forwarded_at_once() {
    // The answer comes after the head alone; only then is the body read (and counted), so
    // the connection ends without a reset.
    let (tx, got) = std::sync::mpsc::channel();
    let (addr, server) = raw_upstream(move |_, s| {
        s.write_all(b"HTTP/1.1 413 X\r\ncontent-length: 8\r\nconnection: close\r\n\r\ntoo much")
            .unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut n = 0;
        let mut buf = [0u8; 8192];
        while let Ok(k @ 1..) = s.read(&mut buf) {
            n += k;
        }
        tx.send(n).unwrap();
    });
    let gw = raw_gateway(&addr);
    let mut c = Conn::open(gw.port);
    // Only the head and a first piece of the body, larger than the 16 KiB the upstream
    // connection's write buffer holds back (with the head) until the body ends: the answer must
    // not wait for the rest.
    c.send(b"POST /raw/up HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n");
    c.send(&[b'x'; 20000]);
    let resp = c.response().expect("the early answer");
    assert_eq!((resp.status, resp.body.as_str()), (413, "too much"));
    // The rest of the body still goes to the upstream, as the two halves sent it.
    c.send(&[b'y'; 80000]);
    let n = got
        .recv_timeout(Duration::from_secs(10))
        .expect("the upstream's count");
    assert_eq!(n, 100000);
    server.join().unwrap();
    let line = access_line(&gw, "/raw/up");
    assert!(line.contains("413"), "{line}");
}

/// A body sent in parts with a pause between reaches the upstream part by part: the head and
/// the first part do not wait in the gateway for the rest (the upstream connection's write
/// buffer would hold a Content-Length body until it is complete). Here the upstream answers once
/// it has the first part, and the client sends the rest only after that answer.
#[test]
fn a_body_paused_midway_reaches_the_upstream_before_its_rest_is_sent() {
    let (tx, got) = std::sync::mpsc::channel();
    let (addr, server) = raw_upstream(move |_, s| {
        let mut first = [0u8; 5];
        s.read_exact(&mut first).unwrap();
        s.write_all(b"HTTP/1.1 200 X\r\ncontent-length: 5\r\nconnection: close\r\n\r\nheard")
            .unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        tx.send((first.to_vec(), rest)).unwrap();
    });
    let gw = raw_gateway(&addr);
    let mut c = Conn::open(gw.port);
    c.send(b"POST /raw/paused HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nhello");
    let resp = c.response().expect("the answer to the first part");
    assert_eq!((resp.status, resp.body.as_str()), (200, "heard"));
    c.send(b"world");
    let (first, rest) = got
        .recv_timeout(Duration::from_secs(10))
        .expect("what the upstream read");
    assert_eq!((&first[..], &rest[..]), (&b"hello"[..], &b"world"[..]));
    server.join().unwrap();
}

#[test]
fn a_client_that_leaves_mid_body_ends_the_request_and_its_upstream_connection() {
    let (addr, server) = raw_upstream(|_, s| {
        // Read what comes of the body until the gateway closes the connection.
        let mut got = 0;
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = s.read(&mut buf) {
            got += n;
        }
        assert!(got < 100000, "the whole body arrived");
    });
    let gw = raw_gateway(&addr);
    let mut c = Conn::open(gw.port);
    c.send(b"POST /raw/gone HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\npart");
    wait_for("the request upstream", Duration::from_secs(10), || {
        gw.stderr().contains(JOINED).then_some(())
    });
    drop(c);
    let line = access_line(&gw, "/raw/gone");
    assert!(line.contains("client closed the connection"), "{line}");
    // The upstream sees its connection closed (the thread ends) rather than left waiting.
    server.join().unwrap();
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
    let line = access_line(&gw, "/pub/events");
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

#[test]
fn a_retried_request_sends_its_buffered_body_again_in_one_future() {
    // Whichever target is tried first reads the request and closes without an answer: an
    // idempotent PUT whose upstream failed before any header is retried on the other one.
    let first = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let handler = move |req: &Request| {
        if first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            Reply::ok("").unanswered()
        } else {
            Reply::ok(req.body.clone())
        }
    };
    let a = Upstream::start("a", handler.clone());
    let b = Upstream::start("b", handler);
    let cfg = format!(
        "[[upstreams]]\nname = \"pair\"\ntargets = [\"{}\", \"{}\"]\nretries = 1\n\n\
         [[routes]]\nname = \"pair\"\npath_prefix = \"/pair\"\nupstream = \"pair\"\n",
        a.addr(),
        b.addr()
    );
    let gw = start(&cfg, &[(DEBUG.0, OsStr::new(DEBUG.1))]);
    let mut c = Conn::open(gw.port);
    c.send(b"PUT /pair/x HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world");
    let resp = c.response().expect("the retried answer");
    assert_eq!((resp.status, resp.body.as_str()), (200, "hello world"));
    assert_eq!((a.hits(), b.hits()), (1, 1));
    for up in [&a, &b] {
        assert_eq!(up.last_request().unwrap().body, b"hello world");
    }
    // Both attempts, the retry with its buffered body, in one future.
    wait_for("two joined debug lines", Duration::from_secs(10), || {
        (joined_count(&gw) == 2).then_some(())
    });
}
