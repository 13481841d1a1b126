//! A `tools/call`'s arguments made into the HTTP request of its operation: path parameters
//! substituted and percent-encoded, query parameters appended, the JSON body written.

use super::tools::{BodyFrom, Operation};
use http::Method;
use serde_json::{Map, Value};
use std::fmt::Write;

/// The request a tool call makes.
#[derive(Debug, PartialEq)]
pub struct HttpCall {
    pub method: Method,
    pub path_and_query: String,
    /// JSON, when the operation takes a body.
    pub body: Option<Vec<u8>>,
}

/// Builds the request, or says which argument is wrong.
pub fn build(op: &Operation, args: &Map<String, Value>) -> Result<HttpCall, String> {
    if op.body != BodyFrom::Arguments {
        let known = |k: &String| {
            op.path_params.contains(k)
                || op.query_params.contains(k)
                || (op.body == BodyFrom::Argument && k.as_str() == "body")
        };
        if let Some(unknown) = args.keys().find(|k| !known(k)) {
            return Err(format!("unknown argument {unknown:?}"));
        }
    }
    let mut path = op.path.clone();
    for name in &op.path_params {
        let value = match args.get(name) {
            None | Some(Value::Null) => return Err(format!("missing argument {name:?}")),
            Some(v) => scalar(name, v)?,
        };
        let encoded = encode(&value);
        path = path.replace(&format!("{{{name}}}"), &encoded);
    }
    let mut query = String::new();
    for name in &op.query_params {
        let values: Vec<String> = match args.get(name) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| scalar(name, v))
                .collect::<Result<_, _>>()?,
            Some(v) => vec![scalar(name, v)?],
        };
        for v in values {
            query.push(if query.is_empty() { '?' } else { '&' });
            let _ = write!(query, "{}={}", encode(name), encode(&v));
        }
    }
    let body = match op.body {
        BodyFrom::None => None,
        BodyFrom::Argument => args.get("body").map(|b| b.to_string().into_bytes()),
        BodyFrom::Arguments => Some(Value::Object(args.clone()).to_string().into_bytes()),
    };
    Ok(HttpCall {
        method: op.method.clone(),
        path_and_query: path + &query,
        body,
    })
}

/// A parameter's value as text: strings as they are, numbers and booleans as JSON writes them.
fn scalar(name: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(format!(
            "argument {name:?} must be a string, a number or a boolean"
        )),
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters, so a value can never add a
/// path segment, a query parameter or a fragment.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(body: BodyFrom) -> Operation {
        Operation {
            method: Method::GET,
            path: "/orders/v1/items/{id}".into(),
            path_params: vec!["id".into()],
            query_params: vec!["tag".into(), "n".into()],
            body,
        }
    }

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn path_and_query_are_encoded() {
        let call = build(
            &op(BodyFrom::None),
            &args(json!({"id": "a/b c?#", "tag": ["x&y", "z"], "n": 3})),
        )
        .unwrap();
        assert_eq!(
            call.path_and_query,
            "/orders/v1/items/a%2Fb%20c%3F%23?tag=x%26y&tag=z&n=3"
        );
        assert_eq!(call.body, None);
    }

    #[test]
    fn bodies_from_the_body_argument_or_all_arguments() {
        let call = build(
            &op(BodyFrom::Argument),
            &args(json!({"id": 1, "body": {"q": [1]}})),
        );
        assert_eq!(call.unwrap().body.unwrap(), br#"{"q":[1]}"#);
        let whole = Operation {
            path_params: vec![],
            query_params: vec![],
            ..op(BodyFrom::Arguments)
        };
        let call = build(&whole, &args(json!({"text": "hi"}))).unwrap();
        assert_eq!(call.body.unwrap(), br#"{"text":"hi"}"#);
    }

    #[test]
    fn wrong_arguments_are_named() {
        let o = op(BodyFrom::None);
        assert_eq!(
            build(&o, &args(json!({}))).unwrap_err(),
            "missing argument \"id\""
        );
        assert_eq!(
            build(&o, &args(json!({"id": 1, "other": 2}))).unwrap_err(),
            "unknown argument \"other\""
        );
        assert!(build(&o, &args(json!({"id": {"a": 1}})))
            .unwrap_err()
            .contains("\"id\""));
        assert!(build(&o, &args(json!({"id": 1, "body": {}}))).is_err());
    }
}
