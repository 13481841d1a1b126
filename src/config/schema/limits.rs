//! What users write for `[[limits]]`.

use super::Dur;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSection {
    pub name: String,
    #[serde(default)]
    pub counts: Counts,
    /// Units per period: requests, tokens, or US dollars for `cost`.
    pub rate: f64,
    pub period: Dur,
    /// The bucket's capacity; `rate` when unset.
    pub burst: Option<f64>,
    pub key: Vec<KeyPart>,
    #[serde(default)]
    pub scope: Scope,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counts {
    #[default]
    Requests,
    Tokens,
    Cost,
}

/// What a limit's bucket is per: each distinct combination gets its own bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPart {
    Tenant,
    App,
    ApiKey,
    Route,
    Model,
    ClientIp,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Exact across the workers of one host.
    #[default]
    Local,
    /// Across every gateway sharing `[redis]`.
    Cluster,
}

/// `[[plans]]`: a named set of limits a tenant can be put on (`[[tenants]] plan`, or the
/// admin API); every key of the tenant's apps then draws from them on every route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSection {
    pub name: String,
    /// Names of `[[limits]]`.
    #[serde(default)]
    pub limits: Vec<String>,
}
