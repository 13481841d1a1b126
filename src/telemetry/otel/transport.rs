//! Sending one encoded export request to the collector, on the exporter thread's own
//! current-thread runtime: OTLP/HTTP (a protobuf POST over HTTP/1.1) or OTLP/gRPC (a unary
//! call over HTTP/2 with the `h2` crate Pingora already brings). A connection per export: at
//! one export a second (`interval`) its cost is nothing, and no idle connection can go stale.

use crate::config::{OtelSpec, OtlpProtocol};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What is being exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Traces,
    Logs,
}

impl Signal {
    fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Logs => "/v1/logs",
        }
    }

    fn grpc_path(self) -> &'static str {
        match self {
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        }
    }
}

/// An export that failed, and whether the OTLP spec lets it be tried again.
#[derive(Debug)]
pub struct Failed {
    pub reason: String,
    pub retryable: bool,
}

impl Failed {
    fn io(what: &str, e: impl std::fmt::Display) -> Failed {
        // A refused or broken connection is worth one more try.
        Failed {
            reason: format!("{what}: {e}"),
            retryable: true,
        }
    }
}

/// Sends `body` once.
pub async fn send(spec: &OtelSpec, signal: Signal, body: &[u8]) -> Result<(), Failed> {
    let tcp = TcpStream::connect((spec.host.as_str(), spec.port))
        .await
        .map_err(|e| Failed::io(&format!("connect to {}", spec.authority), e))?;
    let _ = tcp.set_nodelay(true);
    match spec.protocol {
        OtlpProtocol::HttpProtobuf => post(spec, signal, body, tcp).await,
        OtlpProtocol::Grpc => grpc(spec, signal, body, tcp).await,
    }
}

/// The largest response head read from an OTLP/HTTP collector.
const MAX_HEAD: usize = 16 << 10;

async fn post(
    spec: &OtelSpec,
    signal: Signal,
    body: &[u8],
    mut tcp: TcpStream,
) -> Result<(), Failed> {
    let mut head = format!(
        "POST {}{} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/x-protobuf\r\n\
         content-length: {}\r\nconnection: close\r\nuser-agent: tollgate/{}\r\n",
        spec.base_path,
        signal.http_path(),
        spec.authority,
        body.len(),
        env!("CARGO_PKG_VERSION"),
    );
    for (name, value) in &spec.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value.expose());
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let send = async {
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(body).await?;
        tcp.flush().await
    };
    send.await.map_err(|e| Failed::io("send", e))?;
    let mut got = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        if got.len() > MAX_HEAD {
            return Err(Failed {
                reason: "the collector's response head is too large".into(),
                retryable: false,
            });
        }
        let n = tcp
            .read(&mut chunk)
            .await
            .map_err(|e| Failed::io("read the response", e))?;
        if n == 0 {
            return Err(Failed::io("read the response", "connection closed"));
        }
        got.extend_from_slice(&chunk[..n]);
    }
    let status = std::str::from_utf8(&got)
        .ok()
        .and_then(|t| t.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| Failed {
            reason: "the collector did not answer HTTP".into(),
            retryable: false,
        })?;
    match status {
        200..=299 => Ok(()),
        _ => Err(Failed {
            reason: format!("the collector answered HTTP {status}"),
            // The statuses OTLP/HTTP says to retry.
            retryable: matches!(status, 429 | 502 | 503 | 504),
        }),
    }
}

async fn grpc(spec: &OtelSpec, signal: Signal, body: &[u8], tcp: TcpStream) -> Result<(), Failed> {
    let (client, connection) = h2::client::handshake(tcp)
        .await
        .map_err(|e| Failed::io("HTTP/2 handshake", e))?;
    // Drives the connection while the call runs; dropped (and the connection closed) after.
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let result = call(spec, signal, body, client).await;
    driver.abort();
    result
}

async fn call(
    spec: &OtelSpec,
    signal: Signal,
    body: &[u8],
    client: h2::client::SendRequest<Bytes>,
) -> Result<(), Failed> {
    let h2_error = |what: &str| {
        let what = what.to_string();
        move |e: h2::Error| Failed::io(&what, e)
    };
    let uri = format!("http://{}{}", spec.authority, signal.grpc_path());
    let mut req = http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header(
            "user-agent",
            concat!("tollgate/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in &spec.headers {
        req = req.header(name.as_str(), value.expose());
    }
    let req = req.body(()).map_err(|e| Failed {
        reason: format!("bad request head: {e}"),
        retryable: false,
    })?;
    let mut client = client.ready().await.map_err(h2_error("HTTP/2 stream"))?;
    let (response, mut stream) = client
        .send_request(req, false)
        .map_err(h2_error("HTTP/2 request"))?;
    // A gRPC message: an uncompressed flag byte, the length (big-endian), the protobuf.
    let mut framed = Vec::with_capacity(body.len() + 5);
    framed.push(0);
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(body);
    stream
        .send_data(Bytes::from(framed), true)
        .map_err(h2_error("HTTP/2 send"))?;
    let response = response.await.map_err(h2_error("HTTP/2 response"))?;
    if response.status() != http::StatusCode::OK {
        let status = response.status().as_u16();
        return Err(Failed {
            reason: format!("the collector answered HTTP {status} to a gRPC call"),
            retryable: matches!(status, 429 | 502 | 503 | 504),
        });
    }
    let (parts, mut body) = response.into_parts();
    // A trailers-only answer carries grpc-status in its headers.
    let mut code = grpc_status(&parts.headers);
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(h2_error("HTTP/2 body"))?;
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    if let Some(trailers) = body.trailers().await.map_err(h2_error("HTTP/2 trailers"))? {
        code = grpc_status(&trailers).or(code);
    }
    match code {
        Some((0, _)) => Ok(()),
        Some((code, message)) => Err(Failed {
            reason: format!("gRPC status {code}: {message}"),
            // The codes OTLP/gRPC says to retry.
            retryable: matches!(code, 1 | 4 | 8 | 10 | 11 | 14 | 15),
        }),
        None => Err(Failed {
            reason: "the collector's answer has no grpc-status".into(),
            retryable: false,
        }),
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<(u32, String)> {
    let code = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Some((code, message))
}
