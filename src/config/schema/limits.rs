//! What users write for `[[limits]]`.

use super::Dur;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSection {
    pub name: String,
    #[serde(default)]
    pub counts: Counts,
    /// Units per period: requests, tokens, or US dollars for `cost`. Required for every
    /// count but `concurrency`, which takes none.
    pub rate: Option<f64>,
    pub period: Option<Dur>,
    /// The bucket's capacity; `rate` when unset.
    pub burst: Option<f64>,
    /// Requests or streams in flight at once, for `counts = "concurrency"` only.
    pub max: Option<u64>,
    pub key: Vec<KeyPart>,
    #[serde(default)]
    pub scope: Scope,
    /// The status of a refusal: 429, or 402 for a spent budget.
    pub status: Option<u16>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Counts {
    #[default]
    Requests,
    Tokens,
    Cost,
    /// Requests (or streams) in flight at once, not a rate.
    Concurrency,
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
