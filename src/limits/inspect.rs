//! What the admin API reads and changes in the buckets: one bucket's state, its reset and the
//! most refused buckets (whose labels `vocab::label` makes). Functions take the limit,
//! the rate it runs at and the key parts, so a cluster-scope twin can answer the same calls
//! from Redis (`inspect_redis`, `reset_redis` for `scope = "cluster"` limits).

use super::local::LocalTable;
use super::redis::{Mode, RedisLink};
use super::top::{RefusedBucket, TopTable};
use super::vocab::{bucket, Caller};
use crate::base::gcra::{self, Rate};
use crate::config::LimitSpec;
use crate::config::{KeyPart, Scope};
use std::net::IpAddr;
use std::sync::Arc;

/// The key parts of a bucket, as an operator gives them.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    pub tenant: Option<String>,
    pub app: Option<String>,
    /// The public id of the API key.
    pub api_key: Option<String>,
    pub route: Option<String>,
    pub model: Option<String>,
    pub client_ip: Option<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("limit {limit:?} is keyed on {part}: give {part}=...")]
    Missing { limit: String, part: &'static str },
    #[error("limit {0:?} has scope = \"cluster\" but no [redis] is configured")]
    Cluster(String),
    #[error("limit {limit:?}: its bucket is in Redis, which did not answer: {reason}")]
    Redis { limit: String, reason: String },
}

/// A bucket's state, in the limit's units (requests, tokens, or millionths of a dollar for
/// `cost`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub key: u64,
    /// Whether the table holds the bucket; one it does not hold is full.
    pub held: bool,
    pub capacity: u64,
    pub remaining: u64,
    /// Milliseconds until the bucket is full again.
    pub reset_ms: u64,
    /// Milliseconds until one more unit would be admitted (0 when one would be now).
    pub retry_after_ms: u64,
}

pub fn part_name(p: KeyPart) -> &'static str {
    match p {
        KeyPart::Tenant => "tenant",
        KeyPart::App => "app",
        KeyPart::ApiKey => "api_key",
        KeyPart::Route => "route",
        KeyPart::Model => "model",
        KeyPart::ClientIp => "client_ip",
    }
}

/// The bucket hash of `parts` in `spec`; every part the limit keys on must be given.
pub fn key(spec: &LimitSpec, parts: &Parts) -> Result<u64, Error> {
    for &p in &spec.key {
        let given = match p {
            KeyPart::Tenant => parts.tenant.is_some(),
            KeyPart::App => parts.app.is_some(),
            KeyPart::ApiKey => parts.api_key.is_some(),
            KeyPart::Route => parts.route.is_some(),
            KeyPart::Model => parts.model.is_some(),
            KeyPart::ClientIp => parts.client_ip.is_some(),
        };
        if !given {
            return Err(Error::Missing {
                limit: spec.name.clone(),
                part: part_name(p),
            });
        }
    }
    let part = |p: &Option<String>| p.as_deref().map(Arc::from);
    let caller = Caller {
        route: Arc::from(parts.route.as_deref().unwrap_or("")),
        tenant: part(&parts.tenant),
        app: part(&parts.app),
        key_id: part(&parts.api_key),
        model: part(&parts.model),
        client_ip: parts.client_ip,
    };
    Ok(bucket(spec, &caller))
}

/// The key of a bucket in the host's table; a cluster limit's buckets are not there.
fn local_key(spec: &LimitSpec, parts: &Parts) -> Result<u64, Error> {
    if spec.scope == Scope::Cluster {
        return Err(Error::Cluster(spec.name.clone()));
    }
    key(spec, parts)
}

/// `inspect` for a cluster limit: the bucket as Redis holds it, read without changing it.
pub async fn inspect_redis(
    link: &RedisLink,
    spec: &LimitSpec,
    rate: Rate,
    parts: &Parts,
) -> Result<State, Error> {
    let key = key(spec, parts)?;
    let redis_error = |e: super::redis::RedisError| Error::Redis {
        limit: spec.name.clone(),
        reason: e.to_string(),
    };
    let r = link
        .run(&link.key(&spec.name, key), rate, 0, Mode::Peek)
        .await
        .map_err(redis_error)?;
    // One more unit fits once the debt plus its interval is within the capacity.
    let unit = rate.interval.saturating_mul(spec.scale.max(1));
    let retry = (r.reset_after + unit).saturating_sub(rate.capacity);
    let ms = |ns: u64| ns.div_ceil(1_000_000);
    Ok(State {
        key,
        held: r.reset_after > 0,
        capacity: rate.burst(),
        remaining: r.remaining,
        reset_ms: ms(r.reset_after),
        retry_after_ms: ms(retry),
    })
}

/// `reset` for a cluster limit: deletes the bucket in Redis.
pub async fn reset_redis(link: &RedisLink, spec: &LimitSpec, parts: &Parts) -> Result<u64, Error> {
    let key = key(spec, parts)?;
    link.delete(&link.key(&spec.name, key))
        .await
        .map_err(|e| Error::Redis {
            limit: spec.name.clone(),
            reason: e.to_string(),
        })?;
    Ok(key)
}

/// The state of `parts`' bucket in `spec` run at `rate`, at `now` (monotonic ns).
pub fn inspect(
    table: &LocalTable,
    spec: &LimitSpec,
    rate: Rate,
    parts: &Parts,
    now: u64,
) -> Result<State, Error> {
    let key = local_key(spec, parts)?;
    let tat = table.peek(key);
    let t = tat.unwrap_or(0);
    // A decision for nothing tells what the bucket holds; one for a unit, when it comes.
    let held = gcra::decide(rate, t, now, 0);
    let next = gcra::decide(rate, t, now, spec.scale.max(1));
    let ms = |ns: u64| ns.div_ceil(1_000_000);
    Ok(State {
        key,
        held: tat.is_some(),
        capacity: rate.burst(),
        remaining: held.remaining,
        reset_ms: ms(t.saturating_sub(now)),
        retry_after_ms: ms(next.retry_after),
    })
}

/// Empties `parts`' bucket in `spec`: its next request finds it full. Returns its key.
pub fn reset(table: &LocalTable, spec: &LimitSpec, parts: &Parts) -> Result<u64, Error> {
    let key = local_key(spec, parts)?;
    table.reset(key);
    Ok(key)
}

/// The `n` most refused buckets of the host.
pub fn top(table: &TopTable, n: usize) -> Vec<RefusedBucket> {
    table.top(n)
}
