//! Error bodies: OpenAI's, Azure's and a proxy's decoded to an error kind, and the gateway's
//! errors encoded as OpenAI clients expect.

use serde_json::json;

use super::value;
use crate::llm::ir::{ApiError, ErrorKind};
use crate::llm::providers::openai::response;

#[test]
fn decodes_provider_errors() {
    // (status, body, kind, code, part of the message)
    type Case<'a> = (u16, &'a [u8], ErrorKind, Option<&'a str>, &'a str);
    let cases: &[Case] = &[
        (
            400,
            include_bytes!("../fixtures/error_400_context_length.json"),
            ErrorKind::InvalidRequest,
            Some("context_length_exceeded"),
            "maximum context length",
        ),
        (
            401,
            include_bytes!("../fixtures/error_401_invalid_api_key.json"),
            ErrorKind::Authentication,
            Some("invalid_api_key"),
            "Incorrect API key",
        ),
        (
            404,
            include_bytes!("../fixtures/error_404_model_not_found.json"),
            ErrorKind::NotFound,
            Some("model_not_found"),
            "does not exist",
        ),
        (
            429,
            include_bytes!("../fixtures/error_429_rate_limit.json"),
            ErrorKind::RateLimited,
            Some("rate_limit_exceeded"),
            "Rate limit reached",
        ),
        (
            429,
            include_bytes!("../fixtures/error_429_insufficient_quota.json"),
            ErrorKind::RateLimited,
            Some("insufficient_quota"),
            "exceeded your current quota",
        ),
        (
            500,
            include_bytes!("../fixtures/error_500_server_error.json"),
            ErrorKind::ProviderFailure,
            None,
            "The server had an error",
        ),
        (
            503,
            include_bytes!("../fixtures/error_500_server_error.json"),
            ErrorKind::Unavailable,
            None,
            "The server had an error",
        ),
        (
            404,
            include_bytes!("../fixtures/error_azure_404_deployment.json"),
            ErrorKind::NotFound,
            Some("DeploymentNotFound"),
            "deployment for this resource",
        ),
        (
            429,
            include_bytes!("../fixtures/error_azure_429.json"),
            ErrorKind::RateLimited,
            Some("429"),
            "exceeded token rate limit",
        ),
        (
            502,
            include_bytes!("../fixtures/error_502.html"),
            ErrorKind::BadResponse,
            None,
            "HTTP 502: <html>",
        ),
        (
            404,
            br#"{"error":"model 'llama9' not found"}"#,
            ErrorKind::NotFound,
            None,
            "model 'llama9' not found",
        ),
        (
            400,
            br#"{"object":"error","message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}"#,
            ErrorKind::InvalidRequest,
            None,
            "max_tokens is too large",
        ),
        (422, br#"{"detail":"bad field"}"#, ErrorKind::InvalidRequest, None, "bad field"),
        (500, b"", ErrorKind::ProviderFailure, None, "HTTP 500"),
    ];
    for (status, body, kind, code, message) in cases {
        let err = response::decode_error(*status, body);
        assert_eq!(err.kind, *kind, "{status} {}", err.message);
        assert_eq!(err.code.as_deref(), *code, "{status} {}", err.message);
        assert!(err.message.contains(message), "{status}: {}", err.message);
    }
    let err = response::decode_error(
        400,
        include_bytes!("../fixtures/error_400_context_length.json"),
    );
    assert_eq!(err.param.as_deref(), Some("messages"));
    let err = response::decode_error(502, include_bytes!("../fixtures/error_502.html"));
    assert!(err.message.len() < 240, "{}", err.message);
}

#[test]
fn encodes_client_errors() {
    let err = ApiError::invalid("messages[0].role", "unknown role");
    assert_eq!(
        value(&response::encode_error(&err)),
        json!({"error": {"message": "unknown role", "type": "invalid_request_error",
                         "param": "messages[0].role", "code": "invalid_request"}})
    );
    let err = ApiError::new(ErrorKind::RateLimited, "slow down");
    assert_eq!(
        value(&response::encode_error(&err)),
        json!({"error": {"message": "slow down", "type": "rate_limit_error", "param": null, "code": null}})
    );
    // What the gateway writes, it reads back the same.
    let err = ApiError::new(ErrorKind::NotFound, "no such model").with_code("model_not_found");
    assert_eq!(
        response::decode_error(404, &response::encode_error(&err)),
        err
    );
}
