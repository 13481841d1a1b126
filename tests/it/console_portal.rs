//! The console's self-service pages in a real browser (tests/it/console/portal_flow.py): the
//! catalog and an API's reference docs, apps and keys, subscriptions and approvals, tenants and
//! users, models and the playground, keyboard use and empty states; and the playground's admin
//! endpoint, `POST /admin/playground`, called directly for what a page never sends.

use crate::common::admin::{call, ok};
use crate::common::*;
use crate::console::{run, start, ConsoleGateway};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// The `shop` API beside the standard ones: manual approval, and an OpenAPI document
/// (tests/it/console/orders-openapi.json) for the reference page; and `partners`, which only
/// the tenant `globex` may see.
fn gateway() -> ConsoleGateway {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/console/orders-openapi.json");
    start(
        "",
        &format!(
            r#"
[[routes]]
name = "shop"
path_prefix = "/shop"
upstream = "orders-svc"
[routes.api]
auth = "api_key"
approval = "manual"
description = "The shop: orders with a published reference."
version = "2.0.0"
openapi = "{}"

[[routes]]
name = "partners"
path_prefix = "/partners"
upstream = "orders-svc"
[routes.api]
auth = "api_key"
visibility = ["globex"]
description = "Only for globex."
"#,
            doc.display()
        ),
    )
}

fn scenario(name: &str) {
    let c = gateway();
    run("portal_flow.py", name, &c.gw, &[]);
}

#[test]
fn the_catalog_lists_apis_and_renders_an_api_reference_with_a_subscribe_form() {
    scenario("catalog");
}

#[test]
fn apps_are_created_and_their_keys_shown_once_rotated_and_revoked() {
    scenario("apps_and_keys");
}

#[test]
fn an_operator_rejects_with_a_reason_the_requester_then_reads() {
    scenario("approvals");
}

#[test]
fn operators_manage_tenants_and_users_and_a_tenant_admin_adds_members() {
    scenario("people");
}

#[test]
fn the_models_page_lists_models_and_its_playground_chats_with_a_pasted_key() {
    scenario("models");
}

#[test]
fn sign_in_and_the_app_form_work_from_the_keyboard() {
    scenario("keyboard");
}

#[test]
fn each_self_service_page_says_what_to_do_when_it_is_empty() {
    scenario("empty_states");
}

/// The playground goes through the data plane: the call is recorded under the id it answers,
/// a bad request names its field, and the key is never in the gateway's logs or answers.
#[test]
fn the_playground_calls_the_data_plane_and_never_echoes_the_key() {
    let c = gateway();
    let gw = &c.gw;
    ok(gw, "POST", "/admin/tenants", Some(json!({"name": "acme"})));
    ok(
        gw,
        "POST",
        "/admin/tenants/acme/apps",
        Some(json!({"name": "web"})),
    );
    let key = ok(
        gw,
        "POST",
        "/admin/tenants/acme/apps/web/keys",
        Some(json!({})),
    )["key"]
        .as_str()
        .unwrap()
        .to_string();
    let ask = |api: &str, key: &str| {
        json!({"api": api, "model": "demo", "key": key,
               "messages": [{"role": "user", "content": "ping"}]})
    };
    // Not subscribed yet: the data plane's refusal comes back as it is.
    // (Once every worker has the new key, within `[store] refresh`.)
    let refused = wait_for("the key in the workers", Duration::from_secs(10), || {
        let v = ok(gw, "POST", "/admin/playground", Some(ask("llm", &key)));
        (v["status"] != 401).then_some(v)
    });
    assert_eq!(refused["status"], 403, "{refused}");
    assert_eq!(
        refused["response"]["error"]["code"],
        "subscription_required"
    );
    ok(
        gw,
        "POST",
        "/admin/tenants/acme/apps/web/subscriptions",
        Some(json!({"api": "llm"})),
    );
    // Every worker takes the subscription within `[store] refresh`.
    let answer = wait_for(
        "the subscription in the workers",
        Duration::from_secs(10),
        || {
            let v = ok(gw, "POST", "/admin/playground", Some(ask("llm", &key)));
            (v["status"] == 200).then_some(v)
        },
    );
    assert_eq!(
        answer["response"]["choices"][0]["message"]["content"],
        "You said: ping"
    );
    assert!(
        answer["response"]["usage"]["total_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(answer["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(answer["path"], "/v1/chat/completions");
    // The data plane recorded the call like any client's, under the id the playground gave.
    let id = answer["request_id"].as_str().unwrap().to_string();
    let record = wait_for(
        "the playground's call record",
        Duration::from_secs(10),
        || {
            let (status, v) = call(gw, "GET", &format!("/admin/calls/{id}"), None);
            (status == 200).then_some(v)
        },
    );
    assert_eq!(record["tenant"], "acme", "{record}");
    assert_eq!(record["app"], "web", "{record}");

    for (body, status, field) in [
        (ask("llm", ""), 400, "body.key"),
        (ask("llm", "tg_a\r\nx-evil: 1"), 400, "body.key"),
        (ask("orders", &key), 400, "body.api"),
        (ask("nothing", &key), 404, "body.api"),
        (
            json!({"api": "llm", "model": "", "key": key, "messages": [{}]}),
            400,
            "body.model",
        ),
        (
            json!({"api": "llm", "model": "demo", "key": key, "messages": []}),
            400,
            "body.messages",
        ),
        (
            json!({"api": "llm", "model": "demo", "key": key}),
            400,
            "messages",
        ),
        (
            json!({"api": "llm", "model": "demo", "key": key, "messages": [], "extra": 1}),
            400,
            "extra",
        ),
    ] {
        let (got, v) = call(gw, "POST", "/admin/playground", Some(body.clone()));
        assert_eq!(got, status, "{body}: {v}");
        let message = v["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(field), "{body}: {message}");
        assert!(!message.contains(&key), "the key in an error: {message}");
    }
    // Only signed-in callers: no credential, no call.
    let (status, _) = raw_post_json(
        gw.admin_port,
        "/admin/playground",
        &ask("llm", &key).to_string(),
    );
    assert_eq!(status, 401);
    let secret = key.rsplit('_').next().unwrap();
    assert!(
        !gw.stderr().contains(secret),
        "the key is in the gateway's log"
    );
    let audit = ok(gw, "GET", "/admin/audit?limit=500", None).to_string();
    assert!(!audit.contains(secret), "the key is in the audit log");
}

/// A POST with no credential; its status.
fn raw_post_json(port: u16, path: &str, body: &str) -> (u16, String) {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let text = raw_exchange(port, req.as_bytes(), Duration::from_secs(10)).expect("an answer");
    let (status, _, body) = parse_response(&text).expect("an HTTP answer");
    (status, body)
}
