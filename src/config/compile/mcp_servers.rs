//! Compiles `[[mcp_servers]]`: the transport (an upstream's address and the headers the gateway
//! injects, marked sensitive so they never print; or, in `stdio`, the command a worker runs), the
//! tool filter, the API settings and the limits.

mod stdio;

use super::api::{compile_api, valid_name, ApiSpec, AuthMode};
use super::limits::resolve;
use super::routes::header_pairs;
use super::{Checker, LimitSpec};
use crate::config::problem::{key, Seg};
use crate::config::schema::McpServerSection;
use http::{HeaderName, HeaderValue};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

pub use stdio::Launch;

/// An upstream MCP server, ready for the request path.
#[derive(Debug, Clone)]
pub struct McpServerSpec {
    pub name: String,
    pub transport: McpTransport,
    pub tools: ToolFilter,
    pub timeout: Duration,
    pub api: ApiSpec,
    /// Request limits (indexes into `Config::limits`), one unit per tool call.
    pub limits: Vec<usize>,
    /// Concurrency caps held for the length of a tool call.
    pub concurrency_limits: Vec<usize>,
}

/// How the gateway speaks to an upstream MCP server.
#[derive(Debug, Clone)]
pub enum McpTransport {
    /// Streamable HTTP.
    Http {
        /// An `http(s)://` URL with a host.
        url: http::Uri,
        /// Added to every upstream request; each value is marked sensitive (Debug redacts it).
        headers: Vec<(HeaderName, HeaderValue)>,
    },
    /// A child process of each worker, spoken to over its stdin and stdout.
    Stdio(Arc<Launch>),
}

impl McpTransport {
    /// What a call record names as the upstream: the URL's authority, or `stdio:{program}`.
    pub fn upstream(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            McpTransport::Http { url, .. } => url.authority().map(|a| a.as_str().into()),
            McpTransport::Stdio(l) => Some(format!("stdio:{}", l.program).into()),
        }
    }
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
    let transport = transport(s, base, ck);
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
        transport: transport?,
        tools,
        timeout: s.timeout.0,
        api,
        limits: resolved.requests,
        concurrency_limits: resolved.concurrency,
    })
}

/// Exactly one of `url` (Streamable HTTP) and `command` (stdio), with the settings of its kind.
fn transport(s: &McpServerSection, base: &[Seg], ck: &mut Checker) -> Option<McpTransport> {
    match (&s.url, &s.command) {
        (Some(_), Some(_)) => {
            let msg =
                "give either url (a Streamable HTTP server) or command (a stdio server), not both";
            ck.at(base, &["command"], msg);
            None
        }
        (None, None) => {
            let msg = "give url (a Streamable HTTP server, e.g. \"https://mcp.example.com/mcp\") \
                       or command (a stdio server, e.g. [\"npx\", \"-y\", \"some-mcp-server\"])";
            ck.at(base, &[], msg);
            None
        }
        (Some(url), None) => http(s, url, base, ck),
        (None, Some(command)) => {
            stdio::compile(s, command, base, ck).map(|l| McpTransport::Stdio(Arc::new(l)))
        }
    }
}

fn http(s: &McpServerSection, url: &str, base: &[Seg], ck: &mut Checker) -> Option<McpTransport> {
    for (field, given) in [("env", !s.env.is_empty()), ("cwd", s.cwd.is_some())] {
        if given {
            ck.at(base, &[field], "only with command (a stdio server)");
        }
    }
    let mut headers = header_pairs(&s.headers, base, &["headers"], ck);
    for (_, v) in &mut headers {
        v.set_sensitive(true);
    }
    match url.parse::<http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {
            Some(McpTransport::Http { url: u, headers })
        }
        _ => {
            let msg = format!(
                "{url:?}: an http:// or https:// URL, e.g. \"https://mcp.example.com/mcp\""
            );
            ck.at(base, &["url"], msg);
            None
        }
    }
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
        let McpTransport::Http { headers, .. } = &s.transport else {
            panic!("{s:?}")
        };
        assert_eq!(headers[0].1.to_str().unwrap(), "Bearer s3cret");
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
    fn a_stdio_server_compiles_with_its_env_redacted() {
        std::env::set_var("TOLLGATE_TEST_MCP_STDIO", "s3cret");
        let c = problems(
            r#"
[[mcp_servers]]
name = "files"
command = ["sh", "-c", "exec my-server"]
env = { TOKEN = "${TOLLGATE_TEST_MCP_STDIO}" }
cwd = "/"
"#,
        )
        .unwrap();
        let s = &c.mcp_servers[0];
        let McpTransport::Stdio(l) = &s.transport else {
            panic!("{s:?}")
        };
        assert_eq!((l.program.as_str(), l.args.len()), ("sh", 2));
        assert_eq!(l.env, [("TOKEN".to_string(), "s3cret".to_string())]);
        assert_eq!(l.cwd.as_deref(), Some(std::path::Path::new("/")));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(s.transport.upstream().as_deref(), Some("stdio:sh"));
    }

    #[test]
    fn bad_stdio_servers_get_located_errors() {
        let p = problems(
            r#"
[[mcp_servers]]
name = "both"
url = "http://h/mcp"
command = ["sh"]

[[mcp_servers]]
name = "neither"

[[mcp_servers]]
name = "empty"
command = []

[[mcp_servers]]
name = "missing"
command = ["tollgate-no-such-program-x"]
headers = { Authorization = "x" }
env = { "A=B" = "x" }
cwd = "/no/such/dir"

[[mcp_servers]]
name = "notexec"
command = ["/etc/passwd"]

[[mcp_servers]]
name = "nofile"
command = ["./bin/none"]

[[mcp_servers]]
name = "httpenv"
url = "http://h/mcp"
env = { A = "b" }
cwd = "/"
"#,
        )
        .unwrap_err();
        let has = |s: &str| p.iter().any(|l| l.contains(s));
        assert!(
            has("mcp_servers[0].command: give either url (a Streamable HTTP server) or command"),
            "{p:?}"
        );
        assert!(
            has("mcp_servers[1]: give url (a Streamable HTTP server"),
            "{p:?}"
        );
        assert!(
            has("mcp_servers[2].command: name the program to run"),
            "{p:?}"
        );
        assert!(
            has("mcp_servers[3].command: program \"tollgate-no-such-program-x\" is not found on PATH"),
            "{p:?}"
        );
        assert!(has("mcp_servers[3].headers: only with url"), "{p:?}");
        assert!(
            has("mcp_servers[3].env: \"A=B\": a variable's name"),
            "{p:?}"
        );
        assert!(
            has("mcp_servers[3].cwd: \"/no/such/dir\" is not a directory"),
            "{p:?}"
        );
        assert!(
            has("mcp_servers[4].command: \"/etc/passwd\" is not an executable file"),
            "{p:?}"
        );
        assert!(
            has("mcp_servers[5].command: \"./bin/none\" does not exist"),
            "{p:?}"
        );
        assert!(has("mcp_servers[6].env: only with command"), "{p:?}");
        assert!(has("mcp_servers[6].cwd: only with command"), "{p:?}");
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
