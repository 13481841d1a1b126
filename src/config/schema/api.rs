//! What users write for API management: `[store]`, a route's `[routes.api]`, and the
//! declarative `[[tenants]]` seed.

use super::Dur;
use crate::config::compile::{Approval, AuthMode, Lifecycle};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// The SQLite file; a relative path is taken from the main configuration file's directory.
    pub path: String,
    /// 32 bytes (64 hex digits or base64) that encrypt tenants' provider keys.
    pub secret_key: Option<String>,
    #[serde(default = "quarter_second")]
    pub refresh: Dur,
}

/// `"public"` or a list of tenant names.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum VisibilitySection {
    Word(String),
    Tenants(Vec<String>),
}

impl Default for VisibilitySection {
    fn default() -> Self {
        VisibilitySection::Word("public".into())
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    #[serde(default)]
    pub auth: AuthMode,
    #[serde(default)]
    pub visibility: VisibilitySection,
    #[serde(default)]
    pub approval: Approval,
    #[serde(default)]
    pub state: Lifecycle,
    pub successor: Option<String>,
    pub sunset: Option<String>,
    pub deprecated_since: Option<String>,
    pub version: Option<String>,
    #[serde(default)]
    pub description: String,
    pub owner: Option<String>,
    pub openapi: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSection {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A `[[plans]]` name: the limits every app of the tenant draws from.
    pub plan: Option<String>,
    #[serde(default)]
    pub apps: Vec<AppSection>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppSection {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub models: Option<Vec<String>>,
    #[serde(default)]
    pub subscriptions: Vec<String>,
    #[serde(default)]
    pub keys: Vec<KeySection>,
}

/// A key given by its public id and the SHA-256 of its secret, never the secret itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySection {
    pub id: String,
    pub sha256: String,
    #[serde(default)]
    pub name: String,
    pub expires: Option<String>,
}

fn quarter_second() -> Dur {
    Dur(std::time::Duration::from_millis(250))
}
