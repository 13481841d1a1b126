//! The MCP endpoint (`[mcp]`) with the official `mcp` Python SDK as its client
//! (tests/it/sdk/mcp_client.py, pinned in tests/it/sdk/requirements.txt), and raw HTTP for the
//! transport's details the SDK hides: sessions and their headers, status codes, JSON-RPC
//! errors. Two tenants' apps with different subscriptions see different tools; a tool call is
//! a real request through the data plane to an in-test upstream.

use crate::common;
use crate::sdk::python;
use common::keys::TestKey;
use common::providers::MOCK;
use common::*;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const ORDERS: &str = r#"{
  "openapi": "3.0.3",
  "info": {"title": "orders", "version": "1"},
  "paths": {
    "/items/{id}": {"get": {"operationId": "getItem", "summary": "Get one item",
      "parameters": [
        {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
        {"name": "fields", "in": "query", "schema": {"type": "string"}}]}},
    "/items": {"post": {"operationId": "createItem", "summary": "Create an item",
      "requestBody": {"required": true, "content": {"application/json": {"schema":
        {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}}}}}
  }
}"#;

const BILLING: &str = r#"{
  "openapi": "3.0.3",
  "info": {"title": "billing", "version": "1"},
  "paths": {"/invoices/{n}": {"get": {"operationId": "getInvoice",
    "parameters": [{"name": "n", "in": "path", "required": true, "schema": {"type": "integer"}}]}}}
}"#;

struct Setup {
    gw: Gateway,
    up: Upstream,
    /// acme/web: subscribed to `orders`.
    web: TestKey,
    /// acme/idle: subscribed to nothing.
    idle: TestKey,
    /// globex/svc: subscribed to `billing` and `secret` (visible to globex only).
    svc: TestKey,
    _docs: tempfile::TempDir,
}

fn setup(workers: usize) -> Setup {
    setup_with(workers, "")
}

/// `setup` with `mcp` as the lines of the `[mcp]` section.
fn setup_with(workers: usize, mcp: &str) -> Setup {
    let up = Upstream::start("svc", |req| {
        let body = String::from_utf8_lossy(&req.body).into_owned();
        let reply =
            Reply::ok(json!({"method": req.method, "path": req.path, "body": body}).to_string());
        match req.path.as_str() {
            "/orders/items/boom" => Reply::ok("the shelf fell over").status(500),
            "/orders/items/slow" => reply.delay(Duration::from_secs(3)),
            _ => reply,
        }
    });
    let docs = tempfile::tempdir().unwrap();
    let orders = docs.path().join("orders.json");
    let billing = docs.path().join("billing.json");
    std::fs::write(&orders, ORDERS).unwrap();
    std::fs::write(&billing, BILLING).unwrap();
    let (web, idle, svc) = (TestKey::new(), TestKey::new(), TestKey::new());
    let body = format!(
        r#"
[store]
path = "tollgate.db"

[mcp]
{mcp}

[[upstreams]]
name = "svc"
targets = ["{addr}"]

[[routes]]
name = "orders"
path_prefix = "/orders"
upstream = "svc"
[routes.api]
auth = "api_key"
description = "Orders of the shop"
version = "1"
openapi = "{orders}"

[[routes]]
name = "billing"
path_prefix = "/billing"
upstream = "svc"
[routes.api]
auth = "api_key"
openapi = "{billing}"

[[routes]]
name = "secret"
path_prefix = "/secret"
upstream = "svc"
[routes.api]
auth = "api_key"
visibility = ["globex"]
openapi = "{billing}"

[[routes]]
name = "open"
path_prefix = "/open"
upstream = "svc"
[routes.api]
openapi = "{billing}"

[[tenants]]
name = "acme"
[[tenants.apps]]
name = "web"
subscriptions = ["orders"]
{web}
[[tenants.apps]]
name = "idle"
{idle}
[[tenants]]
name = "globex"
[[tenants.apps]]
name = "svc"
subscriptions = ["billing", "secret"]
{svc}
"#,
        addr = up.addr(),
        orders = orders.display(),
        billing = billing.display(),
        web = web.lines(""),
        idle = idle.lines(""),
        svc = svc.lines(""),
    );
    Setup {
        gw: Gateway::start(workers, &body),
        up,
        web,
        idle,
        svc,
        _docs: docs,
    }
}

/// Runs tests/it/sdk/mcp_client.py as `key` with `calls`; its JSON summary.
fn sdk(gw: &Gateway, key: &TestKey, calls: Value) -> Value {
    sdk_at(gw, "/mcp", key, calls)
}

/// `sdk` against the MCP endpoint at `path`.
pub fn sdk_at(gw: &Gateway, path: &str, key: &TestKey, calls: Value) -> Value {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/sdk/mcp_client.py");
    let mut cmd = Command::new(python());
    cmd.arg(&script)
        .args(["--url", &gw.url(path), "--key", &key.full])
        .args(["--calls", &calls.to_string()])
        .env("PYTHONDONTWRITEBYTECODE", "1");
    for (k, _) in std::env::vars_os() {
        let upper = k.to_string_lossy().to_ascii_uppercase();
        if upper.ends_with("_PROXY") || upper == "PYTHONPATH" || upper == "PYTHONHOME" {
            cmd.env_remove(&k);
        }
    }
    let out = output_within(&mut cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mcp_client.py failed ({}):\n{stdout}\n{}\n--- gateway:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        gw.stderr()
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    n.sort();
    n
}

#[test]
fn the_sdk_lists_what_each_key_may_call_and_calls_it_through_the_data_plane() {
    let s = setup(2);
    let calls = json!([
        {"name": "orders.getItem", "arguments": {"id": "a b?#", "fields": "x&y"}},
        {"name": "orders.createItem", "arguments": {"body": {"name": "pen"}}},
        {"name": "orders.getItem", "arguments": {}},
        {"name": "nope", "arguments": {}},
    ]);
    let web = sdk(&s.gw, &s.web, calls);
    assert_eq!(web["server"]["name"], "tollgate");
    assert_eq!(web["protocol"], "2025-11-25");
    assert_eq!(
        web["capabilities"],
        json!({"tools": true, "resources": true})
    );
    assert_eq!(
        names(&web["tools"]),
        ["open.getInvoice", "orders.createItem", "orders.getItem"]
    );
    let get = &web["tools"]["orders.getItem"];
    assert_eq!(get["description"], "Get one item");
    assert_eq!(get["inputSchema"]["required"], json!(["id"]));
    assert_eq!(
        web["tools"]["orders.createItem"]["inputSchema"]["properties"]["body"]["required"],
        json!(["name"])
    );
    // The catalog entries acme may see: not `secret`, visible to globex only.
    assert_eq!(
        web["resources"],
        json!([
            "tollgate://catalog/orders",
            "tollgate://catalog/billing",
            "tollgate://catalog/open"
        ])
    );
    let entry = &web["read"]["tollgate://catalog/orders"];
    assert_eq!(entry["description"], "Orders of the shop");
    assert_eq!(entry["state"], "published");
    assert_eq!(entry["openapi"]["info"]["title"], "orders");
    // The calls: what the upstream received, and what the agent got back.
    let c = &web["calls"];
    assert_eq!(c[0]["isError"], false, "{c}");
    let got: Value = serde_json::from_str(c[0]["text"].as_str().unwrap()).unwrap();
    // Encoded, so that an argument can add no path segment, query parameter or fragment.
    assert_eq!(got["path"], "/orders/items/a%20b%3F%23?fields=x%26y");
    assert_eq!(got["method"], "GET");
    assert_eq!(c[1]["isError"], false, "{c}");
    let reqs = s.up.requests.lock().unwrap().clone();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(
        (reqs[1].method.as_str(), reqs[1].path.as_str()),
        ("POST", "/orders/items")
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&reqs[1].body).unwrap(),
        json!({"name": "pen"})
    );
    // The key went through the API gate, which strips it before the upstream.
    assert!(
        reqs.iter().all(|r| r.header("authorization").is_none()),
        "{reqs:?}"
    );
    // A missing argument is a tool error the model can read; an unknown tool a JSON-RPC one.
    assert_eq!(c[2]["isError"], true);
    assert!(
        c[2]["text"]
            .as_str()
            .unwrap()
            .contains("missing argument \"id\""),
        "{c}"
    );
    assert_eq!(c[3]["rpcError"], -32602, "{c}");
    assert_eq!(web["ping"], true);
    // Each tool call is a call record of its API, with the caller's tenant and app.
    let log = wait_for("the tool calls' records", Duration::from_secs(10), || {
        let log = s.gw.access_log();
        let lines: Vec<Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["route"] == "orders")
            .collect();
        (lines.len() >= 2).then_some(lines)
    });
    assert!(
        log.iter()
            .all(|l| l["tenant"] == "acme" && l["app"] == "web"),
        "{log:?}"
    );

    // Another tenant's app sees its own APIs' tools, `secret` included.
    let svc = sdk(
        &s.gw,
        &s.svc,
        json!([{"name": "billing.getInvoice", "arguments": {"n": 7}}]),
    );
    assert_eq!(
        names(&svc["tools"]),
        ["billing.getInvoice", "open.getInvoice", "secret.getInvoice"]
    );
    assert_eq!(svc["resources"].as_array().unwrap().len(), 4);
    assert_eq!(svc["calls"][0]["isError"], false, "{}", svc["calls"]);
    assert_eq!(s.up.last_request().unwrap().path, "/billing/invoices/7");
}

#[test]
fn a_call_the_api_gate_refuses_is_a_tool_error_with_its_message() {
    let s = setup(1);
    let idle = sdk(
        &s.gw,
        &s.idle,
        json!([{"name": "orders.getItem", "arguments": {"id": "1"}},
               {"name": "secret.getInvoice", "arguments": {"n": 1}}]),
    );
    // No subscription: only the open API's tools.
    assert_eq!(names(&idle["tools"]), ["open.getInvoice"]);
    let c = &idle["calls"];
    assert_eq!(c[0]["isError"], true, "{c}");
    let text = c[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("HTTP 403: ") && text.contains("no subscription to API orders"),
        "{text}"
    );
    // An API the tenant may not see is not there at all.
    assert_eq!(c[1]["rpcError"], -32602, "{c}");
    assert_eq!(s.up.hits(), 0);
}

/// Raw HTTP: one fresh connection per request, so that with two workers requests land on both.
pub(crate) struct Raw<'a> {
    gw: &'a Gateway,
    http: reqwest::blocking::Client,
}

impl Raw<'_> {
    pub(crate) fn new(gw: &Gateway) -> Raw<'_> {
        let http = reqwest::blocking::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap();
        Raw { gw, http }
    }

    pub(crate) fn post(
        &self,
        key: Option<&TestKey>,
        session: Option<&str>,
        body: &str,
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut req = self
            .http
            .post(self.gw.url("/mcp"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(k) = key {
            req = req.bearer_auth(&k.full);
        }
        if let Some(sid) = session {
            req = req.header("mcp-session-id", sid);
        }
        let resp = req.send().unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        (status, headers, resp.text().unwrap())
    }

    pub(crate) fn initialize(&self, key: &TestKey) -> String {
        let (status, headers, body) = self.post(Some(key), None, INIT);
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["result"]["protocolVersion"], "2025-06-18", "{v}");
        headers["mcp-session-id"].to_str().unwrap().to_string()
    }
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;

fn rpc(id: u32, method: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": method}).to_string()
}

fn error_code(body: &str) -> i64 {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("no error: {v}"))
}

#[test]
fn sessions_are_shared_by_workers_bound_to_their_key_and_ended_by_delete() {
    let s = setup(2);
    let raw = Raw::new(&s.gw);
    let sid = raw.initialize(&s.web);
    assert!(sid.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{sid}");
    // The initialized notification and a client's response: 202, no body.
    let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let (status, _, body) = raw.post(Some(&s.web), Some(&sid), note);
    assert_eq!((status, body.as_str()), (202, ""));
    let answer = r#"{"jsonrpc":"2.0","id":"s1","result":{}}"#;
    assert_eq!(raw.post(Some(&s.web), Some(&sid), answer).0, 202);
    // Many connections, so both workers serve the session. A generated request id ends with
    // its worker's request counter (8 hex digits): the same count twice means two workers.
    let mut counts = std::collections::HashSet::new();
    let mut two_workers = false;
    for i in 0..16 {
        let (status, headers, body) = raw.post(Some(&s.web), Some(&sid), &rpc(i, "ping"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["result"],
            json!({})
        );
        let id = headers["x-request-id"].to_str().unwrap().to_string();
        two_workers |= !counts.insert(id[id.len() - 8..].to_string());
    }
    assert!(two_workers, "every request went to one worker: {counts:?}");
    // Another key's requests do not find the session.
    let (status, _, body) = raw.post(Some(&s.svc), Some(&sid), &rpc(1, "ping"));
    assert_eq!(status, 404, "{body}");
    assert_eq!(error_code(&body), -32600);
    // DELETE ends it for every worker.
    let del = |sid: &str| {
        raw.http
            .delete(s.gw.url("/mcp"))
            .bearer_auth(&s.web.full)
            .header("mcp-session-id", sid)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(del(&sid), 204);
    for i in 0..4 {
        assert_eq!(raw.post(Some(&s.web), Some(&sid), &rpc(i, "ping")).0, 404);
    }
    assert_eq!(del(&sid), 404);
}

#[test]
fn bad_requests_get_the_transports_answers() {
    let s = setup_with(1, r#"allowed_origins = ["https://app.example"]"#);
    let raw = Raw::new(&s.gw);
    // No key, a bad key: 401 before anything else.
    let (status, _, body) = raw.post(None, None, INIT);
    assert_eq!(status, 401, "{body}");
    let bad = TestKey::new();
    assert_eq!(raw.post(Some(&bad), None, INIT).0, 401);
    // A request before initialize: 400, no session id.
    let (status, _, body) = raw.post(Some(&s.web), None, &rpc(2, "tools/list"));
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_code(&body), -32600);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["id"], 2);
    // A session id that was never given: 404.
    let made_up = "0".repeat(40);
    let (status, _, body) = raw.post(Some(&s.web), Some(&made_up), &rpc(3, "ping"));
    assert_eq!((status, error_code(&body)), (404, -32600));
    let sid = raw.initialize(&s.web);
    // Not JSON: -32700; a batch: -32600; an unknown method: -32601.
    let (status, _, body) = raw.post(Some(&s.web), Some(&sid), "{\"jsonrpc\":");
    assert_eq!((status, error_code(&body)), (400, -32700));
    let (status, _, body) = raw.post(Some(&s.web), Some(&sid), &format!("[{}]", rpc(4, "ping")));
    assert_eq!((status, error_code(&body)), (400, -32600));
    let (status, _, body) = raw.post(Some(&s.web), Some(&sid), &rpc(5, "sampling/nope"));
    assert_eq!((status, error_code(&body)), (200, -32601));
    // tools/call with no name: invalid params.
    let call = json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {}});
    let (_, _, body) = raw.post(Some(&s.web), Some(&sid), &call.to_string());
    assert_eq!(error_code(&body), -32602);
    // An unsupported protocol version header.
    let resp = raw
        .http
        .post(s.gw.url("/mcp"))
        .bearer_auth(&s.web.full)
        .header("content-type", "application/json")
        .header("mcp-session-id", &sid)
        .header("mcp-protocol-version", "1999-01-01")
        .body(rpc(7, "ping"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // Media types: a body that is not JSON, a client that takes no JSON.
    let resp = raw
        .http
        .post(s.gw.url("/mcp"))
        .bearer_auth(&s.web.full)
        .header("content-type", "text/plain")
        .body(rpc(8, "ping"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 415);
    let resp = raw
        .http
        .post(s.gw.url("/mcp"))
        .bearer_auth(&s.web.full)
        .header("content-type", "application/json")
        .header("accept", "text/html")
        .body(rpc(9, "ping"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 406);
    // No stream of the server's own: GET is 405 and says what is allowed.
    let resp = raw
        .http
        .get(s.gw.url("/mcp"))
        .bearer_auth(&s.web.full)
        .header("accept", "text/event-stream")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers()["allow"], "POST, DELETE");
    // A browser page of an origin not allowed gets 403; an allowed one goes on.
    let from = |origin: &str| {
        raw.http
            .post(s.gw.url("/mcp"))
            .bearer_auth(&s.web.full)
            .header("content-type", "application/json")
            .header("origin", origin)
            .body(INIT)
            .send()
            .unwrap()
    };
    let resp = from("https://evil.example");
    assert_eq!(resp.status().as_u16(), 403);
    assert!(resp.text().unwrap().contains("origin_not_allowed"));
    assert_eq!(from("https://app.example").status().as_u16(), 200);
    // DELETE without a session id.
    let resp = raw
        .http
        .delete(s.gw.url("/mcp"))
        .bearer_auth(&s.web.full)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    // The data plane is unchanged beside it.
    let resp = raw
        .http
        .get(s.gw.url("/orders/items/1"))
        .bearer_auth(&s.web.full)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
}

/// An API's failure and an API slower than `call_timeout` are tool errors, never a hang.
#[test]
fn failing_and_slow_apis_are_tool_errors() {
    let s = setup_with(1, r#"call_timeout = "500ms""#);
    let raw = Raw::new(&s.gw);
    let sid = raw.initialize(&s.web);
    let call = |id: &str| {
        let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "orders.getItem", "arguments": {"id": id}}});
        let (status, _, body) = raw.post(Some(&s.web), Some(&sid), &msg.to_string());
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["result"]["isError"], true, "{v}");
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(call("boom"), "HTTP 500: the shelf fell over");
    let t0 = std::time::Instant::now();
    assert_eq!(call("slow"), "no answer within 500ms");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

/// A keyed API's upstream never sees the key (the API gate strips it), and an open API's
/// never gets it either: the tool call does not send it there.
#[test]
fn an_open_apis_upstream_never_sees_the_callers_key() {
    let s = setup(1);
    let raw = Raw::new(&s.gw);
    let sid = raw.initialize(&s.web);
    for (tool, path) in [
        ("open.getInvoice", "/open/invoices/3"),
        ("orders.getItem", "/orders/items/3"),
    ] {
        let arg = if tool.starts_with("open") { "n" } else { "id" };
        let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": {arg: 3}}});
        let (status, _, body) = raw.post(Some(&s.web), Some(&sid), &msg.to_string());
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"isError\":false"), "{body}");
        let got = s.up.last_request().unwrap();
        assert_eq!(got.path, path);
        let all = format!("{:?}", got.headers);
        assert!(
            !all.contains(&s.web.full) && !all.contains(&s.web.id),
            "{all}"
        );
    }
}

/// `enabled = false` leaves the path to the routes; a reload turns the endpoint on (its session
/// table is mapped at start either way).
#[test]
fn the_endpoint_is_turned_on_by_a_reload() {
    let s = setup_with(1, "enabled = false");
    let raw = Raw::new(&s.gw);
    let (status, _, body) = raw.post(Some(&s.web), None, INIT);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("route_not_found"), "{body}");
    let text = std::fs::read_to_string(&s.gw.config_path).unwrap();
    s.gw.rewrite_config(&text.replace("enabled = false", "enabled = true"));
    s.gw.signal(libc::SIGHUP);
    wait_for(
        "the MCP endpoint after the reload",
        Duration::from_secs(10),
        || (raw.post(Some(&s.web), None, INIT).0 == 200).then_some(()),
    );
    let sid = raw.initialize(&s.web);
    assert_eq!(raw.post(Some(&s.web), Some(&sid), &rpc(2, "ping")).0, 200);
}

#[test]
fn requests_to_the_endpoint_draw_from_its_limits_on_every_worker() {
    let limits = r#"limits = ["mcp-per-key"]

[[limits]]
name = "mcp-per-key"
rate = 3
period = "1m"
key = ["api_key", "route"]"#;
    let s = setup_with(2, limits);
    let raw = Raw::new(&s.gw);
    // Three requests of one key, over fresh connections (both workers): the fourth is refused.
    let sid = raw.initialize(&s.web);
    for i in 0..2 {
        let (status, headers, body) = raw.post(Some(&s.web), Some(&sid), &rpc(i, "ping"));
        assert_eq!(status, 200, "{body}");
        assert!(headers.contains_key("x-ratelimit-remaining"), "{headers:?}");
    }
    let (status, headers, body) = raw.post(Some(&s.web), Some(&sid), &rpc(3, "ping"));
    assert_eq!(status, 429, "{body}");
    assert!(headers.contains_key("retry-after"), "{headers:?}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(v["error"]["code"], "rate_limit_exceeded", "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("mcp-per-key"), "{v}");
    // Ending the session is a request too; another key has a bucket of its own.
    let del = raw
        .http
        .delete(s.gw.url("/mcp"))
        .bearer_auth(&s.web.full)
        .header("mcp-session-id", &sid)
        .send()
        .unwrap();
    assert_eq!(del.status().as_u16(), 429);
    let other = raw.initialize(&s.idle);
    assert_eq!(
        raw.post(Some(&s.idle), Some(&other), &rpc(1, "ping")).0,
        200
    );
}

/// `tollgate validate` on `sections` with a listener, an upstream and a route.
fn validate_sections(sections: &str) -> (bool, String) {
    validate(&format!(
        "[server]\nlisten = [\"127.0.0.1:1\"]\n{sections}\n[[upstreams]]\nname = \"u\"\n\
         targets = [\"127.0.0.1:2\"]\n[[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n"
    ))
}

#[test]
fn mcp_needs_a_store_and_a_path() {
    let (ok, out) = validate_sections(
        r#"
[mcp]
path = "mcp"
"#,
    );
    assert!(!ok, "{out}");
    assert!(out.contains("mcp.path"), "{out}");
    assert!(out.contains("[mcp] needs a [store]"), "{out}");
    let (ok, out) = validate_sections(
        r#"
[store]
path = "t.db"
[mcp]
allowed_origins = ["app.example", "https://app.example/path"]
"#,
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("mcp.allowed_origins[0]") && out.contains("mcp.allowed_origins[1]"),
        "{out}"
    );
    let (ok, out) = validate_sections(
        r#"
[store]
path = "t.db"
[mcp]
limits = ["nope", "tokens"]
[[limits]]
name = "tokens"
counts = "tokens"
rate = 10
period = "1m"
key = []
"#,
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("mcp.limits[0]: no limit named \"nope\""),
        "{out}"
    );
    assert!(
        out.contains("mcp.limits[1]: limit \"tokens\" counts LLM usage"),
        "{out}"
    );
}

#[test]
fn a_prompt_api_is_one_tool_whose_arguments_are_its_input() {
    let (web, idle) = (TestKey::new(), TestKey::new());
    let body = format!(
        r#"
[store]
path = "tollgate.db"

[mcp]

{MOCK}
[[prompts]]
name = "echo"
path = "/prompts/echo"
description = "Says the text back"
model = "demo"
input = {{ type = "object", required = ["text"], properties = {{ text = {{ type = "string", maxLength = 10 }} }} }}
messages = [{{ role = "user", content = "{{{{text}}}}" }}]
[prompts.api]
auth = "api_key"

[[tenants]]
name = "acme"
[[tenants.apps]]
name = "web"
subscriptions = ["echo"]
{web}
[[tenants.apps]]
name = "idle"
{idle}
"#,
        web = web.lines(""),
        idle = idle.lines(""),
    );
    let gw = Gateway::start(1, &body);
    let calls = json!([
        {"name": "echo", "arguments": {"text": "hi"}},
        {"name": "echo", "arguments": {"text": "far too long a text"}},
    ]);
    let got = sdk(&gw, &web, calls.clone());
    assert_eq!(names(&got["tools"]), ["echo"]);
    let tool = &got["tools"]["echo"];
    assert_eq!(tool["description"], "Says the text back");
    assert_eq!(tool["inputSchema"]["required"], json!(["text"]));
    // The catalog entry carries the document generated from the prompt's schemas.
    let entry = &got["read"]["tollgate://catalog/echo"];
    assert_eq!(
        entry["openapi"]["paths"]["/prompts/echo"]["post"]["operationId"],
        "echo"
    );
    let c = &got["calls"];
    assert_eq!(c[0]["isError"], false, "{c}");
    let answer: Value = serde_json::from_str(c[0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(answer["output"], "You said: hi", "{answer}");
    // The prompt API's own input check answers, and names the field.
    assert_eq!(c[1]["isError"], true, "{c}");
    assert!(c[1]["text"].as_str().unwrap().contains("text"), "{c}");
    // An app without the subscription sees no tool, and calling it anyway is refused.
    let refused = sdk(&gw, &idle, calls);
    assert_eq!(names(&refused["tools"]), Vec::<String>::new());
    assert!(
        refused["calls"][0].get("isError") != Some(&json!(false)),
        "{refused}"
    );
}
