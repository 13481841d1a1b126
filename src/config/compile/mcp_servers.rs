//! Compiles `[[mcp_servers]]`: the upstream's address, the headers the gateway injects (marked
//! sensitive, so they never print), the tool filter, the API settings and the limits.

use super::api::{compile_api, valid_name, ApiSpec, AuthMode};
use super::limits::resolve;
use super::routes::header_pairs;
use super::{Checker, LimitSpec};
use crate::config::problem::{key, Seg};
use crate::config::schema::McpServerSection;
use http::{HeaderName, HeaderValue};
use std::collections::HashSet;
use std::time::Duration;

/// An upstream MCP server, ready for the request path.
#[derive(Debug, Clone)]
pub struct McpServerSpec {
    pub name: String,
    /// An `http(s)://` URL with a host.
    pub url: http::Uri,
    /// Added to every upstream request; each value is marked sensitive (Debug redacts it).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub tools: ToolFilter,
    pub timeout: Duration,
    pub api: ApiSpec,
    /// Request limits (indexes into `Config::limits`), one unit per tool call.
    pub limits: Vec<usize>,
    /// Concurrency caps held for the length of a tool call.
    pub concurrency_limits: Vec<usize>,
}

/// Which of an upstream's tools are offered.
#[derive(Debug, Clone, Default)]
pub enum ToolFilter {
    #[default]
    All,
    Allow(Vec<glob::Pattern>),
    Deny(Vec<glob::Pattern>),
}

impl ToolFilter {
    pub fn admits(&self, tool: &str) -> bool {
        match self {
            ToolFilter::All => true,
            ToolFilter::Allow(p) => p.iter().any(|p| p.matches(tool)),
            ToolFilter::Deny(p) => !p.iter().any(|p| p.matches(tool)),
        }
    }
}

/// Compiles every server; `taken` are the route names (a server's name shares their space, as
/// its calls are recorded and subscribed to under it).
pub(super) fn compile(
    servers: &[McpServerSection],
    taken: &HashSet<&str>,
    limits: &[LimitSpec],
    (has_mcp, has_store): (bool, bool),
    ck: &mut Checker,
) -> Vec<McpServerSpec> {
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        let base = [key("mcp_servers"), Seg::Index(i)];
        if !valid_name(&s.name) {
            let msg = format!("{:?}: use 1 to 64 of a-z, 0-9, '-' and '_'", s.name);
            ck.at(&base, &["name"], msg);
        } else if !names.insert(s.name.as_str()) {
            ck.at(
                &base,
                &["name"],
                format!("duplicate MCP server {:?}", s.name),
            );
        } else if taken.contains(s.name.as_str()) {
            let msg = format!("{:?} is already a route's name", s.name);
            ck.at(&base, &["name"], msg);
        }
        if !has_mcp {
            // Its tools are offered through the gateway's own endpoint.
            ck.at(&base, &[], "[[mcp_servers]] needs an [mcp] section");
        }
        let Some(spec) = compile_one(s, &base, limits, has_store, ck) else {
            continue;
        };
        out.push(spec);
    }
    out
}

fn compile_one(
    s: &McpServerSection,
    base: &[Seg],
    limits: &[LimitSpec],
    has_store: bool,
    ck: &mut Checker,
) -> Option<McpServerSpec> {
    let url = match s.url.parse::<http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => Some(u),
        _ => {
            let msg = format!(
                "{:?}: an http:// or https:// URL, e.g. \"https://mcp.example.com/mcp\"",
                s.url
            );
            ck.at(base, &["url"], msg);
            None
        }
    };
    let mut headers = header_pairs(&s.headers, base, &["headers"], ck);
    for (_, v) in &mut headers {
        v.set_sensitive(true);
    }
    let tools = filter(s, base, ck);
    if s.timeout.0.is_zero() {
        ck.at(base, &["timeout"], "must be more than 0s");
    }
    let api = compile_api(&s.api, base, ck);
    if api.auth == AuthMode::ApiKey && !has_store {
        let msg = "auth = \"api_key\" needs a [store] section (keys live in the store)";
        ck.at(&[base, &[key("api")]].concat(), &["auth"], msg);
    }
    // Usage (token, cost) limits are refused: a tool call uses no model.
    let resolved = resolve(&s.limits, limits, false, base, ck);
    Some(McpServerSpec {
        name: s.name.clone(),
        url: url?,
        headers,
        tools,
        timeout: s.timeout.0,
        api,
        limits: resolved.requests,
        concurrency_limits: resolved.concurrency,
    })
}

fn filter(s: &McpServerSection, base: &[Seg], ck: &mut Checker) -> ToolFilter {
    let mut patterns = |field: &str, list: &[String]| -> Vec<glob::Pattern> {
        list.iter()
            .enumerate()
            .filter_map(|(i, p)| match glob::Pattern::new(p) {
                Ok(p) => Some(p),
                Err(e) => {
                    let at = [base, &[key(field), Seg::Index(i)]].concat();
                    ck.at(&at, &[], format!("{p:?} is not a name or glob: {}", e.msg));
                    None
                }
            })
            .collect()
    };
    match (&s.tools, s.deny_tools.is_empty()) {
        (Some(_), false) => {
            let msg = "give either tools (an allow-list) or deny_tools, not both";
            ck.at(base, &["deny_tools"], msg);
            ToolFilter::All
        }
        (Some(allow), true) => ToolFilter::Allow(patterns("tools", allow)),
        (None, false) => ToolFilter::Deny(patterns("deny_tools", &s.deny_tools)),
        (None, true) => ToolFilter::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[server]
listen = ["127.0.0.1:0"]
[store]
path = "s.db"
[mcp]
[[limits]]
name = "per-call"
counts = "requests"
rate = 10
period = "1s"
key = ["api_key"]
[[upstreams]]
name = "u"
targets = ["127.0.0.1:1"]
[[routes]]
name = "taken"
path_prefix = "/o"
upstream = "u"
"#;

    /// The problems of `BASE` plus `extra`, as `line: path: message`.
    fn problems(extra: &str) -> Result<crate::config::Config, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(&p, format!("{BASE}{extra}")).unwrap();
        crate::config::load(&p).map_err(|e| {
            e.0.into_iter()
                .map(|p| format!("{}: {}: {}", p.line, p.path, p.message))
                .collect()
        })
    }

    #[test]
    fn a_server_compiles_with_its_secret_headers_redacted() {
        std::env::set_var("TOLLGATE_TEST_MCP_TOKEN", "s3cret");
        let c = problems(
            r#"
[[mcp_servers]]
name = "github"
url = "http://127.0.0.1:9/mcp"
headers = { Authorization = "Bearer ${TOLLGATE_TEST_MCP_TOKEN}" }
tools = ["get_*"]
timeout = "5s"
limits = ["per-call"]
[mcp_servers.api]
auth = "api_key"
"#,
        )
        .unwrap();
        let s = &c.mcp_servers[0];
        assert_eq!(s.name, "github");
        assert_eq!(s.headers[0].1.to_str().unwrap(), "Bearer s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(s.tools.admits("get_me") && !s.tools.admits("delete_repo"));
        assert_eq!(s.timeout, Duration::from_secs(5));
        assert_eq!(s.limits.len(), 1);
        assert_eq!(s.api.auth, AuthMode::ApiKey);
    }

    #[test]
    fn bad_servers_get_located_errors() {
        let p = problems(
            r#"
[[mcp_servers]]
name = "taken"
url = "ftp://x"
tools = ["a"]
deny_tools = ["b"]
timeout = "0s"
limits = ["nope"]

[[mcp_servers]]
name = "Bad Name"
url = "http://h/mcp"
deny_tools = ["[x"]
"#,
        )
        .unwrap_err();
        let has = |s: &str| p.iter().any(|l| l.contains(s));
        assert!(
            has("mcp_servers[0].name: \"taken\" is already a route's name"),
            "{p:?}"
        );
        assert!(
            has("mcp_servers[0].url: \"ftp://x\": an http:// or https:// URL"),
            "{p:?}"
        );
        assert!(has("mcp_servers[0].deny_tools: give either tools"), "{p:?}");
        assert!(has("mcp_servers[0].timeout: must be more than 0s"), "{p:?}");
        assert!(
            has("mcp_servers[0].limits[0]: no limit named \"nope\""),
            "{p:?}"
        );
        assert!(has("mcp_servers[1].name: \"Bad Name\""), "{p:?}");
        assert!(
            has("mcp_servers[1].deny_tools[0]: \"[x\" is not a name or glob"),
            "{p:?}"
        );
        // Located on the lines they were written at.
        assert!(
            p.iter().any(|l| l.starts_with("22: mcp_servers[0].name")),
            "{p:?}"
        );
    }

    #[test]
    fn servers_need_the_mcp_endpoint() {
        let text = BASE.replace("[mcp]\n", "");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        let extra = "[[mcp_servers]]\nname = \"g\"\nurl = \"http://h/mcp\"\n";
        std::fs::write(&p, format!("{text}{extra}")).unwrap();
        let e = crate::config::load(&p).unwrap_err().to_string();
        assert!(e.contains("[[mcp_servers]] needs an [mcp] section"), "{e}");
    }

    #[test]
    fn filters_take_names_and_globs() {
        let p = |v: &[&str]| v.iter().map(|s| glob::Pattern::new(s).unwrap()).collect();
        let allow = ToolFilter::Allow(p(&["echo", "get_*"]));
        assert!(allow.admits("echo") && allow.admits("get_issue"));
        assert!(!allow.admits("delete_repo") && !allow.admits("echo2"));
        let deny = ToolFilter::Deny(p(&["delete_*"]));
        assert!(deny.admits("echo") && !deny.admits("delete_repo"));
        assert!(ToolFilter::All.admits("anything"));
    }
}
