//! What users write for `[[mcp_servers]]`: upstream MCP servers (Streamable HTTP at a `url`, or
//! a `command` the gateway runs and speaks to over stdio) whose tools the gateway offers through
//! its own MCP endpoint, with credentials it injects and the same API settings as a route, so
//! that tenants subscribe to a server like to any API.

use super::{ApiSection, Dur};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerSection {
    /// The server's name: the prefix of its tools (`{name}.{tool}`), its own endpoint
    /// (`{mcp.path}/{name}`), and the route name of its calls and subscriptions.
    pub name: String,
    /// The upstream's Streamable HTTP endpoint, e.g. `https://mcp.example.com/mcp`. Not with
    /// `command`.
    pub url: Option<String>,
    /// Headers the gateway adds to every request to the upstream (credentials, e.g.
    /// `{ Authorization = "Bearer ${GITHUB_TOKEN}" }`); never logged nor shown. Only with `url`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A stdio server: the program and its arguments, e.g. `["npx", "-y", "some-mcp-server"]`,
    /// started by each worker on first use. Not with `url`.
    pub command: Option<Vec<String>>,
    /// Environment variables the stdio server gets (credentials, e.g.
    /// `{ GITHUB_TOKEN = "${GITHUB_TOKEN}" }`); never logged nor shown. Only with `command`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The stdio server's working directory; the gateway's when absent. Only with `command`.
    pub cwd: Option<String>,
    /// Tool names or globs offered; all when absent. Not with `deny_tools`.
    pub tools: Option<Vec<String>>,
    /// Tool names or globs never offered. Not with `tools`.
    #[serde(default)]
    pub deny_tools: Vec<String>,
    /// The longest any one exchange with the upstream may take.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    #[serde(default)]
    pub api: ApiSection,
    /// `[[limits]]` names, applied to each tool call.
    #[serde(default)]
    pub limits: Vec<String>,
}

fn default_timeout() -> Dur {
    Dur(Duration::from_secs(30))
}
