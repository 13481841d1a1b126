//! The Model Context Protocol server's domain: what `/mcp` offers and how its messages are
//! answered, without Pingora types (the HTTP side is `proxy::mcp`).
//!
//! - `jsonrpc`: one JSON-RPC message per POST, and its error codes.
//! - `tools`: an API's operations as tools; `call`: a tool call as the HTTP request it makes.
//! - `server`: the methods (`initialize`, `ping`, `tools/*`, `resources/*`) over the APIs a
//!   caller may use.
//! - `sessions`: the sessions, in shared memory so that every worker knows them.
//! - `upstream`: the gateway as a client of an upstream MCP server (`[[mcp_servers]]`), over
//!   Streamable HTTP or stdio (a child process of each worker).
//!
//! The catalog below is built with each snapshot (off the request path: OpenAPI files are
//! read here), and only when `[mcp]` is on. Which of its APIs a caller may use is decided per
//! request by the data plane's own API gate (`proxy::access::check`).
//!
//! Extension point: `tools_of` makes the tools of one route. A kind of API that is not
//! described by an OpenAPI document (a prompt API) adds its branch there, typically with
//! `Tool::whole_body`; listing, calling and access rules then apply unchanged.

pub mod call;
pub mod jsonrpc;
pub mod server;
pub mod sessions;
pub mod tools;
pub mod upstream;

use crate::config::{McpServerSpec, McpSpec, PathMatch, RouteTarget};
use crate::routing::{Handler, Route};
use serde_json::Value;
use std::sync::Arc;
use tools::Tool;

/// An HTTP request the MCP endpoint refuses before reading any message.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("the MCP endpoint takes POST (a message) and DELETE (the end of a session), not {0}")]
    Method(String),
    #[error("the MCP endpoint answers with application/json: the Accept header must allow it")]
    NotAcceptable,
    #[error("MCP messages are JSON: send Content-Type: application/json")]
    MediaType,
    #[error("origin {0:?} may not call the MCP endpoint (see mcp.allowed_origins)")]
    Origin(String),
    #[error(transparent)]
    Sessions(#[from] sessions::OpenError),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Method(_) => 405,
            Refusal::NotAcceptable => 406,
            Refusal::MediaType => 415,
            Refusal::Origin(_) => 403,
            Refusal::Sessions(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Method(_) => "method_not_allowed",
            Refusal::NotAcceptable => "not_acceptable",
            Refusal::MediaType => "unsupported_media_type",
            Refusal::Origin(_) => "origin_not_allowed",
            Refusal::Sessions(_) => "mcp_sessions_unavailable",
        }
    }
}

/// What `/mcp` offers under one configuration.
pub struct Catalog {
    pub spec: McpSpec,
    pub apis: Vec<Api>,
    /// The upstream MCP servers, their sessions and tool lists kept for this configuration.
    pub servers: Vec<Arc<upstream::Upstream>>,
}

/// One API of the catalog: a route, its OpenAPI document and its tools.
pub struct Api {
    pub route: Arc<Route>,
    /// The parsed document; `{"url": ...}` for a remote one; null when there is none.
    pub openapi: Value,
    pub tools: Vec<Tool>,
}

impl Catalog {
    /// Reads every route's OpenAPI document (a blocking file read: call it off the request
    /// path) and makes the tools.
    pub fn build(spec: &McpSpec, routes: &[Arc<Route>], servers: &[McpServerSpec]) -> Catalog {
        let apis = routes
            .iter()
            .map(|route| {
                let openapi = load_openapi(route);
                let tools = tools_of(route, &openapi);
                Api {
                    route: route.clone(),
                    openapi,
                    tools,
                }
            })
            .collect();
        Catalog {
            spec: spec.clone(),
            apis,
            servers: servers
                .iter()
                .map(|s| Arc::new(upstream::Upstream::new(Arc::new(s.clone()))))
                .collect(),
        }
    }
}

impl Catalog {
    /// Whether `path` is an MCP endpoint: the gateway's (`Some(None)`) or one upstream
    /// server's at `{path}/{server}` (`Some(Some(index))`).
    pub fn endpoint(&self, path: &str) -> Option<Option<usize>> {
        let rest = path.strip_prefix(self.spec.path.as_str())?;
        if rest.is_empty() {
            return Some(None);
        }
        let name = rest.strip_prefix('/')?;
        let i = self.servers.iter().position(|s| s.spec.name == name)?;
        Some(Some(i))
    }
}

/// The tools of one route.
pub fn tools_of(route: &Route, openapi: &Value) -> Vec<Tool> {
    match (&route.spec.target, &route.handler) {
        // A prompt API is one tool: its input is the tool's arguments, POSTed as the body.
        (_, Handler::Prompt(p)) => vec![Tool::whole_body(
            &route.name,
            &p.description,
            &p.path,
            p.input_schema.clone(),
        )],
        (RouteTarget::Upstream(_), _) => {
            tools::from_openapi(&route.name, route_path(route), openapi)
        }
        // An LLM route is not an operation list: its clients speak the OpenAI API.
        (RouteTarget::Llm | RouteTarget::Prompt(_), _) => Vec::new(),
    }
}

pub fn route_path(route: &Route) -> &str {
    match &route.spec.path {
        PathMatch::Exact(p) | PathMatch::Prefix(p) => p,
    }
}

/// A route's OpenAPI document as the catalog shows it. Only JSON files give tools; a YAML file
/// or a remote document is listed but offers none (said once, at load).
#[allow(clippy::disallowed_methods)] // Read when a snapshot is built, never per request.
fn load_openapi(route: &Route) -> Value {
    let Some(doc) = route.spec.api.openapi.as_deref() else {
        // A prompt API without a document of its own has the one the catalog generates.
        return match &route.handler {
            Handler::Prompt(p) => crate::llm::prompt::openapi::document(p, &route.spec),
            _ => Value::Null,
        };
    };
    if doc.starts_with("http://") || doc.starts_with("https://") {
        tracing::warn!(
            "mcp: route {}: a remote OpenAPI document ({doc}) offers no tools; give a JSON file",
            route.name
        );
        return serde_json::json!({ "url": doc });
    }
    let text = match std::fs::read_to_string(doc) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!("mcp: route {}: cannot read {doc}: {e}", route.name);
            return Value::Null;
        }
    };
    serde_json::from_str(&text).unwrap_or_else(|e| {
        tracing::warn!(
            "mcp: route {}: {doc} is not JSON ({e}): it offers no tools",
            route.name
        );
        Value::String(text)
    })
}
