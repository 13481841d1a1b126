//! The API gate driven through the admin API, with two workers: keys created, rotated,
//! expired and revoked; subscriptions requested, approved, rejected and revoked; lifecycle
//! changes; tenants' own provider keys. Every change must reach both workers.

use crate::common;
use common::admin::{call as admin, ok};
use common::providers::*;
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// Status and error code of a GET with `key`, on a fresh connection (so over time the
/// requests spread over both workers).
fn call(gw: &Gateway, path: &str, key: &str) -> (u16, String) {
    let r = reqwest::blocking::Client::new()
        .get(gw.url(path))
        .header("authorization", format!("Bearer {key}"))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let v: Value = r.json().unwrap_or(Value::Null);
    (
        status,
        v["error"]["code"].as_str().unwrap_or("").to_string(),
    )
}

/// Polls until `path` answers `want` with `key` 10 times in a row on new connections.
fn settles(gw: &Gateway, path: &str, key: &str, want: (u16, &str)) {
    let mut streak = 0;
    wait_for(
        &format!("{path} -> {want:?}"),
        Duration::from_secs(5),
        || {
            let (status, code) = call(gw, path, key);
            streak = if (status, code.as_str()) == want {
                streak + 1
            } else {
                0
            };
            (streak >= 10).then_some(())
        },
    );
}

fn echo() -> Upstream {
    Upstream::start("echo", |req| {
        Reply::ok(json!({"path": req.path}).to_string())
    })
}

fn gateway(up: &Upstream, extra: &str) -> Gateway {
    Gateway::start(
        2,
        &format!(
            r#"
[store]
path = "tollgate.db"
secret_key = "{SECRET}"
refresh = "100ms"

[[upstreams]]
name = "echo"
targets = ["{}"]

[[routes]]
name = "orders"
path_prefix = "/orders"
upstream = "echo"
[routes.api]
auth = "api_key"

[[routes]]
name = "reports"
path_prefix = "/reports"
upstream = "echo"
[routes.api]
auth = "api_key"
approval = "manual"
{extra}
"#,
            up.addr()
        ),
    )
}

fn new_app(gw: &Gateway, tenant: &str, app: &str) {
    let (status, _) = admin(gw, "GET", &format!("/admin/tenants/{tenant}"), None);
    if status == 404 {
        ok(gw, "POST", "/admin/tenants", Some(json!({"name": tenant})));
    }
    ok(
        gw,
        "POST",
        &format!("/admin/tenants/{tenant}/apps"),
        Some(json!({"name": app})),
    );
}

fn new_key(gw: &Gateway, tenant: &str, app: &str, body: Value) -> (String, String) {
    let v = ok(
        gw,
        "POST",
        &format!("/admin/tenants/{tenant}/apps/{app}/keys"),
        Some(body),
    );
    (
        v["key"].as_str().unwrap().to_string(),
        v["id"].as_str().unwrap().to_string(),
    )
}

fn subscribe(gw: &Gateway, tenant: &str, app: &str, api: &str) -> Value {
    ok(
        gw,
        "POST",
        &format!("/admin/tenants/{tenant}/apps/{app}/subscriptions"),
        Some(json!({"api": api})),
    )
}

#[test]
fn a_revoked_key_is_refused_by_every_worker_within_a_second() {
    let up = echo();
    let gw = gateway(&up, "");
    new_app(&gw, "acme", "web");
    let (key, id) = new_key(&gw, "acme", "web", json!({"name": "ci"}));
    assert!(key.starts_with(&format!("tg_{id}_")));
    subscribe(&gw, "acme", "web", "orders");
    settles(&gw, "/orders", &key, (200, ""));
    // The key is shown once: never again by the admin API.
    let listed = ok(&gw, "GET", "/admin/tenants/acme/apps/web/keys", None);
    assert!(!listed.to_string().contains(&key), "{listed}");

    ok(&gw, "DELETE", &format!("/admin/keys/{id}"), None);
    let revoked_at = Instant::now();
    // The bound is the requirement itself (refresh is 100ms here): from one second after the
    // revocation, no request on any worker may pass.
    while revoked_at.elapsed() < Duration::from_secs(1) {
        call(&gw, "/orders", &key);
    }
    for _ in 0..30 {
        assert_eq!(call(&gw, "/orders", &key), (401, "invalid_api_key".into()));
    }
}

#[test]
fn rotation_overlaps_and_expiry_ends_keys() {
    let up = echo();
    let gw = gateway(&up, "");
    new_app(&gw, "acme", "web");
    subscribe(&gw, "acme", "web", "orders");
    let (old, id) = new_key(&gw, "acme", "web", json!({}));
    settles(&gw, "/orders", &old, (200, ""));

    let v = ok(
        &gw,
        "POST",
        &format!("/admin/keys/{id}/rotate"),
        Some(json!({"overlap": "1h"})),
    );
    let new = v["new"]["key"].as_str().unwrap().to_string();
    assert!(v["old"]["expires_at"].is_string(), "{v}");
    settles(&gw, "/orders", &new, (200, ""));
    // Both work during the overlap.
    assert_eq!(call(&gw, "/orders", &old).0, 200);

    // No overlap: the key rotated away stops at once.
    let new_id = v["new"]["id"].as_str().unwrap().to_string();
    let v = ok(
        &gw,
        "POST",
        &format!("/admin/keys/{new_id}/rotate"),
        Some(json!({"overlap": "0s"})),
    );
    let newest = v["new"]["key"].as_str().unwrap().to_string();
    settles(&gw, "/orders", &newest, (200, ""));
    settles(&gw, "/orders", &new, (401, "invalid_api_key"));

    // A key made to expire soon stops by itself, with no admin action.
    let (short, _) = new_key(&gw, "acme", "web", json!({"expires_in": "2s"}));
    settles(&gw, "/orders", &short, (200, ""));
    settles(&gw, "/orders", &short, (401, "invalid_api_key"));
}

#[test]
fn subscriptions_wait_for_approval_and_can_be_rejected_or_revoked() {
    let up = echo();
    let gw = gateway(&up, "");
    new_app(&gw, "acme", "web");
    new_app(&gw, "acme", "batch");
    let (web, _) = new_key(&gw, "acme", "web", json!({}));
    let (batch, _) = new_key(&gw, "acme", "batch", json!({}));
    settles(&gw, "/reports", &web, (403, "subscription_required"));

    let auto = subscribe(&gw, "acme", "web", "orders");
    assert_eq!(auto["state"], "active");
    settles(&gw, "/orders", &web, (200, ""));

    let sub = subscribe(&gw, "acme", "web", "reports");
    assert_eq!(sub["state"], "pending");
    settles(&gw, "/reports", &web, (403, "subscription_pending"));
    let id = sub["id"].as_i64().unwrap();
    ok(
        &gw,
        "POST",
        &format!("/admin/subscriptions/{id}/approve"),
        None,
    );
    settles(&gw, "/reports", &web, (200, ""));
    ok(
        &gw,
        "POST",
        &format!("/admin/subscriptions/{id}/revoke"),
        Some(json!({"reason": "contract ended"})),
    );
    settles(&gw, "/reports", &web, (403, "subscription_revoked"));

    let sub = subscribe(&gw, "acme", "batch", "reports");
    let id = sub["id"].as_i64().unwrap();
    ok(
        &gw,
        "POST",
        &format!("/admin/subscriptions/{id}/reject"),
        None,
    );
    settles(&gw, "/reports", &batch, (403, "subscription_rejected"));
}

#[test]
fn lifecycle_changes_apply_without_a_restart() {
    let up = echo();
    let gw = gateway(
        &up,
        "[[routes]]\nname = \"orders-v2\"\npath_prefix = \"/v2/orders\"\nupstream = \"echo\"\n",
    );
    new_app(&gw, "acme", "web");
    subscribe(&gw, "acme", "web", "orders");
    let (key, _) = new_key(&gw, "acme", "web", json!({}));
    settles(&gw, "/orders", &key, (200, ""));

    ok(
        &gw,
        "PUT",
        "/admin/apis/orders/state",
        Some(json!({"state": "deprecated", "successor": "orders-v2", "sunset": "2027-06-30"})),
    );
    let headers = wait_for("deprecation headers", Duration::from_secs(5), || {
        let r = client()
            .get(gw.url("/orders"))
            .header("authorization", format!("Bearer {key}"))
            .send()
            .unwrap();
        r.headers().get("deprecation").map(|_| r.headers().clone())
    });
    assert_eq!(headers["sunset"], "Wed, 30 Jun 2027 00:00:00 GMT");
    assert_eq!(headers["link"], "</v2/orders>; rel=\"successor-version\"");
    assert!(headers["deprecation"].to_str().unwrap().starts_with('@'));

    ok(
        &gw,
        "PUT",
        "/admin/apis/orders/state",
        Some(json!({"state": "retired", "successor": "orders-v2"})),
    );
    settles(&gw, "/orders", &key, (410, "api_retired"));
    ok(
        &gw,
        "PUT",
        "/admin/apis/orders/state",
        Some(json!({"state": "draft"})),
    );
    settles(&gw, "/orders", &key, (404, "route_not_found"));
    ok(&gw, "DELETE", "/admin/apis/orders/state", None);
    settles(&gw, "/orders", &key, (200, ""));
}

#[test]
fn a_tenants_own_provider_key_serves_that_tenant_only_and_is_never_shown() {
    let provider_up = openai_server("hello");
    let llm = format!(
        "{}{}[[routes]]\nname = \"llm\"\npath_prefix = \"/v1\"\nhandler = \"llm\"\n[routes.api]\nauth = \"api_key\"\n",
        provider("oai", "openai", &provider_up, ""),
        model("gpt", &[("oai", "gpt-4o")], ""),
    );
    let up = echo();
    let gw = gateway(&up, &llm);
    new_app(&gw, "acme", "web");
    new_app(&gw, "globex", "svc");
    subscribe(&gw, "acme", "web", "llm");
    subscribe(&gw, "globex", "svc", "llm");
    let (acme, _) = new_key(&gw, "acme", "web", json!({}));
    let (globex, _) = new_key(&gw, "globex", "svc", json!({}));
    ok(
        &gw,
        "PUT",
        "/admin/tenants/acme/credentials/oai",
        Some(json!({"api_key": "sk-acme-own"})),
    );
    settles(&gw, "/v1/models", &acme, (200, ""));
    settles(&gw, "/v1/models", &globex, (200, ""));
    let chat = |key: &str| {
        let r = client()
            .post(gw.url("/v1/chat/completions"))
            .header("authorization", format!("Bearer {key}"))
            .json(&json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        provider_up
            .last_request()
            .unwrap()
            .header("authorization")
            .unwrap()
            .to_string()
    };
    wait_for("acme's own key in use", Duration::from_secs(5), || {
        (chat(&acme) == "Bearer sk-acme-own").then_some(())
    });
    for _ in 0..10 {
        assert_eq!(chat(&acme), "Bearer sk-acme-own");
        assert_eq!(chat(&globex), "Bearer sk-oai");
    }
    // Never echoed: not in the tenant's view, its credential list, nor the audit trail.
    for path in [
        "/admin/tenants/acme",
        "/admin/tenants/acme/credentials",
        "/admin/audit?limit=100",
    ] {
        let v = ok(&gw, "GET", path, None);
        assert!(!v.to_string().contains("sk-acme-own"), "{path}: {v}");
    }
    let listed = ok(&gw, "GET", "/admin/tenants/acme/credentials", None);
    assert_eq!(listed[0]["provider"], "oai", "{listed}");
    let audit = ok(&gw, "GET", "/admin/audit?limit=100", None);
    let put = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "credential.put")
        .expect("credential.put in the audit trail");
    assert_eq!(put["actor"], "admin-token (alice)");

    ok(&gw, "DELETE", "/admin/tenants/acme/credentials/oai", None);
    wait_for("the gateway's key again", Duration::from_secs(5), || {
        (chat(&acme) == "Bearer sk-oai").then_some(())
    });
}

fn kill(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a process this test started (through the master).
    unsafe { libc::kill(pid as i32, sig) };
}

/// The master's children that listen on the data port: the workers (the admin process does not).
fn worker_pids(gw: &Gateway) -> Vec<u32> {
    gw.children()
        .into_iter()
        .filter(|&p| tollgate::procfs::listening_ports(&p.to_string()).contains(&gw.port))
        .collect()
}

/// The store file deleted while the gateway runs: every worker keeps the keys it had, the
/// admin API refuses reads and writes (503) instead of using the deleted file, the workers say
/// so on /metrics and in the log (once each), and neither a reload nor a restarted worker
/// makes a new, empty store: the restarted worker does not serve at all.
#[test]
fn a_deleted_store_keeps_every_worker_on_its_keys_and_stops_admin_changes() {
    let up = echo();
    let gw = gateway(&up, "");
    new_app(&gw, "acme", "web");
    let (key, _) = new_key(&gw, "acme", "web", json!({"name": "ci"}));
    subscribe(&gw, "acme", "web", "orders");
    settles(&gw, "/orders", &key, (200, ""));
    let workers = wait_for("two workers listening", Duration::from_secs(10), || {
        let w = worker_pids(&gw);
        (w.len() == 2).then_some(w)
    });

    let db = gw.dir.path().join("tollgate.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    wait_for(
        "both workers to report the store gone",
        Duration::from_secs(5),
        || (sample(&gw.metrics(), "tollgate_store_unavailable") == Some(2.0)).then_some(()),
    );
    let errors = sample(&gw.metrics(), "tollgate_store_errors_total").unwrap();
    assert!(errors >= 2.0, "{errors}");
    // Connections spread over both workers: each still knows the key.
    for _ in 0..40 {
        assert_eq!(call(&gw, "/orders", &key), (200, String::new()));
    }
    for (method, path, body) in [
        ("GET", "/admin/tenants", None),
        ("GET", "/admin/tenants/acme/apps/web/keys", None),
        ("POST", "/admin/tenants", Some(json!({"name": "globex"}))),
        ("POST", "/admin/tenants/acme/apps/web/keys", Some(json!({}))),
    ] {
        let (status, v) = admin(&gw, method, path, body);
        assert_eq!(status, 503, "{method} {path}: {v}");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            msg.contains("store unavailable") && msg.contains("deleted"),
            "{v}"
        );
    }
    assert!(!db.exists(), "the admin process made a new store file");
    // Logged once per worker, not once per refresh tick.
    let log = gw.stderr();
    let said = log.matches("cannot refresh keys and subscriptions").count();
    assert_eq!(said, 2, "{log}");

    // A reload must not make a new store in place of the deleted one.
    gw.signal(libc::SIGHUP);
    wait_for("the reload to be refused", Duration::from_secs(10), || {
        gw.stderr()
            .contains("reload refused, the running configuration stays: store")
            .then_some(())
    });
    assert!(!db.exists(), "the reload made a new store file");

    // A killed worker's replacement finds no store: it says so and does not serve.
    let restarts = |gw: &Gateway| sample(&gw.metrics(), "tollgate_worker_restarts_total");
    kill(workers[0], libc::SIGKILL);
    wait_for("a replacement to fail", Duration::from_secs(10), || {
        (restarts(&gw) >= Some(2.0)).then_some(())
    });
    assert!(!db.exists(), "a restarted worker made a new store file");
    let log = gw.stderr();
    assert!(
        log.contains("cannot load keys from the store, not serving"),
        "{log}"
    );
    assert_eq!(worker_pids(&gw), vec![workers[1]]);
    for _ in 0..20 {
        assert_eq!(call(&gw, "/orders", &key), (200, String::new()));
    }
}

/// The store file replaced by another (valid, empty) store while running: no process takes
/// it up (its keys would differ from what the workers hold): keys keep working, the admin API
/// answers 503 naming the replacement, and the metric says so.
#[test]
fn a_replaced_store_is_not_taken_up_while_running() {
    let up = echo();
    let gw = gateway(&up, "");
    new_app(&gw, "acme", "web");
    let (key, _) = new_key(&gw, "acme", "web", json!({"name": "ci"}));
    subscribe(&gw, "acme", "web", "orders");
    settles(&gw, "/orders", &key, (200, ""));

    let other = gw.dir.path().join("other.db");
    drop(tollgate::store::Store::create(&other).unwrap());
    std::fs::rename(&other, gw.dir.path().join("tollgate.db")).unwrap();
    wait_for(
        "both workers to report the store replaced",
        Duration::from_secs(5),
        || (sample(&gw.metrics(), "tollgate_store_unavailable") == Some(2.0)).then_some(()),
    );
    for _ in 0..40 {
        assert_eq!(call(&gw, "/orders", &key), (200, String::new()));
    }
    let (status, v) = admin(&gw, "GET", "/admin/tenants/acme", None);
    assert_eq!(status, 503, "{v}");
    assert!(v.to_string().contains("replaced"), "{v}");
}
