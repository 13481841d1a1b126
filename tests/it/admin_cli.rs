//! `tollgate admin ...` as an operator runs it: the real binary as a subprocess, against a real
//! gateway with a SQLite store in a temp dir, finding the admin address and token in the
//! gateway's own configuration file (`-c`).

use crate::common;

use common::{binary, free_port, Gateway};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// 32 bytes in hex: the store's key for tenants' provider keys.
const SECRET_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn gateway() -> Gateway {
    Gateway::start(
        1,
        &format!(
            r#"
[store]
path = "tollgate.db"
secret_key = "{SECRET_KEY}"

[[upstreams]]
name = "orders"
targets = ["127.0.0.1:9"]

[[routes]]
name = "orders-v1"
path_prefix = "/orders/v1"
upstream = "orders"
[routes.api]
auth = "api_key"
approval = "manual"
version = "v1"
description = "Orders"

[[routes]]
name = "orders-v2"
path_prefix = "/orders/v2"
upstream = "orders"
[routes.api]
auth = "api_key"
version = "v2"

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "demo"
deployments = [{{ provider = "mock", model = "mock-1" }}]

[[routes]]
name = "llm"
path_prefix = "/v1"
handler = "llm"
"#
        ),
    )
}

/// `tollgate admin -c <the gateway's file> --actor e2e <args>`, with `stdin` piped in.
fn admin_with(gw: &Gateway, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(binary());
    cmd.arg("admin")
        .arg("-c")
        .arg(&gw.config_path)
        .args(["--actor", "e2e"])
        .args(args)
        .env_remove("TOLLGATE_ADMIN_URL")
        .env_remove("TOLLGATE_ADMIN_TOKEN")
        .env_remove("TOLLGATE_ADMIN_ACTOR")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a command that must succeed; its stdout as JSON (`Null` when it printed nothing).
pub(crate) fn ok(gw: &Gateway, args: &[&str]) -> Value {
    ok_with(gw, args, None)
}

fn ok_with(gw: &Gateway, args: &[&str], stdin: Option<&str>) -> Value {
    let out = admin_with(gw, args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}\nstderr: {}\ngateway: {}",
        out.status,
        text(&out.stderr),
        gw.stderr()
    );
    let stdout = text(&out.stdout);
    if stdout.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

/// Runs a command that must fail with exit status 1 and print nothing; its stderr.
fn fails(gw: &Gateway, args: &[&str]) -> String {
    let out = admin_with(gw, args, None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{args:?}: {}",
        text(&out.stdout)
    );
    assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
    text(&out.stderr)
}

fn names(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|v| v[field].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn an_operator_manages_tenants_keys_subscriptions_and_apis() {
    let gw = gateway();

    let t = ok(&gw, &["tenants", "create", "acme", "--description", "Acme"]);
    assert_eq!(
        (t["name"].as_str(), t["source"].as_str()),
        (Some("acme"), Some("admin"))
    );
    assert!(names(&ok(&gw, &["tenants", "list"]), "name").contains(&"acme".to_string()));
    let app = ok(&gw, &["apps", "create", "acme", "web", "--models", "demo"]);
    assert_eq!(app["models"], serde_json::json!(["demo"]));
    assert_eq!(
        ok(&gw, &["tenants", "show", "acme"])["apps"][0]["name"],
        "web"
    );

    // A key is shown once, by the command that makes it.
    let out = admin_with(
        &gw,
        &[
            "keys",
            "create",
            "acme",
            "web",
            "--name",
            "ci",
            "--expires-in",
            "30d",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("shown only this once"));
    let key: Value = serde_json::from_slice(&out.stdout).unwrap();
    let full = key["key"].as_str().unwrap().to_string();
    let id = key["id"].as_str().unwrap().to_string();
    assert!(full.starts_with(&format!("tg_{id}_")), "{key}");
    assert_eq!(key["state"], "active");
    assert!(key["expires_at"].is_string());
    let shown = ok(&gw, &["keys", "show", &id]);
    assert!(shown.get("key").is_none(), "{shown}");
    assert_eq!(
        names(&ok(&gw, &["keys", "list", "acme", "web"]), "id"),
        vec![id.as_str()]
    );

    // A manual-approval API: the request waits, then is approved.
    let sub = ok(
        &gw,
        &["subscriptions", "request", "acme", "web", "orders-v1"],
    );
    assert_eq!(sub["state"], "pending", "{sub}");
    let sub_id = sub["id"].as_u64().unwrap().to_string();
    let pending = ok(&gw, &["subscriptions", "list", "--state", "pending"]);
    assert_eq!(pending.as_array().unwrap().len(), 1, "{pending}");
    assert_eq!(
        ok(&gw, &["subscriptions", "approve", &sub_id])["state"],
        "active"
    );
    let auto = ok(
        &gw,
        &["subscriptions", "request", "acme", "web", "orders-v2"],
    );
    assert_eq!(auto["state"], "active", "{auto}");

    // Lifecycle: deprecate with a successor, then back to the configured state.
    let api = ok(
        &gw,
        &[
            "apis",
            "set-state",
            "orders-v1",
            "deprecated",
            "--successor",
            "orders-v2",
            "--sunset",
            "2027-06-30",
        ],
    );
    assert_eq!(api["state"], "deprecated", "{api}");
    assert_eq!(api["configured_state"], "published");
    assert_eq!(api["successor"], "orders-v2");
    assert_eq!(api["sunset"], "2027-06-30T00:00:00Z");
    assert_eq!(
        ok(&gw, &["apis", "show", "orders-v1"])["override"]["state"],
        "deprecated"
    );
    let api = ok(&gw, &["apis", "clear-state", "orders-v1"]);
    assert_eq!(
        (api["state"].as_str(), &api["override"]),
        (Some("published"), &Value::Null)
    );
    assert!(names(&ok(&gw, &["apis", "list"]), "name").contains(&"orders-v2".to_string()));

    let catalog = names(&ok(&gw, &["catalog", "--tenant", "acme"]), "name");
    assert!(catalog.contains(&"orders-v1".to_string()), "{catalog:?}");
    assert!(catalog.contains(&"orders-v2".to_string()), "{catalog:?}");

    // A tenant's provider key goes in through stdin and never comes back out.
    let cred = ok_with(
        &gw,
        &["credentials", "set", "acme", "mock"],
        Some("sk-tenant-own\n"),
    );
    assert_eq!(
        (cred["tenant"].as_str(), cred["provider"].as_str()),
        (Some("acme"), Some("mock"))
    );
    let creds = admin_with(&gw, &["credentials", "list", "acme"], None);
    assert!(creds.status.success());
    assert!(!text(&creds.stdout).contains("sk-tenant-own"));
    assert_eq!(
        ok(&gw, &["credentials", "delete", "acme", "mock"]),
        Value::Null
    );

    assert_eq!(ok(&gw, &["keys", "revoke", &id])["state"], "revoked");

    let audit = ok(&gw, &["audit", "--limit", "100"]);
    let actions = names(&audit, "action");
    for action in [
        "tenant.create",
        "app.create",
        "key.create",
        "subscription.request",
        "subscription.approve",
        "api.state.set",
        "api.state.clear",
        "credential.put",
        "key.revoke",
    ] {
        assert!(
            actions.contains(&action.to_string()),
            "{action}: {actions:?}"
        );
    }
    assert_eq!(audit[0]["action"], "key.revoke", "newest first");
    assert_eq!(audit[0]["actor"], "admin-token (e2e)");
    assert!(
        !audit.to_string().contains(&full),
        "the audit log holds no key"
    );

    // Errors: the API's own message on stderr, exit 1.
    let wrong = fails(&gw, &["tenants", "list", "--token", "wrong"]);
    assert!(
        wrong.contains("wrong admin token") && wrong.contains("401"),
        "{wrong}"
    );
    let missing = fails(&gw, &["tenants", "show", "nobody"]);
    assert!(missing.contains("404"), "{missing}");
    let taken = fails(&gw, &["tenants", "create", "acme"]);
    assert!(taken.contains("409"), "{taken}");

    assert_eq!(ok(&gw, &["tenants", "delete", "acme"]), Value::Null);
    assert!(!names(&ok(&gw, &["tenants", "list"]), "name").contains(&"acme".to_string()));
    let doc = ok(&gw, &["openapi"]);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
}

#[test]
fn keygen_works_offline_and_prints_the_seed_lines() {
    let out = Command::new(binary())
        .args([
            "admin",
            "keygen",
            "--name",
            "ci",
            "--url",
            "http://127.0.0.1:1",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let mut lines = stdout.lines();
    let key = lines.next().unwrap().strip_prefix("key: tg_").unwrap();
    let (id, _secret) = key.split_once('_').unwrap();
    assert_eq!(lines.next(), Some(""));
    assert_eq!(lines.next(), Some("[[tenants.apps.keys]]"));
    assert_eq!(lines.next(), Some(format!("id = \"{id}\"").as_str()));
    assert!(lines.next().unwrap().starts_with("sha256 = \""));
    assert_eq!(lines.next(), Some("name = \"ci\""));
}

#[test]
fn without_a_gateway_the_error_names_the_url_and_the_admin_listener() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let out = Command::new(binary())
        .args(["admin", "tenants", "list", "--url", &url, "--token", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&url) && err.contains("admin listener must be up"),
        "{err}"
    );
}

#[test]
fn a_provider_key_on_the_command_line_is_refused() {
    let out = Command::new(binary())
        .args(["admin", "credentials", "set", "acme", "openai", "sk-live-1"])
        .args(["--url", "http://127.0.0.1:1", "--token", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}

/// A user made from the command line (the password piped in), then the CLI run with their
/// personal token: `me` names them, and so does the audit trail, whatever `--actor` says.
#[test]
fn users_and_personal_tokens_from_the_command_line() {
    let gw = gateway();
    let password = "cli-made-password-42";
    let user = ok_with(
        &gw,
        &["users", "create", "ann", "--role", "operator"],
        Some(&format!("{password}\n")),
    );
    assert_eq!(
        (user["name"].as_str(), user["role"].as_str()),
        (Some("ann"), Some("operator"))
    );
    // Sign in over HTTP and make the first personal token, as the README says.
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", gw.admin_port);
    let r = common::client()
        .post(url("/admin/login"))
        .body(serde_json::json!({"name": "ann", "password": password}).to_string())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = r.json::<Value>().unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let made: Value = common::client()
        .post(url("/admin/me/tokens"))
        .header("cookie", cookie)
        .header("x-csrf-token", csrf)
        .body("{}")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = made["token"].as_str().unwrap().to_string();
    let me = ok(&gw, &["--token", &token, "me"]);
    assert_eq!(
        (me["name"].as_str(), me["via"].as_str()),
        (Some("ann"), Some("token"))
    );
    let more = ok(
        &gw,
        &["--token", &token, "tokens", "create", "--name", "laptop"],
    );
    assert!(more["token"].as_str().unwrap().starts_with("tgu_"));
    let list = ok(&gw, &["--token", &token, "tokens", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(&token));
    ok(&gw, &["--token", &token, "tenants", "create", "t1"]);
    let audit = ok(&gw, &["audit", "--action", "tenant.create"]);
    assert_eq!(audit[0]["actor"], "ann", "the token's user, not --actor");
    let users = ok(&gw, &["users", "list"]);
    assert_eq!(names(&users, "name"), ["ann"]);
    assert!(!users.to_string().contains(password));
    assert!(!gw.stderr().contains(password) && !gw.stderr().contains(&token));
}
