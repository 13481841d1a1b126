//! The upstream client against small raw HTTP servers written here: a JSON answer, an event
//! stream, a session that ends, and every failure (hang, reset, malformed) as a clean error.

use super::*;
use crate::config::{McpServerSpec, McpTransport, ToolFilter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the raw server does with one request: answer these bytes (`{id}` replaced by the
/// request's JSON-RPC id), keep the connection silent, or close it.
#[derive(Clone)]
enum Reply {
    Bytes(&'static str),
    Hang,
    Close,
}

/// A server answering its n-th request with `replies[n]` (the last one after that); the
/// requests' heads and bodies are sent back on the channel.
async fn server(replies: Vec<Reply>) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                return;
            };
            let reply = replies[n.min(replies.len() - 1)].clone();
            n += 1;
            let tx = tx.clone();
            tokio::spawn(answer(conn, reply, tx));
        }
    });
    (url, rx)
}

async fn answer(mut conn: TcpStream, reply: Reply, tx: tokio::sync::mpsc::UnboundedSender<String>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let request = loop {
        let Ok(n) = conn.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break text;
            }
        }
    };
    let id = request
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
        .and_then(|m| m.get("id").cloned())
        .unwrap_or(Value::Null);
    let _ = tx.send(request);
    match reply {
        Reply::Bytes(b) => {
            let b = b.replace("{id}", &id.to_string());
            let _ = conn.write_all(b.as_bytes()).await;
            let _ = conn.shutdown().await;
        }
        Reply::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
        Reply::Close => drop(conn),
    }
}

fn upstream(url: &str, timeout: Duration) -> Upstream {
    let mut headers = vec![(
        http::HeaderName::from_static("authorization"),
        http::HeaderValue::from_static("Bearer up-secret"),
    )];
    headers[0].1.set_sensitive(true);
    Upstream::new(Arc::new(McpServerSpec {
        name: "up".into(),
        transport: McpTransport::Http {
            url: url.parse().unwrap(),
            headers,
        },
        tools: ToolFilter::Deny(vec![glob::Pattern::new("secret_*").unwrap()]),
        timeout,
        api: Default::default(),
        limits: vec![],
        concurrency_limits: vec![],
    }))
}

const INIT: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nmcp-session-id: s1\r\nconnection: close\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{}}}";
const ACK: &str = "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
const TOOLS_SSE: &str = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\r\n\r\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{\"tools\":[{\"name\":\"echo\",\"inputSchema\":{}},{\"name\":\"secret_x\",\"inputSchema\":{}}]}}\r\n\r\n";
const CALL: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}],\"isError\":false}}";
const GONE: &str = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

#[tokio::test]
async fn lists_from_a_stream_filtered_and_calls_with_the_injected_headers() {
    let (url, mut seen) = server(vec![
        Reply::Bytes(INIT),
        Reply::Bytes(ACK),
        Reply::Bytes(TOOLS_SSE),
        Reply::Bytes(CALL),
    ])
    .await;
    let up = upstream(&url, Duration::from_secs(5));
    let tools = up.tools(false).await.unwrap();
    let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["echo"]);
    // Cached: no request for the second listing.
    assert_eq!(up.tools(false).await.unwrap().len(), 1);
    let r = up.call("echo", json!({"text": "hi"})).await.unwrap();
    assert_eq!(r["content"][0]["text"], "hi");
    assert!(up
        .call("secret_x", json!({}))
        .await
        .unwrap_err()
        .to_string()
        .contains("not offered"));
    let mut requests = Vec::new();
    while let Ok(r) = seen.try_recv() {
        requests.push(r.to_ascii_lowercase());
    }
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert!(requests
        .iter()
        .all(|r| r.contains("authorization: bearer up-secret")));
    assert!(requests[3].contains("mcp-session-id: s1") && requests[3].contains("tools/call"));
}

#[tokio::test]
async fn a_session_the_upstream_ended_is_opened_again() {
    let (url, _seen) = server(vec![
        Reply::Bytes(INIT),
        Reply::Bytes(ACK),
        Reply::Bytes(GONE),
        Reply::Bytes(INIT),
        Reply::Bytes(ACK),
        Reply::Bytes(CALL),
    ])
    .await;
    let up = upstream(&url, Duration::from_secs(5));
    let r = up.call("echo", json!({})).await.unwrap();
    assert_eq!(r["isError"], false);
}

#[tokio::test]
async fn failures_are_clean_errors() {
    let cases: [(Reply, &str); 5] = [
        (Reply::Hang, "no answer within 300ms"),
        (Reply::Close, "the exchange failed"),
        (Reply::Bytes("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n<html>"), "not JSON"),
        (Reply::Bytes("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"jsonrpc\":\"1.0\",\"id\":{id}}"), "not a JSON-RPC 2.0 response"),
        (Reply::Bytes("HTTP/1.1 500 Oops\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"), "HTTP 500"),
    ];
    for (reply, want) in cases {
        let (url, _seen) = server(vec![Reply::Bytes(INIT), Reply::Bytes(ACK), reply]).await;
        let up = upstream(&url, Duration::from_millis(300));
        let err = up.call("echo", json!({})).await.unwrap_err().to_string();
        assert!(
            err.starts_with("MCP server up: ") && err.contains(want),
            "{want}: {err}"
        );
    }
}

#[test]
fn streams_and_responses_are_read() {
    let id = json!(7);
    assert_eq!(find_in_stream(b"data: {\"id\":7}", &id).unwrap(), None);
    let v = find_in_stream(b"data: {\"id\":1}\n\ndata: {\"id\":7,\n", &id).unwrap();
    assert_eq!(v, None);
    let v = find_in_stream(b"data: {\"id\":7,\ndata: \"x\":1}\n\n", &id).unwrap();
    assert_eq!(v, Some(json!({"id": 7, "x": 1})));
    assert!(find_in_stream(b"data: nope\n\n", &id).is_err());
    let ok = json!({"jsonrpc": "2.0", "id": 7, "result": {"a": 1}});
    assert_eq!(response(Some(ok), 7).unwrap(), json!({"a": 1}));
    let err = json!({"jsonrpc": "2.0", "id": 7, "error": {"code": -1, "message": "m"}});
    assert_eq!(response(Some(err), 7).unwrap_err(), "error -1: m");
    assert!(response(Some(json!([1])), 7).is_err());
    assert!(response(None, 7).is_err());
}
