//! Upstream MCP servers' tools at the gateway's endpoint: listed as `{server}.{tool}` for a
//! key the server's API gate admits (the data plane's own, `access::check_api`), and called
//! through `mcp::upstream` with the server's injected headers. Any failure is a tool error.

use crate::auth::{Denied, Directory};
use crate::error::GatewayError;
use crate::mcp::server::error_content;
use crate::mcp::upstream::Upstream;
use crate::mcp::Catalog;
use crate::snapshot::Snapshot;
use pingora::http::RequestHeader;
use serde_json::Value;

/// Whether the caller's key may use `server` now (published or deprecated, visible,
/// subscribed and approved), or the gateway's reason why not.
fn admits(
    server: &Upstream,
    snapshot: &Snapshot,
    dir: &Directory,
    req: &RequestHeader,
) -> Result<(), GatewayError> {
    let spec = &server.spec;
    let mut known = None;
    super::super::access::check_api(&spec.name, &spec.api, snapshot, dir, req, &mut known)
        .map(|_| ())
}

/// Whether the gate's refusal hides the server altogether (a draft, or not visible to the
/// tenant): its tools are then unknown, as those of a route the tenant may not see.
fn hidden(e: &GatewayError) -> bool {
    matches!(
        e,
        GatewayError::NoRoute { .. } | GatewayError::Denied(Denied::NotVisible { .. })
    )
}

/// The tools of every server the caller may use, prefixed with the server's name.
pub(super) async fn list(
    catalog: &Catalog,
    snapshot: &Snapshot,
    dir: &Directory,
    req: &RequestHeader,
) -> Vec<Value> {
    let mut out = Vec::new();
    for server in &catalog.servers {
        out.extend(list_one(server, true, snapshot, dir, req).await);
    }
    out
}

/// The tools of `server` if the caller may use it, prefixed or as the upstream names them. A
/// server that cannot be listed now gives none (and is logged): the others still are listed.
pub(super) async fn list_one(
    server: &Upstream,
    prefixed: bool,
    snapshot: &Snapshot,
    dir: &Directory,
    req: &RequestHeader,
) -> Vec<Value> {
    if admits(server, snapshot, dir, req).is_err() {
        return Vec::new();
    }
    match server.tools(false).await {
        Ok(tools) if !prefixed => tools,
        Ok(tools) => tools
            .into_iter()
            .map(|mut t| {
                let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
                t["name"] = Value::from(format!("{}.{name}", server.spec.name));
                t
            })
            .collect(),
        Err(e) => {
            tracing::warn!("mcp: {e}");
            Vec::new()
        }
    }
}

/// Calls `name` when it is `{server}.{tool}` of a configured server: the `tools/call`
/// result; `None` when no server has that prefix.
pub(super) async fn call(
    catalog: &Catalog,
    snapshot: &Snapshot,
    dir: &Directory,
    req: &RequestHeader,
    name: &str,
    arguments: Value,
) -> Option<Value> {
    let (server, tool) = catalog.servers.iter().find_map(|s| {
        let tool = name.strip_prefix(s.spec.name.as_str())?.strip_prefix('.')?;
        Some((s, tool))
    })?;
    if admits(server, snapshot, dir, req).is_err_and(|e| hidden(&e)) {
        return None;
    }
    Some(call_one(server, tool, arguments, snapshot, dir, req).await)
}

/// Calls `tool` (the upstream's name) of `server` as the caller; failures are tool errors.
pub(super) async fn call_one(
    server: &Upstream,
    tool: &str,
    arguments: Value,
    snapshot: &Snapshot,
    dir: &Directory,
    req: &RequestHeader,
) -> Value {
    if let Err(why) = admits(server, snapshot, dir, req) {
        return error_content(&why.to_string());
    }
    match server.call(tool, arguments).await {
        Ok(result) => result,
        Err(e) => error_content(&e.to_string()),
    }
}
