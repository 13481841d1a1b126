//! Error bodies: Gemini's decoded to an error kind, code and message.

use crate::llm::ir::ErrorKind;
use crate::llm::providers::gemini::response;

#[test]
fn decodes_errors() {
    type Case<'a> = (u16, &'a [u8], ErrorKind, &'a str, Option<&'a str>);
    let cases: [Case; 13] = [
        (
            400,
            include_bytes!("../fixtures/error_400_invalid_argument.json"),
            ErrorKind::InvalidRequest,
            "Unknown name \"$schema\"",
            Some("INVALID_ARGUMENT"),
        ),
        (
            400,
            include_bytes!("../fixtures/error_400_api_key_invalid.json"),
            ErrorKind::Authentication,
            "API key not valid",
            Some("API_KEY_INVALID"),
        ),
        (
            403,
            include_bytes!("../fixtures/error_403.json"),
            ErrorKind::PermissionDenied,
            "unregistered callers",
            Some("PERMISSION_DENIED"),
        ),
        (
            404,
            include_bytes!("../fixtures/error_404.json"),
            ErrorKind::NotFound,
            "is not found",
            Some("NOT_FOUND"),
        ),
        (
            429,
            include_bytes!("../fixtures/error_429.json"),
            ErrorKind::RateLimited,
            "exceeded your current quota",
            Some("RESOURCE_EXHAUSTED"),
        ),
        (
            500,
            include_bytes!("../fixtures/error_500.json"),
            ErrorKind::ProviderFailure,
            "internal error",
            Some("INTERNAL"),
        ),
        (
            503,
            include_bytes!("../fixtures/error_503.json"),
            ErrorKind::Unavailable,
            "overloaded",
            Some("UNAVAILABLE"),
        ),
        (
            401,
            br#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#,
            ErrorKind::Authentication,
            "invalid authentication",
            Some("UNAUTHENTICATED"),
        ),
        (
            400,
            br#"{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}"#,
            ErrorKind::InvalidRequest,
            "location",
            Some("FAILED_PRECONDITION"),
        ),
        (
            504,
            br#"{"error":{"code":504,"message":"Deadline expired before operation could complete.","status":"DEADLINE_EXCEEDED"}}"#,
            ErrorKind::Timeout,
            "Deadline",
            Some("DEADLINE_EXCEEDED"),
        ),
        (
            413,
            br#"{"error":{"code":413,"message":"Request payload size exceeds the limit"}}"#,
            ErrorKind::PayloadTooLarge,
            "payload size",
            None,
        ),
        (
            502,
            b"<html><body>502 Bad Gateway</body></html>",
            ErrorKind::BadResponse,
            "HTTP 502: <html><body>502 Bad Gateway",
            None,
        ),
        (
            500,
            b"",
            ErrorKind::ProviderFailure,
            "HTTP 500 with an empty body",
            None,
        ),
    ];
    for (status, body, kind, needle, code) in cases {
        let err = response::decode_error(status, body);
        assert_eq!(err.kind, kind, "{status} {needle}");
        assert!(err.message.contains(needle), "{}", err.message);
        assert_eq!(err.code.as_deref(), code, "{needle}");
    }
    let long = "x".repeat(500);
    let err = response::decode_error(418, long.as_bytes());
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert!(err.message.len() < 260 && err.message.ends_with("..."));
}
