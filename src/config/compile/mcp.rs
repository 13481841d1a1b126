//! Compiles `[mcp]`: the endpoint's path and the bounds of its sessions.

use super::limits::resolve;
use super::{Checker, LimitSpec};
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
    /// Lowercase, without a trailing `/`; `*` for any.
    pub allowed_origins: Vec<String>,
    /// Request limits (indexes into `Config::limits`) drawn by each request to the endpoint.
    pub limits: Vec<usize>,
    /// Concurrency caps held for the length of each request to the endpoint.
    pub concurrency_limits: Vec<usize>,
}

impl McpSpec {
    /// Whether a request with this `Origin` header may go on.
    pub fn admits_origin(&self, origin: &str) -> bool {
        let origin = origin.trim().trim_end_matches('/');
        self.allowed_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }
}

/// Sessions the shared table holds when `[mcp]` is not set (it is mapped at start either way,
/// so that a reload may turn the endpoint on).
pub const DEFAULT_SESSIONS: usize = 4096;

pub(super) fn compile(
    m: &McpSection,
    limits: &[LimitSpec],
    has_store: bool,
    ck: &mut Checker,
) -> Option<McpSpec> {
    let base = [key("mcp")];
    // Usage (token, cost) limits are refused: the endpoint's requests use no model.
    let resolved = resolve(&m.limits, limits, false, &base, ck);
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
    for (i, o) in m.allowed_origins.iter().enumerate() {
        let host = o
            .strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"));
        let host = host.map(|h| h.trim_end_matches('/'));
        let ok = o == "*" || host.is_some_and(|h| !h.is_empty() && !h.contains('/'));
        if !ok {
            ck.at(
                &[key("mcp"), key("allowed_origins"), crate::config::problem::Seg::Index(i)],
                &[],
                format!("{o:?}: an origin is a scheme and a host, e.g. \"https://app.example.com\", or \"*\""),
            );
        }
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
        allowed_origins: m
            .allowed_origins
            .iter()
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect(),
        limits: resolved.requests,
        concurrency_limits: resolved.concurrency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_match_without_case_or_a_trailing_slash() {
        let spec = |o: &[&str]| McpSpec {
            path: "/mcp".into(),
            max_sessions: 1,
            session_idle: Duration::from_secs(1),
            call_timeout: Duration::from_secs(1),
            allowed_origins: o.iter().map(|s| s.to_string()).collect(),
            limits: Vec::new(),
            concurrency_limits: Vec::new(),
        };
        let s = spec(&["https://app.example"]);
        assert!(s.admits_origin("https://APP.example/"));
        assert!(!s.admits_origin("https://evil.example"));
        assert!(!s.admits_origin("null"));
        assert!(!spec(&[]).admits_origin("https://app.example"));
        assert!(spec(&["*"]).admits_origin("null"));
    }
}
