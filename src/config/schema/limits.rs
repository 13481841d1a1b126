//! What users write for `[[limits]]`.

use super::Dur;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
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
    /// Cluster scope: ask Redis on every request, or spend leased batches locally.
    #[serde(default)]
    pub sync: SyncMode,
    /// Units a worker leases at a time with `sync = "lease"`.
    pub lease: Option<f64>,
    /// What a cluster limit decides while Redis cannot answer.
    #[serde(default)]
    pub on_redis_error: OnRedisError,
    /// With `on_redis_error = "local"`: the share of the limit each host allows on its own.
    pub local_share: Option<f64>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    /// One Redis round trip per decision: exact.
    #[default]
    PerRequest,
    /// Tokens taken from Redis in batches and spent locally: see the README for the bound.
    Lease,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRedisError {
    /// Allow the request.
    FailOpen,
    /// Refuse the request (503).
    FailClosed,
    /// Decide in the host's shared table, at `local_share` of the limit.
    #[default]
    #[serde(alias = "local_fallback")]
    Local,
}

/// `[redis]`: the server cluster-scope limits are kept in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSection {
    /// `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS.
    pub url: String,
    /// Overrides the URL's password (for `${ENV}` interpolation without it in the URL).
    pub password: Option<String>,
    /// The URL is one node of a Redis Cluster; the others are discovered from it.
    #[serde(default)]
    pub cluster: bool,
    /// PEM file of the CA that signs the server's certificate; the system roots otherwise.
    pub ca_file: Option<String>,
    /// Longest a decision waits for Redis before the failure policy answers.
    #[serde(default = "default_redis_timeout")]
    pub timeout: Dur,
    #[serde(default = "default_redis_connect_timeout")]
    pub connect_timeout: Dur,
    /// Consecutive failures that open the circuit breaker.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long an open breaker skips Redis before it lets one decision try again.
    #[serde(default = "default_breaker_cooldown")]
    pub breaker_cooldown: Dur,
    /// Prefix of every key Tollgate writes.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
}

fn default_redis_timeout() -> Dur {
    Dur(std::time::Duration::from_millis(50))
}

fn default_redis_connect_timeout() -> Dur {
    Dur(std::time::Duration::from_secs(1))
}

fn default_breaker_failures() -> u32 {
    3
}

fn default_breaker_cooldown() -> Dur {
    Dur(std::time::Duration::from_secs(1))
}

fn default_key_prefix() -> String {
    "tollgate".into()
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

/// `[[plans]]`: a named set of limits a tenant can be put on (`[[tenants]] plan`, or the
/// admin API); every key of the tenant's apps then draws from them on every route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSection {
    pub name: String,
    /// Names of `[[limits]]`.
    #[serde(default)]
    pub limits: Vec<String>,
}
