//! The engine: takes a request's draws from their buckets (the host's table or Redis), one
//! bucket per limit and key, every limit counted, the tightest answering with the rate-limit
//! headers. Refused requests give back what the limits checked before them took, so a
//! refusal costs no other bucket anything. The gate (`gate`) and the LLM budget (`budget`)
//! decide through it.

use super::cluster::{Cluster, Unavailable};
use super::draws::Index;
use super::local::LocalTable;
use super::vocab::{By, Draw, Headers, Limited, Refusal, Taken};
use crate::base::gcra::Rate;
use crate::config::LimitSpec;
use crate::telemetry::metrics::LimitMetrics;
use http::{HeaderName, HeaderValue};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// The limits of the configuration a request runs under, all from its snapshot: their specs,
/// their counters (one per spec, in order) and their index by name (for the limits keys carry).
#[derive(Clone, Copy)]
pub struct Book<'a> {
    pub specs: &'a [LimitSpec],
    pub metrics: &'a [Arc<LimitMetrics>],
    pub index: &'a Index,
}

/// The buckets a decision reads and writes: the host's table, the Redis link (`None` when no
/// draw is kept in Redis, or no link could start) and the limits of the request's `Book`.
pub struct Buckets<'a> {
    table: &'a LocalTable,
    cluster: Option<&'a Cluster>,
    specs: &'a [LimitSpec],
    metrics: &'a [Arc<LimitMetrics>],
}

impl<'a> Buckets<'a> {
    pub fn new(table: &'a LocalTable, cluster: Option<&'a Cluster>, book: &Book<'a>) -> Self {
        Buckets {
            table,
            cluster,
            specs: book.specs,
            metrics: book.metrics,
        }
    }

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

fn secs(ns: u64) -> u64 {
    ns.div_ceil(1_000_000_000)
}

/// `RateLimit-Policy` and `X-RateLimit-Limit` of a draw: the limit's own, made once, or, for
/// a tenant's or app's override (`rate` is not the limit's), made from the override's burst.
fn policy_headers(spec: &LimitSpec, rate: Rate) -> (HeaderValue, HeaderValue) {
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
    let (policy_header, limit_header) = policy_headers(spec, rate);
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
