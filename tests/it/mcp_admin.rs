//! Upstream MCP servers (`[[mcp_servers]]`) in the admin API, as APIs like any route: listed
//! and overridden under `/admin/apis`, subscribed to (with approval) per tenant's app, shown
//! in the catalog to the tenants that may see them; and the data plane follows each change.
//! The upstream is the official SDK's (tests/it/sdk/mcp_upstream.py), the client the SDK's.

use crate::common;
use crate::mcp::sdk_at;
use crate::mcp_proxy::python_upstream;
use common::admin::{call, ok};
use common::keys::TestKey;
use common::*;
use serde_json::{json, Value};
use std::ffi::OsStr;
use std::time::Duration;

/// A gateway whose MCP server `up` (at `url`, with a secret header) is visible to acme only and
/// needs approval; acme/web holds `web`, globex/other holds `other`. `open` takes no key and
/// `later` is a draft, both at the same upstream; the route `rest` is never called. The store
/// is read every 50ms.
fn gateway(url: &str, web: &TestKey, other: &TestKey) -> Gateway {
    let env = [("UP_TOKEN", OsStr::new("up-secret-token"))];
    Gateway::start_env(1, &gateway_config(url, web, other), &env)
}

/// The configuration `gateway` starts (after the generated base).
fn gateway_config(url: &str, web: &TestKey, other: &TestKey) -> String {
    format!(
        r#"
[store]
path = "tollgate.db"
refresh = "50ms"

[mcp]

[[upstreams]]
name = "none"
targets = ["127.0.0.1:9"]

[[routes]]
name = "rest"
path_prefix = "/rest"
upstream = "none"

[[mcp_servers]]
name = "up"
url = "{url}"
headers = {{ Authorization = "Bearer ${{UP_TOKEN}}" }}
timeout = "5s"
[mcp_servers.api]
auth = "api_key"
visibility = ["acme"]
approval = "manual"
description = "The SDK's server"

[[mcp_servers]]
name = "open"
url = "{url}"
tools = ["echo"]

[[mcp_servers]]
name = "later"
url = "{url}"
[mcp_servers.api]
auth = "api_key"
state = "draft"

[[tenants]]
name = "acme"
[[tenants.apps]]
name = "web"
{web}
[[tenants]]
name = "globex"
[[tenants.apps]]
name = "other"
{other}
"#,
        web = web.lines(""),
        other = other.lines(""),
    )
}

/// What `key` sees of the server `up` at `/mcp` and what calling `up.echo` gives: its tools
/// (sorted) and the call's `{isError, text}`.
fn use_up(gw: &Gateway, key: &TestKey) -> (Vec<String>, Value) {
    let calls = json!([{"name": "up.echo", "arguments": {"text": "hi"}}]);
    let out = sdk_at(gw, "/mcp", key, calls);
    let mut tools: Vec<String> = out["tools"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|n| n.starts_with("up."))
        .cloned()
        .collect();
    tools.sort();
    (tools, out["calls"][0].clone())
}

/// Polls the data plane (it reads the store every 50ms) until `key`'s view of `up` is `want`.
fn until(gw: &Gateway, key: &TestKey, what: &str, want: impl Fn(&[String], &Value) -> bool) {
    wait_for(what, Duration::from_secs(30), || {
        let (tools, call) = use_up(gw, key);
        want(&tools, &call).then_some(())
    });
}

fn refused_with(call: &Value, text: &str) -> bool {
    call["isError"] == true && call["text"].as_str().is_some_and(|t| t.contains(text))
}

/// The admin error of a request that must fail with `status`.
fn fails(gw: &Gateway, method: &str, path: &str, body: Option<Value>, status: u16) -> String {
    let (got, v) = call(gw, method, path, body);
    assert_eq!(got, status, "{method} {path}: {v}");
    assert_eq!(v["error"]["code"], status, "{v}");
    v["error"]["message"].as_str().unwrap().to_string()
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect()
}

#[test]
fn an_mcp_server_is_subscribed_to_approved_and_retired_through_the_admin_api() {
    let (url, _python) = python_upstream();
    let (web, other) = (TestKey::new(), TestKey::new());
    let gw = gateway(&url, &web, &other);
    let subs = "/admin/tenants/acme/apps/web/subscriptions";

    // Not subscribed yet: the tools are not listed and a call is refused.
    let (tools, c) = use_up(&gw, &web);
    assert!(tools.is_empty(), "{tools:?}");
    assert!(refused_with(&c, "no subscription to API up"), "{c}");

    // Requested: pending (approval = "manual"), still neither listed nor callable.
    let sub = ok(&gw, "POST", subs, Some(json!({"api": "up"})));
    assert_eq!(sub["api"], "up");
    assert_eq!(sub["state"], "pending");
    until(&gw, &web, "the pending subscription", |tools, c| {
        tools.is_empty() && refused_with(c, "waiting for approval")
    });

    // Approved: listed and callable, with the gateway's credentials.
    let id = sub["id"].as_i64().unwrap();
    let approved = ok(
        &gw,
        "POST",
        &format!("/admin/subscriptions/{id}/approve"),
        Some(json!({})),
    );
    assert_eq!(approved["state"], "active");
    until(&gw, &web, "the approved subscription", |tools, c| {
        tools.iter().any(|t| t == "up.echo") && *c == json!({"isError": false, "text": "hi"})
    });

    // Deprecated through the admin API: still listed and callable.
    let state = "/admin/apis/up/state";
    let dep = ok(&gw, "PUT", state, Some(json!({"state": "deprecated"})));
    assert_eq!(
        (&dep["state"], &dep["configured_state"]),
        (&json!("deprecated"), &json!("published"))
    );
    let (tools, c) = use_up(&gw, &web);
    assert!(tools.iter().any(|t| t == "up.echo"), "{tools:?}");
    assert_eq!(c, json!({"isError": false, "text": "hi"}));

    // Retired: its tools disappear and a call is refused with the gateway's message, which
    // names the successor (here another MCP server) and where it is.
    let retired = json!({"state": "retired", "successor": "open"});
    ok(&gw, "PUT", state, Some(retired));
    until(&gw, &web, "the retired server", |tools, c| {
        tools.is_empty() && refused_with(c, "API up has been retired; use open at /mcp/open")
    });
    let catalog = ok(&gw, "GET", "/admin/catalog?tenant=acme", None);
    assert!(!names(&catalog).contains(&"up"), "{catalog}");
    let msg = fails(&gw, "POST", subs, Some(json!({"api": "up"})), 409);
    assert!(msg.contains("is retired"), "{msg}");

    // Back to the configured state, then the subscription revoked: refused again.
    let cleared = ok(&gw, "DELETE", state, None);
    assert_eq!(cleared["override"], Value::Null);
    ok(
        &gw,
        "POST",
        &format!("/admin/subscriptions/{id}/revoke"),
        Some(json!({"reason": "moved"})),
    );
    until(&gw, &web, "the revoked subscription", |tools, c| {
        tools.is_empty() && refused_with(c, "has been revoked")
    });
    assert!(
        !gw.stderr().contains("up-secret-token"),
        "the secret was logged"
    );
}

#[test]
fn mcp_servers_are_apis_in_the_admin_api_and_the_catalog_without_their_secrets() {
    let (web, other) = (TestKey::new(), TestKey::new());
    // Nothing here reaches the upstream: its address only has to be well formed.
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    let gw = gateway(&url, &web, &other);

    let apis = ok(&gw, "GET", "/admin/apis", None);
    assert_eq!(names(&apis), ["rest", "up", "open", "later"]);
    assert_eq!(apis[0]["kind"], "rest");
    let up = ok(&gw, "GET", "/admin/apis/up", None);
    assert_eq!(up["kind"], "mcp_server");
    assert_eq!(up["path"], "/mcp/up");
    assert_eq!(up["methods"], json!(["POST", "DELETE"]));
    assert_eq!(up["visibility"], json!(["acme"]));
    assert_eq!(
        (&up["auth"], &up["approval"]),
        (&json!("api_key"), &json!("manual"))
    );
    assert_eq!(up["description"], "The SDK's server");
    assert_eq!(up["state"], "published");

    // The catalog: a tenant that may see the server finds how to reach its tools; another
    // tenant does not find it; a draft is in no one's catalog.
    let acme = ok(&gw, "GET", "/admin/catalog?tenant=acme", None);
    assert_eq!(names(&acme), ["rest", "up", "open"]);
    let entry = &acme[1];
    assert_eq!(entry["kind"], "mcp_server");
    assert_eq!(entry["path"], "/mcp/up");
    assert_eq!(
        entry["mcp"],
        json!({"endpoint": "/mcp", "tool_prefix": "up."})
    );
    assert_eq!(entry["openapi"], Value::Null);
    assert!(entry.get("models").is_none(), "{entry}");
    let globex = ok(&gw, "GET", "/admin/catalog?tenant=globex", None);
    assert_eq!(names(&globex), ["rest", "open"]);
    // Never the upstream's address or injected header, in any answer.
    for text in [apis.to_string(), up.to_string(), acme.to_string()] {
        assert!(!text.contains("up-secret-token"), "{text}");
        assert!(!text.contains(&url), "{text}");
    }

    // Subscriptions: a tenant that may not see it gets 403, a server that takes no key or is
    // a draft 409, an unknown name 404 naming it.
    let globex_subs = "/admin/tenants/globex/apps/other/subscriptions";
    let msg = fails(&gw, "POST", globex_subs, Some(json!({"api": "up"})), 403);
    assert!(
        msg.contains("\"up\" is not visible to tenant \"globex\""),
        "{msg}"
    );
    let msg = fails(&gw, "POST", globex_subs, Some(json!({"api": "open"})), 409);
    assert!(msg.contains("takes no key"), "{msg}");
    let msg = fails(&gw, "POST", globex_subs, Some(json!({"api": "later"})), 409);
    assert!(msg.contains("is draft"), "{msg}");
    let msg = fails(&gw, "POST", globex_subs, Some(json!({"api": "upp"})), 404);
    assert!(msg.contains("no API named \"upp\""), "{msg}");
    assert!(ok(&gw, "GET", globex_subs, None)
        .as_array()
        .unwrap()
        .is_empty());

    // Lifecycle overrides: a successor may be any API; an unknown one is refused.
    let state = "/admin/apis/up/state";
    let set = ok(
        &gw,
        "PUT",
        state,
        Some(json!({"state": "deprecated", "successor": "open", "sunset": "2027-06-30"})),
    );
    assert_eq!(set["override"]["state"], "deprecated");
    assert_eq!(set["successor"], "open");
    assert_eq!(ok(&gw, "GET", "/admin/apis/up", None), set);
    let msg = fails(
        &gw,
        "PUT",
        state,
        Some(json!({"state": "retired", "successor": "nope"})),
        400,
    );
    assert!(
        msg.contains("body.successor: no API named \"nope\""),
        "{msg}"
    );
    fails(
        &gw,
        "PUT",
        "/admin/apis/nope/state",
        Some(json!({"state": "retired"})),
        404,
    );
    fails(&gw, "DELETE", "/admin/apis/nope/state", None, 404);
    let msg = fails(&gw, "GET", "/admin/apis/nope", None, 404);
    assert!(msg.contains("no API named \"nope\""), "{msg}");
    let audit = ok(&gw, "GET", "/admin/audit?target=api:up", None);
    assert_eq!(audit[0]["action"], "api.state.set", "{audit}");

    // The CLI drives the same API.
    let listed = crate::admin_cli::ok(&gw, &["apis", "list"]);
    assert_eq!(names(&listed), ["rest", "up", "open", "later"]);
    let shown = crate::admin_cli::ok(&gw, &["apis", "show", "up"]);
    assert_eq!(shown["kind"], "mcp_server");
    let sub = crate::admin_cli::ok(&gw, &["subscriptions", "request", "acme", "web", "up"]);
    assert_eq!(
        (&sub["api"], &sub["state"]),
        (&json!("up"), &json!("pending"))
    );
    let cat = crate::admin_cli::ok(&gw, &["catalog", "--tenant", "globex"]);
    assert_eq!(names(&cat), ["rest", "open"]);
}

#[test]
fn with_the_mcp_endpoint_off_a_server_has_no_path_and_no_catalog_entry() {
    let (web, other) = (TestKey::new(), TestKey::new());
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    let text = gateway_config(&url, &web, &other).replace("[mcp]\n", "[mcp]\nenabled = false\n");
    let gw = Gateway::start_env(1, &text, &[("UP_TOKEN", OsStr::new("t"))]);
    let up = ok(&gw, "GET", "/admin/apis/up", None);
    assert_eq!(
        (&up["kind"], &up["path"]),
        (&json!("mcp_server"), &Value::Null)
    );
    // Nothing serves its tools, so no catalog offers it; it may still be subscribed to.
    let acme = ok(&gw, "GET", "/admin/catalog?tenant=acme", None);
    assert_eq!(names(&acme), ["rest"]);
    let subs = "/admin/tenants/acme/apps/web/subscriptions";
    assert_eq!(
        ok(&gw, "POST", subs, Some(json!({"api": "up"})))["state"],
        "pending"
    );
}

#[test]
fn servers_are_catalog_resources_for_the_tenants_that_may_see_them() {
    let (web, other) = (TestKey::new(), TestKey::new());
    // Resources never reach the upstream: its address only has to be well formed.
    let url = format!("http://127.0.0.1:{}/mcp", free_port());
    let gw = gateway(&url, &web, &other);
    let acme = sdk_at(&gw, "/mcp", &web, json!([]));
    let uris = acme["resources"].as_array().unwrap();
    assert!(uris.contains(&json!("tollgate://catalog/up")), "{acme}");
    assert!(uris.contains(&json!("tollgate://catalog/open")), "{acme}");
    assert!(
        !uris.contains(&json!("tollgate://catalog/later")),
        "a draft: {acme}"
    );
    let up = &acme["read"]["tollgate://catalog/up"];
    assert_eq!(up["kind"], "mcp_server", "{up}");
    assert_eq!(up["path"], "/mcp/up", "{up}");
    assert_eq!(up["tool_prefix"], "up.", "{up}");
    assert_eq!(up["state"], "published", "{up}");
    // Visible, not subscribed: listed, not callable yet.
    assert_eq!(up["callable"], false, "{up}");
    assert_eq!(acme["read"]["tollgate://catalog/open"]["callable"], true);
    assert!(!acme["read"].to_string().contains("127.0.0.1"), "{acme}");
    // Another tenant does not see `up`.
    let globex = sdk_at(&gw, "/mcp", &other, json!([]));
    let uris = globex["resources"].as_array().unwrap();
    assert!(!uris.contains(&json!("tollgate://catalog/up")), "{globex}");
    assert!(uris.contains(&json!("tollgate://catalog/open")), "{globex}");
}
