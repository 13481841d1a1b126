//! Error bodies: Anthropic's decoded to an error kind (the status when the type is unknown), and
//! the gateway's errors encoded as Anthropic clients expect.

use serde_json::json;

use super::value;
use crate::llm::ir::{ApiError, ErrorKind};
use crate::llm::providers::anthropic::response;

#[test]
fn decodes_error_fixtures() {
    let cases: [(u16, &[u8], ErrorKind, &str); 6] = [
        (
            400,
            include_bytes!("../fixtures/error_400.json"),
            ErrorKind::InvalidRequest,
            "max_tokens: Field required",
        ),
        (
            401,
            include_bytes!("../fixtures/error_401.json"),
            ErrorKind::Authentication,
            "invalid x-api-key",
        ),
        (
            404,
            include_bytes!("../fixtures/error_404.json"),
            ErrorKind::NotFound,
            "The requested resource could not be found.",
        ),
        (
            429,
            include_bytes!("../fixtures/error_429.json"),
            ErrorKind::RateLimited,
            "Number of request tokens",
        ),
        (
            500,
            include_bytes!("../fixtures/error_500.json"),
            ErrorKind::ProviderFailure,
            "Internal server error",
        ),
        (
            529,
            include_bytes!("../fixtures/error_529.json"),
            ErrorKind::Unavailable,
            "Overloaded",
        ),
    ];
    for (status, body, kind, message) in cases {
        let err = response::decode_error(status, body);
        assert_eq!(err.kind, kind, "{status}");
        assert!(
            err.message.starts_with(message),
            "{status}: {}",
            err.message
        );
        assert_eq!(
            err.code.as_deref(),
            Some(value(body)["error"]["type"].as_str().unwrap())
        );
        // And back: a client sees the same type and message.
        let out = value(&response::encode_error(&err));
        assert_eq!(out["type"], json!("error"));
        assert_eq!(
            out["error"]["type"],
            value(body)["error"]["type"],
            "{status}"
        );
        assert_eq!(out["error"]["message"], value(body)["error"]["message"]);
    }
}

#[test]
fn error_kind_falls_back_to_the_status() {
    let err = response::decode_error(503, b"<html><body>Service Unavailable</body></html>");
    assert_eq!(err.kind, ErrorKind::Unavailable);
    assert!(err.message.contains("503") && err.message.contains("Service Unavailable"));
    let long = "x".repeat(1000);
    let err = response::decode_error(502, long.as_bytes());
    assert_eq!(err.kind, ErrorKind::BadResponse);
    assert!(err.message.len() < 260);
    let err = response::decode_error(413, b"");
    assert_eq!(err.kind, ErrorKind::PayloadTooLarge);
    assert!(err.message.contains("413") && err.message.contains("empty"));
    let err = response::decode_error(
        403,
        br#"{"type":"error","error":{"type":"billing_error","message":"no credit"}}"#,
    );
    assert_eq!(
        (err.kind, err.message.as_str()),
        (ErrorKind::PermissionDenied, "no credit")
    );
}

#[test]
fn encodes_gateway_errors() {
    let err = ApiError::invalid("messages[0].role", "invalid field `messages[0].role`");
    assert_eq!(
        value(&response::encode_error(&err)),
        json!({"type": "error", "error": {"type": "invalid_request_error", "message": "invalid field `messages[0].role`"}})
    );
}
