//! Compiles `[mcp]`: the endpoint's path and the bounds of its sessions.

use super::Checker;
use crate::config::problem::key;
use crate::config::schema::McpSection;
use std::time::Duration;

/// The MCP endpoint, when `[mcp]` is set and enabled.
#[derive(Debug, Clone, PartialEq)]
pub struct McpSpec {
    pub path: String,
    pub max_sessions: usize,
    pub session_idle: Duration,
    pub call_timeout: Duration,
}

/// Sessions the shared table holds when `[mcp]` is not set (it is mapped at start either way,
/// so that a reload may turn the endpoint on).
pub const DEFAULT_SESSIONS: usize = 4096;

pub(super) fn compile(m: &McpSection, has_store: bool, ck: &mut Checker) -> Option<McpSpec> {
    let base = [key("mcp")];
    if !m.path.starts_with('/') || m.path.contains(['?', '#', ' ']) {
        ck.at(
            &base,
            &["path"],
            format!(
                "{:?}: must be a path starting with \"/\", e.g. \"/mcp\"",
                m.path
            ),
        );
    }
    if !(1..=1_000_000).contains(&m.max_sessions) {
        ck.at(&base, &["max_sessions"], "must be between 1 and 1000000");
    }
    if m.session_idle.0.is_zero() {
        ck.at(&base, &["session_idle"], "must be more than 0s");
    }
    if m.call_timeout.0.is_zero() {
        ck.at(&base, &["call_timeout"], "must be more than 0s");
    }
    if m.enabled && !has_store {
        // Every MCP request is authenticated with an API key, and keys live in the store.
        ck.at(
            &base,
            &[],
            "[mcp] needs a [store]: its callers authenticate with API keys",
        );
    }
    m.enabled.then(|| McpSpec {
        path: m.path.clone(),
        max_sessions: m.max_sessions,
        session_idle: m.session_idle.0,
        call_timeout: m.call_timeout.0,
    })
}
