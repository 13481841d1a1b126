//! JSON-RPC 2.0 as MCP's Streamable HTTP transport carries it: one message per POST (batches
//! were removed in protocol 2025-06-18), requests answered with one response, notifications
//! and responses from the client answered with nothing (HTTP 202).

use serde_json::{json, Map, Value};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// A resource that does not exist or the caller may not read (the MCP specification's code).
pub const RESOURCE_NOT_FOUND: i64 = -32002;

/// One message a client POSTed.
#[derive(Debug, PartialEq)]
pub enum Incoming {
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    Notification {
        method: String,
    },
    /// A response to a request of the server's; this server sends none, so it is only
    /// acknowledged.
    Response,
}

/// A JSON-RPC error, with the id of the request it answers (null when none could be read).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub id: Value,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
            id: Value::Null,
        }
    }

    pub fn with_id(mut self, id: &Value) -> RpcError {
        self.id = id.clone();
        self
    }

    pub fn to_json(&self) -> Value {
        json!({
            "jsonrpc": "2.0",
            "id": self.id,
            "error": { "code": self.code, "message": self.message },
        })
    }
}

/// Reads one message; a body that is not one JSON-RPC message is an error naming why.
pub fn parse(body: &[u8]) -> Result<Incoming, RpcError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| RpcError::new(PARSE_ERROR, format!("the body is not JSON: {e}")))?;
    let mut m = match value {
        Value::Object(m) => m,
        Value::Array(_) => {
            return Err(RpcError::new(
                INVALID_REQUEST,
                "JSON-RPC batches are not supported: send one message per request",
            ))
        }
        _ => {
            return Err(RpcError::new(
                INVALID_REQUEST,
                "a JSON-RPC message must be an object",
            ))
        }
    };
    let id = m.remove("id");
    let id_ok = match &id {
        None | Some(Value::String(_)) => true,
        Some(Value::Number(n)) => n.is_i64() || n.is_u64(),
        Some(_) => false,
    };
    let answer_to = id.clone().unwrap_or(Value::Null);
    let err = |msg: &str| RpcError::new(INVALID_REQUEST, msg).with_id(&answer_to);
    if !id_ok {
        return Err(RpcError::new(
            INVALID_REQUEST,
            "id must be a string or an integer",
        ));
    }
    if m.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(err("jsonrpc must be \"2.0\""));
    }
    match (m.remove("method"), id) {
        (Some(Value::String(method)), Some(id)) => {
            let params = m.remove("params").unwrap_or(Value::Null);
            if !matches!(params, Value::Null | Value::Object(_)) {
                return Err(err("params must be an object"));
            }
            Ok(Incoming::Request { id, method, params })
        }
        (Some(Value::String(method)), None) => Ok(Incoming::Notification { method }),
        (Some(_), _) => Err(err("method must be a string")),
        (None, Some(_)) if m.contains_key("result") || m.contains_key("error") => {
            Ok(Incoming::Response)
        }
        (None, _) => Err(err("a request needs a method")),
    }
}

/// The response carrying `result`.
pub fn result(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// The object `params` of a request (empty when it had none).
pub fn params_object(params: &Value) -> Map<String, Value> {
    params.as_object().cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_notifications_and_responses() {
        let r = parse(br#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#).unwrap();
        assert_eq!(
            r,
            Incoming::Request {
                id: json!(7),
                method: "ping".into(),
                params: Value::Null
            }
        );
        let n = parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap();
        assert_eq!(
            n,
            Incoming::Notification {
                method: "notifications/initialized".into()
            }
        );
        let a = parse(br#"{"jsonrpc":"2.0","id":"s1","result":{}}"#).unwrap();
        assert_eq!(a, Incoming::Response);
    }

    #[test]
    fn bad_messages_get_their_codes() {
        let code = |b: &[u8]| parse(b).unwrap_err().code;
        assert_eq!(code(b"{not json"), PARSE_ERROR);
        assert_eq!(code(b""), PARSE_ERROR);
        assert_eq!(
            code(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#),
            INVALID_REQUEST
        );
        assert_eq!(code(b"42"), INVALID_REQUEST);
        assert_eq!(code(br#"{"id":1,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1,"method":5}"#),
            INVALID_REQUEST
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#),
            INVALID_REQUEST
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#),
            INVALID_REQUEST
        );
        // The error answers the request's id when it could be read.
        let e = parse(br#"{"jsonrpc":"1.0","id":3,"method":"ping"}"#).unwrap_err();
        assert_eq!(e.id, json!(3));
    }
}
