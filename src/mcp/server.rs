//! The MCP methods, answered over the APIs one caller may use (decided by the caller of these
//! functions with the data plane's API gate). A tool call is not made here: `dispatch` says
//! which request to make, and `tool_result` turns its answer into MCP content.

use super::call::{self, HttpCall};
use super::jsonrpc::{RpcError, INVALID_PARAMS, METHOD_NOT_FOUND, RESOURCE_NOT_FOUND};
use super::tools::Tool;
use super::{route_path, Api};
use crate::config::Lifecycle;
use serde_json::{json, Value};

/// Protocol revisions this server speaks, newest first: those of the `initialize` handshake
/// that the official Python SDK (`mcp` 2.3.0) offers, back to the first with Streamable HTTP.
pub const VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// The version a client that sends no `MCP-Protocol-Version` header is assumed to speak
/// (the specification's rule for Streamable HTTP).
pub const ASSUMED_VERSION: &str = "2025-03-26";

/// Resources' URIs: `tollgate://catalog/{api}`.
pub const RESOURCE_PREFIX: &str = "tollgate://catalog/";

/// An API of the catalog the caller's tenant may see, in its current lifecycle state.
pub struct Visible<'a> {
    pub api: &'a Api,
    pub state: Lifecycle,
    /// Whether the data plane's API gate lets the caller's key call it now (subscribed,
    /// approved). Only callable APIs' tools are listed; a call to another visible API's tool
    /// is still made, and the gate's refusal comes back as a tool error naming the reason.
    pub callable: bool,
}

/// What to do with a request.
pub enum Step<'a> {
    Reply(Value),
    /// Make this request to `api` as the caller and answer with `tool_result`.
    Call(&'a Api, HttpCall),
    Fail(RpcError),
}

/// The version to speak: the client's when this server has it, else the newest.
pub fn negotiate(requested: Option<&str>) -> &'static str {
    VERSIONS
        .iter()
        .find(|v| Some(**v) == requested)
        .copied()
        .unwrap_or(VERSIONS[0])
}

/// `initialize`'s result.
pub fn initialize(params: &Value) -> Value {
    let requested = params.get("protocolVersion").and_then(Value::as_str);
    json!({
        "protocolVersion": negotiate(requested),
        "capabilities": {
            "tools": { "listChanged": false },
            "resources": { "subscribe": false, "listChanged": false },
        },
        "serverInfo": { "name": "tollgate", "version": env!("CARGO_PKG_VERSION") },
        "instructions": "The tools are the operations of the APIs your key may call; the \
            resources are their catalog entries with their OpenAPI documents.",
    })
}

/// Answers a request other than `initialize`; `servers` are the catalog entries of the
/// upstream MCP servers the caller may see, offered as resources beside the APIs'.
pub fn dispatch<'a>(
    method: &str,
    params: &Value,
    visible: &[Visible<'a>],
    servers: &[Value],
) -> Step<'a> {
    match method {
        "ping" => Step::Reply(json!({})),
        "tools/list" => paged(params, || {
            let tools: Vec<Value> = visible
                .iter()
                .filter(|v| v.callable)
                .flat_map(|v| v.api.tools.iter().map(Tool::to_json))
                .collect();
            json!({ "tools": tools })
        }),
        "tools/call" => call_tool(params, visible),
        "resources/list" => paged(params, || {
            let apis = visible.iter().map(|v| entry(v));
            let list: Vec<Value> = apis.chain(servers.iter().cloned()).map(resource).collect();
            json!({ "resources": list })
        }),
        "resources/templates/list" => paged(params, || json!({ "resourceTemplates": [] })),
        "resources/read" => read_resource(params, visible, servers),
        _ => Step::Fail(RpcError::new(
            METHOD_NOT_FOUND,
            format!("method {method:?} is not supported by this server"),
        )),
    }
}

/// Lists come whole, in one page: a cursor this server never gave is refused.
fn paged<'a>(params: &Value, list: impl FnOnce() -> Value) -> Step<'a> {
    match params.get("cursor") {
        None | Some(Value::Null) => Step::Reply(list()),
        Some(_) => Step::Fail(RpcError::new(INVALID_PARAMS, "unknown cursor")),
    }
}

fn call_tool<'a>(params: &Value, visible: &[Visible<'a>]) -> Step<'a> {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Step::Fail(RpcError::new(INVALID_PARAMS, "tools/call needs a name"));
    };
    let args = match params.get("arguments") {
        None | Some(Value::Null) => Default::default(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            return Step::Fail(RpcError::new(
                INVALID_PARAMS,
                "tools/call: arguments must be an object",
            ))
        }
    };
    let Some((api, tool)) = visible
        .iter()
        .flat_map(|v| v.api.tools.iter().map(|t| (v.api, t)))
        .find(|(_, t)| t.name == name)
    else {
        return Step::Fail(RpcError::new(
            INVALID_PARAMS,
            format!("unknown tool {name:?}"),
        ));
    };
    // Wrong arguments are a tool error, which the model can read and correct (2025-11-25).
    match call::build(&tool.op, &args) {
        Ok(http) => Step::Call(api, http),
        Err(msg) => Step::Reply(error_content(&format!("{name}: {msg}"))),
    }
}

/// A tool call's answer: the body as text; a status other than 2xx is a tool error whose
/// text is the gateway's (or the API's) message.
pub fn tool_result(status: u16, body: &[u8]) -> Value {
    let text = String::from_utf8_lossy(body);
    if (200..300).contains(&status) {
        return json!({ "content": [{ "type": "text", "text": text }], "isError": false });
    }
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(String::from)
        })
        .unwrap_or_else(|| text.into_owned());
    error_content(&format!("HTTP {status}: {message}"))
}

/// A tool error: `isError` with the reason as text.
pub fn error_content(message: &str) -> Value {
    json!({ "content": [{ "type": "text", "text": message }], "isError": true })
}

/// A catalog entry as a resource of the list.
fn resource(entry: Value) -> Value {
    let name = entry["name"].as_str().unwrap_or_default();
    json!({
        "uri": format!("{RESOURCE_PREFIX}{name}"),
        "name": name,
        "description": entry["description"],
        "mimeType": "application/json",
    })
}

fn read_resource<'a>(params: &Value, visible: &[Visible<'a>], servers: &[Value]) -> Step<'a> {
    let Some(uri) = params.get("uri").and_then(Value::as_str) else {
        return Step::Fail(RpcError::new(INVALID_PARAMS, "resources/read needs a uri"));
    };
    let found = uri.strip_prefix(RESOURCE_PREFIX).and_then(|name| {
        let api = visible.iter().find(|v| &*v.api.route.name == name);
        api.map(entry)
            .or_else(|| servers.iter().find(|s| s["name"] == name).cloned())
    });
    let Some(found) = found else {
        return Step::Fail(RpcError::new(
            RESOURCE_NOT_FOUND,
            format!("no resource {uri:?}"),
        ));
    };
    let text = found.to_string();
    Step::Reply(json!({
        "contents": [{ "uri": uri, "mimeType": "application/json", "text": text }],
    }))
}

/// An API's catalog entry, as the admin catalog shows it.
pub fn entry(v: &Visible) -> Value {
    let route = &v.api.route;
    let spec = &route.spec;
    json!({
        "name": &*route.name,
        "kind": crate::config::ApiRef::Route(spec).kind(),
        "path": route_path(route),
        "methods": spec.methods.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "description": spec.api.description,
        "version": spec.api.version,
        "owner": spec.api.owner,
        "state": v.state,
        "openapi": v.api.openapi,
        "tools": v.api.tools.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_negotiated() {
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(Some("2099-01-01")), VERSIONS[0]);
        assert_eq!(negotiate(None), VERSIONS[0]);
        let init = initialize(&json!({"protocolVersion": "2025-03-26"}));
        assert_eq!(init["protocolVersion"], "2025-03-26");
        assert_eq!(init["serverInfo"]["name"], "tollgate");
        assert!(init["capabilities"]["tools"].is_object());
    }

    #[test]
    fn unknown_methods_and_tools() {
        let code = |s: Step| match s {
            Step::Fail(e) => e.code,
            _ => 0,
        };
        assert_eq!(
            code(dispatch("prompts/list", &Value::Null, &[], &[])),
            METHOD_NOT_FOUND
        );
        let call = json!({"name": "nope", "arguments": {}});
        assert_eq!(
            code(dispatch("tools/call", &call, &[], &[])),
            INVALID_PARAMS
        );
        assert_eq!(
            code(dispatch("tools/call", &json!({}), &[], &[])),
            INVALID_PARAMS
        );
        let bad = json!({"name": "x", "arguments": [1]});
        assert_eq!(code(dispatch("tools/call", &bad, &[], &[])), INVALID_PARAMS);
        let read = json!({"uri": "tollgate://catalog/x"});
        assert_eq!(
            code(dispatch("resources/read", &read, &[], &[])),
            RESOURCE_NOT_FOUND
        );
        assert_eq!(
            code(dispatch("tools/list", &json!({"cursor": "c"}), &[], &[])),
            INVALID_PARAMS
        );
        match dispatch("tools/list", &Value::Null, &[], &[]) {
            Step::Reply(v) => assert_eq!(v, json!({"tools": []})),
            _ => panic!("tools/list failed"),
        }
    }

    #[test]
    fn answers_become_content() {
        let ok = tool_result(200, br#"{"id":1}"#);
        assert_eq!(ok["isError"], false);
        assert_eq!(ok["content"][0]["text"], r#"{"id":1}"#);
        let refused = tool_result(403, br#"{"error":{"message":"app a is not subscribed"}}"#);
        assert_eq!(refused["isError"], true);
        assert_eq!(
            refused["content"][0]["text"],
            "HTTP 403: app a is not subscribed"
        );
        assert_eq!(
            tool_result(502, b"down")["content"][0]["text"],
            "HTTP 502: down"
        );
    }
}
