//! The API gate on the data plane: keys in each header form, their refusals, visibility,
//! subscriptions, lifecycle states and model permissions, with keys and subscriptions from
//! the declarative `[[tenants]]` seed in a real SQLite store.

use crate::common;
use common::keys::TestKey;
use common::*;
use serde_json::{json, Value};

fn echo() -> Upstream {
    Upstream::start("echo", |req| {
        let headers: serde_json::Map<String, Value> = req
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone())))
            .collect();
        Reply::ok(json!({"path": req.path, "headers": headers}).to_string())
    })
}

struct Setup {
    gw: Gateway,
    up: Upstream,
    a: TestKey,
    a_expired: TestKey,
    b: TestKey,
}

/// Tenant `acme` (app `web`) and tenant `globex` (app `svc`), over REST and LLM routes.
fn setup() -> Setup {
    let up = echo();
    let (a, a_expired, b) = (TestKey::new(), TestKey::new(), TestKey::new());
    let body = format!(
        r#"
[store]
path = "tollgate.db"

[[upstreams]]
name = "echo"
targets = ["{addr}"]

[[routes]]
name = "orders-v1"
path_prefix = "/orders/v1"
upstream = "echo"
[routes.api]
auth = "api_key"
state = "deprecated"
deprecated_since = "2026-11-01"
sunset = "2027-06-30"
successor = "orders-v2"

[[routes]]
name = "orders-v2"
path_prefix = "/orders/v2"
upstream = "echo"
request_headers = {{ set = {{ authorization = "Bearer service-token" }} }}
[routes.api]
auth = "api_key"
approval = "manual"

[[routes]]
name = "globex-only"
path_prefix = "/globex"
upstream = "echo"
[routes.api]
auth = "api_key"
visibility = ["globex"]

[[routes]]
name = "open"
path_prefix = "/open"
upstream = "echo"

[[routes]]
name = "draft"
path_prefix = "/draft"
upstream = "echo"
[routes.api]
state = "draft"

[[routes]]
name = "old"
path_prefix = "/old"
upstream = "echo"
[routes.api]
state = "retired"
successor = "orders-v2"

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
name = "other"
deployments = [{{ provider = "mock", model = "mock-2" }}]

[[models]]
name = "globex-model"
visibility = ["globex"]
deployments = [{{ provider = "mock", model = "mock-3" }}]

[[tenants]]
name = "acme"
[[tenants.apps]]
name = "web"
models = ["demo", "globex-model"]
subscriptions = ["orders-v1", "orders-v2", "llm"]
{a_lines}{expired_lines}
[[tenants]]
name = "globex"
[[tenants.apps]]
name = "svc"
subscriptions = ["globex-only", "llm"]
{b_lines}
"#,
        addr = up.addr(),
        a_lines = a.lines(""),
        expired_lines = a_expired.lines("expires = \"2020-01-01\""),
        b_lines = b.lines(""),
    );
    Setup {
        gw: Gateway::start(2, &body),
        up,
        a,
        a_expired,
        b,
    }
}

fn get(
    gw: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut req = client().get(gw.url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, r.json().unwrap_or(Value::Null), h)
}

fn bearer(k: &TestKey) -> String {
    format!("Bearer {}", k.full)
}

fn error_code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

#[test]
fn each_key_header_is_accepted_and_none_reaches_the_upstream() {
    let s = setup();
    let auth = bearer(&s.a);
    for header in [
        ("authorization", auth.as_str()),
        ("x-api-key", s.a.full.as_str()),
        ("x-goog-api-key", s.a.full.as_str()),
    ] {
        let (status, v, _) = get(&s.gw, "/orders/v2/items", &[header]);
        assert_eq!(status, 200, "{header:?}: {v}");
        let seen = &v["headers"];
        // The route injects the service's own credentials; the client's key is gone.
        assert_eq!(seen["authorization"], "Bearer service-token", "{header:?}");
        assert!(seen.get("x-api-key").is_none(), "{seen}");
        assert!(seen.get("x-goog-api-key").is_none(), "{seen}");
    }
    let all = format!("{:?}", s.up.last_request().unwrap().headers);
    assert!(!all.contains(&s.a.full), "{all}");
    // The access log names the caller, never the key.
    let log = wait_for("access log", std::time::Duration::from_secs(10), || {
        let log = s.gw.access_log();
        (log.lines().count() >= 3).then_some(log)
    });
    let line: Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(
        (&line["tenant"], &line["app"]),
        (&json!("acme"), &json!("web"))
    );
    assert!(!log.contains(&s.a.full));
}

/// The key comes from the first header that carries one: the Bearer scheme in any case
/// (RFC 9110), and an `Authorization` of another scheme (a proxy's Basic) is passed over for
/// `x-api-key` or `x-goog-api-key` instead of hiding them.
#[test]
fn any_case_of_bearer_and_basic_beside_a_key_header_authenticate() {
    let s = setup();
    let lower = format!("bearer {}", s.a.full);
    let upper = format!("BEARER {}", s.a.full);
    let basic = ("authorization", "Basic dXNlcjpwYXNz");
    let cases: [&[(&str, &str)]; 4] = [
        &[("authorization", &lower)],
        &[("authorization", &upper)],
        &[basic, ("x-api-key", &s.a.full)],
        &[basic, ("x-goog-api-key", &s.a.full)],
    ];
    for headers in cases {
        let (status, v, _) = get(&s.gw, "/orders/v2/items", headers);
        assert_eq!(status, 200, "{headers:?}: {v}");
    }
    let (status, v, _) = get(&s.gw, "/orders/v2/items", &[basic]);
    assert_eq!((status, error_code(&v)), (401, "missing_api_key"), "{v}");
}

#[test]
fn missing_wrong_and_expired_keys_get_401() {
    let s = setup();
    let (status, v, _) = get(&s.gw, "/orders/v2", &[]);
    assert_eq!((status, error_code(&v)), (401, "missing_api_key"), "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("x-api-key"));

    for bad in [
        "Bearer nope".to_string(),
        "Basic dXNlcjpwYXNz".to_string(),
        // The right id with a wrong secret.
        format!("Bearer tg_{}_{}", s.a.id, "x".repeat(32)),
        // A well-formed key nobody issued.
        bearer(&TestKey::new()),
    ] {
        let (status, v, _) = get(&s.gw, "/orders/v2", &[("authorization", &bad)]);
        assert_eq!(status, 401, "{bad}: {v}");
        assert_eq!(v["error"]["type"], "authentication_error");
    }
    let (status, v, _) = get(
        &s.gw,
        "/orders/v2",
        &[("authorization", &bearer(&s.a_expired))],
    );
    assert_eq!(status, 401);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("expired"),
        "{v}"
    );
    // Refusals keep the connection: a POST with a body, then a good request on it.
    let c = client();
    let r = c
        .post(s.gw.url("/orders/v2"))
        .header("authorization", "Bearer nope")
        .body(vec![b'x'; 100_000])
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(s.gw.url("/orders/v2"))
        .header("authorization", bearer(&s.a))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn visibility_and_subscriptions_are_enforced() {
    let s = setup();
    // acme's key on an API only globex may see.
    let (status, v, _) = get(&s.gw, "/globex", &[("authorization", &bearer(&s.a))]);
    assert_eq!((status, error_code(&v)), (403, "api_not_visible"), "{v}");
    let (status, _, _) = get(&s.gw, "/globex", &[("authorization", &bearer(&s.b))]);
    assert_eq!(status, 200);
    // globex's app is not subscribed to orders-v2.
    let (status, v, _) = get(&s.gw, "/orders/v2", &[("authorization", &bearer(&s.b))]);
    assert_eq!(
        (status, error_code(&v)),
        (403, "subscription_required"),
        "{v}"
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("orders-v2"));
    // A route without auth needs no key, and passes the client's Authorization on.
    let (status, v, _) = get(&s.gw, "/open", &[("authorization", "Bearer theirs")]);
    assert_eq!(status, 200);
    assert_eq!(v["headers"]["authorization"], "Bearer theirs");
}

#[test]
fn lifecycle_states_route_warn_and_refuse() {
    let s = setup();
    let auth = bearer(&s.a);
    let (status, _, _) = get(&s.gw, "/draft", &[]);
    assert_eq!(status, 404);
    let (status, v, _) = get(&s.gw, "/old/thing", &[]);
    assert_eq!((status, error_code(&v)), (410, "api_retired"), "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("orders-v2 at /orders/v2"),
        "{v}"
    );
    let (status, _, h) = get(&s.gw, "/orders/v1/x", &[("authorization", &auth)]);
    assert_eq!(status, 200);
    assert_eq!(h["deprecation"], "@1793491200");
    assert_eq!(h["sunset"], "Wed, 30 Jun 2027 00:00:00 GMT");
    assert_eq!(h["link"], "</orders/v2>; rel=\"successor-version\"");
    let (_, _, h) = get(&s.gw, "/orders/v2/x", &[("authorization", &auth)]);
    assert!(h.get("deprecation").is_none());
}

fn chat(gw: &Gateway, key: &TestKey, model: &str) -> (u16, Value) {
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .header("authorization", bearer(key))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn model_ids(gw: &Gateway, key: &TestKey) -> Vec<String> {
    let (status, v, _) = get(gw, "/v1/models", &[("authorization", &bearer(key))]);
    assert_eq!(status, 200, "{v}");
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn models_are_narrowed_by_tenant_and_app() {
    let s = setup();
    assert_eq!(chat(&s.gw, &s.a, "demo").0, 200);
    // Not on acme/web's list.
    let (status, v) = chat(&s.gw, &s.a, "other");
    assert_eq!(
        (status, error_code(&v)),
        (403, "model_not_permitted"),
        "{v}"
    );
    // On the list, but visible to globex only.
    assert_eq!(chat(&s.gw, &s.a, "globex-model").0, 403);
    assert_eq!(chat(&s.gw, &s.b, "globex-model").0, 200);
    assert_eq!(model_ids(&s.gw, &s.a), ["demo"]);
    assert_eq!(model_ids(&s.gw, &s.b), ["demo", "other", "globex-model"]);
}

#[test]
fn llm_refusals_speak_the_clients_format() {
    let s = setup();
    let r = client()
        .post(s.gw.url("/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .header("x-api-key", "sk-ant-not-ours")
        .json(&json!({"model": "demo", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().unwrap();
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], "authentication_error");
    let r = client()
        .post(s.gw.url("/v1/messages"))
        .header("anthropic-version", "2023-06-01")
        .header("x-api-key", &s.a.full)
        .json(&json!({"model": "demo", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, v) = chat(&s.gw, &TestKey::new(), "demo");
    assert_eq!(
        (status, v["error"]["type"].as_str()),
        (401, Some("authentication_error")),
        "{v}"
    );
}
