//! What users write for `[mcp]`: the Model Context Protocol endpoint on the data-plane
//! listeners, through which AI agents list and call the catalog's APIs as tools.

use super::Dur;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpSection {
    /// `false` keeps the section written but the endpoint off (it then answers as any path
    /// no route matches).
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The one endpoint of the Streamable HTTP transport; it wins over a route with the same
    /// path.
    #[serde(default = "default_path")]
    pub path: String,
    /// Sessions open at once on the host, all workers together; the least recently used one
    /// is ended to make room. Read at start only (the table is shared memory).
    #[serde(default = "default_sessions")]
    pub max_sessions: usize,
    /// A session unused this long is ended.
    #[serde(default = "default_idle")]
    pub session_idle: Dur,
    /// The longest one `tools/call` may wait for its API's answer.
    #[serde(default = "default_call_timeout")]
    pub call_timeout: Dur,
    /// Browser origins (`https://app.example.com`) whose pages may call the endpoint; a
    /// request with another `Origin` header is refused (403), against DNS rebinding. Clients
    /// that are not browsers send no `Origin`. `["*"]` allows every origin.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// `[[limits]]` names (requests or concurrency) drawn by every request to the endpoint
    /// (each message, and a session's end), keyed with `mcp` as the route. A tool call also
    /// draws its API's limits, as an HTTP call of it does.
    #[serde(default)]
    pub limits: Vec<String>,
}

fn yes() -> bool {
    true
}

fn default_path() -> String {
    "/mcp".into()
}

fn default_sessions() -> usize {
    4096
}

fn default_idle() -> Dur {
    Dur(Duration::from_secs(30 * 60))
}

fn default_call_timeout() -> Dur {
    Dur(Duration::from_secs(60))
}
