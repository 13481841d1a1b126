//! Upstream MCP servers' tools at the gateway's endpoint: listed as `{server}.{tool}` for a
//! key the server's API gate admits (the data plane's own, `access::check_api`), and called
//! through `mcp::upstream` with the server's injected credentials (headers, or a stdio child's
//! environment). Any failure is a tool error.

use crate::auth::directory::KeyEntry;
use crate::auth::{Denied, Directory};
use crate::config::Lifecycle;
use crate::error::GatewayError;
use crate::limits::check::Book;
use crate::limits::concurrency::Held;
use crate::limits::gate::Gate;
use crate::limits::vocab::{Caller, Limited};
use crate::mcp::server::error_content;
use crate::mcp::upstream::Upstream;
use crate::mcp::Catalog;
use crate::proxy::GatewayState;
use crate::snapshot::Snapshot;
use pingora::http::RequestHeader;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Whether the caller's key may use `server` now (published or deprecated, visible,
/// subscribed and approved), or the gateway's reason why not.
fn admits<'d>(
    server: &Upstream,
    snapshot: &Snapshot,
    dir: &'d Directory,
    req: &RequestHeader,
) -> Result<Option<&'d KeyEntry>, GatewayError> {
    let spec = &server.spec;
    let mut known = None;
    super::super::access::check_api(&spec.name, &spec.api, snapshot, dir, req, &mut known)
        .map(|g| g.key)
}

/// Draws one tool call from the server's limits and the key's (tenant, app, plan) request
/// limits, keyed with the server's name as the route; the concurrency places it holds.
async fn limit(
    gate: &Gate,
    server: &Upstream,
    snapshot: &Snapshot,
    key: Option<&KeyEntry>,
) -> Result<Vec<Held>, Limited> {
    let spec = &server.spec;
    let principal = key.map(|k| &k.principal);
    let key_limits = principal.map_or(&[][..], |p| &p.limits.requests[..]);
    if spec.limits.is_empty() && spec.concurrency_limits.is_empty() && key_limits.is_empty() {
        return Ok(Vec::new());
    }
    let caller = Caller {
        route: Arc::from(spec.name.as_str()),
        tenant: principal.map(|p| p.tenant.clone()),
        app: principal.map(|p| p.app.clone()),
        key_id: key.map(|k| k.id.clone()),
        model: None,
        client_ip: None,
    };
    let book = Book::of(snapshot);
    let (mut headers, mut held) = (Vec::new(), Vec::new());
    let own = (&spec.limits[..], &spec.concurrency_limits[..]);
    gate.admit_of(&book, own, key_limits, &caller, &mut headers, &mut held)
        .await?;
    Ok(held)
}

/// Whether the gate's refusal hides the server altogether (a draft, or not visible to the
/// tenant): its tools are then unknown, as those of a route the tenant may not see.
fn hidden(e: &GatewayError) -> bool {
    matches!(
        e,
        GatewayError::NoRoute { .. } | GatewayError::Denied(Denied::NotVisible { .. })
    )
}

/// The catalog entries of the servers the caller's tenant may see (published or deprecated,
/// visible to it), as `resources/list` offers them beside the APIs'. `callable` says whether
/// the key may use it now (subscribed, approved). Never the server's URL nor its headers.
pub(super) fn entries(
    catalog: &Catalog,
    snapshot: &Snapshot,
    dir: &Directory,
    req: &RequestHeader,
    tenant: &str,
) -> Vec<Value> {
    catalog
        .servers
        .iter()
        .filter_map(|server| {
            let spec = &server.spec;
            let state = dir
                .state_override(&spec.name)
                .map_or(spec.api.state, |o| o.state);
            let listed = matches!(state, Lifecycle::Published | Lifecycle::Deprecated);
            if !listed || !spec.api.visibility.admits(tenant) {
                return None;
            }
            let api = crate::config::ApiRef::McpServer(spec);
            Some(serde_json::json!({
                "name": spec.name,
                "kind": api.kind(),
                "path": format!("{}/{}", catalog.spec.path, spec.name),
                "methods": api.methods(),
                "description": spec.api.description,
                "version": spec.api.version,
                "owner": spec.api.owner,
                "state": state,
                "tool_prefix": format!("{}.", spec.name),
                "callable": admits(server, snapshot, dir, req).is_ok(),
            }))
        })
        .collect()
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
    by: (&GatewayState, &str),
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
    Some(call_one(by, server, tool, arguments, snapshot, dir, req).await)
}

/// Calls `tool` (the upstream's name) of `server` as the caller (`by`: the gateway's state and
/// the MCP request's id); failures are tool errors. Each call is recorded as a call of the API
/// `server` (`tool_record`).
pub(super) async fn call_one(
    by: (&GatewayState, &str),
    server: &Upstream,
    tool: &str,
    arguments: Value,
    snapshot: &Snapshot,
    dir: &Directory,
    req: &RequestHeader,
) -> Value {
    let (state, request_id) = by;
    let (time, start) = (SystemTime::now(), Instant::now());
    let bytes_in = arguments.to_string().len() as u64;
    let mut key = None;
    let world = (snapshot, dir, req);
    let outcome = attempt(&state.gate, server, tool, arguments, world, &mut key).await;
    let result = match &outcome {
        Ok(result) => result.clone(),
        Err((_, _, why)) => error_content(why),
    };
    let call = super::tool_record::ToolCall {
        server: &server.spec,
        tool,
        key,
        request_id,
        time,
        took: start.elapsed(),
        outcome: outcome
            .as_ref()
            .map(|_| ())
            .map_err(|(s, c, m)| (*s, *c, m.as_str())),
        bytes: (bytes_in, result.to_string().len() as u64),
    };
    super::tool_record::write(state, &snapshot.config, &call);
    result
}

/// A failed call: the status and error code its record gets, and the tool error's text.
type Failure = (u16, &'static str, String);

async fn attempt<'d>(
    gate: &Gate,
    server: &Upstream,
    tool: &str,
    arguments: Value,
    (snapshot, dir, req): (&Snapshot, &'d Directory, &RequestHeader),
    key: &mut Option<&'d KeyEntry>,
) -> Result<Value, Failure> {
    let gateway = |e: GatewayError| (e.status(), e.code(), e.to_string());
    *key = admits(server, snapshot, dir, req).map_err(gateway)?;
    // Held until the call ends: the server's concurrency caps count calls in flight.
    let _held = limit(gate, server, snapshot, *key)
        .await
        .map_err(|l| gateway(l.into()))?;
    server
        .call(tool, arguments)
        .await
        .map_err(|e| (502, "mcp_upstream_failed", e.to_string()))
}
