//! Upstreams, routes, providers and models managed through the admin API against the real
//! binary and a real store: made, changed and deleted while the gateway runs and served by
//! every worker within a second (the default `[store] refresh` is 250ms); bad entries refused
//! with the message `tollgate validate` gives, naming the field; what the files declare
//! read-only; an entry a reload breaks left out and said why; secrets never shown.

use crate::common;
use common::admin::{call, ok, raw};
use common::providers::{openai_chat, MOCK_LLM};
use common::upstream::{Reply, Upstream};
use common::*;
use serde_json::{json, Value};
use std::ffi::OsStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// A store (read at the default refresh), and one declared upstream and route.
fn config(declared: &Upstream) -> String {
    format!(
        r#"
[store]
path = "tollgate.db"
secret_key = "{SECRET_KEY}"

[[upstreams]]
name = "declared"
targets = ["{}"]

[[routes]]
name = "declared"
path_prefix = "/declared"
upstream = "declared"
"#,
        declared.addr()
    )
}

/// One GET on a fresh connection (so that, with several workers, the calls spread).
fn get(gw: &Gateway, path: &str) -> (u16, String) {
    let fresh = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let r = fresh.get(gw.url(path)).send().unwrap();
    (r.status().as_u16(), r.text().unwrap_or_default())
}

/// Waits, at most a second and a half past the change, until `path` answers `status` (and
/// `body`, when given) on 10 fresh connections in a row: so on both workers, each within its
/// refresh.
fn until(gw: &Gateway, path: &str, status: u16, body: Option<&str>) {
    let answers = || {
        let (s, b) = get(gw, path);
        s == status && body.is_none_or(|want| b == want)
    };
    wait_for(
        &format!("{path} answering {status} {body:?} on every worker"),
        Duration::from_millis(1500),
        || (0..10).all(|_| answers()).then_some(()),
    );
}

#[test]
fn an_upstream_and_a_route_made_changed_and_deleted_serve_on_every_worker_within_a_second() {
    let (declared, a, b) = (
        Upstream::named("declared"),
        Upstream::named("a"),
        Upstream::named("b"),
    );
    let gw = Gateway::start(2, &config(&declared));
    assert_eq!(get(&gw, "/orders").0, 404);
    let (status, v) = call(
        &gw,
        "POST",
        "/admin/upstreams",
        Some(json!({"name": "live", "targets": [a.addr()], "retries": 0})),
    );
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        (&v["source"], &v["read_only"]),
        (&json!("store"), &json!(false))
    );
    assert!(v["updated_by"].as_str().unwrap().contains("alice"), "{v}");
    assert!(v["updated_at"].as_i64().unwrap() > 0, "{v}");
    let route = json!({"name": "orders", "path_prefix": "/orders", "upstream": "live",
                       "api": {"description": "Orders", "version": "1.0"}});
    let v = ok(&gw, "POST", "/admin/routes", Some(route));
    assert_eq!(
        (&v["served"], &v["upstream"]),
        (&json!(true), &json!("live")),
        "{v}"
    );
    until(&gw, "/orders/1", 200, Some("a"));

    // A stored route is an API like a declared one.
    let apis = ok(&gw, "GET", "/admin/apis", None);
    let orders = apis
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "orders");
    assert!(orders.is_some(), "{apis}");
    let catalog = ok(&gw, "GET", "/admin/catalog", None).to_string();
    assert!(catalog.contains(r#""description":"Orders""#), "{catalog}");

    // Replaced: the new target serves.
    let v = ok(
        &gw,
        "PUT",
        "/admin/upstreams/live",
        Some(json!({"targets": [b.addr()], "retries": 0})),
    );
    assert_eq!(v["targets"], json!([b.addr()]), "{v}");
    until(&gw, "/orders/1", 200, Some("b"));

    // The route still needs its upstream.
    let (status, v) = call(&gw, "DELETE", "/admin/upstreams/live", None);
    assert_eq!(status, 400, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(r#"routes[orders].upstream: no upstream named "live""#),
        "{v}"
    );
    assert_eq!(get(&gw, "/orders/1"), (200, "b".to_string()));

    assert_eq!(call(&gw, "DELETE", "/admin/routes/orders", None).0, 204);
    until(&gw, "/orders/1", 404, None);
    assert_eq!(call(&gw, "DELETE", "/admin/upstreams/live", None).0, 204);
    assert_eq!(call(&gw, "GET", "/admin/upstreams/live", None).0, 404);
    assert_eq!(get(&gw, "/declared"), (200, "declared".to_string()));

    // Every change is audited, naming who made it.
    let audit = ok(&gw, "GET", "/admin/audit", None).to_string();
    for action in [
        "upstream.create",
        "route.create",
        "upstream.update",
        "route.delete",
    ] {
        assert!(audit.contains(action), "{action}: {audit}");
    }
}

/// An in-test OpenAI server answering "hi", and the `Authorization` headers it saw.
fn openai() -> (Upstream, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let up = Upstream::start("openai", move |r| {
        s.lock()
            .unwrap()
            .push(r.header("authorization").unwrap_or("").to_string());
        Reply::ok(openai_chat("hi")).header("content-type", "application/json")
    });
    (up, seen)
}

fn chat(gw: &Gateway, model: &str) -> (u16, Value) {
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn chat_until_ok(gw: &Gateway, model: &str) -> Value {
    wait_for(
        &format!("model {model} served"),
        Duration::from_secs(3),
        || {
            let (status, v) = chat(gw, model);
            (status == 200).then_some(v)
        },
    )
}

#[test]
fn providers_and_models_made_through_the_admin_api_serve_chats_and_never_show_their_secrets() {
    let (up, seen) = openai();
    let body = format!(
        "[store]\npath = \"tollgate.db\"\nsecret_key = \"{SECRET_KEY}\"\n{MOCK_LLM}\n\
         [[providers]]\nname = \"declared\"\nkind = \"openai\"\nbase_url = \"http://{}\"\n\
         api_key = \"sk-declared-literal\"\napi_keys = [\"${{LIVE_KEY}}\"]\n",
        up.addr()
    );
    let env = [("LIVE_KEY", OsStr::new("sk-from-the-environment"))];
    let gw = Gateway::start_env(1, &body, &env);

    // The mock provider, through a provider and a model made here.
    ok(
        &gw,
        "POST",
        "/admin/providers",
        Some(json!({"name": "mock2", "kind": "mock"})),
    );
    let model = json!({"name": "live-demo", "deployments": [{"provider": "mock2", "model": "m"}]});
    ok(&gw, "POST", "/admin/models", Some(model));
    let v = chat_until_ok(&gw, "live-demo");
    assert_eq!(
        v["choices"][0]["message"]["content"], "You said: hello",
        "{v}"
    );
    // A prompt API may use a stored model, which then cannot go while the prompt needs it.
    let prompt = json!({"name": "greet", "path": "/greet", "model": "live-demo",
                        "messages": [{"role": "user", "content": "hey"}]});
    ok(&gw, "POST", "/admin/prompts", Some(prompt));
    let (status, v) = call(&gw, "DELETE", "/admin/models/live-demo", None);
    assert_eq!(status, 400, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(r#"prompt "greet" version 1 left out: model"#),
        "{v}"
    );
    ok(&gw, "DELETE", "/admin/prompts/greet", None);
    ok(&gw, "DELETE", "/admin/models/live-demo", None);
    wait_for("live-demo gone", Duration::from_secs(3), || {
        (chat(&gw, "live-demo").0 != 200).then_some(())
    });

    // A literal key is sealed in the store, used on the wire, and never shown.
    let provider = json!({"name": "live-openai", "kind": "openai",
                          "base_url": format!("http://{}", up.addr()), "api_key": "sk-live-secret"});
    let v = ok(&gw, "POST", "/admin/providers", Some(provider));
    assert_eq!(v["api_key"], "********", "{v}");
    let model = json!({"name": "gpt-4.1-live", "deployments": [{"provider": "live-openai", "model": "gpt-4o"}]});
    ok(&gw, "POST", "/admin/models", Some(model));
    let v = chat_until_ok(&gw, "gpt-4.1-live");
    assert_eq!(v["choices"][0]["message"]["content"], "hi", "{v}");
    assert!(seen
        .lock()
        .unwrap()
        .contains(&"Bearer sk-live-secret".to_string()));

    // Sent back as shown, the stored key stays.
    let v = ok(&gw, "GET", "/admin/providers/live-openai", None);
    ok(&gw, "PUT", "/admin/providers/live-openai", Some(v));
    seen.lock().unwrap().clear();
    chat_until_ok(&gw, "gpt-4.1-live");
    assert!(seen
        .lock()
        .unwrap()
        .contains(&"Bearer sk-live-secret".to_string()));

    // A declared provider shows its references as written and its literals masked.
    let v = ok(&gw, "GET", "/admin/providers/declared", None);
    assert_eq!(
        (&v["api_key"], &v["api_keys"]),
        (&json!("********"), &json!(["${LIVE_KEY}"]))
    );
    let mut answers = String::new();
    for path in [
        "/admin/providers",
        "/admin/providers/live-openai",
        "/admin/providers/declared",
        "/admin/models",
        "/admin/audit",
    ] {
        answers.push_str(&raw(&gw, "GET", path, None).1);
    }
    for secret in [
        "sk-live-secret",
        "sk-declared-literal",
        "sk-from-the-environment",
    ] {
        assert!(!answers.contains(secret), "{secret} shown: {answers}");
    }
    for file in ["tollgate.db", "tollgate.db-wal"] {
        let bytes = std::fs::read(gw.dir.path().join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("sk-live-secret"),
            "{file} holds the key in clear"
        );
    }
}

#[test]
fn declared_entries_are_listed_read_only_and_refused_changes() {
    let declared = Upstream::named("declared");
    let gw = Gateway::start(1, &config(&declared));
    let v = ok(&gw, "GET", "/admin/upstreams", None);
    let list = v["upstreams"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    assert_eq!(list[0]["name"], "declared");
    assert_eq!(
        (&list[0]["source"], &list[0]["read_only"]),
        (&json!("config"), &json!(true))
    );
    assert_eq!(list[0]["targets"], json!([declared.addr()]));
    let v = ok(&gw, "GET", "/admin/routes/declared", None);
    assert_eq!(
        (&v["upstream"], &v["read_only"]),
        (&json!("declared"), &json!(true))
    );
    let table = json!({"targets": [declared.addr()]});
    for (method, path, body) in [
        ("PUT", "/admin/upstreams/declared", Some(table.clone())),
        ("DELETE", "/admin/upstreams/declared", None),
        ("DELETE", "/admin/routes/declared", None),
        (
            "POST",
            "/admin/upstreams",
            Some(json!({"name": "declared", "targets": [declared.addr()]})),
        ),
    ] {
        let (status, v) = call(&gw, method, path, body);
        assert_eq!(status, 409, "{method} {path}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("declared in the configuration file"),
            "{v}"
        );
    }
    assert_eq!(get(&gw, "/declared"), (200, "declared".to_string()));
}

#[test]
fn bad_entries_are_refused_naming_the_field_and_change_nothing() {
    let declared = Upstream::named("declared");
    let gw = Gateway::start(1, &config(&declared));
    let target = declared.addr();
    let cases = [
        (
            "/admin/upstreams",
            json!({"name": "u", "targets": [target], "retrys": 2}),
            r#"upstreams[u].retrys: unknown key "retrys" (did you mean "retries"?)"#,
        ),
        (
            "/admin/upstreams",
            json!({"name": "u", "targets": [target], "retries": "three"}),
            "upstreams[u].retries: invalid type",
        ),
        (
            "/admin/routes",
            json!({"name": "orders", "path_prefix": "/orders", "upstream": "nope"}),
            r#"routes[orders].upstream: no upstream named "nope""#,
        ),
        (
            "/admin/routes",
            json!({"name": "again", "path_prefix": "/declared", "upstream": "declared"}),
            r#"routes[again]: route "again" matches exactly the requests of route "declared""#,
        ),
        (
            "/admin/models",
            json!({"name": "m", "deployments": [{"provider": "nope", "model": "x"}]}),
            "models[m].deployments[0].provider",
        ),
        (
            "/admin/routes",
            json!({"path_prefix": "/x"}),
            "body.name: required",
        ),
        (
            "/admin/upstreams",
            json!({"name": "bad/name", "targets": [target]}),
            "name:",
        ),
    ];
    for (path, body, expected) in cases {
        let (status, v) = call(&gw, "POST", path, Some(body.clone()));
        assert_eq!(status, 400, "{path} {body}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{path} {body}: {message}");
    }
    let (status, v) = call(
        &gw,
        "PUT",
        "/admin/routes/orders",
        Some(json!({"name": "other"})),
    );
    assert_eq!(status, 400, "{v}");
    for section in ["upstreams", "routes", "models"] {
        let v = ok(&gw, "GET", &format!("/admin/{section}"), None);
        let stored = v[section]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["source"] == "store")
            .count();
        assert_eq!(stored, 0, "{v}");
    }
    let audit = ok(&gw, "GET", "/admin/audit", None).to_string();
    assert!(!audit.contains(".create"), "{audit}");
}

#[test]
fn a_stored_route_a_reload_breaks_is_left_out_and_says_why_while_the_rest_serves() {
    let (declared, shared) = (Upstream::named("declared"), Upstream::named("shared"));
    let with_shared = format!(
        "{}\n[[upstreams]]\nname = \"shared\"\ntargets = [\"{}\"]\n",
        config(&declared),
        shared.addr()
    );
    let gw = Gateway::start(1, &with_shared);
    for (name, upstream) in [("r2", "shared"), ("r3", "declared")] {
        let route = json!({"name": name, "path_prefix": format!("/{name}"), "upstream": upstream});
        ok(&gw, "POST", "/admin/routes", Some(route));
    }
    until(&gw, "/r2", 200, Some("shared"));
    until(&gw, "/r3", 200, Some("declared"));

    let text = format!(
        "{}\n{}",
        base_config(gw.port, gw.admin_port, 1, ""),
        config(&declared)
    );
    crate::reload::reload(&gw, &text);
    until(&gw, "/r2", 404, None);
    assert_eq!(get(&gw, "/r3"), (200, "declared".to_string()));
    let v = ok(&gw, "GET", "/admin/routes/r2", None);
    assert_eq!(v["served"], false, "{v}");
    let problem = v["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains(r#"routes[r2].upstream: no upstream named "shared""#),
        "{v}"
    );
    let v = ok(&gw, "GET", "/admin/routes/r3", None);
    assert_eq!(v["served"], true, "{v}");
    assert!(
        gw.stderr().contains("routes[r2] left out"),
        "{}",
        gw.stderr()
    );

    // The broken entry may be fixed, and other changes are not held up by it.
    let fixed = json!({"path_prefix": "/r2", "upstream": "declared"});
    ok(&gw, "PUT", "/admin/routes/r2", Some(fixed));
    until(&gw, "/r2", 200, Some("declared"));
}

#[test]
fn a_stored_route_is_an_api_with_keys_and_subscriptions() {
    let (declared, orders) = (Upstream::named("declared"), Upstream::named("orders"));
    let gw = Gateway::start(1, &config(&declared));
    let upstream = json!({"name": "orders", "targets": [orders.addr()]});
    ok(&gw, "POST", "/admin/upstreams", Some(upstream));
    let route = json!({"name": "orders", "path_prefix": "/orders", "upstream": "orders",
                       "api": {"auth": "api_key", "approval": "manual", "state": "published"}});
    ok(&gw, "POST", "/admin/routes", Some(route));
    until(&gw, "/orders", 401, None);
    ok(&gw, "POST", "/admin/tenants", Some(json!({"name": "acme"})));
    let app = json!({"name": "web"});
    ok(&gw, "POST", "/admin/tenants/acme/apps", Some(app));
    let key = ok(&gw, "POST", "/admin/tenants/acme/apps/web/keys", None)["key"]
        .as_str()
        .unwrap()
        .to_string();
    let sub = ok(
        &gw,
        "POST",
        "/admin/tenants/acme/apps/web/subscriptions",
        Some(json!({"api": "orders"})),
    );
    assert_eq!(sub["state"], "pending", "{sub}");
    let keyed = || {
        let r = client()
            .get(gw.url("/orders"))
            .bearer_auth(&key)
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap_or_default())
    };
    // Workers learn of a new key within a store refresh; until then it is unknown (401).
    let first = wait_for("the new key to be known", Duration::from_secs(3), || {
        Some(keyed().0).filter(|s| *s != 401)
    });
    assert_eq!(first, 403, "a pending subscription admits nothing");
    ok(
        &gw,
        "POST",
        &format!("/admin/subscriptions/{}/approve", sub["id"]),
        None,
    );
    wait_for("the approved key to work", Duration::from_secs(3), || {
        (keyed() == (200, "orders".to_string())).then_some(())
    });
}
