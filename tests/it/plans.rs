//! Plans and limits attached to tenants and apps, driven through the admin API with two
//! workers: plans give tenants different limits on the same route, an override applies without
//! a restart, an app's attachment and a plan's token limit on an LLM route; and the admin
//! API's bucket inspection, reset and most-refused list.

use crate::common;
use common::admin::{call as admin, ok};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn echo() -> Upstream {
    Upstream::start("echo", |_| Reply::ok("ok"))
}

fn gateway(up: &Upstream) -> Gateway {
    Gateway::start(
        2,
        &format!(
            r#"
[store]
path = "tollgate.db"
refresh = "100ms"

[[upstreams]]
name = "echo"
targets = ["{}"]

[[limits]]
name = "free-rpm"
rate = 2
period = "1h"
key = ["tenant"]

[[limits]]
name = "pro-rpm"
rate = 5
period = "1h"
key = ["tenant"]

[[limits]]
name = "app-cap"
rate = 1
period = "1h"
key = ["app"]

[[limits]]
name = "pro-tokens"
counts = "tokens"
rate = 1000
period = "1h"
key = ["tenant"]

[[limits]]
name = "per-ip"
rate = 3
period = "1h"
key = ["client_ip"]

[[plans]]
name = "free"
limits = ["free-rpm"]

[[plans]]
name = "pro"
limits = ["pro-rpm", "pro-tokens"]

[[tenants]]
name = "declared"
plan = "pro"

[[routes]]
name = "orders"
path_prefix = "/orders"
upstream = "echo"
[routes.api]
auth = "api_key"

[[routes]]
name = "open"
path_prefix = "/open"
upstream = "echo"
limits = ["per-ip"]

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
"#,
            up.addr()
        ),
    )
}

/// A tenant on `plan` with app `web`, subscribed to `orders` and `llm`; its key.
fn tenant(gw: &Gateway, name: &str, plan: &str) -> String {
    ok(gw, "POST", "/admin/tenants", Some(json!({"name": name})));
    let t = ok(
        gw,
        "PUT",
        &format!("/admin/tenants/{name}/plan"),
        Some(json!({"plan": plan})),
    );
    assert_eq!(t["plan"], plan);
    let apps = format!("/admin/tenants/{name}/apps");
    ok(gw, "POST", &apps, Some(json!({"name": "web"})));
    for api in ["orders", "llm"] {
        let sub = ok(
            gw,
            "POST",
            &format!("{apps}/web/subscriptions"),
            Some(json!({"api": api})),
        );
        assert_eq!(sub["state"], "active");
    }
    let key = ok(gw, "POST", &format!("{apps}/web/keys"), Some(json!({})));
    key["key"].as_str().unwrap().to_string()
}

/// A GET with `key` on a new connection (so requests spread over both workers): status and
/// `RateLimit-Policy`.
fn get(gw: &Gateway, path: &str, key: &str) -> (u16, String) {
    let r = reqwest::blocking::Client::new()
        .get(gw.url(path))
        .header("authorization", format!("Bearer {key}"))
        .send()
        .unwrap();
    let policy = r
        .headers()
        .get("ratelimit-policy")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (r.status().as_u16(), policy)
}

/// Polls until 10 requests in a row, each on full buckets, carry `policy` (both workers hold
/// the change), then empties the buckets again, so counting starts from full.
fn settle(gw: &Gateway, key: &str, policy: &str, resets: &[&str]) {
    let reset = || {
        for r in resets {
            ok(gw, "DELETE", &format!("/admin/limits/{r}"), None);
        }
    };
    let mut streak = 0;
    wait_for(&format!("policy {policy}"), Duration::from_secs(10), || {
        reset();
        let (_, p) = get(gw, "/orders", key);
        streak = if p == policy { streak + 1 } else { 0 };
        (streak >= 10).then_some(())
    });
    reset();
}

/// How many of `n` requests pass.
fn passed(gw: &Gateway, key: &str, n: usize) -> usize {
    (0..n).filter(|_| get(gw, "/orders", key).0 == 200).count()
}

#[test]
fn plans_give_tenants_other_limits_and_overrides_apply_without_restart() {
    let up = echo();
    let gw = gateway(&up);
    let free = tenant(&gw, "acme", "free");
    let pro = tenant(&gw, "beta", "pro");
    settle(
        &gw,
        &free,
        "\"free-rpm\";q=2;w=3600",
        &["free-rpm/bucket?tenant=acme"],
    );
    settle(
        &gw,
        &pro,
        "\"pro-rpm\";q=5;w=3600",
        &["pro-rpm/bucket?tenant=beta"],
    );
    assert_eq!(passed(&gw, &free, 8), 2);
    assert_eq!(passed(&gw, &pro, 8), 5);
    let (status, policy) = get(&gw, "/orders", &pro);
    assert_eq!((status, policy.as_str()), (429, "\"pro-rpm\";q=5;w=3600"));

    // A tenant override: the plan's limit at 3 for beta, shown in the headers.
    let a = ok(
        &gw,
        "PUT",
        "/admin/tenants/beta/limits/pro-rpm",
        Some(json!({"rate": 3})),
    );
    assert_eq!(
        (a["limit"].clone(), a["rate"].clone()),
        (json!("pro-rpm"), json!(3.0))
    );
    let reset = "pro-rpm/bucket?tenant=beta";
    settle(&gw, &pro, "\"pro-rpm\";q=3;w=3600", &[reset]);
    assert_eq!(passed(&gw, &pro, 6), 3);

    // An app's attachment adds a limit; the tightest answers.
    ok(
        &gw,
        "PUT",
        "/admin/tenants/beta/apps/web/limits/app-cap",
        Some(json!({})),
    );
    let app_reset = "app-cap/bucket?app=web";
    settle(&gw, &pro, "\"app-cap\";q=1;w=3600", &[reset, app_reset]);
    assert_eq!(passed(&gw, &pro, 4), 1);
    // An app's override beats the tenant's.
    ok(
        &gw,
        "PUT",
        "/admin/tenants/beta/apps/web/limits/pro-rpm",
        Some(json!({"rate": 1, "burst": 1})),
    );
    ok(
        &gw,
        "DELETE",
        "/admin/tenants/beta/apps/web/limits/app-cap",
        None,
    );
    settle(&gw, &pro, "\"pro-rpm\";q=1;w=3600", &[reset]);
    assert_eq!(passed(&gw, &pro, 3), 1);

    // The views list them; the audit has them.
    let t = ok(&gw, "GET", "/admin/tenants/beta", None);
    assert_eq!(t["plan"], "pro");
    assert_eq!(t["limits"][0]["limit"], "pro-rpm");
    assert_eq!(t["limits"][0]["rate"], 3.0);
    let app = ok(&gw, "GET", "/admin/tenants/beta/apps/web", None);
    assert_eq!(app["limits"][0]["limit"], "pro-rpm");
    assert_eq!(app["limits"][0]["burst"], 1.0);
    let audit = ok(&gw, "GET", "/admin/audit?action=limit", None);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for want in ["limit.attach", "limit.detach", "limit.reset"] {
        assert!(actions.contains(&want), "{want} not in {actions:?}");
    }
}

#[test]
fn a_plans_token_limit_applies_on_llm_routes() {
    let up = echo();
    let gw = gateway(&up);
    let key = tenant(&gw, "beta", "pro");
    // The plan's request limit applies here too; lifted, so the polling below is not refused.
    ok(
        &gw,
        "PUT",
        "/admin/tenants/beta/limits/pro-rpm",
        Some(json!({"rate": 999})),
    );
    let chat = |max_tokens: u64| {
        let body = json!({
            "model": "demo", "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": "hi"}]
        });
        reqwest::blocking::Client::new()
            .post(gw.url("/v1/chat/completions"))
            .header("authorization", format!("Bearer {key}"))
            .json(&body)
            .send()
            .unwrap()
    };
    // Once both workers know the key, a call carries the plan's token limit.
    let mut streak = 0;
    wait_for("the plan's token limit", Duration::from_secs(10), || {
        let r = chat(1);
        let policies: Vec<String> = r
            .headers()
            .get_all("ratelimit-policy")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        // The LLM answer carries the token limit's headers (they replace the request limit's).
        let want = ["\"pro-tokens\";q=1000;w=3600"];
        let hit = r.status() == 200 && policies == want;
        streak = if hit { streak + 1 } else { 0 };
        (streak >= 10).then_some(())
    });
    // More than the 1000 tokens the bucket holds: refused, naming the plan's limit.
    let r = chat(5000);
    assert_eq!(r.status(), 429);
    let v: Value = r.json().unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pro-tokens"),
        "{v}"
    );
    // A token limit does not touch a REST route: only pro-rpm shows there.
    let (status, policy) = get(&gw, "/orders", &key);
    assert_eq!((status, policy.as_str()), (200, "\"pro-rpm\";q=999;w=3600"));
}

#[test]
fn bad_plans_and_attachments_are_refused_with_a_reason() {
    let up = echo();
    let gw = gateway(&up);
    ok(&gw, "POST", "/admin/tenants", Some(json!({"name": "acme"})));
    let cases: &[(&str, &str, Value, u16, &str)] = &[
        (
            "PUT",
            "/admin/tenants/acme/plan",
            json!({"plan": "prro"}),
            400,
            "did you mean \"pro\"",
        ),
        (
            "PUT",
            "/admin/tenants/acme/plan",
            json!({}),
            400,
            "missing field `plan`",
        ),
        (
            "PUT",
            "/admin/tenants/nope/plan",
            json!({"plan": "pro"}),
            404,
            "no tenant",
        ),
        (
            "PUT",
            "/admin/tenants/declared/plan",
            json!({"plan": "free"}),
            409,
            "declared in the configuration",
        ),
        (
            "PUT",
            "/admin/tenants/acme/limits/pro-rmp",
            json!({}),
            404,
            "did you mean \"pro-rpm\"",
        ),
        (
            "PUT",
            "/admin/tenants/acme/limits/pro-rpm",
            json!({"rate": 1.5}),
            400,
            "body.rate",
        ),
        (
            "PUT",
            "/admin/tenants/acme/limits/pro-rpm",
            json!({"burst": 0}),
            400,
            "body.burst",
        ),
        (
            "PUT",
            "/admin/tenants/acme/limits/pro-rpm",
            json!({"rat": 1}),
            400,
            "unknown field",
        ),
        (
            "PUT",
            "/admin/tenants/acme/apps/nope/limits/pro-rpm",
            json!({}),
            404,
            "no app",
        ),
        (
            "DELETE",
            "/admin/tenants/acme/limits/pro-rpm",
            Value::Null,
            404,
            "not attached",
        ),
        (
            "GET",
            "/admin/limits/per-ip/bucket",
            Value::Null,
            400,
            "keyed on client_ip",
        ),
        (
            "GET",
            "/admin/limits/per-ip/bucket?client_ip=x",
            Value::Null,
            400,
            "client_ip=x",
        ),
        (
            "GET",
            "/admin/limits/per-ip/bucket?ip=1",
            Value::Null,
            400,
            "unknown query parameter",
        ),
        (
            "GET",
            "/admin/limits/nope/bucket",
            Value::Null,
            404,
            "no limit named",
        ),
        ("GET", "/admin/limits/top?n=0", Value::Null, 400, "n=0"),
    ];
    for (method, path, body, status, text) in cases {
        let body = (!body.is_null()).then(|| body.clone());
        let (got, v) = admin(&gw, method, path, body);
        let msg = v["error"]["message"].as_str().unwrap_or("").to_string();
        assert_eq!(got, *status, "{method} {path}: {v}");
        assert!(
            msg.contains(text),
            "{method} {path}: {msg:?} lacks {text:?}"
        );
    }
    // A declared tenant takes attachments: overrides are what they are for.
    ok(
        &gw,
        "PUT",
        "/admin/tenants/declared/limits/pro-rpm",
        Some(json!({"rate": 10})),
    );
}

#[test]
fn the_config_names_plans_and_their_limits() {
    let (good, out) = validate(
        r#"
[store]
path = "t.db"
[[limits]]
name = "rpm"
rate = 1
period = "1m"
key = ["tenant"]
[[plans]]
name = "pro"
limits = ["rmp", "rpm", "rpm"]
[[tenants]]
name = "acme"
plan = "por"
"#,
    );
    assert!(!good);
    for want in [
        "plans[0].limits[0]: no limit named \"rmp\" (did you mean \"rpm\"?)",
        "plans[0].limits[2]: limit \"rpm\" is listed twice",
        "tenants[0].plan: no plan named \"por\" (did you mean \"pro\"?)",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }
}

#[test]
fn a_bucket_is_inspected_reset_and_listed_among_the_most_refused() {
    let up = echo();
    let gw = gateway(&up);
    let open = |gw: &Gateway| {
        reqwest::blocking::Client::new()
            .get(gw.url("/open"))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let statuses: Vec<u16> = (0..5).map(|_| open(&gw)).collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let bucket = "/admin/limits/per-ip/bucket?client_ip=127.0.0.1";
    let b = ok(&gw, "GET", bucket, None);
    assert_eq!(b["limit"], "per-ip");
    assert_eq!(b["held"], true);
    assert_eq!(
        (b["capacity"].clone(), b["remaining"].clone()),
        (json!(3), json!(0))
    );
    let retry = b["retry_after_ms"].as_u64().unwrap();
    assert!((1_100_000..=1_200_000).contains(&retry), "{b}");
    assert!(b["reset_ms"].as_u64().unwrap() > 3_500_000, "{b}");
    let top = ok(&gw, "GET", "/admin/limits/top?n=5", None);
    assert_eq!(top[0]["label"], "per-ip client_ip=127.0.0.1", "{top}");
    assert_eq!(top[0]["refusals"], 2);
    assert_eq!(top[0]["bucket"], b["bucket"]);
    let after = ok(&gw, "DELETE", bucket, None);
    assert_eq!(after["remaining"], 3);
    assert_eq!(open(&gw), 200);
    let audit = ok(&gw, "GET", "/admin/audit?action=limit.reset", None);
    assert_eq!(audit[0]["target"], "limit:per-ip");
    assert_eq!(audit[0]["actor"], "admin-token (alice)");
    let limits = ok(&gw, "GET", "/admin/limits", None);
    let pro = limits
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "pro-rpm")
        .unwrap();
    assert_eq!(pro["plans"], json!(["pro"]));
    assert_eq!(pro["key"], json!(["tenant"]));
    assert_eq!(pro["period"], "1h");
}
