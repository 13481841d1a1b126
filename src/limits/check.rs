//! Applies a route's limits to one request: one bucket per limit and key, every limit
//! counted, the tightest answering. Refused requests give back what the limits checked
//! before them took, so a refusal costs no other bucket anything.

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
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} {limit} {}; retry in {retry_after}s", kind.noun(), kind.verb())]
pub struct Limited {
    pub limit: String,
    pub retry_after: u64,
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

pub type Headers = Vec<(HeaderName, HeaderValue)>;

/// Checks `limits` (indexes into `specs`) for one request at `now` (monotonic ns), one unit
/// each. Either way, the rate-limit headers of the tightest limit are appended to `headers`.
pub fn check(
    table: &LocalTable,
    specs: &[LimitSpec],
    metrics: &[Arc<LimitMetrics>],
    limits: &[usize],
    caller: &Caller,
    now: u64,
    headers: &mut Headers,
) -> Result<(), Limited> {
    let scope = Scope {
        table,
        specs,
        metrics,
    };
    scope.take(limits, caller, now, headers, |_| 1, |_, _, _| {})
}

/// The table, the limits and their counters a decision reads.
pub struct Scope<'a> {
    pub table: &'a LocalTable,
    pub specs: &'a [LimitSpec],
    pub metrics: &'a [Arc<LimitMetrics>],
}

impl Scope<'_> {
    /// Takes `units(spec)` from each limit's bucket, or nothing at all: when one refuses, the
    /// ones before it get theirs back. `taken(limit, bucket, units)` hears of each taking as
    /// it happens; after an `Err`, none of them stands.
    pub fn take(
        &self,
        limits: &[usize],
        caller: &Caller,
        now: u64,
        headers: &mut Headers,
        units: impl Fn(&LimitSpec) -> u64,
        mut taken: impl FnMut(usize, u64, u64),
    ) -> Result<(), Limited> {
        // (limit, remaining, reset ns) of the tightest so far.
        let mut tightest: Option<(&LimitSpec, u64, u64)> = None;
        for (n, &i) in limits.iter().enumerate() {
            let spec = &self.specs[i];
            let (key, cost) = (bucket(spec, caller), units(spec));
            let d = self.table.decide(key, spec.gcra, now, cost);
            if !d.allowed {
                self.metrics[i].limited.fetch_add(1, Relaxed);
                for &j in &limits[..n] {
                    let s = &self.specs[j];
                    self.table.refund(bucket(s, caller), s.gcra, now, units(s));
                }
                let retry_after = secs(d.retry_after).max(1);
                push(headers, spec, 0, d.reset_after);
                headers.push((http::header::RETRY_AFTER, HeaderValue::from(retry_after)));
                return Err(Limited {
                    limit: spec.name.clone(),
                    retry_after,
                    kind: Refusal::of(spec),
                });
            }
            taken(i, key, cost);
            let remaining = d.remaining / spec.scale.max(1);
            if tightest.is_none_or(|(_, r, _)| remaining < r) {
                tightest = Some((spec, remaining, d.reset_after));
            }
        }
        for &i in limits {
            self.metrics[i].allowed.fetch_add(1, Relaxed);
        }
        if let Some((spec, remaining, reset)) = tightest {
            push(headers, spec, remaining, reset);
        }
        Ok(())
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

/// `RateLimit-Policy` and `RateLimit` (IETF httpapi draft), and the `X-RateLimit-*` trio.
fn push(headers: &mut Headers, spec: &LimitSpec, remaining: u64, reset_ns: u64) {
    let reset = secs(reset_ns);
    let state = format!("\"{}\";r={remaining};t={reset}", spec.name);
    headers.reserve(5);
    headers.push((
        HeaderName::from_static("ratelimit-policy"),
        spec.policy_header.clone(),
    ));
    if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(state)) {
        headers.push((HeaderName::from_static("ratelimit"), v));
    }
    headers.push((
        HeaderName::from_static("x-ratelimit-limit"),
        spec.limit_header.clone(),
    ));
    headers.push((
        HeaderName::from_static("x-ratelimit-remaining"),
        HeaderValue::from(remaining),
    ));
    headers.push((
        HeaderName::from_static("x-ratelimit-reset"),
        HeaderValue::from(reset),
    ));
}
