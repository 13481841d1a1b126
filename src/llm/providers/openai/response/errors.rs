//! Error bodies: a provider's decoded to an `ApiError` (OpenAI's, Azure's, Ollama's, or no JSON at
//! all), and the gateway's errors encoded as OpenAI clients expect.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::to_vec;
use crate::llm::ir::{ApiError, ErrorKind};

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<ErrorField>,
    /// vLLM and FastAPI-based servers: `{"detail": "..."}`; others: `{"message": "..."}`.
    detail: Option<Value>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorField {
    Object(ErrorObject),
    /// Ollama: `{"error": "model 'x' not found"}`.
    Text(String),
}

#[derive(Deserialize)]
pub(crate) struct ErrorObject {
    #[serde(default)]
    message: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    param: Option<String>,
    /// A string at OpenAI and Azure, a number at some compatible servers.
    code: Option<Value>,
}

impl ErrorObject {
    /// `fallback` is the kind when neither `code` nor `type` tells one.
    pub(crate) fn into_api_error(self, fallback: ErrorKind) -> ApiError {
        let code = match self.code {
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let kind = code
            .as_deref()
            .and_then(kind_from_name)
            .or_else(|| self.kind.as_deref().and_then(kind_from_name))
            .unwrap_or(fallback);
        ApiError {
            kind,
            message: self.message,
            code,
            param: self.param,
        }
    }
}

/// The kinds an OpenAI or Azure `code`/`type` names unambiguously. `invalid_request_error`
/// is not among them: OpenAI also uses it for 404s, so the status tells more.
fn kind_from_name(name: &str) -> Option<ErrorKind> {
    Some(match name {
        "insufficient_quota"
        | "rate_limit_exceeded"
        | "rate_limit_error"
        | "tokens"
        | "requests"
        | "429" => ErrorKind::RateLimited,
        "invalid_api_key" | "authentication_error" | "invalid_authentication" | "401" => {
            ErrorKind::Authentication
        }
        "permission_error" | "unsupported_country_region_territory" | "403" => {
            ErrorKind::PermissionDenied
        }
        "model_not_found" | "DeploymentNotFound" | "not_found_error" | "404" => ErrorKind::NotFound,
        "context_length_exceeded" | "string_above_max_length" | "invalid_prompt" => {
            ErrorKind::InvalidRequest
        }
        "server_error" => ErrorKind::ProviderFailure,
        _ => return None,
    })
}

/// Decodes a provider's error answer with HTTP `status`.
pub fn decode_error(status: u16, body: &[u8]) -> ApiError {
    let fallback = ErrorKind::from_status(status);
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let message = match parsed {
        Some(ErrorBody {
            error: Some(ErrorField::Object(obj)),
            ..
        }) => {
            let mut err = obj.into_api_error(fallback);
            // A generic `server_error` on a 503 is still an outage, not a failure.
            if err.kind == ErrorKind::ProviderFailure && status >= 500 {
                err.kind = fallback;
            }
            if err.message.is_empty() {
                err.message = format!("provider returned HTTP {status}");
            }
            return err;
        }
        Some(ErrorBody {
            error: Some(ErrorField::Text(text)),
            ..
        })
        | Some(ErrorBody {
            message: Some(text),
            ..
        }) => text,
        Some(ErrorBody {
            detail: Some(Value::String(text)),
            ..
        }) => text,
        Some(ErrorBody {
            detail: Some(detail),
            ..
        }) => detail.to_string(),
        _ => {
            let text = String::from_utf8_lossy(body);
            let snippet: String = text.trim().chars().take(200).collect();
            format!("provider returned HTTP {status}: {snippet}")
        }
    };
    ApiError::new(fallback, message)
}

#[derive(Serialize)]
pub(crate) struct ErrorOut<'a> {
    error: ErrorObjectOut<'a>,
}

#[derive(Serialize)]
struct ErrorObjectOut<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl<'a> ErrorOut<'a> {
    pub(crate) fn new(err: &'a ApiError) -> ErrorOut<'a> {
        ErrorOut {
            error: ErrorObjectOut {
                message: &err.message,
                kind: err.kind.openai_type(),
                param: err.param.as_deref(),
                code: err.code.as_deref(),
            },
        }
    }
}

/// Encodes an error for a client of the gateway.
pub fn encode_error(err: &ApiError) -> Vec<u8> {
    to_vec(&ErrorOut::new(err))
}
