//! The admin API over a real SQLite store: the token, CRUD of tenants, apps and keys,
//! subscriptions and their refusals, API lifecycle overrides, tenants' provider keys, the
//! catalog, the audit trail, restarts, unusable database files and malformed requests.

use crate::common;
use common::admin::{call, ok, raw};
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Routes of every kind the admin API distinguishes, a seeded tenant, and `store` as the
/// `[store]` section. `openapi` is the path of `orders-v1`'s OpenAPI file.
fn body(store: &str, openapi: &Path) -> String {
    format!(
        r#"
{store}

[[upstreams]]
name = "svc"
targets = ["127.0.0.1:9"]

[[routes]]
name = "orders-v1"
path_prefix = "/orders/v1"
upstream = "svc"
[routes.api]
auth = "api_key"
approval = "manual"
version = "v1"
description = "Orders"
owner = "team-orders"
openapi = "{openapi}"

[[routes]]
name = "orders-v2"
path_prefix = "/orders/v2"
upstream = "svc"
[routes.api]
auth = "api_key"

[[routes]]
name = "globex-only"
path_prefix = "/globex"
upstream = "svc"
[routes.api]
auth = "api_key"
visibility = ["globex"]

[[routes]]
name = "open"
path_prefix = "/open"
upstream = "svc"

[[routes]]
name = "draft"
path_prefix = "/draft"
upstream = "svc"
[routes.api]
auth = "api_key"
state = "draft"

[[routes]]
name = "llm"
path_prefix = "/v1"
handler = "llm"
[routes.api]
auth = "api_key"

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "demo"
deployments = [{{ provider = "mock", model = "mock-1" }}]

[[models]]
name = "globex-model"
visibility = ["globex"]
deployments = [{{ provider = "mock", model = "mock-2" }}]

[[tenants]]
name = "seeded"
description = "from the file"
[[tenants.apps]]
name = "web"
subscriptions = ["orders-v2"]
"#,
        openapi = openapi.display()
    )
}

const STORE: &str = r#"
[store]
path = "tollgate.db"
secret_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
"#;

/// A gateway with the store and an OpenAPI file for `orders-v1` (in `docs`, kept alive).
struct Setup {
    gw: Gateway,
    _docs: tempfile::TempDir,
}

fn setup_with(store: &str) -> Setup {
    let docs = tempfile::tempdir().unwrap();
    let openapi = docs.path().join("orders-v1.json");
    std::fs::write(
        &openapi,
        r#"{"openapi":"3.1.0","info":{"title":"Orders","version":"1"},"paths":{"/items":{}}}"#,
    )
    .unwrap();
    Setup {
        gw: Gateway::start(1, &body(store, &openapi)),
        _docs: docs,
    }
}

fn setup() -> Setup {
    setup_with(STORE)
}

/// A request that must fail with `status`; its error message.
fn fails(gw: &Gateway, method: &str, path: &str, body: Option<Value>, status: u16) -> String {
    let (got, v) = call(gw, method, path, body);
    assert_eq!(got, status, "{method} {path}: {v}");
    assert_eq!(v["error"]["type"], "admin_error", "{v}");
    assert_eq!(v["error"]["code"], status, "{v}");
    v["error"]["message"].as_str().unwrap().to_string()
}

fn tenant_with_app(gw: &Gateway, tenant: &str, app: &str) {
    ok(gw, "POST", "/admin/tenants", Some(json!({"name": tenant})));
    ok(
        gw,
        "POST",
        &format!("/admin/tenants/{tenant}/apps"),
        Some(json!({"name": app})),
    );
}

#[test]
fn the_token_is_required_everywhere_under_admin() {
    let s = setup();
    let port = s.gw.admin_port;
    for path in ["/admin/tenants", "/admin/openapi.json", "/admin/nowhere"] {
        let (status, body) = raw_get(port, path, &[]).unwrap();
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body.contains("missing admin token"), "{body}");
        let (status, body) =
            raw_get(port, path, &[("authorization", "Bearer not-the-token")]).unwrap();
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body.contains("wrong admin token"), "{body}");
    }
    // Auth schemes are case-insensitive (RFC 9110): any case of "Bearer" is the scheme.
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let auth = format!("{scheme} {ADMIN_TOKEN}");
        let (status, body) = raw_get(port, "/admin/tenants", &[("authorization", &auth)]).unwrap();
        assert_eq!(status, 200, "{scheme}: {body}");
    }
    let (status, body) = raw_get(
        port,
        "/admin/tenants",
        &[("authorization", "Basic dG9rZW4=")],
    )
    .unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("missing admin token"), "{body}");
    let doc = ok(&s.gw, "GET", "/admin/openapi.json", None);
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(fails(&s.gw, "GET", "/admin/nowhere", None, 404).contains("/admin/nowhere"));
    // /healthz stays open.
    assert_eq!(raw_get(port, "/healthz", &[]).unwrap().0, 200);
}

#[test]
fn tenants_apps_and_keys() {
    let s = setup();
    let gw = &s.gw;
    let t = ok(
        gw,
        "POST",
        "/admin/tenants",
        Some(json!({"name": "acme", "description": "Acme"})),
    );
    assert_eq!(t["name"], "acme");
    assert_eq!(t["source"], "admin");
    assert!(t["created_at"].as_str().unwrap().ends_with('Z'), "{t}");
    let (status, _) = call(
        gw,
        "POST",
        "/admin/tenants",
        Some(json!({"name": "globex"})),
    );
    assert_eq!(status, 201);
    fails(
        gw,
        "POST",
        "/admin/tenants",
        Some(json!({"name": "acme"})),
        409,
    );
    let msg = fails(
        gw,
        "POST",
        "/admin/tenants",
        Some(json!({"name": "Not OK"})),
        400,
    );
    assert!(msg.contains("a-z"), "{msg}");

    let list = ok(gw, "GET", "/admin/tenants", None);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme", "globex", "seeded"]);
    let t = ok(
        gw,
        "PATCH",
        "/admin/tenants/acme",
        Some(json!({"description": "Acme Inc"})),
    );
    assert_eq!(t["description"], "Acme Inc");
    fails(gw, "GET", "/admin/tenants/nobody", None, 404);

    // Apps, with a model allow-list of configured models only.
    let app = ok(
        gw,
        "POST",
        "/admin/tenants/acme/apps",
        Some(json!({"name": "web", "models": ["demo"]})),
    );
    assert_eq!(app["models"], json!(["demo"]));
    let msg = fails(
        gw,
        "POST",
        "/admin/tenants/acme/apps",
        Some(json!({"name": "x", "models": ["demo", "gpt-9"]})),
        400,
    );
    assert!(
        msg.contains("body.models[1]") && msg.contains("gpt-9"),
        "{msg}"
    );
    fails(
        gw,
        "POST",
        "/admin/tenants/nobody/apps",
        Some(json!({"name": "x"})),
        404,
    );
    let app = ok(
        gw,
        "PATCH",
        "/admin/tenants/acme/apps/web",
        Some(json!({"models": null})),
    );
    assert_eq!(app["models"], Value::Null);
    let tenant = ok(gw, "GET", "/admin/tenants/acme", None);
    assert_eq!(tenant["apps"][0]["name"], "web");
    assert_eq!(
        ok(gw, "GET", "/admin/tenants/acme/apps", None)
            .as_array()
            .unwrap()
            .len(),
        1
    );
    ok(gw, "GET", "/admin/tenants/acme/apps/web", None);

    // A key is shown once, at creation.
    let (status, created) = raw(
        gw,
        "POST",
        "/admin/tenants/acme/apps/web/keys",
        Some(r#"{"name": "ci", "expires_in": "30d"}"#),
    );
    assert_eq!(status, 201, "{created}");
    let created: Value = serde_json::from_str(&created).unwrap();
    let full = created["key"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(full.starts_with(&format!("tg_{id}_")), "{created}");
    assert_eq!(created["state"], "active");
    assert!(created["expires_at"].is_string());
    let secret = full.rsplit('_').next().unwrap().to_string();
    let (_, one) = raw(gw, "GET", &format!("/admin/keys/{id}"), None);
    let (_, all) = raw(gw, "GET", "/admin/tenants/acme/apps/web/keys", None);
    let (_, audit) = raw(gw, "GET", "/admin/audit", None);
    for text in [&one, &all, &audit] {
        assert!(!text.contains(&secret), "the key shows again: {text}");
    }
    let one: Value = serde_json::from_str(&one).unwrap();
    assert!(one.get("key").is_none(), "{one}");
    assert_eq!(one["name"], "ci");
    let msg = fails(
        gw,
        "POST",
        "/admin/tenants/acme/apps/web/keys",
        Some(json!({"expires_at": "2020-01-01"})),
        400,
    );
    assert!(msg.contains("expires_at"), "{msg}");

    // Rotation: a new key, the old one living for the overlap.
    let rotated = ok(
        gw,
        "POST",
        &format!("/admin/keys/{id}/rotate"),
        Some(json!({"overlap": "1h"})),
    );
    assert!(rotated["new"]["key"].as_str().unwrap().starts_with("tg_"));
    assert_eq!(rotated["new"]["name"], "ci");
    assert_eq!(rotated["old"]["id"], id.as_str());
    assert!(rotated["old"].get("key").is_none());
    assert_ne!(rotated["old"]["expires_at"], created["expires_at"]);
    let new_id = rotated["new"]["id"].as_str().unwrap();
    let revoked = ok(gw, "DELETE", &format!("/admin/keys/{new_id}"), None);
    assert_eq!(revoked["state"], "revoked");
    assert!(revoked["revoked_at"].is_string());
    fails(gw, "DELETE", &format!("/admin/keys/{new_id}"), None, 409);
    fails(gw, "GET", "/admin/keys/zzzzzzzzzzzz", None, 404);

    // Deletes cascade.
    let (status, text) = raw(gw, "DELETE", "/admin/tenants/acme/apps/web", None);
    assert_eq!((status, text.as_str()), (204, ""));
    fails(gw, "GET", &format!("/admin/keys/{id}"), None, 404);
    ok(
        gw,
        "POST",
        "/admin/tenants/acme/apps",
        Some(json!({"name": "web"})),
    );
    assert_eq!(raw(gw, "DELETE", "/admin/tenants/acme", None).0, 204);
    fails(gw, "GET", "/admin/tenants/acme/apps/web", None, 404);

    // The seeded tenant belongs to the file.
    let seeded = ok(gw, "GET", "/admin/tenants/seeded", None);
    assert_eq!(seeded["source"], "config");
    assert!(fails(gw, "DELETE", "/admin/tenants/seeded", None, 409).contains("configuration"));
    fails(gw, "DELETE", "/admin/tenants/seeded/apps/web", None, 409);
    // A key for a configured app is an admin row, and allowed.
    ok(gw, "POST", "/admin/tenants/seeded/apps/web/keys", None);
}

#[test]
fn subscriptions_for_auto_and_manual_apis() {
    let s = setup();
    let gw = &s.gw;
    tenant_with_app(gw, "acme", "web");
    let subs = "/admin/tenants/acme/apps/web/subscriptions";

    let auto = ok(gw, "POST", subs, Some(json!({"api": "orders-v2"})));
    assert_eq!(
        (auto["state"].as_str(), auto["source"].as_str()),
        (Some("active"), Some("admin"))
    );
    fails(gw, "POST", subs, Some(json!({"api": "orders-v2"})), 409);

    let manual = ok(gw, "POST", subs, Some(json!({"api": "orders-v1"})));
    assert_eq!(manual["state"], "pending");
    let id = manual["id"].as_i64().unwrap();
    let pending = ok(gw, "GET", "/admin/subscriptions?state=pending", None);
    assert_eq!(pending.as_array().unwrap().len(), 1);
    assert_eq!(pending[0]["id"], id);
    let approved = ok(
        gw,
        "POST",
        &format!("/admin/subscriptions/{id}/approve"),
        None,
    );
    assert_eq!(approved["state"], "active");
    let msg = fails(
        gw,
        "POST",
        &format!("/admin/subscriptions/{id}/reject"),
        None,
        409,
    );
    assert!(msg.contains("only a pending one"), "{msg}");
    let revoked = ok(
        gw,
        "POST",
        &format!("/admin/subscriptions/{id}/revoke"),
        Some(json!({"reason": "contract ended"})),
    );
    assert_eq!(
        (revoked["state"].as_str(), revoked["reason"].as_str()),
        (Some("revoked"), Some("contract ended"))
    );
    // Asking again goes back through approval.
    let again = ok(gw, "POST", subs, Some(json!({"api": "orders-v1"})));
    assert_eq!(
        (again["id"].as_i64(), again["state"].as_str()),
        (Some(id), Some("pending"))
    );
    let rejected = ok(
        gw,
        "POST",
        &format!("/admin/subscriptions/{id}/reject"),
        Some(json!({"reason": "no"})),
    );
    assert_eq!(rejected["state"], "rejected");
    assert_eq!(
        ok(gw, "GET", &format!("/admin/subscriptions/{id}"), None)["reason"],
        "no"
    );

    // Refusals.
    fails(gw, "POST", subs, Some(json!({"api": "nope"})), 404);
    assert!(
        fails(gw, "POST", subs, Some(json!({"api": "globex-only"})), 403).contains("not visible")
    );
    assert!(fails(gw, "POST", subs, Some(json!({"api": "open"})), 409).contains("auth"));
    assert!(fails(gw, "POST", subs, Some(json!({"api": "draft"})), 409).contains("draft"));
    fails(
        gw,
        "POST",
        "/admin/tenants/acme/apps/nope/subscriptions",
        Some(json!({"api": "orders-v2"})),
        404,
    );
    fails(gw, "GET", "/admin/subscriptions/999", None, 404);
    fails(gw, "GET", "/admin/subscriptions/abc", None, 404);
    fails(gw, "GET", "/admin/subscriptions?state=bogus", None, 400);

    // The seeded subscription belongs to the file.
    let seeded = ok(gw, "GET", "/admin/subscriptions?tenant=seeded", None);
    assert_eq!(seeded[0]["source"], "config");
    let sid = seeded[0]["id"].as_i64().unwrap();
    fails(
        gw,
        "POST",
        &format!("/admin/subscriptions/{sid}/revoke"),
        None,
        409,
    );

    let mine = ok(gw, "GET", subs, None);
    assert_eq!(mine.as_array().unwrap().len(), 2);
    let filtered = ok(
        gw,
        "GET",
        "/admin/subscriptions?tenant=acme&api=orders-v2",
        None,
    );
    assert_eq!(filtered.as_array().unwrap().len(), 1);
}

#[test]
fn api_states_are_set_and_cleared() {
    let s = setup();
    let gw = &s.gw;
    let apis = ok(gw, "GET", "/admin/apis", None);
    assert_eq!(apis.as_array().unwrap().len(), 6);
    let v1 = ok(gw, "GET", "/admin/apis/orders-v1", None);
    assert_eq!(v1["kind"], "rest");
    assert_eq!(v1["path"], "/orders/v1");
    assert_eq!(v1["auth"], "api_key");
    assert_eq!(v1["approval"], "manual");
    assert_eq!(v1["visibility"], "public");
    assert_eq!(v1["state"], "published");
    assert_eq!(v1["override"], Value::Null);
    assert_eq!(
        ok(gw, "GET", "/admin/apis/globex-only", None)["visibility"],
        json!(["globex"])
    );
    assert_eq!(ok(gw, "GET", "/admin/apis/llm", None)["kind"], "llm");

    let set = ok(
        gw,
        "PUT",
        "/admin/apis/orders-v1/state",
        Some(json!({"state": "deprecated", "successor": "orders-v2", "sunset": "2027-06-30"})),
    );
    assert_eq!(set["state"], "deprecated");
    assert_eq!(set["configured_state"], "published");
    assert_eq!(set["successor"], "orders-v2");
    assert_eq!(set["sunset"], "2027-06-30T00:00:00Z");
    assert_eq!(set["override"]["state"], "deprecated");
    assert_eq!(ok(gw, "GET", "/admin/apis/orders-v1", None), set);

    let msg = fails(
        gw,
        "PUT",
        "/admin/apis/orders-v1/state",
        Some(json!({"state": "deprecated", "successor": "nope"})),
        400,
    );
    assert!(msg.contains("body.successor"), "{msg}");
    let msg = fails(
        gw,
        "PUT",
        "/admin/apis/orders-v1/state",
        Some(json!({"state": "gone"})),
        400,
    );
    assert!(msg.contains("body.state"), "{msg}");
    fails(
        gw,
        "PUT",
        "/admin/apis/nope/state",
        Some(json!({"state": "retired"})),
        404,
    );

    // A retired API takes no subscriptions and leaves the catalog.
    ok(
        gw,
        "PUT",
        "/admin/apis/orders-v1/state",
        Some(json!({"state": "retired"})),
    );
    tenant_with_app(gw, "acme", "web");
    let subs = "/admin/tenants/acme/apps/web/subscriptions";
    assert!(fails(gw, "POST", subs, Some(json!({"api": "orders-v1"})), 409).contains("retired"));
    let catalog = ok(gw, "GET", "/admin/catalog", None);
    assert!(!catalog
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "orders-v1"));

    let cleared = ok(gw, "DELETE", "/admin/apis/orders-v1/state", None);
    assert_eq!(cleared["state"], "published");
    assert_eq!(cleared["override"], Value::Null);
    ok(gw, "POST", subs, Some(json!({"api": "orders-v1"})));
}

#[test]
fn credentials_are_stored_but_never_shown() {
    let s = setup();
    let gw = &s.gw;
    const KEY: &str = "sk-tenant-very-secret-0123456789";
    ok(gw, "POST", "/admin/tenants", Some(json!({"name": "acme"})));
    let mut answers = Vec::new();
    let path = "/admin/tenants/acme/credentials/mock";
    let (status, text) = raw(gw, "PUT", path, Some(&json!({"api_key": KEY}).to_string()));
    assert_eq!(status, 200, "{text}");
    let put: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (put["tenant"].as_str(), put["provider"].as_str()),
        (Some("acme"), Some("mock"))
    );
    answers.push(text);
    for p in [
        "/admin/tenants/acme/credentials",
        "/admin/tenants/acme",
        "/admin/audit",
        "/admin/audit?action=credential",
    ] {
        let (status, text) = raw(gw, "GET", p, None);
        assert_eq!(status, 200, "{p}: {text}");
        answers.push(text);
    }
    for a in &answers {
        assert!(
            !a.contains(KEY) && !a.contains("sk-tenant"),
            "the key shows: {a}"
        );
    }
    let listed: Value = serde_json::from_str(&answers[1]).unwrap();
    assert_eq!(listed[0]["provider"], "mock");
    assert!(listed[0]["created_at"].is_string());
    // Nor does the database hold it in the clear.
    let db = std::fs::read(s.gw.dir.path().join("tollgate.db")).unwrap();
    let wal = std::fs::read(s.gw.dir.path().join("tollgate.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()));
    }

    assert!(fails(
        gw,
        "PUT",
        "/admin/tenants/acme/credentials/openai",
        Some(json!({"api_key": "x"})),
        404
    )
    .contains("provider"));
    fails(
        gw,
        "PUT",
        "/admin/tenants/nobody/credentials/mock",
        Some(json!({"api_key": "x"})),
        404,
    );
    fails(gw, "PUT", path, Some(json!({"key": "x"})), 400);
    assert_eq!(raw(gw, "DELETE", path, None).0, 204);
    fails(gw, "DELETE", path, None, 404);
    assert_eq!(
        ok(gw, "GET", "/admin/tenants/acme/credentials", None),
        json!([])
    );
}

#[test]
fn without_a_secret_key_or_a_store() {
    let s = setup_with("[store]\npath = \"tollgate.db\"\n");
    ok(
        &s.gw,
        "POST",
        "/admin/tenants",
        Some(json!({"name": "acme"})),
    );
    let msg = fails(
        &s.gw,
        "PUT",
        "/admin/tenants/acme/credentials/mock",
        Some(json!({"api_key": "x"})),
        409,
    );
    assert!(msg.contains("secret_key"), "{msg}");
    drop(s);

    // No [store]; a route, since a configuration without one is refused.
    let gw = Gateway::start(
        1,
        "[[upstreams]]\nname = \"u\"\ntargets = [\"127.0.0.1:1\"]\n[[routes]]\nname = \"r\"\nupstream = \"u\"\n",
    );
    for path in ["/admin/tenants", "/admin/catalog", "/admin/audit"] {
        let msg = fails(&gw, "GET", path, None, 503);
        assert_eq!(msg, "no [store] configured");
    }
    ok(&gw, "GET", "/admin/openapi.json", None);
}

#[test]
fn the_catalog_shows_what_a_tenant_may_see() {
    let s = setup();
    let gw = &s.gw;
    ok(gw, "POST", "/admin/tenants", Some(json!({"name": "acme"})));
    ok(
        gw,
        "POST",
        "/admin/tenants",
        Some(json!({"name": "globex"})),
    );
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_string())
            .collect()
    };
    let all = ok(gw, "GET", "/admin/catalog", None);
    assert_eq!(
        names(&all),
        ["orders-v1", "orders-v2", "globex-only", "open", "llm"]
    );
    let v1 = &all[0];
    assert_eq!(v1["openapi"]["info"]["title"], "Orders");
    assert_eq!(v1["version"], "v1");
    assert_eq!(v1["owner"], "team-orders");
    assert_eq!(v1["description"], "Orders");
    assert!(v1.get("override").is_none() && v1.get("configured_state").is_none());
    assert!(v1.get("models").is_none());
    assert_eq!(all[1]["openapi"], Value::Null);
    assert_eq!(all[4]["models"], json!(["demo"]));

    let acme = ok(gw, "GET", "/admin/catalog?tenant=acme", None);
    assert_eq!(names(&acme), ["orders-v1", "orders-v2", "open", "llm"]);
    assert_eq!(acme[3]["models"], json!(["demo"]));
    let globex = ok(gw, "GET", "/admin/catalog?tenant=globex", None);
    assert!(names(&globex).contains(&"globex-only".to_string()));
    let llm = globex
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "llm")
        .unwrap();
    assert_eq!(llm["models"], json!(["demo", "globex-model"]));
    fails(gw, "GET", "/admin/catalog?tenant=nobody", None, 404);
    fails(gw, "GET", "/admin/catalog?tenant=acme&x=1", None, 400);
}

#[test]
fn the_audit_trail_says_who_did_what_and_when() {
    let s = setup();
    let gw = &s.gw;
    let before = std::time::SystemTime::now();
    tenant_with_app(gw, "acme", "web");
    // The admin token is audited as "admin-token", with X-Tollgate-Actor's claim beside it.
    let url = format!("http://127.0.0.1:{}/admin/tenants/acme", gw.admin_port);
    let r = client()
        .patch(url)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .body(r#"{"description": "Acme"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    let audit = ok(gw, "GET", "/admin/audit", None);
    let rows = audit.as_array().unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["tenant.update", "app.create", "tenant.create", "seed.apply"]
    );
    assert_eq!(rows[0]["actor"], "admin-token");
    assert_eq!(rows[1]["actor"], "admin-token (alice)");
    assert_eq!(rows[3]["actor"], "config");
    assert_eq!(rows[0]["target"], "tenant:acme");
    assert_eq!(rows[1]["target"], "app:acme/web");
    assert!(
        rows[1]["remote"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{}",
        rows[1]
    );
    assert_eq!(rows[0]["detail"]["description"]["to"], "Acme");
    let at = humantime::parse_rfc3339(rows[0]["at"].as_str().unwrap()).unwrap();
    assert!(at >= before - Duration::from_secs(1), "{}", rows[0]["at"]);

    let one = ok(gw, "GET", "/admin/audit?limit=1", None);
    assert_eq!(one.as_array().unwrap().len(), 1);
    let tenant = ok(gw, "GET", "/admin/audit?target=tenant:acme", None);
    assert_eq!(tenant.as_array().unwrap().len(), 2);
    let creates = ok(gw, "GET", "/admin/audit?action=tenant", None);
    assert_eq!(creates.as_array().unwrap().len(), 2);
    fails(gw, "GET", "/admin/audit?limit=0", None, 400);
    fails(gw, "GET", "/admin/audit?limit=ten", None, 400);
}

/// Dates past what can be written (year 9999) are refused with the field named, before
/// anything is stored; a row that holds one anyway (stored by an older build) still lists,
/// shows and revokes, its date shown as the last writable one.
#[test]
fn far_dates_are_refused_and_stored_ones_still_show() {
    let s = setup();
    let gw = &s.gw;
    tenant_with_app(gw, "acme", "web");
    let keys = "/admin/tenants/acme/apps/web/keys";
    for (body, field) in [
        (json!({"expires_in": "8000y"}), "body.expires_in"),
        (json!({"expires_in": "101y"}), "body.expires_in"),
        (json!({"expires_at": "10000-01-01"}), "body.expires_at"),
    ] {
        let msg = fails(gw, "POST", keys, Some(body.clone()), 400);
        assert!(msg.contains(field), "{body}: {msg}");
    }
    assert_eq!(
        ok(gw, "GET", keys, None),
        json!([]),
        "a refused key was stored"
    );

    let key = ok(gw, "POST", keys, Some(json!({"expires_in": "100y"})));
    let id = key["id"].as_str().unwrap().to_string();
    let rotate = format!("/admin/keys/{id}/rotate");
    let msg = fails(gw, "POST", &rotate, Some(json!({"overlap": "9000y"})), 400);
    assert!(
        msg.contains("body.overlap") && msg.contains("100 years"),
        "{msg}"
    );
    let listed = ok(gw, "GET", keys, None);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["expires_at"], key["expires_at"], "{listed}");

    // A far date written straight into the file, as an older build stored "8000y".
    let db = rusqlite::Connection::open(gw.dir.path().join("tollgate.db")).unwrap();
    let far: i64 = 252_460_000_000_000;
    db.execute(
        "UPDATE api_keys SET expires_at = ?1, created_at = ?1 WHERE public_id = ?2",
        rusqlite::params![far, id],
    )
    .unwrap();
    drop(db);
    let listed = ok(gw, "GET", keys, None);
    assert_eq!(listed[0]["expires_at"], "9999-12-31T23:59:59Z", "{listed}");
    let one = format!("/admin/keys/{id}");
    assert_eq!(ok(gw, "GET", &one, None)["state"], "active");
    let rotated = ok(gw, "POST", &rotate, Some(json!({"overlap": "1h"})));
    assert_eq!(rotated["old"]["id"], id.as_str(), "{rotated}");
    assert_eq!(ok(gw, "DELETE", &one, None)["state"], "revoked");
}

/// Stops the gateway and starts it again on the same directory, ports and file.
fn restart(gw: &mut Gateway) {
    assert_eq!(gw.stop(), Some(0), "{}", gw.stderr());
    let text = std::fs::read_to_string(&gw.config_path).unwrap();
    gw.child = Some(spawn_gateway(gw.dir.path(), &text));
    gw.wait_ready();
}

#[test]
fn a_restart_keeps_all_state() {
    let mut s = setup();
    tenant_with_app(&s.gw, "acme", "web");
    let gw = &s.gw;
    let key = ok(
        gw,
        "POST",
        "/admin/tenants/acme/apps/web/keys",
        Some(json!({"name": "ci"})),
    );
    let id = key["id"].as_str().unwrap().to_string();
    let sub = ok(
        gw,
        "POST",
        "/admin/tenants/acme/apps/web/subscriptions",
        Some(json!({"api": "orders-v1"})),
    );
    ok(
        gw,
        "PUT",
        "/admin/apis/orders-v2/state",
        Some(json!({"state": "deprecated"})),
    );
    ok(
        gw,
        "PUT",
        "/admin/tenants/acme/credentials/mock",
        Some(json!({"api_key": "sk-x"})),
    );
    let key = format!("/admin/keys/{id}");
    let views = [
        "/admin/tenants",
        "/admin/tenants/acme",
        "/admin/subscriptions",
        "/admin/apis",
        "/admin/tenants/acme/credentials",
        "/admin/audit",
        key.as_str(),
    ];
    let read_all =
        |gw: &Gateway| -> Vec<Value> { views.iter().map(|p| ok(gw, "GET", p, None)).collect() };
    let before = read_all(gw);

    restart(&mut s.gw);
    let gw = &s.gw;
    let after = read_all(gw);
    assert_eq!(before, after);
    assert_eq!(after[6]["state"], "active");
    let sid = sub["id"].as_i64().unwrap();
    assert_eq!(
        ok(
            gw,
            "POST",
            &format!("/admin/subscriptions/{sid}/approve"),
            None
        )["state"],
        "active"
    );
}

/// Starts `tollgate run` on a gateway directory holding `db` as the store file (made by
/// `prepare`), the command set up by `configure`; waits for it to exit and returns (exit
/// code, stderr).
fn run_on_store(
    prepare: impl FnOnce(&Path),
    configure: impl FnOnce(&mut std::process::Command),
) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n[store]\npath = \"tollgate.db\"\n\n[[upstreams]]\nname = \"u\"\ntargets = [\"127.0.0.1:1\"]\n\n[[routes]]\nname = \"r\"\nupstream = \"u\"\n",
        base_config(free_port(), free_port(), 1, "")
    );
    prepare(&dir.path().join("tollgate.db"));
    let mut child = Running(Some(spawn_gateway_with(dir.path(), &text, configure)));
    let status = wait_for("tollgate run to exit", Duration::from_secs(20), || {
        child.child().try_wait().unwrap()
    });
    child.0 = None;
    let stderr = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    (status.code(), stderr)
}

#[test]
fn a_corrupt_database_stops_run_with_a_clear_message() {
    let (code, stderr) = run_on_store(
        |db| std::fs::write(db, b"garbage, not a database\n".repeat(300)).unwrap(),
        |_| {},
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not a SQLite database"), "{stderr}");
    assert!(stderr.contains("tollgate.db"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Capabilities that let a process write (or chmod) a file its mode forbids.
const FILE_OVERRIDES: [libc::c_ulong; 3] = [
    1, // CAP_DAC_OVERRIDE
    2, // CAP_DAC_READ_SEARCH
    3, // CAP_FOWNER
];

/// Starts the command without the capabilities that let root write through file modes, so
/// a read-only file is read-only to it as to any user. They are dropped from the bounding set
/// between fork and exec, and so are not in the permitted set the exec computes for root; the
/// inheritable set (the other source of that set) must not hold them.
fn without_file_overrides(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let inheritable = status
        .lines()
        .find_map(|l| l.strip_prefix("CapInh:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .expect("CapInh in /proc/self/status");
    for cap in FILE_OVERRIDES {
        assert_eq!(
            inheritable & (1 << cap),
            0,
            "capability {cap} is inheritable: the test cannot take it from the gateway"
        );
    }
    // SAFETY: the closure only calls prctl, which is async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            for cap in FILE_OVERRIDES {
                if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn a_read_only_database_stops_run_with_a_clear_message() {
    use std::os::unix::fs::PermissionsExt;
    let (code, stderr) = run_on_store(
        |db| {
            drop(tollgate::store::Store::create(db).unwrap());
            std::fs::set_permissions(db, std::fs::Permissions::from_mode(0o444)).unwrap();
        },
        // Root writes through file modes; without these capabilities it cannot. (Dropping
        // them needs CAP_SETPCAP, which root has; if it is missing, the start fails loudly.)
        |cmd| {
            if is_root() {
                without_file_overrides(cmd)
            }
        },
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("read-only"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn malformed_requests_are_refused_with_a_reason() {
    let s = setup();
    let gw = &s.gw;
    let (status, text) = raw(gw, "POST", "/admin/tenants", Some("{\"name\": "));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("not valid JSON"), "{text}");
    let msg = fails(
        gw,
        "POST",
        "/admin/tenants",
        Some(json!({"name": "a", "colour": "red"})),
        400,
    );
    assert!(msg.contains("unknown field `colour`"), "{msg}");
    let msg = fails(gw, "POST", "/admin/tenants", Some(json!({"name": 7})), 400);
    assert!(msg.contains("body.name"), "{msg}");
    let msg = fails(gw, "POST", "/admin/tenants", Some(json!({})), 400);
    assert!(msg.contains("missing field `name`"), "{msg}");
    let msg = fails(
        gw,
        "POST",
        "/admin/tenants/acme/apps/web/keys",
        Some(json!({"expires_in": "soon"})),
        400,
    );
    assert!(msg.contains("body.expires_in"), "{msg}");

    // Wrong method: 405 with the methods that work.
    let url = format!("http://127.0.0.1:{}/admin/tenants", gw.admin_port);
    let r = client()
        .put(url)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["allow"], "GET, POST");
    fails(gw, "POST", "/admin/catalog", None, 405);
    fails(gw, "GET", "/admin/subscriptions?colour=red", None, 400);

    // A body over 1 MiB is refused by its length, before it is read.
    let head = format!(
        "POST /admin/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n"
    );
    let resp = raw_exchange(gw.admin_port, head.as_bytes(), Duration::from_secs(10)).unwrap();
    let (status, _, body) = parse_response(&resp).unwrap();
    assert_eq!(status, 413, "{resp}");
    assert!(body.contains("1048576"), "{body}");
    // A chunked one is cut when it passes the limit.
    let mut req = format!(
        "POST /admin/tenants HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..17 {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let resp = raw_exchange(gw.admin_port, &req, Duration::from_secs(10)).unwrap();
    assert_eq!(parse_response(&resp).map(|r| r.0), Some(413), "{resp}");
}
