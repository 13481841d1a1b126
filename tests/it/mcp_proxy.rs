//! Upstream MCP servers behind the gateway (`[[mcp_servers]]`): an upstream written with the
//! official `mcp` Python SDK (tests/it/sdk/mcp_upstream.py) reached through the gateway's
//! `/mcp` by the SDK's client, its tools prefixed, filtered, gated by subscription and called
//! with the credentials the gateway injects; and upstreams that hang, die or answer garbage.

use crate::common;
use crate::mcp::sdk_at;
use crate::sdk::python;
use common::keys::TestKey;
use common::*;
use serde_json::{json, Value};
use std::ffi::OsStr;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Starts tests/it/sdk/mcp_upstream.py on a free port and waits until it accepts connections;
/// its URL, and the guard that kills it.
pub(crate) fn python_upstream() -> (String, Running) {
    let port = free_port();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/sdk/mcp_upstream.py");
    let child = Command::new(python())
        .arg(&script)
        .args(["--port", &port.to_string()])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = Running(Some(child));
    let addr = format!("127.0.0.1:{port}");
    wait_for("the upstream MCP server", Duration::from_secs(30), || {
        std::net::TcpStream::connect(&addr).ok()
    });
    (format!("http://{addr}/mcp"), running)
}

/// A gateway with the MCP server `up` at `url`, visible to acme only; acme/web is subscribed
/// to it, acme/idle not; globex/other (the key `OTHER`) may not see it.
fn gateway(url: &str, web: &TestKey, idle: &TestKey, filter: &str) -> (Gateway, Upstream) {
    gateway_with(url, [web, idle, &TestKey::new()], filter)
}

fn gateway_with(url: &str, [web, idle, other]: [&TestKey; 3], filter: &str) -> (Gateway, Upstream) {
    let rest = Upstream::start("rest", |_| Reply::ok("{}"));
    let body = format!(
        r#"
[store]
path = "tollgate.db"

[mcp]

[[limits]]
name = "two"
counts = "requests"
rate = 2
period = "1h"
key = ["api_key", "route"]

[[upstreams]]
name = "rest"
targets = ["{rest}"]

[[routes]]
name = "rest"
path_prefix = "/rest"
upstream = "rest"

[[mcp_servers]]
name = "up"
url = "{url}"
headers = {{ Authorization = "Bearer ${{UP_TOKEN}}" }}
{filter}
timeout = "2s"
[mcp_servers.api]
auth = "api_key"
visibility = ["acme"]

[[tenants]]
name = "acme"
[[tenants.apps]]
name = "web"
subscriptions = ["up"]
{web}
[[tenants.apps]]
name = "idle"
{idle}
[[tenants]]
name = "globex"
[[tenants.apps]]
name = "other"
{other}
"#,
        rest = rest.addr(),
        web = web.lines(""),
        idle = idle.lines(""),
        other = other.lines(""),
    );
    let env = [("UP_TOKEN", OsStr::new("up-token"))];
    (Gateway::start_env(1, &body, &env), rest)
}

fn tool_names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v["tools"].as_object().unwrap().keys().cloned().collect();
    n.sort();
    n
}

#[test]
fn upstream_tools_are_proxied_filtered_gated_and_called_with_injected_credentials() {
    let (url, _python) = python_upstream();
    let (web, idle) = (TestKey::new(), TestKey::new());
    let filter = r#"tools = ["echo", "whoami", "s*", "die"]"#;
    let (gw, _rest) = gateway(&url, &web, &idle, filter);
    // The server's own endpoint: its tools alone, unprefixed.
    let calls = json!([{"name": "echo", "arguments": {"text": "direct"}}, {"name": "hidden"}]);
    let own = sdk_at(&gw, "/mcp/up", &web, calls);
    assert_eq!(tool_names(&own), ["die", "echo", "sleep", "whoami"]);
    assert_eq!(own["calls"][0], json!({"isError": false, "text": "direct"}));
    assert_eq!(own["calls"][1]["isError"], true, "{own}");
    let calls = json!([
        {"name": "up.echo", "arguments": {"text": "hello"}},
        {"name": "up.whoami", "arguments": {}},
        {"name": "up.hidden", "arguments": {}},
        {"name": "up.sleep", "arguments": {"seconds": 10}},
        {"name": "up.echo", "arguments": {"text": "still here"}},
        {"name": "up.die", "arguments": {}},
        {"name": "up.echo", "arguments": {"text": "gone"}},
    ]);
    let out = sdk_at(&gw, "/mcp", &web, calls);
    assert_eq!(
        tool_names(&out),
        ["up.die", "up.echo", "up.sleep", "up.whoami"]
    );
    assert_eq!(out["tools"]["up.echo"]["description"], "Echoes the text.");
    let c = &out["calls"];
    assert_eq!(c[0], json!({"isError": false, "text": "hello"}), "{c}");
    // The upstream received the gateway's credentials; the client never sent them.
    assert_eq!(
        c[1],
        json!({"isError": false, "text": "Bearer up-token"}),
        "{c}"
    );
    assert_eq!(c[2]["isError"], true, "{c}");
    assert!(
        c[2]["text"].as_str().unwrap().contains("not offered"),
        "{c}"
    );
    // A hanging call times out; the server still answers the next one.
    assert_eq!(c[3]["isError"], true, "{c}");
    assert_eq!(c[3]["text"], "MCP server up: no answer within 2s", "{c}");
    assert_eq!(c[4], json!({"isError": false, "text": "still here"}), "{c}");
    // The upstream process exits mid-call: a clean tool error, then one for the dead server.
    assert_eq!(c[5]["isError"], true, "{c}");
    assert!(
        c[5]["text"]
            .as_str()
            .unwrap()
            .starts_with("MCP server up: "),
        "{c}"
    );
    // The process may still be going away (a reset) or gone (refused): a clean error either way.
    assert_eq!(c[6]["isError"], true, "{c}");
    let dead = c[6]["text"].as_str().unwrap();
    assert!(
        dead.contains("cannot connect") || dead.contains("the exchange failed"),
        "{c}"
    );
    assert!(!gw.stderr().contains("up-token"), "the secret was logged");

    // A key whose app is not subscribed sees none of the server's tools, and may call none.
    let out = sdk_at(
        &gw,
        "/mcp",
        &idle,
        json!([{"name": "up.echo", "arguments": {"text": "x"}}]),
    );
    assert!(
        tool_names(&out).iter().all(|n| !n.starts_with("up.")),
        "{out}"
    );
    let c = &out["calls"][0];
    assert_eq!(c["isError"], true, "{c}");
    assert!(
        c["text"]
            .as_str()
            .unwrap()
            .contains("no subscription to API up"),
        "{c}"
    );
}

#[test]
fn an_upstream_answering_garbage_gives_a_clean_tool_error() {
    let garbage = Upstream::start("garbage", |_| Reply::ok("<html>not JSON-RPC</html>"));
    let url = format!("http://{}/mcp", garbage.addr());
    let (web, idle, other) = (TestKey::new(), TestKey::new(), TestKey::new());
    let (gw, _rest) = gateway_with(&url, [&web, &idle, &other], r#"limits = ["two"]"#);
    // A tenant the server is not visible to: its tools are unknown, as a hidden route's.
    let out = sdk_at(
        &gw,
        "/mcp",
        &other,
        json!([{"name": "up.echo", "arguments": {}}]),
    );
    assert_eq!(out["calls"][0]["rpcError"], -32602, "{out}");
    let call = json!({"name": "up.echo", "arguments": {}});
    let out = sdk_at(&gw, "/mcp", &web, json!([call, call, call]));
    // Listing leaves the broken server out; calling it names what went wrong.
    assert!(
        tool_names(&out).iter().all(|n| !n.starts_with("up.")),
        "{out}"
    );
    for c in &out["calls"].as_array().unwrap()[..2] {
        assert_eq!(c["isError"], true, "{c}");
        let text = c["text"].as_str().unwrap();
        assert!(
            text.starts_with("MCP server up: bad answer: not JSON"),
            "{c}"
        );
    }
    // The server's limit: two calls per key, the third refused with the gateway's message.
    let c = &out["calls"][2];
    assert_eq!(c["isError"], true, "{c}");
    assert!(c["text"].as_str().unwrap().contains("limit two"), "{c}");
    // One call record per tool call: the route is the server, the path names the tool.
    let records: Vec<Value> = wait_for("3 records of up", Duration::from_secs(10), || {
        let lines: Vec<Value> = gw
            .access_log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["route"] == "up")
            .collect();
        (lines.len() >= 3).then_some(lines)
    });
    assert_eq!(records.len(), 3, "{records:?}");
    for r in &records {
        assert_eq!(r["path"], "/mcp/up/echo", "{r}");
        assert_eq!(r["tenant"], "acme", "{r}");
        assert_eq!(r["app"], "web", "{r}");
    }
    let statuses: Vec<&Value> = records.iter().map(|r| &r["status"]).collect();
    assert_eq!(statuses, [502, 502, 429], "{records:?}");
    assert_eq!(records[0]["error_code"], "mcp_upstream_failed");
    assert_eq!(records[2]["error_code"], "rate_limit_exceeded");
}
