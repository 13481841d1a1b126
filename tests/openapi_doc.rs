//! The admin API's OpenAPI document (`src/admin/openapi.json`, served at
//! `/admin/openapi.json`) describes exactly the endpoints the admin API serves, and is
//! well-formed enough for generators: every reference resolves, every path parameter is
//! declared, every operation names its errors.

use serde_json::Value;
use std::collections::BTreeSet;

const DOC: &str = include_str!("../src/admin/openapi.json");

/// The admin API's endpoints, as its contract lists them.
const ENDPOINTS: &[(&str, &str)] = &[
    ("get", "/admin/openapi.json"),
    ("get", "/admin/tenants"),
    ("post", "/admin/tenants"),
    ("get", "/admin/tenants/{tenant}"),
    ("patch", "/admin/tenants/{tenant}"),
    ("delete", "/admin/tenants/{tenant}"),
    ("get", "/admin/tenants/{tenant}/credentials"),
    ("put", "/admin/tenants/{tenant}/credentials/{provider}"),
    ("delete", "/admin/tenants/{tenant}/credentials/{provider}"),
    ("get", "/admin/tenants/{tenant}/apps"),
    ("post", "/admin/tenants/{tenant}/apps"),
    ("get", "/admin/tenants/{tenant}/apps/{app}"),
    ("patch", "/admin/tenants/{tenant}/apps/{app}"),
    ("delete", "/admin/tenants/{tenant}/apps/{app}"),
    ("get", "/admin/tenants/{tenant}/apps/{app}/keys"),
    ("post", "/admin/tenants/{tenant}/apps/{app}/keys"),
    ("get", "/admin/keys/{id}"),
    ("delete", "/admin/keys/{id}"),
    ("post", "/admin/keys/{id}/rotate"),
    ("get", "/admin/tenants/{tenant}/apps/{app}/subscriptions"),
    ("post", "/admin/tenants/{tenant}/apps/{app}/subscriptions"),
    ("get", "/admin/subscriptions"),
    ("get", "/admin/subscriptions/{id}"),
    ("post", "/admin/subscriptions/{id}/approve"),
    ("post", "/admin/subscriptions/{id}/reject"),
    ("post", "/admin/subscriptions/{id}/revoke"),
    ("get", "/admin/apis"),
    ("get", "/admin/apis/{name}"),
    ("put", "/admin/apis/{name}/state"),
    ("delete", "/admin/apis/{name}/state"),
    ("put", "/admin/tenants/{tenant}/plan"),
    ("delete", "/admin/tenants/{tenant}/plan"),
    ("put", "/admin/tenants/{tenant}/limits/{limit}"),
    ("delete", "/admin/tenants/{tenant}/limits/{limit}"),
    ("put", "/admin/tenants/{tenant}/apps/{app}/limits/{limit}"),
    (
        "delete",
        "/admin/tenants/{tenant}/apps/{app}/limits/{limit}",
    ),
    ("get", "/admin/limits"),
    ("get", "/admin/limits/top"),
    ("get", "/admin/limits/{limit}/bucket"),
    ("delete", "/admin/limits/{limit}/bucket"),
    ("get", "/admin/catalog"),
    ("get", "/admin/audit"),
];

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
fn it_is_openapi_3_1_with_a_bearer_scheme() {
    let d = doc();
    assert!(d["openapi"].as_str().unwrap().starts_with("3.1."));
    assert!(d["info"]["title"].is_string() && d["info"]["version"].is_string());
    let bearer = &d["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    assert_eq!(d["security"], serde_json::json!([{"bearer": []}]));
}

#[test]
fn it_has_exactly_the_endpoints_of_the_admin_api() {
    let d = doc();
    let have: BTreeSet<(String, String)> = operations(&d)
        .into_iter()
        .map(|(m, p, _, _)| (m, p))
        .collect();
    let want: BTreeSet<(String, String)> = ENDPOINTS
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let missing: Vec<_> = want.difference(&have).collect();
    let extra: Vec<_> = have.difference(&want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, not in the API {extra:?}"
    );
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
