//! The gateway as an MCP client of one upstream server (`[[mcp_servers]]`, Streamable HTTP):
//! `initialize` once and keep the session id (again when the upstream says it is gone),
//! `tools/list` cached for `TOOLS_TTL` and filtered by the server's allow or deny list,
//! `tools/call` forwarded. Every request carries the configured headers (credentials).
//!
//! The upstream may answer `application/json` or an event stream (`text/event-stream`); the
//! stream is read until the response to our request arrives. Every exchange is bounded by the
//! server's `timeout`; a hang, a reset, a status other than 2xx, or an answer that is not a
//! JSON-RPC response all become an `UpstreamError` whose message names the server.
//!
//! Each exchange opens a connection of its own (none is pooled): a connection broken under a
//! call is then never mistaken for a stale pooled one and the call never sent twice.

use crate::config::McpServerSpec;
use arc_swap::ArcSwapOption;
use bytes::{Bytes, BytesMut};
use once_cell::sync::Lazy;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use pingora::protocols::http::client::HttpSession;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest answer read from an upstream.
pub const MAX_ANSWER: usize = 4 << 20;

/// How long a `tools/list` answer is reused before it is asked again.
pub const TOOLS_TTL: Duration = Duration::from_secs(30);

/// The protocol revision offered in `initialize`.
const VERSION: &str = "2025-06-18";

static CONNECTOR: Lazy<Connector> = Lazy::new(|| Connector::new(None));

/// A failed exchange with an upstream; its text is what an MCP client is shown.
#[derive(Debug, thiserror::Error)]
#[error("MCP server {server}: {what}")]
pub struct UpstreamError {
    pub server: String,
    pub what: String,
    /// The upstream answered 404 to our session id: initialize again.
    session_gone: bool,
}

/// An upstream's session: its id (none when the server keeps no sessions) and the version.
struct Session {
    id: Option<String>,
    version: String,
}

/// One upstream server as the gateway's worker knows it.
pub struct Upstream {
    pub spec: Arc<McpServerSpec>,
    session: ArcSwapOption<Session>,
    tools: ArcSwapOption<(Instant, Vec<Value>)>,
    next_id: AtomicU64,
}

impl Upstream {
    pub fn new(spec: Arc<McpServerSpec>) -> Upstream {
        Upstream {
            spec,
            session: ArcSwapOption::empty(),
            tools: ArcSwapOption::empty(),
            next_id: AtomicU64::new(1),
        }
    }

    fn error(&self, what: impl Into<String>) -> UpstreamError {
        UpstreamError {
            server: self.spec.name.clone(),
            what: what.into(),
            session_gone: false,
        }
    }

    /// The tools the server offers and the configuration allows, as the upstream lists them
    /// (unprefixed); from the cache while it is fresh, unless `refresh`.
    pub async fn tools(&self, refresh: bool) -> Result<Vec<Value>, UpstreamError> {
        if let Some(cached) = self.tools.load_full() {
            if !refresh && cached.0.elapsed() < TOOLS_TTL {
                return Ok(cached.1.clone());
            }
        }
        let result = self.request("tools/list", json!({})).await?;
        let Some(list) = result.get("tools").and_then(Value::as_array) else {
            return Err(self.error("bad answer: tools/list gave no tools array"));
        };
        let allowed: Vec<Value> = list
            .iter()
            .filter(|t| {
                t.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| self.spec.tools.admits(n))
            })
            .cloned()
            .collect();
        self.tools
            .store(Some(Arc::new((Instant::now(), allowed.clone()))));
        Ok(allowed)
    }

    /// Calls `tool` (its upstream name) and gives the `tools/call` result as the upstream
    /// wrote it. A tool the configuration does not allow is refused without asking.
    pub async fn call(&self, tool: &str, arguments: Value) -> Result<Value, UpstreamError> {
        if !self.spec.tools.admits(tool) {
            return Err(self.error(format!("tool {tool:?} is not offered")));
        }
        let params = json!({ "name": tool, "arguments": arguments });
        self.request("tools/call", params).await
    }

    /// One request in the current session, opened (or opened again once) as needed.
    async fn request(&self, method: &str, params: Value) -> Result<Value, UpstreamError> {
        let timeout = self.spec.timeout;
        let exchange = async {
            let session = match self.session.load_full() {
                Some(s) => s,
                None => self.initialize().await?,
            };
            match self.send(Some(&session), method, &params).await {
                Err(e) if e.session_gone => {
                    self.session.store(None);
                    let session = self.initialize().await?;
                    self.send(Some(&session), method, &params).await
                }
                r => r,
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(self.error(format!(
                "no answer within {}",
                humantime::format_duration(timeout)
            ))),
        }
    }

    async fn initialize(&self) -> Result<Arc<Session>, UpstreamError> {
        let params = json!({
            "protocolVersion": VERSION,
            "capabilities": {},
            "clientInfo": { "name": "tollgate", "version": env!("CARGO_PKG_VERSION") },
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message =
            json!({ "jsonrpc": "2.0", "id": id, "method": "initialize", "params": params });
        let (sid, answer) = self.post(None, &message).await?;
        let result = response(answer, id).map_err(|what| self.error(what))?;
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
    ) -> Result<Value, UpstreamError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let message = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        let (_, answer) = self.post(session, &message).await?;
        response(answer, id).map_err(|what| self.error(what))
    }

    /// POSTs one message; the session id the upstream gave and the response to `message`
    /// (none for a notification).
    async fn post(
        &self,
        session: Option<&Session>,
        message: &Value,
    ) -> Result<(Option<String>, Option<Value>), UpstreamError> {
        let url = &self.spec.url;
        let host = url.host().unwrap_or_default();
        let tls = url.scheme_str() == Some("https");
        let port = url.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let addr = resolve(host, port)
            .await
            .map_err(|e| self.error(format!("cannot resolve its host: {e}")))?;
        let req = self
            .request_header(session, message)
            .map_err(|e| self.error(format!("bad request: {e}")))?;
        let peer = HttpPeer::new(addr, tls, host.to_string());
        let (mut http, _) = CONNECTOR
            .get_http_session(&peer)
            .await
            .map_err(|e| self.error(format!("cannot connect: {}", e.etype().as_str())))?;
        let body = Bytes::from(message.to_string());
        let status = crate::llm::client::exchange(&mut http, req, body)
            .await
            .map_err(|e| self.error(format!("the exchange failed: {}", e.etype().as_str())))?;
        let header = |name: &str| {
            http.response_header()
                .and_then(|h| h.headers.get(name))
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let sid = header("mcp-session-id");
        let content_type = header("content-type").unwrap_or_default();
        if status == 404 && session.and_then(|s| s.id.as_ref()).is_some() {
            return Err(UpstreamError {
                session_gone: true,
                ..self.error("its session ended")
            });
        }
        if !(200..300).contains(&status) {
            return Err(self.error(format!("it answered HTTP {status}")));
        }
        let Some(id) = message.get("id") else {
            return Ok((sid, None));
        };
        let answer = read_answer(&mut http, &content_type, id)
            .await
            .map_err(|what| self.error(what))?;
        http.shutdown().await;
        Ok((sid, Some(answer)))
    }

    fn request_header(
        &self,
        session: Option<&Session>,
        message: &Value,
    ) -> pingora::Result<RequestHeader> {
        let url = &self.spec.url;
        let path = url.path_and_query().map_or("/", |p| p.as_str());
        let mut req = RequestHeader::build(http::Method::POST, path.as_bytes(), None)?;
        req.insert_header(
            http::header::HOST,
            url.authority().map_or("", |a| a.as_str()),
        )?;
        for (name, value) in &self.spec.headers {
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

/// The result of a JSON-RPC response to request `id`, or why it is not one.
pub fn response(answer: Option<Value>, id: u64) -> Result<Value, String> {
    let Some(Value::Object(m)) = answer else {
        return Err("bad answer: not a JSON-RPC response".into());
    };
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") || m.get("id") != Some(&json!(id)) {
        return Err("bad answer: not a JSON-RPC 2.0 response to our request".into());
    }
    if let Some(e) = m.get("error") {
        let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
        let msg = e.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(format!("error {code}: {msg}"));
    }
    match m.get("result") {
        Some(r @ Value::Object(_)) => Ok(r.clone()),
        _ => Err("bad answer: a response with no result".into()),
    }
}

#[cfg(test)]
mod tests;
