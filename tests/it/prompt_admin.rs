//! Prompt APIs managed through the admin API and the CLI, against the real binary and a real
//! store: made, versioned and deleted while the gateway runs, served by every worker without a
//! restart; bad definitions refused with the message `tollgate validate` gives, naming the
//! field; prompts the configuration declares read-only.

use crate::common;
use common::admin::{call, ok};
use common::providers::MOCK;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// The mock's `demo`, a store read every 100ms, and one declared prompt.
fn config() -> String {
    format!(
        r#"{MOCK}
[store]
path = "tollgate.db"
refresh = "100ms"

[[prompts]]
name = "fixed"
path = "/prompts/fixed"
model = "demo"
messages = [{{ role = "user", content = "fixed" }}]
"#
    )
}

fn hello(path: &str, template: &str) -> Value {
    json!({
        "path": path,
        "model": "demo",
        "description": "Greets",
        "input": {"type": "object", "required": ["who"], "properties": {"who": {"type": "string"}}},
        "messages": [{"role": "user", "content": template}],
    })
}

/// One call on a fresh connection (so that, with several workers, the calls spread).
fn post(gw: &Gateway, path: &str) -> (u16, Value) {
    let fresh = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let r = fresh
        .post(gw.url(path))
        .json(&json!({"who": "Ann"}))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

/// Waits until `path` answers `status` on 10 fresh connections in a row, so on every worker
/// (the calls spread over them; each applies the store within a refresh).
fn until(gw: &Gateway, path: &str, status: u16) -> Value {
    wait_for(
        &format!("{path} answering {status} on every worker"),
        Duration::from_secs(10),
        || {
            let mut last = Value::Null;
            for _ in 0..10 {
                let (s, v) = post(gw, path);
                if s != status {
                    return None;
                }
                last = v;
            }
            Some(last)
        },
    )
}

#[test]
fn prompts_made_through_the_admin_api_serve_on_every_worker_with_their_versions() {
    let gw = Gateway::start(2, &config());
    assert_eq!(post(&gw, "/prompts/hello/v1").0, 404);
    let (status, v) = call(
        &gw,
        "POST",
        "/admin/prompts",
        Some(
            json!({"name": "hello", "path": "/prompts/hello/v1", "model": "demo",
            "input": {"type": "object", "properties": {"who": {"type": "string"}}},
            "messages": [{"role": "user", "content": "Hi {{who}}"}]}),
        ),
    );
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        (v["version"].as_u64(), v["route"].as_str()),
        (Some(1), Some("hello.v1"))
    );
    let v = until(&gw, "/prompts/hello/v1", 200);
    assert_eq!(v["output"], "You said: Hi Ann", "{v}");
    // Both workers have it: calls on fresh connections spread over them, and all answer.
    for _ in 0..20 {
        let (s, v) = post(&gw, "/prompts/hello/v1");
        assert_eq!((s, &v["output"]), (200, &json!("You said: Hi Ann")));
    }
    // The name is taken.
    let (status, v) = call(
        &gw,
        "POST",
        "/admin/prompts",
        Some(json!({"name": "hello"})),
    );
    assert_eq!(status, 409, "{v}");

    // Version 2 at its own path, beside version 1.
    let v = ok(
        &gw,
        "PUT",
        "/admin/prompts/hello",
        Some(hello("/prompts/hello/v2", "Hello, {{who}}!")),
    );
    assert_eq!(v["version"], 2, "{v}");
    let v = until(&gw, "/prompts/hello/v2", 200);
    assert_eq!(v["output"], "You said: Hello, Ann!");
    assert_eq!(
        post(&gw, "/prompts/hello/v1").1["output"],
        "You said: Hi Ann"
    );
    // A third version may not take a path another version serves.
    let (status, v) = call(
        &gw,
        "PUT",
        "/admin/prompts/hello",
        Some(hello("/prompts/hello/v2", "x")),
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("matches exactly the requests of route \"hello.v2\""),
        "{v}"
    );

    // A reload keeps the stored prompts: they answer as soon as it is applied, not a refresh
    // later.
    let more = format!(
        "{}\n[[prompts]]\nname = \"other\"\npath = \"/prompts/other\"\nmodel = \"demo\"\n\
         messages = [{{ role = \"user\", content = \"o\" }}]\n",
        config()
    );
    crate::reload::reload(&gw, &more);
    for path in ["/prompts/hello/v1", "/prompts/hello/v2", "/prompts/other"] {
        for _ in 0..5 {
            assert_eq!(post(&gw, path).0, 200, "{path} after the reload");
        }
    }

    let list = ok(&gw, "GET", "/admin/prompts", None);
    let stored = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "hello")
        .unwrap();
    assert_eq!(stored["versions"].as_array().unwrap().len(), 2, "{list}");
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "fixed" && p["source"] == "config"));
    let one = ok(&gw, "GET", "/admin/prompts/hello?version=2", None);
    assert_eq!(
        one["versions"][0]["definition"]["path"], "/prompts/hello/v2",
        "{one}"
    );
    assert_eq!(one["versions"][0]["served"], true, "{one}");
    assert_eq!(
        call(&gw, "GET", "/admin/prompts/hello?version=3", None).0,
        404
    );

    // Deleting version 1 takes its path away; version 2 stays.
    let (status, _) = call(&gw, "DELETE", "/admin/prompts/hello?version=1", None);
    assert_eq!(status, 204);
    until(&gw, "/prompts/hello/v1", 404);
    for _ in 0..10 {
        assert_eq!(post(&gw, "/prompts/hello/v2").0, 200);
    }
    assert_eq!(
        call(&gw, "DELETE", "/admin/prompts/hello?version=1", None).0,
        404
    );

    // Every change is in the audit trail.
    let audit = ok(&gw, "GET", "/admin/audit?target=prompt:hello", None);
    let text = audit.to_string();
    for action in ["prompt.create", "prompt.version", "prompt.delete"] {
        assert!(text.contains(action), "{action} not in {text}");
    }
    let (status, _) = call(&gw, "DELETE", "/admin/prompts/hello", None);
    assert_eq!(status, 204);
    until(&gw, "/prompts/hello/v2", 404);
}

#[test]
fn bad_definitions_are_refused_naming_the_field_and_declared_prompts_are_read_only() {
    let gw = Gateway::start(1, &config());
    let cases = [
        (
            json!({"name": "a", "path": "/p/a", "model": "nope", "messages": [{"role": "user", "content": "x"}]}),
            "model: no model named \"nope\"",
        ),
        (
            hello("/p/a", "Hi {{whom}}"),
            "messages[0].content: {{whom}} is not a property of the input schema",
        ),
        (
            json!({"name": "a", "path": "/p/a", "model": "demo", "input": {"type": "object", "patternProperties": {}}, "messages": [{"role": "user", "content": "x"}]}),
            "input: unsupported JSON Schema",
        ),
        (
            json!({"name": "a", "path": "/p/a", "model": "demo", "input_file": "/etc/passwd", "messages": [{"role": "user", "content": "x"}]}),
            "input_file: not accepted through the admin API",
        ),
        (
            json!({"name": "a", "path": "/p/a", "model": "demo", "colour": 1, "messages": []}),
            "unknown field `colour`",
        ),
        (
            hello("/prompts/fixed", "Hi {{who}}"),
            "matches exactly the requests of route \"fixed\"",
        ),
        (
            json!({"name": "a", "path": "/p/a"}),
            "missing field `model`",
        ),
    ];
    for (mut body, want) in cases {
        if body.get("name").is_none() {
            body["name"] = json!("a");
        }
        let (status, v) = call(&gw, "POST", "/admin/prompts", Some(body.clone()));
        let msg = v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(status, 400, "{body}: {v}");
        assert!(msg.contains(want), "{body}: {msg:?} does not say {want:?}");
    }
    assert_eq!(
        ok(&gw, "GET", "/admin/prompts", None)
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // What the configuration declares is changed there only, as declared tenants.
    for (method, path, body) in [
        (
            "POST",
            "/admin/prompts",
            Some(
                json!({"name": "fixed", "path": "/p/f", "model": "demo", "messages": [{"role": "user", "content": "x"}]}),
            ),
        ),
        ("PUT", "/admin/prompts/fixed", Some(hello("/p/f", "x"))),
        ("DELETE", "/admin/prompts/fixed", None),
    ] {
        let (status, v) = call(&gw, method, path, body);
        assert_eq!(status, 409, "{method} {path}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("declared in the configuration"),
            "{v}"
        );
    }
    assert_eq!(post(&gw, "/prompts/fixed").0, 200);
    assert_eq!(
        call(&gw, "PUT", "/admin/prompts/ghost", Some(hello("/p/g", "x"))).0,
        404
    );
}

/// `tollgate admin -c <the gateway's file> prompts <args>`; (success, stdout, stderr).
fn cli(gw: &Gateway, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(binary())
        .args(["admin", "-c"])
        .arg(&gw.config_path)
        .args(["--actor", "e2e", "prompts"])
        .args(args)
        .env_remove("TOLLGATE_ADMIN_URL")
        .env_remove("TOLLGATE_ADMIN_TOKEN")
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_cli_creates_updates_lists_shows_and_deletes_prompts() {
    let gw = Gateway::start(1, &config());
    let dir = tempfile::tempdir().unwrap();
    let v1 = dir.path().join("v1.toml");
    std::fs::write(
        &v1,
        "path = \"/prompts/cli/v1\"\nmodel = \"demo\"\n\
         input = { type = \"object\", properties = { who = { type = \"string\" } } }\n\
         messages = [{ role = \"user\", content = \"Yo {{who}}\" }]\n",
    )
    .unwrap();
    let v2 = dir.path().join("v2.json");
    std::fs::write(&v2, hello("/prompts/cli/v2", "Hey {{who}}").to_string()).unwrap();
    let v1s = v1.to_str().unwrap();
    let (okay, out, err) = cli(&gw, &["create", "cli", "--file", v1s]);
    assert!(okay, "{out}{err}");
    assert!(out.contains("\"version\": 1"), "{out}");
    assert_eq!(
        until(&gw, "/prompts/cli/v1", 200)["output"],
        "You said: Yo Ann"
    );
    let (okay, out, err) = cli(&gw, &["update", "cli", "--file", v2.to_str().unwrap()]);
    assert!(okay && out.contains("\"version\": 2"), "{out}{err}");
    assert_eq!(
        until(&gw, "/prompts/cli/v2", 200)["output"],
        "You said: Hey Ann"
    );
    let (okay, out, _) = cli(&gw, &["list"]);
    assert!(
        okay && out.contains("cli.v2") && out.contains("fixed"),
        "{out}"
    );
    let (okay, out, _) = cli(&gw, &["show", "cli", "--version", "1"]);
    assert!(
        okay && out.contains("/prompts/cli/v1") && !out.contains("/prompts/cli/v2"),
        "{out}"
    );
    // A refusal is the API's message, exit 1.
    let (okay, _, err) = cli(&gw, &["create", "cli", "--file", v1s]);
    assert!(
        !okay && err.contains("exists") && err.contains("HTTP 409"),
        "{err}"
    );
    let (okay, _, err) = cli(&gw, &["create", "x", "--file", "/nonexistent.json"]);
    assert!(!okay && err.contains("/nonexistent.json"), "{err}");
    let (okay, _, err) = cli(&gw, &["delete", "cli", "--version", "1"]);
    assert!(okay && err.contains("version 1 deleted"), "{err}");
    until(&gw, "/prompts/cli/v1", 404);
    assert_eq!(post(&gw, "/prompts/cli/v2").0, 200);
}

#[test]
fn a_stored_prompt_api_is_an_api_with_keys_subscriptions_and_the_catalog() {
    let gw = Gateway::start(1, &config());
    let mut def = hello("/prompts/keyed", "Hi {{who}}");
    def["name"] = json!("keyed");
    def["api"] = json!({"auth": "api_key", "approval": "auto"});
    assert_eq!(call(&gw, "POST", "/admin/prompts", Some(def)).0, 201);
    until(&gw, "/prompts/keyed", 401);
    ok(&gw, "POST", "/admin/tenants", Some(json!({"name": "acme"})));
    ok(
        &gw,
        "POST",
        "/admin/tenants/acme/apps",
        Some(json!({"name": "web"})),
    );
    let key = ok(&gw, "POST", "/admin/tenants/acme/apps/web/keys", None)["key"]
        .as_str()
        .unwrap()
        .to_string();
    let sub = ok(
        &gw,
        "POST",
        "/admin/tenants/acme/apps/web/subscriptions",
        Some(json!({"api": "keyed.v1"})),
    );
    assert_eq!(sub["state"], "active", "{sub}");
    let api = ok(&gw, "GET", "/admin/apis/keyed.v1", None);
    assert_eq!(api["name"], "keyed.v1", "{api}");
    let catalog = ok(&gw, "GET", "/admin/catalog", None).to_string();
    assert!(catalog.contains("/prompts/keyed"), "{catalog}");
    let answer = wait_for("the key to work", Duration::from_secs(10), || {
        let r = client()
            .post(gw.url("/prompts/keyed"))
            .bearer_auth(&key)
            .json(&json!({"who": "Bo"}))
            .send()
            .unwrap();
        (r.status() == 200).then(|| r.json::<Value>().unwrap())
    });
    assert_eq!(answer["output"], "You said: Hi Bo");
}

#[test]
fn a_reload_that_takes_a_stored_versions_path_wins_and_says_so() {
    let gw = Gateway::start(1, &config());
    let mut def = hello("/prompts/taken", "stored {{who}}");
    def["name"] = json!("taken");
    assert_eq!(call(&gw, "POST", "/admin/prompts", Some(def)).0, 201);
    assert_eq!(
        until(&gw, "/prompts/taken", 200)["output"],
        "You said: stored Ann"
    );
    let declared = format!(
        "{}\n[[prompts]]\nname = \"decl\"\npath = \"/prompts/taken\"\nmodel = \"demo\"\n\
         messages = [{{ role = \"user\", content = \"declared\" }}]\n",
        config()
    );
    crate::reload::reload(&gw, &declared);
    assert_eq!(
        post(&gw, "/prompts/taken").1["output"],
        "You said: declared"
    );
    let said = wait_for("the warning", Duration::from_secs(10), || {
        let log = gw.stderr();
        log.contains("prompt \"taken\" version 1 left out")
            .then_some(log)
    });
    assert!(
        said.contains("matches exactly the requests of route \"decl\""),
        "{said}"
    );
    // The admin API lists the version as the workers treat it: stored, not served, and why.
    let (status, shown) = call(&gw, "GET", "/admin/prompts/taken", None);
    assert_eq!(status, 200, "{shown}");
    let version = &shown["versions"][0];
    assert_eq!(version["served"], false, "{shown}");
    let problem = version["problem"].as_str().unwrap_or_default();
    assert!(problem.contains("route \"decl\""), "{shown}");
    let (_, listed) = call(&gw, "GET", "/admin/prompts", None);
    let stored = listed
        .as_array()
        .and_then(|l| {
            l.iter()
                .find(|p| p["name"] == "taken" && p["source"] == "admin")
        })
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(stored["versions"][0]["served"], false, "{listed}");
}
