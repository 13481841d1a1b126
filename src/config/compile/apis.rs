//! An API by name, whatever declares it: a route (REST, LLM or prompt API) or an upstream MCP
//! server (`[[mcp_servers]]`). Both share one namespace (the compiler refuses a server named as
//! a route), carry one `ApiSpec`, and are subscribed to, overridden and recorded under that
//! name; the admin API reads every API through this one view instead of asking each kind.

use super::api::ApiSpec;
use super::{Config, McpServerSpec, PathMatch, RouteSpec, RouteTarget};
use serde::Serialize;
use std::borrow::Cow;

/// What an API is, as the admin API and the catalog name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiKind {
    Rest,
    Llm,
    Prompt,
    McpServer,
}

/// One API of a configuration.
#[derive(Debug, Clone, Copy)]
pub enum ApiRef<'a> {
    Route(&'a RouteSpec),
    McpServer(&'a McpServerSpec),
}

impl<'a> ApiRef<'a> {
    pub fn name(self) -> &'a str {
        match self {
            ApiRef::Route(r) => &r.name,
            ApiRef::McpServer(s) => &s.name,
        }
    }

    /// Its access rules and catalog entry.
    pub fn spec(self) -> &'a ApiSpec {
        match self {
            ApiRef::Route(r) => &r.api,
            ApiRef::McpServer(s) => &s.api,
        }
    }

    pub fn kind(self) -> ApiKind {
        match self {
            ApiRef::Route(r) => match r.target {
                RouteTarget::Llm => ApiKind::Llm,
                RouteTarget::Prompt(_) => ApiKind::Prompt,
                RouteTarget::Upstream(_) => ApiKind::Rest,
            },
            ApiRef::McpServer(_) => ApiKind::McpServer,
        }
    }

    /// The HTTP methods it answers; empty for a route that matches any. An MCP endpoint takes
    /// `POST` (JSON-RPC) and `DELETE` (the end of a session).
    pub fn methods(self) -> Vec<&'a str> {
        match self {
            ApiRef::Route(r) => r.methods.iter().map(|m| m.as_str()).collect(),
            ApiRef::McpServer(_) => vec!["POST", "DELETE"],
        }
    }
}

impl Config {
    /// Every API: the routes in order, then the MCP servers.
    pub fn apis(&self) -> impl Iterator<Item = ApiRef<'_>> {
        let routes = self.routes.iter().map(ApiRef::Route);
        routes.chain(self.mcp_servers.iter().map(ApiRef::McpServer))
    }

    /// The API named `name`, of any kind.
    pub fn api(&self, name: &str) -> Option<ApiRef<'_>> {
        self.apis().find(|a| a.name() == name)
    }

    /// Where callers reach `api`: a route's path (prefix or exact), an MCP server's own
    /// endpoint `{mcp.path}/{name}`; `None` for an MCP server while `[mcp]` is turned off.
    pub fn api_path<'a>(&'a self, api: ApiRef<'a>) -> Option<Cow<'a, str>> {
        match api {
            ApiRef::Route(r) => Some(Cow::Borrowed(match &r.path {
                PathMatch::Exact(p) | PathMatch::Prefix(p) => p,
            })),
            ApiRef::McpServer(s) => {
                let mcp = self.mcp.as_ref()?;
                Some(Cow::Owned(format!("{}/{}", mcp.path, s.name)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(mcp: &str) -> Config {
        load_with(mcp, "").unwrap()
    }

    /// The configuration with `[mcp]` as `mcp`, the route `orders` and the server `github`
    /// (`server_api`: its `api` table's lines); or its problems as `path: message`.
    fn load_with(mcp: &str, server_api: &str) -> Result<Config, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        let text = format!(
            r#"
[server]
listen = ["127.0.0.1:0"]
[store]
path = "s.db"
{mcp}
[[upstreams]]
name = "u"
targets = ["127.0.0.1:1"]
[[routes]]
name = "orders"
path_prefix = "/orders"
methods = ["GET"]
upstream = "u"
[[mcp_servers]]
name = "github"
url = "http://127.0.0.1:9/mcp"
headers = {{ Authorization = "Bearer x" }}
[mcp_servers.api]
{server_api}
"#
        );
        std::fs::write(&p, text).unwrap();
        crate::config::load(&p).map_err(|e| {
            e.0.into_iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect()
        })
    }

    #[test]
    fn routes_and_mcp_servers_are_apis_by_name() {
        let c = load("[mcp]\npath = \"/agents\"");
        let names: Vec<&str> = c.apis().map(ApiRef::name).collect();
        assert_eq!(names, ["orders", "github"]);
        let route = c.api("orders").unwrap();
        assert_eq!(route.kind(), ApiKind::Rest);
        assert_eq!(c.api_path(route).as_deref(), Some("/orders"));
        assert_eq!(route.methods(), ["GET"]);
        let server = c.api("github").unwrap();
        assert_eq!(server.kind(), ApiKind::McpServer);
        assert_eq!(c.api_path(server).as_deref(), Some("/agents/github"));
        assert_eq!(server.methods(), ["POST", "DELETE"]);
        assert!(std::ptr::eq(server.spec(), &c.mcp_servers[0].api));
        assert!(c.api("nope").is_none());
    }

    #[test]
    fn an_mcp_server_has_no_path_while_the_endpoint_is_off() {
        let c = load("[mcp]\nenabled = false");
        let server = c.api("github").unwrap();
        assert_eq!(c.api_path(server), None);
    }

    #[test]
    fn a_successor_may_be_any_api_and_must_exist() {
        let c = load_with("[mcp]", "successor = \"orders\"").unwrap();
        assert_eq!(c.mcp_servers[0].api.successor.as_deref(), Some("orders"));
        let p = load_with("[mcp]", "successor = \"ordres\"").unwrap_err();
        assert_eq!(
            p,
            [
                "mcp_servers[0].api.successor: no API (route or MCP server) named \"ordres\" \
              (did you mean \"orders\"?)"
            ]
        );
    }
}
