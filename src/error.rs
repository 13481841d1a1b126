//! Gateway errors and their one mapping to HTTP responses.
//!
//! Phases that refuse a request store a `GatewayError` in the request context and return a
//! Pingora error; `fail_to_proxy` turns either into a JSON response here, and nowhere else.

use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorType};

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("no route for {method} {path}")]
    NoRoute { method: String, path: String },
    #[error("request headers are {size} bytes; the limit is {limit}")]
    HeaderTooLarge { size: usize, limit: usize },
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge { limit: u64 },
    #[error("bad request framing: {0}")]
    BadFraming(&'static str),
    /// A well-framed request whose target or `Host` cannot be routed safely.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("bad request target: {0}")]
    BadTarget(#[from] crate::routing::target::TargetError),
    #[error("transfer coding {0:?} is not supported; only chunked is")]
    UnsupportedTransferCoding(String),
    #[error("expectation {0:?} is not supported; only 100-continue is")]
    ExpectationFailed(String),
    /// The client went away (closed or reset) before the exchange finished.
    #[error("the client closed the connection")]
    ClientGone,
    #[error("the client did not send the request in time")]
    ClientTimeout,
    #[error("upstream {upstream}: no response within the timeout")]
    UpstreamTimeout { upstream: String },
    #[error("upstream {upstream}: {detail}")]
    UpstreamFailed { upstream: String, detail: String },
    /// An LLM call failed: the provider's error translated, or the gateway's own about the
    /// request (unknown model, invalid field). Written in the client's format by `proxy::llm`.
    #[error("{0}")]
    Llm(crate::llm::ir::ApiError),
    /// Refused by the API gate: no or a bad key, or no right to the API.
    #[error("{0}")]
    Denied(#[from] crate::auth::Denied),
    #[error("API {api} has been retired{}", successor.as_deref().map(|s| format!("; use {s}")).unwrap_or_default())]
    Retired {
        api: String,
        successor: Option<String>,
    },
    #[error("{0}")]
    RateLimited(#[from] crate::limits::vocab::Limited),
    /// An HTTP request the MCP endpoint does not take (method, media type, no session room).
    #[error("{0}")]
    Mcp(#[from] crate::mcp::Refusal),
    #[error("{0}")]
    Other(String),
}

impl GatewayError {
    pub fn status(&self) -> u16 {
        match self {
            GatewayError::NoRoute { .. } => 404,
            GatewayError::HeaderTooLarge { .. } => 431,
            GatewayError::BodyTooLarge { .. } => 413,
            GatewayError::BadFraming(_) => 400,
            GatewayError::BadRequest(_) | GatewayError::BadTarget(_) => 400,
            GatewayError::UnsupportedTransferCoding(_) => 501,
            GatewayError::ExpectationFailed(_) => 417,
            // nginx's code for the same, never sent: there is no one left to read it.
            GatewayError::ClientGone => 499,
            GatewayError::ClientTimeout => 408,
            GatewayError::UpstreamTimeout { .. } => 504,
            GatewayError::UpstreamFailed { .. } => 502,
            GatewayError::Llm(e) => e.kind.status(),
            GatewayError::Denied(d) => d.status(),
            GatewayError::Retired { .. } => 410,
            GatewayError::RateLimited(l) if l.unavailable => 503,
            GatewayError::RateLimited(l) => l.kind.status(),
            GatewayError::Mcp(r) => r.status(),
            GatewayError::Other(_) => 500,
        }
    }

    /// The code the call record names the error by: the gateway's own, or for an LLM call
    /// the provider's or the gateway's code (`model_not_found`), else the error's type.
    pub fn record_code(&self) -> &str {
        match self {
            GatewayError::Llm(e) => e.code.as_deref().unwrap_or(e.kind.openai_type()),
            other => other.code(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::NoRoute { .. } => "route_not_found",
            GatewayError::HeaderTooLarge { .. } => "headers_too_large",
            GatewayError::BodyTooLarge { .. } => "body_too_large",
            GatewayError::BadFraming(_) => "bad_framing",
            GatewayError::BadRequest(_) => "bad_request",
            GatewayError::BadTarget(_) => "bad_request_target",
            GatewayError::UnsupportedTransferCoding(_) => "unsupported_transfer_encoding",
            GatewayError::ExpectationFailed(_) => "expectation_failed",
            GatewayError::ClientGone => "client_closed_request",
            GatewayError::ClientTimeout => "request_timeout",
            GatewayError::UpstreamTimeout { .. } => "upstream_timeout",
            GatewayError::UpstreamFailed { .. } => "upstream_unavailable",
            GatewayError::Llm(_) => "llm_error",
            GatewayError::Denied(d) => d.code(),
            GatewayError::Retired { .. } => "api_retired",
            GatewayError::RateLimited(l) if l.unavailable => "rate_limiter_unavailable",
            GatewayError::RateLimited(l) => l.kind.code(),
            GatewayError::Mcp(r) => r.code(),
            GatewayError::Other(_) => "internal_error",
        }
    }

    /// Whether the client connection can carry another request after this error: only when the
    /// request was refused before any body was read or any upstream was involved (Pingora
    /// does not reuse a connection after an upstream error, and bad framing cannot be trusted).
    pub fn keeps_connection(&self) -> bool {
        matches!(
            self,
            GatewayError::NoRoute { .. }
                | GatewayError::BadTarget(_)
                | GatewayError::Denied(_)
                | GatewayError::Retired { .. }
                | GatewayError::RateLimited(_)
                | GatewayError::Mcp(_)
        )
    }

    /// The Pingora error that carries this one through the proxy phases.
    pub fn into_pingora(self) -> Box<Error> {
        Error::explain(ErrorType::HTTPStatus(self.status()), self.to_string())
    }

    /// Classifies an error raised by Pingora while talking to an upstream or a client.
    pub fn from_pingora(e: &Error, upstream: Option<&str>) -> GatewayError {
        use ErrorType::*;
        let upstream = upstream.unwrap_or("").to_string();
        let downstream = e.esource() == &pingora::ErrorSource::Downstream;
        match e.etype() {
            ReadTimedout | WriteTimedout if downstream => GatewayError::ClientTimeout,
            ConnectTimedout | ReadTimedout | WriteTimedout | TLSHandshakeTimedout => {
                GatewayError::UpstreamTimeout { upstream }
            }
            HTTPStatus(code) => match code {
                413 => GatewayError::BodyTooLarge { limit: 0 },
                431 => GatewayError::HeaderTooLarge { size: 0, limit: 0 },
                400 => GatewayError::BadFraming("invalid request"),
                504 => GatewayError::UpstreamTimeout { upstream },
                _ => GatewayError::Other(e.to_string()),
            },
            _ => match e.esource() {
                pingora::ErrorSource::Upstream => GatewayError::UpstreamFailed {
                    upstream,
                    detail: e.etype().as_str().to_lowercase().replace('_', " "),
                },
                pingora::ErrorSource::Downstream if downstream_is_gone(e) => {
                    GatewayError::ClientGone
                }
                pingora::ErrorSource::Downstream => GatewayError::BadFraming("invalid request"),
                _ => GatewayError::Other("internal error".into()),
            },
        }
    }
}

/// Whether the downstream connection is already gone, so no response can be written.
pub fn downstream_is_gone(e: &Error) -> bool {
    e.esource() == &pingora::ErrorSource::Downstream
        && matches!(
            e.etype(),
            ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed
        )
}

/// The body of an error answer: `{"error":{"message","type","code"}}`.
pub fn body(err: &GatewayError) -> String {
    let status = err.status();
    serde_json::json!({
        "error": { "message": err.to_string(), "type": error_type(status), "code": err.code() }
    })
    .to_string()
}

/// Writes `err` as `{"error":{"message","type","code"}}` with the request id; unless
/// `keep_alive`, the response says `Connection: close` and the connection is closed after it.
pub async fn respond(
    session: &mut Session,
    err: &GatewayError,
    request_id: &str,
    keep_alive: bool,
    extra: &[(http::HeaderName, http::HeaderValue)],
) -> u16 {
    let status = err.status();
    if !keep_alive {
        session.set_keepalive(None);
    }
    let Some((mut resp, body)) = answer(err, request_id, extra) else {
        return status;
    };
    if !keep_alive {
        // Said explicitly, so a client never sends its next request on a closing connection.
        let _ = resp.insert_header(http::header::CONNECTION, "close");
    }
    if let Err(e) = session.write_response_header(Box::new(resp), false).await {
        tracing::debug!("could not write error response: {e}");
        return status;
    }
    if let Err(e) = session
        .write_response_body(Some(bytes::Bytes::from(body)), true)
        .await
    {
        tracing::debug!("could not write error body: {e}");
    }
    status
}

/// The head and body of the answer to `err`: its JSON body, the request id and `extra`
/// (fields the gateway decided, such as a limit's `Retry-After`).
pub fn answer(
    err: &GatewayError,
    request_id: &str,
    extra: &[(http::HeaderName, http::HeaderValue)],
) -> Option<(ResponseHeader, String)> {
    let body = body(err);
    let mut resp = ResponseHeader::build(err.status(), Some(4)).ok()?;
    let _ = resp.insert_header(http::header::CONTENT_TYPE, "application/json");
    let _ = resp.insert_header(http::header::CONTENT_LENGTH, body.len());
    if let Ok(id) = http::HeaderValue::from_str(request_id) {
        resp.insert_titled_header(crate::proxy::headers::REQUEST_ID, id);
    }
    for (name, value) in extra {
        let _ = resp.insert_header(name.clone(), value.clone());
    }
    Some((resp, body))
}

fn error_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "insufficient_quota",
        403 => "permission_error",
        429 => "requests",
        404 => "not_found_error",
        400..=499 => "invalid_request_error",
        _ => "upstream_error",
    }
}
