//! Compiles `[[limits]]` and the routes' references to them.

use super::Checker;
use super::Secret;
use crate::base::gcra::Rate;
use crate::config::problem::{did_you_mean, key, Issue, Seg};
use crate::config::schema::{
    Counts, KeyPart, LimitSection, OnRedisError, PlanSection, RedisSection, Scope, SyncMode,
};
use http::HeaderValue;
use std::collections::HashSet;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct LimitSpec {
    pub name: String,
    pub counts: Counts,
    /// Units per `period`, as written (the headers show them).
    pub rate: f64,
    pub period: Duration,
    pub burst: f64,
    /// Bucket units per unit written: 1, or 1,000,000 for `cost` (micro-dollars).
    pub scale: u64,
    pub gcra: Rate,
    /// In-flight requests at once, for `Counts::Concurrency` (0 otherwise).
    pub max: u64,
    /// The status of a refusal: 429, or 402 for a spent budget.
    pub status: u16,
    pub key: Vec<KeyPart>,
    pub scope: Scope,
    /// How a cluster-scope limit talks to Redis; `None` for a local limit.
    pub cluster: Option<ClusterSpec>,
    /// `RateLimit-Policy` and `X-RateLimit-Limit`, made once rather than per response.
    pub policy_header: HeaderValue,
    pub limit_header: HeaderValue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    pub sync: SyncMode,
    /// Bucket units a worker leases at a time (`sync = "lease"`).
    pub lease: u64,
    pub on_error: OnRedisError,
    /// The host's share of the limit, decided locally while Redis is unreachable.
    pub fallback: Rate,
}

pub(super) fn compile_limits(
    limits: &[LimitSection],
    redis: bool,
    ck: &mut Checker,
) -> Vec<LimitSpec> {
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, l) in limits.iter().enumerate() {
        let base = [key("limits"), Seg::Index(i)];
        if l.name.is_empty() {
            ck.at(&base, &["name"], "a limit needs a name");
        } else if !names.insert(l.name.as_str()) {
            ck.at(
                &base,
                &["name"],
                format!("duplicate limit name {:?}", l.name),
            );
        }
        let status = l.status.unwrap_or(429);
        if status != 429 && status != 402 {
            ck.at(
                &base,
                &["status"],
                format!("status {status} is not allowed: a refusal answers 429 (the default) or 402 (a spent budget)"),
            );
        }
        check_key(l, &base, ck);
        let shape = match l.counts {
            Counts::Concurrency => (concurrency_shape(l, &base, ck), None),
            _ => rate_shape(l, redis, &base, ck),
        };
        let (shape, cluster) = shape;
        let Shape {
            rate,
            period,
            burst,
            scale,
            gcra,
        } = shape;
        out.push(LimitSpec {
            name: l.name.clone(),
            counts: l.counts,
            rate,
            period,
            burst,
            scale,
            gcra,
            max: l.max.unwrap_or(0),
            status,
            key: l.key.clone(),
            scope: l.scope,
            cluster,
            policy_header: HeaderValue::from_str(&format!(
                "\"{}\";q={burst};w={}",
                l.name,
                period.as_secs().max(1)
            ))
            .unwrap_or_else(|_| HeaderValue::from_static("")),
            limit_header: HeaderValue::from_str(&burst.to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("")),
        });
    }
    out
}

/// A limit's rate in the forms the decisions and the headers use.
struct Shape {
    rate: f64,
    period: Duration,
    burst: f64,
    scale: u64,
    gcra: Rate,
}

/// Kept for a limit in error (the file is refused anyway) so routes can still name it.
const NO_RATE: Rate = Rate {
    interval: 1,
    capacity: 1,
};

/// A rate limit's shape, and its Redis settings when it is a cluster limit.
fn rate_shape(
    l: &LimitSection,
    redis: bool,
    base: &[Seg],
    ck: &mut Checker,
) -> (Shape, Option<ClusterSpec>) {
    if l.max.is_some() {
        ck.at(
            base,
            &["max"],
            "max is for counts = \"concurrency\"; a rate limit takes rate, period and burst",
        );
    }
    let Some(rate) = l.rate else {
        ck.at(
            base,
            &["rate"],
            "a rate limit needs a rate (units per period)",
        );
        return (Shape::broken(), None);
    };
    let Some(period) = l.period.as_ref().map(|p| p.0) else {
        ck.at(
            base,
            &["period"],
            "a rate limit needs a period, such as \"1m\"",
        );
        return (Shape::broken(), None);
    };
    // Costs are counted in millionths of a dollar, so budgets like $0.50 stay whole.
    let scale = match l.counts {
        Counts::Cost => 1_000_000.0,
        _ => 1.0,
    };
    let whole = |v: f64| v >= 0.0 && v.fract() == 0.0;
    if l.counts != Counts::Cost && !(whole(rate) && l.burst.is_none_or(whole)) {
        ck.at(
            base,
            &["rate"],
            "rate and burst count whole requests or tokens",
        );
    }
    if l.scope == Scope::Cluster && !redis {
        ck.at(
            base,
            &["scope"],
            "scope = \"cluster\" needs a [redis] section with the server's url",
        );
    }
    let burst = l.burst.unwrap_or(rate);
    let (units, burst_units) = ((rate * scale) as u64, (burst * scale) as u64);
    if period < Duration::from_millis(1) {
        ck.at(base, &["period"], "the period must be at least 1ms");
    }
    let gcra = Rate::new(units, period, burst_units).unwrap_or_else(|| {
        ck.at(base, &[], "rate and burst must be at least 1");
        NO_RATE
    });
    let cluster = cluster_spec(l, period, scale, units, burst_units, base, ck);
    let shape = Shape {
        rate,
        period,
        burst,
        scale: scale as u64,
        gcra,
    };
    (shape, cluster)
}

/// A concurrency cap has a `max` and nothing of a rate; it is counted per host.
fn concurrency_shape(l: &LimitSection, base: &[Seg], ck: &mut Checker) -> Shape {
    for (field, set) in [
        ("rate", l.rate.is_some()),
        ("period", l.period.is_some()),
        ("burst", l.burst.is_some()),
        ("sync", l.sync != SyncMode::PerRequest),
        ("lease", l.lease.is_some()),
        (
            "on_redis_error",
            l.on_redis_error != OnRedisError::default(),
        ),
        ("local_share", l.local_share.is_some()),
    ] {
        if set {
            ck.at(
                base,
                &[field],
                format!("a concurrency limit counts requests in flight, not a rate: it takes max, not {field}"),
            );
        }
    }
    let max = l.max.unwrap_or(0);
    if max == 0 {
        ck.at(
            base,
            &["max"],
            "a concurrency limit needs max, the requests in flight at once (at least 1)",
        );
    }
    if l.scope == Scope::Cluster {
        ck.at(
            base,
            &["scope"],
            "a concurrency limit is counted per host, in the table its workers share: scope = \"cluster\" is not supported; use \"local\"",
        );
    }
    if l.status == Some(402) {
        ck.at(
            base,
            &["status"],
            "402 is for spent budgets; a concurrency limit answers 429",
        );
    }
    Shape {
        rate: 0.0,
        period: Duration::ZERO,
        burst: max as f64,
        scale: 1,
        gcra: NO_RATE,
    }
}

impl Shape {
    fn broken() -> Shape {
        Shape {
            rate: 0.0,
            period: Duration::from_secs(1),
            burst: 0.0,
            scale: 1,
            gcra: NO_RATE,
        }
    }
}

fn check_key(l: &LimitSection, base: &[Seg], ck: &mut Checker) {
    let mut seen = HashSet::new();
    for (j, part) in l.key.iter().enumerate() {
        if !seen.insert(*part) {
            let mut at = base.to_vec();
            at.extend([key("key"), Seg::Index(j)]);
            ck.issues.push(Issue::new(
                at,
                format!("{part:?} is listed twice in the key"),
            ));
        }
    }
}

/// The Redis settings of a cluster limit; the lease and fallback keys on a local limit are
/// mistakes, since they would silently do nothing.
fn cluster_spec(
    l: &LimitSection,
    period: Duration,
    scale: f64,
    units: u64,
    burst_units: u64,
    base: &[Seg],
    ck: &mut Checker,
) -> Option<ClusterSpec> {
    let local = l.scope == Scope::Local;
    if local && (l.sync != SyncMode::PerRequest || l.lease.is_some()) {
        ck.at(
            base,
            &["sync"],
            "leasing applies to scope = \"cluster\" limits only",
        );
    }
    if l.lease.is_some() && l.sync != SyncMode::Lease {
        ck.at(base, &["lease"], "lease needs sync = \"lease\"");
    }
    if local && l.on_redis_error != OnRedisError::default() {
        ck.at(
            base,
            &["on_redis_error"],
            "on_redis_error applies to scope = \"cluster\" limits only",
        );
    }
    if l.local_share.is_some() && (local || l.on_redis_error != OnRedisError::Local) {
        ck.at(
            base,
            &["local_share"],
            "local_share applies with scope = \"cluster\" and on_redis_error = \"local\"",
        );
    }
    let share = l.local_share.unwrap_or(1.0);
    if !(share > 0.0 && share <= 1.0) {
        ck.at(
            base,
            &["local_share"],
            "local_share is a share of the limit, in (0, 1]",
        );
    }
    // A tenth of the burst by default: few round trips, little held back from other workers.
    let lease = l
        .lease
        .map_or((burst_units / 10).max(1), |v| (v * scale) as u64);
    if lease == 0 || lease > burst_units {
        ck.at(
            base,
            &["lease"],
            format!(
                "lease must be at least 1 and at most the burst ({})",
                burst_units as f64 / scale
            ),
        );
    }
    if local {
        return None;
    }
    let part = |v: u64| ((v as f64 * share) as u64).max(1);
    let period = period.max(Duration::from_millis(1));
    Some(ClusterSpec {
        sync: l.sync,
        lease,
        on_error: l.on_redis_error,
        fallback: Rate::new(part(units), period, part(burst_units)).unwrap_or(Rate {
            interval: 1,
            capacity: 1,
        }),
    })
}

/// A route's limits by what they count, as indexes into the compiled limits.
#[derive(Debug, Default)]
pub struct RouteLimits {
    /// Request limits, decided when the route is matched.
    pub requests: Vec<usize>,
    /// Token and cost limits, which only LLM routes have.
    pub usage: Vec<usize>,
    /// Concurrency caps, held for as long as the request lasts.
    pub concurrency: Vec<usize>,
}

/// A route's `limits` names as indexes into the compiled limits, sorted by what they count.
pub(super) fn resolve(
    names: &[String],
    limits: &[LimitSpec],
    llm_route: bool,
    base: &[Seg],
    ck: &mut Checker,
) -> RouteLimits {
    let known: Vec<&str> = limits.iter().map(|l| l.name.as_str()).collect();
    let mut out = RouteLimits::default();
    for (i, n) in names.iter().enumerate() {
        match known.iter().position(|k| k == n) {
            Some(j) if limits[j].counts == Counts::Requests => out.requests.push(j),
            Some(j) if limits[j].counts == Counts::Concurrency => out.concurrency.push(j),
            Some(j) if llm_route => out.usage.push(j),
            Some(_) => {
                let mut at = base.to_vec();
                at.extend([key("limits"), Seg::Index(i)]);
                let msg = format!("limit {n:?} counts LLM usage; only an LLM route has any");
                ck.issues.push(Issue::new(at, msg));
            }
            None => {
                let mut at = base.to_vec();
                at.extend([key("limits"), Seg::Index(i)]);
                let msg = format!(
                    "no limit named {n:?}{}",
                    did_you_mean(n, known.iter().copied())
                );
                ck.issues.push(Issue::new(at, msg));
            }
        }
    }
    out
}

/// A model's `limits`: every kind but a concurrency cap (caps are held by routes' requests).
pub(super) fn resolve_model(
    names: &[String],
    limits: &[LimitSpec],
    base: &[Seg],
    ck: &mut Checker,
) -> Vec<usize> {
    let r = resolve(names, limits, true, base, ck);
    for &j in &r.concurrency {
        let msg = format!(
            "limit {:?} is a concurrency cap; caps go on routes, not models",
            limits[j].name
        );
        ck.at(base, &["limits"], msg);
    }
    r.requests.into_iter().chain(r.usage).collect()
}

/// `[redis]`, checked: the URL parses, the CA file reads, the timeouts are usable.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisSettings {
    pub url: Secret,
    pub password: Option<Secret>,
    /// The CA file's PEM, read when the configuration is loaded.
    pub ca_pem: Option<Vec<u8>>,
    pub tls: bool,
    /// `url` is a seed node of a Redis Cluster.
    pub cluster: bool,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
    pub key_prefix: String,
}

// Reads the CA file while the configuration compiles (start-up, or a reload in
// `spawn_blocking`), never per request.
#[allow(clippy::disallowed_methods)]
pub(super) fn compile_redis(r: &RedisSection, ck: &mut Checker) -> RedisSettings {
    let base = [key("redis")];
    let tls = r.url.starts_with("rediss://");
    if let Err(e) = redis::IntoConnectionInfo::into_connection_info(r.url.as_str()) {
        // The parser's message never echoes the password.
        ck.at(
            &base,
            &["url"],
            format!("not a Redis URL (redis://host:port or rediss://host:port): {e}"),
        );
    }
    let ca_pem = r.ca_file.as_ref().and_then(|f| match std::fs::read(f) {
        Ok(pem) => Some(pem),
        Err(e) => {
            ck.at(&base, &["ca_file"], format!("cannot read {f}: {e}"));
            None
        }
    });
    if ca_pem.is_some() && !tls {
        ck.at(&base, &["ca_file"], "ca_file needs a rediss:// url");
    }
    if r.timeout.0 < Duration::from_millis(1) || r.timeout.0 > Duration::from_secs(5) {
        ck.at(
            &base,
            &["timeout"],
            "must be between 1ms and 5s: every request waits up to this long when Redis is down",
        );
    }
    if r.breaker_failures == 0 {
        ck.at(&base, &["breaker_failures"], "must be at least 1");
    }
    if r.key_prefix.contains(['{', '}']) {
        ck.at(
            &base,
            &["key_prefix"],
            "braces are reserved for the hash tag Tollgate adds",
        );
    }
    RedisSettings {
        url: Secret::new(r.url.clone()),
        password: r.password.clone().map(Secret::new),
        ca_pem,
        tls,
        cluster: r.cluster,
        timeout: r.timeout.0,
        connect_timeout: r.connect_timeout.0,
        breaker_failures: r.breaker_failures,
        breaker_cooldown: r.breaker_cooldown.0,
        key_prefix: r.key_prefix.clone(),
    }
}

/// A plan: the limits (by name) that apply to every key of a tenant on it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSpec {
    pub name: String,
    pub limits: Vec<String>,
}

/// Compiles `[[plans]]`: unique names, and limits that exist (named with a did-you-mean).
pub(super) fn compile_plans(
    plans: &[PlanSection],
    limits: &[LimitSpec],
    ck: &mut Checker,
) -> Vec<PlanSpec> {
    let known: Vec<&str> = limits.iter().map(|l| l.name.as_str()).collect();
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        let base = [key("plans"), Seg::Index(i)];
        if !crate::config::compile::api::valid_name(&p.name) {
            ck.at(
                &base,
                &["name"],
                format!(
                    "{:?}: a plan name is 1 to 64 of a-z, 0-9, '-' and '_'",
                    p.name
                ),
            );
        } else if !names.insert(p.name.as_str()) {
            ck.at(
                &base,
                &["name"],
                format!("duplicate plan name {:?}", p.name),
            );
        }
        let mut seen = HashSet::new();
        for (j, n) in p.limits.iter().enumerate() {
            let mut at = base.to_vec();
            at.extend([key("limits"), Seg::Index(j)]);
            if !known.contains(&n.as_str()) {
                let msg = format!(
                    "no limit named {n:?}{}",
                    did_you_mean(n, known.iter().copied())
                );
                ck.issues.push(Issue::new(at, msg));
            } else if !seen.insert(n.as_str()) {
                ck.issues
                    .push(Issue::new(at, format!("limit {n:?} is listed twice")));
            } else if limits
                .iter()
                .any(|l| l.name == *n && l.counts == Counts::Concurrency)
            {
                let msg = format!("limit {n:?} is a concurrency cap; caps apply on routes only");
                ck.issues.push(Issue::new(at, msg));
            }
        }
        out.push(PlanSpec {
            name: p.name.clone(),
            limits: p.limits.clone(),
        });
    }
    out
}

/// A tenant's `plan`, which must name a `[[plans]]` entry.
pub(super) fn check_plan(plan: &str, plans: &[PlanSpec], at: Vec<Seg>, ck: &mut Checker) {
    if !plans.iter().any(|p| p.name == plan) {
        let msg = format!(
            "no plan named {plan:?}{}",
            did_you_mean(plan, plans.iter().map(|p| p.name.as_str()))
        );
        ck.issues.push(Issue::new(at, msg));
    }
}
