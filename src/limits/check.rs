//! Applies a route's limits to one request: one bucket per limit and key, every limit
//! counted, the tightest answering. Refused requests give back what the limits checked
//! before them took, so a refusal costs no other bucket anything.

use super::cluster::{Cluster, Unavailable};
use super::gcra::Rate;
use super::local::{key_hash, LocalTable};
use crate::config::compile::LimitSpec;
use crate::config::schema::KeyPart;
use crate::telemetry::metrics::LimitMetrics;
use http::{HeaderName, HeaderValue};
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// What a request's buckets are keyed on.
pub struct Caller<'a> {
    pub route: &'a str,
    pub tenant: Option<&'a str>,
    pub app: Option<&'a str>,
    /// The public id of the API key.
    pub key_id: Option<&'a str>,
    pub model: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
}

/// A refusal: the limit, what kind of refusal, and whole seconds until a request would pass.
/// `unavailable` when the limit is kept in Redis, Redis could not answer and the limit fails
/// closed.
#[derive(Debug, Clone, PartialEq)]
pub struct Limited {
    pub limit: String,
    pub retry_after: u64,
    pub unavailable: bool,
    pub kind: Refusal,
}

/// What refused a request, which decides its status and error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A rate limit: 429 `rate_limit_exceeded`.
    Rate,
    /// A limit with `status = 402`, meant for cost budgets: 402 `budget_exhausted`.
    Budget,
    /// A concurrency cap: 429 `concurrency_limit_exceeded`.
    Concurrency,
}

impl Refusal {
    /// The refusal a limit answers with once its bucket is empty.
    pub fn of(spec: &LimitSpec) -> Refusal {
        if spec.status == 402 {
            Refusal::Budget
        } else {
            Refusal::Rate
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Refusal::Budget => 402,
            Refusal::Rate | Refusal::Concurrency => 429,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Refusal::Rate => "rate_limit_exceeded",
            Refusal::Budget => "budget_exhausted",
            Refusal::Concurrency => "concurrency_limit_exceeded",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Refusal::Rate => "rate limit",
            Refusal::Budget => "budget",
            Refusal::Concurrency => "concurrency limit",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Refusal::Rate => "exceeded",
            Refusal::Budget => "exhausted",
            Refusal::Concurrency => "reached: too many requests in flight",
        }
    }
}

impl std::fmt::Display for Limited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (limit, retry) = (&self.limit, self.retry_after);
        if self.unavailable {
            write!(
                f,
                "rate limit {limit} cannot be checked: Redis is unavailable; retry in {retry}s"
            )
        } else {
            let (noun, verb) = (self.kind.noun(), self.kind.verb());
            write!(f, "{noun} {limit} {verb}; retry in {retry}s")
        }
    }
}

impl std::error::Error for Limited {}

pub type Headers = Vec<(HeaderName, HeaderValue)>;

/// One bucket a request draws from: the limit, the rate it applies (the limit's own, or a
/// tenant's override) and the bucket's key hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Draw {
    pub limit: usize,
    pub rate: Rate,
    pub key: u64,
}

impl Draw {
    /// The bucket of `caller` in limit `limit`, at the limit's own rate.
    pub fn of(specs: &[LimitSpec], limit: usize, caller: &Caller) -> Draw {
        let spec = &specs[limit];
        Draw {
            limit,
            rate: spec.gcra,
            key: bucket(spec, caller),
        }
    }
}

/// The draws of `limits` (indexes into `specs`) for one caller.
pub fn draws(specs: &[LimitSpec], limits: &[usize], caller: &Caller) -> Vec<Draw> {
    limits.iter().map(|&i| Draw::of(specs, i, caller)).collect()
}

/// Where a draw was decided, so that what it took goes back to the same place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// The host's shared table (a local limit).
    Local,
    /// One run of the script in Redis.
    Redis,
    /// Spent from this worker's lease.
    Lease,
    /// The host's shared table, at the limit's local share, because Redis did not answer.
    Fallback,
    /// Allowed without counting, because Redis did not answer (`fail_open`).
    Open,
}

/// A draw that was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    pub draw: Draw,
    pub units: u64,
    pub by: By,
    /// The bucket right after: units left, and ns until full (for headers that cannot read a
    /// cluster bucket again without a round trip).
    pub remaining: u64,
    pub reset_after: u64,
}

/// The table, the Redis link, the limits and their counters a decision reads.
pub struct Scope<'a> {
    pub table: &'a LocalTable,
    pub cluster: Option<&'a Cluster>,
    pub specs: &'a [LimitSpec],
    pub metrics: &'a [Arc<LimitMetrics>],
}

impl Scope<'_> {
    /// Takes `units(spec)` from each draw's bucket, or nothing at all: when one refuses, the
    /// ones before it get theirs back. `taken` hears of each taking as it happens; after an
    /// `Err`, none of them stands. Without a cluster-scope draw nothing here awaits, so
    /// `now_or_never` can run it from synchronous code.
    pub async fn take(
        &self,
        draws: &[Draw],
        now: u64,
        headers: &mut Headers,
        units: impl Fn(&LimitSpec) -> u64,
        mut taken: impl FnMut(Taken),
    ) -> Result<(), Limited> {
        // (limit, rate, remaining, reset ns) of the tightest so far.
        let mut tightest: Option<(&LimitSpec, Rate, u64, u64)> = None;
        // Only a second draw can be refused after a first was taken.
        let mut done: Vec<Taken> = Vec::new();
        for draw in draws {
            let spec = &self.specs[draw.limit];
            let metrics = &self.metrics[draw.limit];
            let cost = units(spec);
            let decided = match (&spec.cluster, self.cluster) {
                (None, _) => Ok((self.table.decide(draw.key, draw.rate, now, cost), By::Local)),
                (Some(cs), Some(c)) => c.take(spec, cs, metrics, draw, cost, now).await,
                (Some(cs), None) => {
                    Cluster::without_redis(self.table, cs, metrics, draw, cost, now)
                }
            };
            let refused = match decided {
                Ok((d, by)) if d.allowed => {
                    let t = Taken {
                        draw: *draw,
                        units: cost,
                        by,
                        remaining: d.remaining,
                        reset_after: d.reset_after,
                    };
                    taken(t);
                    if draws.len() > 1 {
                        done.push(t);
                    }
                    let remaining = d.remaining / spec.scale.max(1);
                    if tightest.is_none_or(|(_, _, r, _)| remaining < r) {
                        tightest = Some((spec, draw.rate, remaining, d.reset_after));
                    }
                    continue;
                }
                Ok((d, _)) => {
                    let retry_after = secs(d.retry_after).max(1);
                    push(headers, spec, draw.rate, 0, d.reset_after);
                    headers.push((http::header::RETRY_AFTER, HeaderValue::from(retry_after)));
                    Limited {
                        limit: spec.name.clone(),
                        retry_after,
                        unavailable: false,
                        kind: Refusal::of(spec),
                    }
                }
                Err(Unavailable) => {
                    headers.push((http::header::RETRY_AFTER, HeaderValue::from(1)));
                    Limited {
                        limit: spec.name.clone(),
                        retry_after: 1,
                        unavailable: true,
                        kind: Refusal::Rate,
                    }
                }
            };
            metrics.limited.fetch_add(1, Relaxed);
            for t in &done {
                self.give_back(t, t.units, now);
            }
            return Err(refused);
        }
        for draw in draws {
            self.metrics[draw.limit].allowed.fetch_add(1, Relaxed);
        }
        if let Some((spec, rate, remaining, reset)) = tightest {
            push(headers, spec, rate, remaining, reset);
        }
        Ok(())
    }

    /// Returns `units` of what `t` took.
    pub fn give_back(&self, t: &Taken, units: u64, now: u64) {
        let spec = &self.specs[t.draw.limit];
        match (t.by, self.cluster, &spec.cluster) {
            (By::Local, ..) => self.table.refund(t.draw.key, t.draw.rate, now, units),
            (_, Some(c), Some(cs)) => c.give_back(spec, cs, t, units, now),
            _ => {}
        }
    }

    /// Takes `units` more for what `t` took, whatever its bucket holds.
    pub fn charge(&self, t: &Taken, units: u64, now: u64) {
        let spec = &self.specs[t.draw.limit];
        match (t.by, self.cluster, &spec.cluster) {
            (By::Local, ..) => self.table.charge(t.draw.key, t.draw.rate, now, units),
            (_, Some(c), Some(cs)) => c.charge(spec, cs, t, units, now),
            _ => {}
        }
    }
}

/// Polls `fut` once: its output when it finished without waiting, `None` otherwise.
pub fn now_or_never<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

pub(super) fn bucket(spec: &LimitSpec, c: &Caller) -> u64 {
    let ip = c.client_ip.map(|a| match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    });
    let mut parts: [&[u8]; 7] = [spec.name.as_bytes(), &[], &[], &[], &[], &[], &[]];
    for (slot, part) in parts[1..].iter_mut().zip(&spec.key) {
        *slot = match part {
            KeyPart::Route => c.route.as_bytes(),
            KeyPart::Tenant => c.tenant.unwrap_or("").as_bytes(),
            KeyPart::App => c.app.unwrap_or("").as_bytes(),
            KeyPart::ApiKey => c.key_id.unwrap_or("").as_bytes(),
            KeyPart::Model => c.model.unwrap_or("").as_bytes(),
            KeyPart::ClientIp => ip.as_ref().map_or(&[][..], |o| o.as_slice()),
        };
    }
    key_hash(&parts[..=spec.key.len()])
}

fn secs(ns: u64) -> u64 {
    ns.div_ceil(1_000_000_000)
}

/// `RateLimit-Policy` and `X-RateLimit-Limit` of a draw: the limit's own, made once, or, for
/// a tenant's or app's override (`rate` is not the limit's), made from the override's burst.
fn policy(spec: &LimitSpec, rate: Rate) -> (HeaderValue, HeaderValue) {
    if rate == spec.gcra {
        return (spec.policy_header.clone(), spec.limit_header.clone());
    }
    let burst = rate.burst() as f64 / spec.scale.max(1) as f64;
    let text = format!(
        "\"{}\";q={burst};w={}",
        spec.name,
        spec.period.as_secs().max(1)
    );
    let empty = || HeaderValue::from_static("");
    (
        HeaderValue::from_str(&text).unwrap_or_else(|_| empty()),
        HeaderValue::from_str(&burst.to_string()).unwrap_or_else(|_| empty()),
    )
}

/// `RateLimit-Policy` and `RateLimit` (IETF httpapi draft), and the `X-RateLimit-*` trio.
fn push(headers: &mut Headers, spec: &LimitSpec, rate: Rate, remaining: u64, reset_ns: u64) {
    let reset = secs(reset_ns);
    let (policy_header, limit_header) = policy(spec, rate);
    let state = format!("\"{}\";r={remaining};t={reset}", spec.name);
    headers.reserve(5);
    headers.push((HeaderName::from_static("ratelimit-policy"), policy_header));
    if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(state)) {
        headers.push((HeaderName::from_static("ratelimit"), v));
    }
    headers.push((HeaderName::from_static("x-ratelimit-limit"), limit_header));
    headers.push((
        HeaderName::from_static("x-ratelimit-remaining"),
        HeaderValue::from(remaining),
    ));
    headers.push((
        HeaderName::from_static("x-ratelimit-reset"),
        HeaderValue::from(reset),
    ));
}
