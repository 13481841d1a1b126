//! Requests to the admin API, as an operator named `alice`.

use super::{client, Gateway, ADMIN_TOKEN};
use serde_json::Value;

/// One admin request with the token and `X-Tollgate-Actor: alice`; (status, raw body).
pub fn raw(gw: &Gateway, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let url = format!("http://127.0.0.1:{}{path}", gw.admin_port);
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client()
        .request(method, url)
        .header("authorization", format!("Bearer {ADMIN_TOKEN}"))
        .header("x-tollgate-actor", "alice");
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.text().unwrap())
}

pub fn call(gw: &Gateway, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let text = body.map(|b| b.to_string());
    let (status, text) = raw(gw, method, path, text.as_deref());
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A request that must succeed (2xx); its JSON answer.
pub fn ok(gw: &Gateway, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, v) = call(gw, method, path, body);
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {v}"
    );
    v
}
