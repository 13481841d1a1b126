//! The API-management part of a configuration: each route's API settings (auth, visibility,
//! approval, lifecycle, catalog entry), the `[store]` section and the declarative seed of
//! tenants, apps, keys and subscriptions.

use crate::auth::key::SecretHash;
use crate::config::compile::Secret;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Where an API is in its life. `Draft` is not routable (404), `Retired` answers 410.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    Draft,
    #[default]
    Published,
    Deprecated,
    Retired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    #[default]
    None,
    ApiKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    #[default]
    Auto,
    Manual,
}

/// Which tenants may see and subscribe to an API (or use a model).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Visibility {
    #[default]
    Public,
    Tenants(Vec<String>),
}

impl Visibility {
    pub fn admits(&self, tenant: &str) -> bool {
        match self {
            Visibility::Public => true,
            Visibility::Tenants(t) => t.iter().any(|n| n == tenant),
        }
    }
}

/// A route seen as an API: its access rules and its catalog entry.
#[derive(Debug, Clone, Default)]
pub struct ApiSpec {
    pub auth: AuthMode,
    pub visibility: Visibility,
    pub approval: Approval,
    /// The state written in the configuration; the store may override it (see `auth`).
    pub state: Lifecycle,
    /// Route name of the version that replaces this one.
    pub successor: Option<String>,
    /// Unix seconds after which the API goes away (the `Sunset` header).
    pub sunset: Option<i64>,
    /// Unix seconds since when the API is deprecated (the `Deprecation` header's date).
    pub deprecated_since: Option<i64>,
    pub version: Option<String>,
    pub description: String,
    pub owner: Option<String>,
    /// An OpenAPI document: an `http(s)://` address, or a file path made absolute by the loader.
    pub openapi: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub path: PathBuf,
    /// Encrypts tenants' provider keys; without it they cannot be stored.
    pub secret_key: Option<Secret>,
    /// How often each worker checks the store for changes.
    pub refresh: Duration,
}

/// Tenants, apps, keys and subscriptions declared in TOML. They are written to the store at
/// start and on every reload, and win over admin changes to the same entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantSeed {
    pub name: String,
    pub description: String,
    pub apps: Vec<AppSeed>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppSeed {
    pub name: String,
    pub description: String,
    /// Public models the app may use; all the tenant may see when `None`.
    pub models: Option<Vec<String>>,
    pub keys: Vec<KeySeed>,
    /// Route names the app is subscribed to (active, whatever the approval mode).
    pub subscriptions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeySeed {
    pub public_id: String,
    pub hash: SecretHash,
    pub name: String,
    pub expires_at: Option<i64>,
}

/// Reads a date as users write it, `"2027-06-30"` (midnight UTC) or RFC 3339
/// (`"2027-06-30T12:00:00Z"`), into Unix seconds.
pub fn parse_date(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let full = if t.len() == 10 {
        format!("{t}T00:00:00Z")
    } else {
        t.to_string()
    };
    let at = humantime::parse_rfc3339_weak(&full).map_err(|_| {
        format!("{text:?} is not a date: write \"2027-06-30\" or \"2027-06-30T12:00:00Z\"")
    })?;
    at.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .map_err(|_| format!("{text:?} is before 1970"))
}

/// Unix seconds as RFC 3339 (`2027-06-30T00:00:00Z`), the form the admin API answers with.
pub fn format_date(unix: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Unix seconds as an HTTP date (`Wed, 30 Jun 2027 00:00:00 GMT`), for `Sunset`.
pub fn http_date(unix: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(unix.max(0) as u64);
    httpdate::fmt_http_date(at)
}

/// The current time in Unix seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_format() {
        assert_eq!(parse_date("2027-06-30").unwrap(), 1_814_313_600);
        assert_eq!(parse_date("2027-06-30T00:00:00Z").unwrap(), 1_814_313_600);
        assert!(parse_date("June 30").is_err());
        assert_eq!(format_date(1_814_313_600), "2027-06-30T00:00:00Z");
        assert_eq!(http_date(1_814_313_600), "Wed, 30 Jun 2027 00:00:00 GMT");
    }
}
