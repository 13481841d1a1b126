//! Streamable HTTP, the transport of an `[[mcp_servers]]` entry with a `url`: `initialize` once
//! and keep the session id (again when the upstream says it is gone), every request POSTed with
//! the configured headers (credentials).
//!
//! The upstream may answer `application/json` or an event stream (`text/event-stream`); the
//! stream is read until the response to our request arrives. A reset, a status other than 2xx,
//! or an answer that is not a JSON-RPC response all fail with the reason (the caller names the
//! server and bounds the exchange with its `timeout`).
//!
//! Each exchange opens a connection of its own (none is pooled): a connection broken under a
//! call is then never mistaken for a stale pooled one and the call never sent twice.

use super::{response, MAX_ANSWER, VERSION};
use arc_swap::ArcSwapOption;
use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue};
use once_cell::sync::Lazy;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use pingora::protocols::http::client::HttpSession;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

static CONNECTOR: Lazy<Connector> = Lazy::new(|| Connector::new(None));

/// A failed exchange: why, or the upstream's word that our session is gone (initialize again).
enum Fail {
    Other(String),
    SessionGone,
}

impl From<String> for Fail {
    fn from(what: String) -> Fail {
        Fail::Other(what)
    }
}

/// An upstream's session: its id (none when the server keeps no sessions) and the version.
struct Session {
    id: Option<String>,
    version: String,
}

/// One Streamable HTTP upstream.
pub(super) struct Http {
    url: http::Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    session: ArcSwapOption<Session>,
    next_id: AtomicU64,
}

impl Http {
    pub(super) fn new(url: http::Uri, headers: Vec<(HeaderName, HeaderValue)>) -> Http {
        Http {
            url,
            headers,
            session: ArcSwapOption::empty(),
            next_id: AtomicU64::new(1),
        }
    }

    /// One request in the current session, opened (or opened again once) as needed; its result.
    pub(super) async fn request(&self, method: &str, params: &Value) -> Result<Value, String> {
        let first = async {
            let session = match self.session.load_full() {
                Some(s) => s,
                None => self.initialize().await?,
            };
            self.send(Some(&session), method, params).await
        };
        let again = match first.await {
            Err(Fail::SessionGone) => {
                self.session.store(None);
                async {
                    let session = self.initialize().await?;
                    self.send(Some(&session), method, params).await
                }
                .await
            }
            r => r,
        };
        again.map_err(|f| match f {
            Fail::Other(what) => what,
            Fail::SessionGone => "its session ended".into(),
        })
    }

    async fn initialize(&self) -> Result<Arc<Session>, Fail> {
        let params = json!({
            "protocolVersion": VERSION,
            "capabilities": {},
            "clientInfo": { "name": "tollgate", "version": env!("CARGO_PKG_VERSION") },
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message =
            json!({ "jsonrpc": "2.0", "id": id, "method": "initialize", "params": params });
        let (sid, answer) = self.post(None, &message).await?;
        let result = response(answer, id)?;
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(VERSION)
            .to_string();
        let session = Arc::new(Session { id: sid, version });
        let note = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        self.post(Some(&session), &note).await?;
        self.session.store(Some(session.clone()));
        Ok(session)
    }

    async fn send(
        &self,
        session: Option<&Session>,
        method: &str,
        params: &Value,
    ) -> Result<Value, Fail> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let (_, answer) = self.post(session, &message).await?;
        Ok(response(answer, id)?)
    }

    /// POSTs one message; the session id the upstream gave and the response to `message`
    /// (none for a notification).
    async fn post(
        &self,
        session: Option<&Session>,
        message: &Value,
    ) -> Result<(Option<String>, Option<Value>), Fail> {
        let url = &self.url;
        let host = url.host().unwrap_or_default();
        let tls = url.scheme_str() == Some("https");
        let port = url.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let addr = resolve(host, port)
            .await
            .map_err(|e| format!("cannot resolve its host: {e}"))?;
        let req = self
            .request_header(session, message)
            .map_err(|e| format!("bad request: {e}"))?;
        let peer = HttpPeer::new(addr, tls, host.to_string());
        let (mut http, _) = CONNECTOR
            .get_http_session(&peer)
            .await
            .map_err(|e| format!("cannot connect: {}", e.etype().as_str()))?;
        let body = Bytes::from(message.to_string());
        let status = crate::llm::client::exchange(&mut http, req, body)
            .await
            .map_err(|e| format!("the exchange failed: {}", e.etype().as_str()))?;
        let header = |name: &str| {
            http.response_header()
                .and_then(|h| h.headers.get(name))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let sid = header("mcp-session-id");
        let content_type = header("content-type").unwrap_or_default();
        if status == 404 && session.and_then(|s| s.id.as_ref()).is_some() {
            return Err(Fail::SessionGone);
        }
        if !(200..300).contains(&status) {
            return Err(format!("it answered HTTP {status}").into());
        }
        let Some(id) = message.get("id") else {
            return Ok((sid, None));
        };
        let answer = read_answer(&mut http, &content_type, id).await?;
        http.shutdown().await;
        Ok((sid, Some(answer)))
    }

    fn request_header(
        &self,
        session: Option<&Session>,
        message: &Value,
    ) -> pingora::Result<RequestHeader> {
        let url = &self.url;
        let path = url.path_and_query().map_or("/", |p| p.as_str());
        let mut req = RequestHeader::build(http::Method::POST, path.as_bytes(), None)?;
        req.insert_header(
            http::header::HOST,
            url.authority().map_or("", |a| a.as_str()),
        )?;
        for (name, value) in &self.headers {
            req.insert_header(name.clone(), value.clone())?;
        }
        req.insert_header(http::header::CONTENT_TYPE, "application/json")?;
        req.insert_header(http::header::ACCEPT, "application/json, text/event-stream")?;
        if let Some(s) = session {
            req.insert_header("mcp-protocol-version", s.version.as_str())?;
            if let Some(id) = &s.id {
                req.insert_header("mcp-session-id", id.as_str())?;
            }
        }
        req.insert_header(http::header::CONTENT_LENGTH, message.to_string().len())?;
        Ok(req)
    }
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    // getaddrinfo on Tokio's blocking pool, never on the worker thread.
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{host} has no address"))
}

/// Reads the response to request `id`: the whole JSON body, or the event stream up to the
/// event that carries it.
async fn read_answer(
    http: &mut HttpSession,
    content_type: &str,
    id: &Value,
) -> Result<Value, String> {
    let stream = content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("text/event-stream"));
    let mut body = BytesMut::new();
    loop {
        let chunk = http
            .read_response_body()
            .await
            .map_err(|e| format!("the answer broke off: {}", e.etype().as_str()))?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(format!("the answer is larger than {MAX_ANSWER} bytes"));
        }
        body.extend_from_slice(&chunk);
        if stream {
            if let Some(v) = find_in_stream(&body, id)? {
                return Ok(v);
            }
        }
    }
    if stream {
        return find_in_stream(&body, id)?
            .ok_or_else(|| "the event stream ended without the response".to_string());
    }
    serde_json::from_slice(&body).map_err(|e| format!("bad answer: not JSON ({e})"))
}

/// The response to `id` among the complete events of `text`, if it has arrived. Other
/// messages (the server's notifications and requests) are passed over.
pub fn find_in_stream(text: &[u8], id: &Value) -> Result<Option<Value>, String> {
    let text = String::from_utf8_lossy(text).replace("\r\n", "\n");
    let Some(end) = text.rfind("\n\n") else {
        return Ok(None);
    };
    for event in text[..end].split("\n\n") {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if data.is_empty() {
            continue;
        }
        let message: Value = serde_json::from_str(&data.join("\n"))
            .map_err(|e| format!("bad answer: an event is not JSON ({e})"))?;
        if message.get("id") == Some(id) {
            return Ok(Some(message));
        }
    }
    Ok(None)
}
