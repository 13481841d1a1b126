//! A provider's HTTP/1 answers as they come on the wire: every framing the gateway's provider
//! client reads, the connections it keeps or closes after each, and the answers it refuses.
//! The provider here is a scripted socket server, so each answer is exactly the bytes written.

use crate::common;
use common::providers::*;
use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One scripted answer, and whether the connection closes after it.
struct Answer {
    bytes: Vec<u8>,
    close: bool,
}

fn keep(bytes: impl Into<Vec<u8>>) -> Answer {
    Answer {
        bytes: bytes.into(),
        close: false,
    }
}

fn then_close(bytes: impl Into<Vec<u8>>) -> Answer {
    Answer {
        bytes: bytes.into(),
        close: true,
    }
}

/// A provider that answers its n-th request with the n-th scripted answer.
struct Scripted {
    addr: String,
    connections: Arc<AtomicUsize>,
    /// The body length of each request, in order.
    bodies: Arc<Mutex<Vec<usize>>>,
}

impl Scripted {
    fn start(script: Vec<Answer>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let script = Arc::new(script);
        let next = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (c, b) = (connections.clone(), bodies.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                c.fetch_add(1, SeqCst);
                let (script, next, bodies) = (script.clone(), next.clone(), b.clone());
                std::thread::spawn(move || serve(conn, &script, &next, &bodies));
            }
        });
        Scripted {
            addr,
            connections,
            bodies,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(SeqCst)
    }
}

fn serve(mut conn: TcpStream, script: &[Answer], next: &AtomicUsize, bodies: &Mutex<Vec<usize>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    while let Some(body_len) = read_request(&mut conn, &mut buf) {
        bodies.lock().unwrap().push(body_len);
        let Some(answer) = script.get(next.fetch_add(1, SeqCst)) else {
            return;
        };
        if conn.write_all(&answer.bytes).is_err() || answer.close {
            return;
        }
    }
}

/// Reads one request (head and Content-Length body) off `buf` and the connection; its body's
/// length, or `None` when the connection ends first.
fn read_request(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<usize> {
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                buf.drain(..end + 4 + len);
                return Some(len);
            }
        }
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A gateway whose model `gpt` is the scripted provider, one attempt per call, no breaker.
fn gateway(provider: &Scripted) -> Gateway {
    let cfg = format!(
        "[llm]\nretries = 0\nfailure_threshold = 1000\n\
         [[providers]]\nname = \"wire\"\nkind = \"openai\"\nbase_url = \"http://{}\"\napi_key = \"sk-wire\"\n\
         [[models]]\nname = \"gpt\"\ndeployments = [{{ provider = \"wire\", model = \"gpt-4o-mini\" }}]\n{LLM_ROUTE}",
        provider.addr
    );
    Gateway::start(1, &cfg)
}

fn ask(gw: &Gateway, text: &str) -> (u16, Value) {
    let body = json!({"model": "gpt", "messages": [{"role": "user", "content": text}]});
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

fn with_length(status_line: &str, fields: &str, body: &str) -> Vec<u8> {
    format!(
        "{status_line}\r\nContent-Type: application/json\r\n{fields}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn chunked(body: &str) -> Vec<u8> {
    let (a, b) = body.split_at(body.len() / 3);
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x};ext=1\r\n{a}\r\n{:X}\r\n{b}\r\n0\r\nX-Trailer: t\r\n\r\n",
        a.len(),
        b.len()
    )
    .into_bytes()
}

#[test]
fn answers_are_read_in_every_http1_framing_and_connections_kept_only_when_they_can_be() {
    let answer = |n: u32| openai_chat(&format!("answer {n}"));
    let provider = Scripted::start(vec![
        keep(with_length("HTTP/1.1 200 OK", "", &answer(0))),
        keep(chunked(&answer(1))),
        keep(
            [
                b"HTTP/1.1 100 Continue\r\n\r\n".to_vec(),
                with_length("HTTP/1.1 200 OK", "", &answer(2)),
            ]
            .concat(),
        ),
        // No length: the body ends where the connection does, which cannot be kept.
        then_close(format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}",
            answer(3)
        )),
        // HTTP/1.0 and `Connection: close` answers end their connection too.
        keep(with_length("HTTP/1.0 200 OK", "", &answer(4))),
        keep(with_length(
            "HTTP/1.1 200 OK",
            "Connection: close\r\n",
            &answer(5),
        )),
        keep(with_length("HTTP/1.1 200 OK", "", &answer(6))),
        keep(with_length("HTTP/1.1 200 OK", "", &answer(7))),
    ]);
    let gw = gateway(&provider);
    for n in 0..8 {
        let (status, v) = ask(&gw, "hi");
        assert_eq!(status, 200, "answer {n}: {v}");
        assert_eq!(v["choices"][0]["message"]["content"], format!("answer {n}"));
        assert_eq!(v["usage"]["total_tokens"], 29, "answer {n}");
    }
    // 0-3 on one connection, 4, 5, then 6 and 7 on the last one.
    assert_eq!(provider.connections(), 4);
    let records = gw.llm_records(8);
    assert!(
        records.iter().all(|r| r["llm"]["completion_tokens"] == 10),
        "usage is read from every framing: {records:?}"
    );
}

#[test]
fn a_body_larger_than_the_write_buffer_reaches_the_provider_whole() {
    let provider = Scripted::start(vec![keep(with_length(
        "HTTP/1.1 200 OK",
        "",
        &openai_chat("big"),
    ))]);
    let gw = gateway(&provider);
    let (status, v) = ask(&gw, &"x".repeat(100_000));
    assert_eq!(status, 200, "{v}");
    let bodies = provider.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    assert!(bodies[0] > 100_000, "{bodies:?}");
}

#[test]
fn answers_that_are_not_valid_http1_are_a_bad_gateway_and_the_next_call_is_served() {
    let too_long = format!("HTTP/1.1 200 OK\r\nX-Long: {}\r\n\r\n", "a".repeat(70_000));
    let many: String = (0..200).map(|i| format!("X-{i}: v\r\n")).collect();
    let bad = vec![
        then_close("garbage\r\n\r\n"),
        then_close("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"),
        then_close("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
        then_close(format!(
            "HTTP/1.1 200 OK\r\n{many}Content-Length: 2\r\n\r\n{{}}"
        )),
        then_close(too_long),
        then_close("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        // The body breaks off before its length, and before its last chunk.
        then_close("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"id\":"),
        then_close("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"id\"\r\n"),
        // Nothing at all.
        then_close(""),
    ];
    let cases = bad.len();
    let mut script = bad;
    script.push(keep(with_length(
        "HTTP/1.1 200 OK",
        "",
        &openai_chat("fine"),
    )));
    let provider = Scripted::start(script);
    let gw = gateway(&provider);
    for case in 0..cases {
        let (status, v) = ask(&gw, "hi");
        assert_eq!(status, 502, "case {case}: {v}");
        assert_eq!(v["error"]["type"], "api_error", "case {case}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("provider")),
            "case {case}: {v}"
        );
    }
    let (status, v) = ask(&gw, "hi");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "fine");
}
