//! The gateway as an MCP client of one upstream server (`[[mcp_servers]]`): `tools/list` cached
//! for `TOOLS_TTL` and filtered by the server's allow or deny list, `tools/call` forwarded.
//!
//! The transport is the server's: Streamable HTTP (`streamable_http`) or a child process spoken to over
//! stdio (`stdio`). Either way every exchange is bounded by the server's `timeout`, and a
//! hang, a reset, a dead child, or an answer that is not a JSON-RPC response all become an
//! `UpstreamError` whose message names the server.

mod stdio;
mod streamable_http;

use crate::config::{McpServerSpec, McpTransport};
use arc_swap::ArcSwapOption;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use streamable_http::find_in_stream;

/// The largest answer read from an upstream.
pub const MAX_ANSWER: usize = 4 << 20;

/// How long a `tools/list` answer is reused before it is asked again.
pub const TOOLS_TTL: Duration = Duration::from_secs(30);

/// The protocol revision offered in `initialize`.
pub(crate) const VERSION: &str = "2025-06-18";

/// A failed exchange with an upstream; its text is what an MCP client is shown.
#[derive(Debug, thiserror::Error)]
#[error("MCP server {server}: {what}")]
pub struct UpstreamError {
    pub server: String,
    pub what: String,
}

/// How this server is reached.
enum Transport {
    Http(streamable_http::Http),
    /// This worker's child process, shared with every configuration that launches it alike.
    Stdio(Arc<stdio::Server>),
}

/// One upstream server as the gateway's worker knows it.
pub struct Upstream {
    pub spec: Arc<McpServerSpec>,
    transport: Transport,
    tools: ArcSwapOption<(Instant, Vec<Value>)>,
}

impl Upstream {
    /// The server of `spec`; a stdio server's child is the running one if this worker has one
    /// for the same launch, else started on first use.
    pub fn new(spec: Arc<McpServerSpec>) -> Upstream {
        let transport = match &spec.transport {
            McpTransport::Http { url, headers } => {
                Transport::Http(streamable_http::Http::new(url.clone(), headers.clone()))
            }
            McpTransport::Stdio(launch) => Transport::Stdio(stdio::Server::of(launch)),
        };
        Upstream {
            spec,
            transport,
            tools: ArcSwapOption::empty(),
        }
    }

    fn error(&self, what: impl Into<String>) -> UpstreamError {
        UpstreamError {
            server: self.spec.name.clone(),
            what: what.into(),
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

    /// One request over the server's transport, bounded by its `timeout`.
    async fn request(&self, method: &str, params: Value) -> Result<Value, UpstreamError> {
        let timeout = self.spec.timeout;
        let exchange = async {
            match &self.transport {
                Transport::Http(h) => h.request(method, &params).await,
                Transport::Stdio(s) => s.request(method, params, timeout).await,
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r.map_err(|what| self.error(what)),
            Err(_) => Err(self.error(format!(
                "no answer within {}",
                humantime::format_duration(timeout)
            ))),
        }
    }
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
