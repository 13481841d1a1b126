//! The admin API's OpenAPI document (`src/admin/openapi.json`, served at
//! `/admin/openapi.json`) describes exactly the endpoints the admin API serves (the router's
//! own table, `admin::routes`, and the running binary), and is well-formed enough for
//! generators: every reference resolves, every path parameter is declared, every operation
//! names its errors.

use crate::common;
use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const DOC: &str = include_str!("../../src/admin/openapi.json");

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn doc() -> Value {
    serde_json::from_str(DOC).expect("openapi.json is JSON")
}

/// Follows a local `#/a/b` reference.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// The value itself, or what it refers to.
fn deref<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(doc, r).unwrap_or_else(|| panic!("unresolved {r}")),
        None => v,
    }
}

fn operations(doc: &Value) -> Vec<(String, String, &Value, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), item, op));
            }
        }
    }
    out
}

#[test]
fn it_is_openapi_3_1_with_bearer_and_cookie_schemes() {
    let d = doc();
    assert!(d["openapi"].as_str().unwrap().starts_with("3.1."));
    assert!(d["info"]["title"].is_string() && d["info"]["version"].is_string());
    let bearer = &d["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    let cookie = &d["components"]["securitySchemes"]["cookie"];
    assert_eq!(cookie["in"], "cookie");
    assert_eq!(cookie["name"], "tollgate_session");
    assert_eq!(
        d["security"],
        serde_json::json!([{"bearer": []}, {"cookie": []}])
    );
    // Signing in is the one operation that needs no credential.
    assert_eq!(
        d["paths"]["/admin/login"]["post"]["security"],
        serde_json::json!([])
    );
}

#[test]
fn it_has_exactly_the_endpoints_of_the_admin_router() {
    let d = doc();
    let have: BTreeSet<(String, String)> = operations(&d)
        .into_iter()
        .map(|(m, p, _, _)| (m, p))
        .collect();
    let served: BTreeSet<(String, String)> = tollgate::admin::routes::routes()
        .map(|(m, p)| (m.to_lowercase(), p.to_string()))
        .collect();
    let missing: Vec<_> = served.difference(&have).collect();
    let extra: Vec<_> = have.difference(&served).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "served but not documented {missing:?}, documented but not routed {extra:?}"
    );
}

/// Each operation says who may call it (`x-tollgate-access`), as the router's table does.
#[test]
fn every_operation_says_who_may_call_it_as_the_router_does() {
    let d = doc();
    let mut wrong = Vec::new();
    for (method, path, who) in tollgate::admin::routes::access() {
        let documented = &d["paths"][path][method.to_lowercase()]["x-tollgate-access"];
        if documented != who {
            wrong.push(format!(
                "{method} {path}: documented {documented}, served as {who}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// A documented path with each `{parameter}` filled in with a value no entity has.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|s| if s.starts_with('{') { "none" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}

/// The running binary routes every documented operation to a handler (whatever the handler
/// then says of the made-up entity), and answers any other method on a documented path with
/// 405 and an `Allow` of exactly the documented methods.
#[test]
fn the_running_admin_api_serves_every_documented_operation() {
    let gw = Gateway::start(
        1,
        r#"
[store]
path = "tollgate.db"
secret_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "demo"
deployments = [{ provider = "mock", model = "mock-1" }]

[[routes]]
name = "llm"
path_prefix = "/v1"
handler = "llm"
"#,
    );
    let d = doc();
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (method, template, _, _) in operations(&d) {
        let path = concrete(&template);
        let method = method.to_uppercase();
        let body = matches!(method.as_str(), "POST" | "PUT" | "PATCH").then_some("{}");
        let (status, text) = common::admin::raw(&gw, &method, &path, body);
        let at = format!("{method} {path} (documented as {template})");
        assert_ne!(status, 405, "{at}: {text}");
        assert!(
            !(status == 404 && text.contains("no admin endpoint")),
            "{at}: not routed: {text}"
        );
        assert!(!text.contains("has no handler"), "{at}: {text}");
        documented.entry(path).or_default().insert(method);
    }
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", gw.admin_port);
    for (path, methods) in &documented {
        let other = ["GET", "POST", "PUT", "PATCH", "DELETE"]
            .into_iter()
            .find(|m| !methods.contains(*m))
            .expect("a method the path does not serve");
        let r = client()
            .request(
                reqwest::Method::from_bytes(other.as_bytes()).unwrap(),
                url(path),
            )
            .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 405, "{other} {path}");
        let allow: BTreeSet<String> = r.headers()["allow"]
            .to_str()
            .unwrap()
            .split(", ")
            .map(String::from)
            .collect();
        assert_eq!(&allow, methods, "Allow of {path}");
    }
}

#[test]
fn it_has_a_schema_for_every_shape() {
    let d = doc();
    for name in [
        "Tenant",
        "App",
        "Key",
        "NewKey",
        "Subscription",
        "Api",
        "CatalogEntry",
        "Credential",
        "Audit",
        "Error",
    ] {
        assert!(
            d["components"]["schemas"][name].is_object(),
            "no schema {name}"
        );
    }
    let key = &d["components"]["schemas"]["Key"];
    for field in [
        "id",
        "tenant",
        "app",
        "name",
        "created_at",
        "expires_at",
        "revoked_at",
        "state",
        "source",
    ] {
        assert!(key["properties"][field].is_object(), "Key.{field}");
    }
    let api = &d["components"]["schemas"]["Api"]["properties"];
    let entry = &d["components"]["schemas"]["CatalogEntry"]["properties"];
    for field in ["override", "configured_state"] {
        assert!(api[field].is_object() && entry[field].is_null(), "{field}");
    }
    assert!(entry["openapi"].is_object() && entry["models"].is_object());
}

#[test]
fn every_reference_resolves() {
    fn walk(d: &Value, v: &Value, bad: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                    if resolve(d, r).is_none() {
                        bad.push(r.to_string());
                    }
                }
                map.values().for_each(|x| walk(d, x, bad));
            }
            Value::Array(items) => items.iter().for_each(|x| walk(d, x, bad)),
            _ => {}
        }
    }
    let d = doc();
    let mut bad = Vec::new();
    walk(&d, &d, &mut bad);
    assert!(bad.is_empty(), "unresolved: {bad:?}");
}

#[test]
fn every_operation_declares_its_parameters_and_answers() {
    let d = doc();
    let mut ids = BTreeSet::new();
    for (method, path, item, op) in operations(&d) {
        let at = format!("{method} {path}");
        assert!(
            ids.insert(op["operationId"].as_str().expect(&at).to_string()),
            "{at}: duplicate operationId"
        );
        // Every {name} in the template is a declared, required path parameter.
        let declared: BTreeSet<String> = [&item["parameters"], &op["parameters"]]
            .into_iter()
            .filter_map(Value::as_array)
            .flatten()
            .map(|p| deref(&d, p))
            .filter(|p| p["in"] == "path")
            .inspect(|p| assert_eq!(p["required"], true, "{at}: {p}"))
            .map(|p| p["name"].as_str().expect("name").to_string())
            .collect();
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(String::from)
            .collect();
        assert_eq!(declared, in_template, "{at}: path parameters");

        let responses = op["responses"].as_object().expect(&at);
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{at}: no success answer"
        );
        for status in ["401", "503"] {
            assert!(responses.contains_key(status), "{at}: no {status}");
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413"] {
                assert!(responses.contains_key(status), "{at}: no {status}");
            }
        }
        let entity = path.contains('{');
        if entity && !responses.contains_key("404") {
            panic!("{at}: no 404 for an unknown entity");
        }
        for (status, r) in responses {
            let r = deref(&d, r);
            assert!(r["description"].is_string(), "{at} {status}: description");
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{at} {status}"
                );
            }
        }
    }
}

#[test]
fn conflicts_are_documented_where_the_api_can_refuse() {
    let d = doc();
    for (method, path) in [
        ("post", "/admin/tenants"),
        ("patch", "/admin/tenants/{tenant}"),
        ("delete", "/admin/tenants/{tenant}"),
        ("put", "/admin/tenants/{tenant}/credentials/{provider}"),
        ("post", "/admin/tenants/{tenant}/apps"),
        ("delete", "/admin/keys/{id}"),
        ("post", "/admin/tenants/{tenant}/apps/{app}/subscriptions"),
        ("post", "/admin/subscriptions/{id}/approve"),
        ("put", "/admin/tenants/{tenant}/plan"),
    ] {
        assert!(
            d["paths"][path][method]["responses"]["409"].is_object(),
            "{method} {path}: no 409"
        );
    }
    assert!(
        d["paths"]["/admin/tenants/{tenant}/apps/{app}/subscriptions"]["post"]["responses"]["403"]
            .is_object()
    );
}
