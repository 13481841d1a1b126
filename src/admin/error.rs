//! Every way an admin request fails, and the one place that turns it into an HTTP answer.

use crate::limits::inspect;
use crate::store::StoreError;
use http::Response;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A malformed body, field or query parameter; the message names it.
    #[error("{0}")]
    BadRequest(String),
    /// No credential, or one that is wrong, expired or revoked.
    #[error("{0}")]
    Unauthorized(String),
    /// The entity exists but the tenant may not use it (an API's visibility), or the caller's
    /// role does not reach it, or a state change lacks its CSRF token.
    #[error("{0}")]
    Forbidden(String),
    /// Too many sign-in attempts: try again after `retry_after` seconds.
    #[error("{message}")]
    TooManyAttempts { message: String, retry_after: i64 },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The path exists, for these methods only.
    #[error("{method} is not allowed here; use {}", allowed.join(", "))]
    MethodNotAllowed {
        method: String,
        allowed: &'static [&'static str],
    },
    #[error("the request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    #[error("{}", store_message(.0))]
    Store(#[from] StoreError),
}

impl From<crate::telemetry::calls::CallStoreError> for AdminError {
    fn from(e: crate::telemetry::calls::CallStoreError) -> Self {
        use crate::telemetry::calls::CallStoreError as E;
        match e {
            E::BadQuery(m) => AdminError::BadRequest(m),
            other => AdminError::Unavailable(other.to_string()),
        }
    }
}

impl From<inspect::Error> for AdminError {
    fn from(e: inspect::Error) -> Self {
        match e {
            inspect::Error::Missing { .. } => AdminError::BadRequest(e.to_string()),
            inspect::Error::Cluster(_) | inspect::Error::Redis { .. } => {
                AdminError::Unavailable(e.to_string())
            }
        }
    }
}

/// Store errors as they are, except that an unusable file says it is the store's.
fn store_message(e: &StoreError) -> String {
    match e {
        StoreError::Open { .. } => format!("store {e}"),
        _ => e.to_string(),
    }
}

impl AdminError {
    pub fn status(&self) -> u16 {
        match self {
            AdminError::BadRequest(_) => 400,
            AdminError::Unauthorized(_) => 401,
            AdminError::Forbidden(_) => 403,
            AdminError::TooManyAttempts { .. } => 429,
            AdminError::NotFound(_) => 404,
            AdminError::Conflict(_) => 409,
            AdminError::MethodNotAllowed { .. } => 405,
            AdminError::TooLarge { .. } => 413,
            AdminError::Unavailable(_) => 503,
            AdminError::Internal(_) => 500,
            AdminError::Store(e) => match e {
                StoreError::Open { .. } | StoreError::Unavailable { .. } => 503,
                StoreError::NotFound(_) => 404,
                StoreError::Conflict(_) | StoreError::ManagedByConfig(_) => 409,
                StoreError::Invalid(_) => 400,
                StoreError::Internal(_) => 500,
                StoreError::Sqlite(e) => match e.sqlite_error_code() {
                    Some(
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked,
                    ) => 503,
                    _ => 500,
                },
            },
        }
    }

    /// The JSON error answer: `{"error":{"message","type":"admin_error","code"}}`.
    pub fn into_response(self) -> Response<Vec<u8>> {
        let status = self.status();
        if status >= 500 {
            tracing::warn!("admin: {status}: {self}");
        }
        let mut resp = super::json_error(status, &self.to_string());
        if let AdminError::MethodNotAllowed { allowed, .. } = &self {
            if let Ok(v) = http::HeaderValue::from_str(&allowed.join(", ")) {
                resp.headers_mut().insert(http::header::ALLOW, v);
            }
        }
        if let AdminError::TooManyAttempts { retry_after, .. } = &self {
            resp.headers_mut()
                .insert(http::header::RETRY_AFTER, (*retry_after).max(1).into());
        }
        resp
    }
}
