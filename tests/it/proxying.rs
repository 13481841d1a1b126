//! Route matching, header transforms, forwarding headers and protocol hygiene.

use crate::common;
use common::*;
use std::time::Duration;

fn echo(name: &'static str) -> Upstream {
    Upstream::echo_head(name)
}

fn routes(ups: &[(&str, &Upstream)], routes: &str) -> String {
    let mut out = String::new();
    for (name, u) in ups {
        out.push_str(&format!(
            "[[upstreams]]\nname = \"{name}\"\ntargets = [\"{}\"]\n\n",
            u.addr()
        ));
    }
    out.push_str(routes);
    out
}

fn get_json(
    gw: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, serde_json::Value, reqwest::header::HeaderMap) {
    let mut req = client().get(gw.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, r.json().unwrap_or(serde_json::Value::Null), h)
}

#[test]
fn most_specific_route_wins_and_unmatched_is_404() {
    let (a, b, c, d) = (echo("a"), echo("b"), echo("c"), echo("d"));
    let text = routes(
        &[("a", &a), ("b", &b), ("c", &c), ("d", &d)],
        r#"
[[routes]]
name = "api"
path_prefix = "/api"
upstream = "a"

[[routes]]
name = "users"
path_prefix = "/api/users"
upstream = "b"

[[routes]]
name = "exact"
path = "/api/users/me"
upstream = "c"

[[routes]]
name = "posts"
path_prefix = "/api"
methods = ["POST"]
upstream = "d"

[[routes]]
name = "host"
host = "admin.example.com"
path_prefix = "/api"
upstream = "d"
"#,
    );
    let gw = Gateway::start(1, &text);
    assert_eq!(get_json(&gw, "/api/x", &[]).1["name"], "a");
    assert_eq!(get_json(&gw, "/api/users/7", &[]).1["name"], "b");
    assert_eq!(get_json(&gw, "/api/users/me", &[]).1["name"], "c");
    assert_eq!(
        get_json(&gw, "/api/x", &[("host", "admin.example.com")]).1["name"],
        "d"
    );
    let post: serde_json::Value = client()
        .post(gw.url("/api/x"))
        .body("{}")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(post["name"], "d");
    let (status, body, headers) = get_json(&gw, "/apiary", &[]);
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "route_not_found");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/apiary"));
    assert!(headers.contains_key("x-request-id"));
}

#[test]
fn header_transforms_prefix_strip_and_forwarding_headers() {
    let a = echo("a");
    let text = routes(
        &[("a", &a)],
        r#"
[[routes]]
name = "svc"
path_prefix = "/svc"
upstream = "a"
strip_prefix = true
upstream_host = "internal.svc"
request_headers = { set = { "x-env" = "test" }, remove = ["x-drop-me"] }
response_headers = { set = { "x-served-by" = "tollgate" }, remove = ["x-upstream-secret"] }
"#,
    );
    let gw = Gateway::start(1, &text);
    let (status, body, headers) = get_json(
        &gw,
        "/svc/orders/7?full=1",
        &[
            ("x-drop-me", "1"),
            ("x-forwarded-for", "10.1.2.3"),
            ("x-request-id", "client-id-42"),
            ("host", "public.example.com"),
        ],
    );
    assert_eq!(status, 200);
    assert_eq!(body["path"], "/orders/7?full=1");
    let h = &body["headers"];
    assert_eq!(h["x-env"], "test");
    assert!(h.get("x-drop-me").is_none());
    assert_eq!(h["host"], "internal.svc");
    assert_eq!(h["x-forwarded-for"], "10.1.2.3, 127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], "public.example.com");
    assert_eq!(h["x-request-id"], "client-id-42");
    assert_eq!(headers["x-request-id"], "client-id-42");
    assert_eq!(headers["x-served-by"], "tollgate");
    assert_eq!(headers["x-powered-by"], "upstream");
    assert!(!headers.contains_key("x-upstream-secret"));
    assert!(!headers.contains_key("keep-alive"));
}

#[test]
fn hop_by_hop_request_headers_are_not_forwarded() {
    let a = echo("a");
    let gw = Gateway::start(
        1,
        &routes(&[("a", &a)], "[[routes]]\nname = \"r\"\nupstream = \"a\"\n"),
    );
    let req = b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close, x-private\r\nx-private: 1\r\nTE: trailers\r\nProxy-Authorization: Basic Zm9v\r\n\r\n";
    let resp = raw_exchange(gw.port, req, Duration::from_secs(10)).unwrap();
    let (status, _, body) = parse_response(&resp).unwrap();
    assert_eq!(status, 200, "{resp}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    for h in ["x-private", "te", "proxy-authorization"] {
        assert!(v["headers"].get(h).is_none(), "{h} was forwarded: {body}");
    }
}

fn hygiene_gateway(a: &Upstream) -> Gateway {
    Gateway::start_with(
        1,
        "max_header_bytes = \"2KiB\"\nmax_body_bytes = \"1KiB\"",
        &routes(&[("a", a)], "[[routes]]\nname = \"r\"\nupstream = \"a\"\n"),
    )
}

/// Sends raw bytes; returns the status and whether the server closed the connection after it.
fn framing(gw: &Gateway, raw: &[u8]) -> (u16, String) {
    let resp = raw_exchange(gw.port, raw, Duration::from_secs(10)).unwrap();
    let (status, head, _) = parse_response(&resp).unwrap_or((0, String::new(), String::new()));
    (status, head)
}

#[test]
fn bad_framing_is_refused_and_the_connection_closed() {
    let a = echo("a");
    let gw = hygiene_gateway(&a);
    // raw_exchange reads to EOF: returning at all means the gateway closed the connection.
    let both = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n";
    let (status, head) = framing(&gw, both);
    assert_eq!(status, 400, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );

    let dup = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd";
    assert_eq!(framing(&gw, dup).0, 400);

    let big_header = format!(
        "GET /x HTTP/1.1\r\nHost: h\r\nx-big: {}\r\n\r\n",
        "a".repeat(3000)
    );
    let (status, head) = framing(&gw, big_header.as_bytes());
    assert_eq!(status, 431, "{head}");

    let big_body = format!(
        "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 2000\r\n\r\n{}",
        "b".repeat(2000)
    );
    assert_eq!(framing(&gw, big_body.as_bytes()).0, 413);

    let chunk = "c".repeat(1500);
    let big_chunked = format!("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len());
    assert_eq!(framing(&gw, big_chunked.as_bytes()).0, 413);
    assert_eq!(a.hits(), 0, "nothing refused may reach the upstream");

    // Within the caps all is well.
    let ok = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabcd";
    assert_eq!(framing(&gw, ok).0, 200);
}

#[test]
fn a_404_keeps_the_connection_and_reads_the_refused_body() {
    let a = echo("a");
    let text = routes(
        &[("a", &a)],
        "[[routes]]\nname = \"r\"\npath_prefix = \"/only\"\nupstream = \"a\"\n",
    );
    let gw = Gateway::start(1, &text);
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let first = one_exchange(&mut conn, b"GET /nope HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(first.starts_with("HTTP/1.1 404"), "{first}");
    let second = one_exchange(&mut conn, b"GET /only HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(
        second.starts_with("HTTP/1.1 200"),
        "the second request was not served: {second}"
    );
    assert_eq!(a.last_request().unwrap().path, "/only");

    // The refused request's body is read (up to 1 MiB) and dropped, so the connection can
    // carry the next request instead of misreading the body as one.
    let with_body = b"POST /nope HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
    let third = one_exchange(&mut conn, with_body);
    assert!(third.starts_with("HTTP/1.1 404"), "{third}");
    assert!(
        !third.to_ascii_lowercase().contains("connection: close"),
        "{third}"
    );
    let fourth = one_exchange(&mut conn, b"GET /only/again HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(fourth.starts_with("HTTP/1.1 200"), "{fourth}");
    assert_eq!(a.last_request().unwrap().path, "/only/again");
}

/// Writes one request and reads exactly one Content-Length response from the same connection.
fn one_exchange(conn: &mut std::net::TcpStream, req: &[u8]) -> String {
    use std::io::{Read, Write};
    conn.write_all(req).unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        assert_eq!(
            conn.read(&mut byte).unwrap(),
            1,
            "connection closed mid-response"
        );
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    conn.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}
