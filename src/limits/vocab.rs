//! The words every part of `limits/` speaks, below the engine that uses them: who a request is
//! for the limits (`Caller`), the buckets it draws from (`Draw`, `bucket`), what was taken
//! (`Taken`, `By`), a refusal (`Limited`, `Refusal`) and the text naming a bucket (`label`).
//! The engine (`check`), the caps (`concurrency`), the most-refused table (`top`), the admin
//! reads (`inspect`) and the gate all import these from here, and none of them from each other.

use super::local::key_hash;
use crate::base::gcra::Rate;
use crate::config::KeyPart;
use crate::config::LimitSpec;
use http::{HeaderName, HeaderValue};
use std::fmt::Write;
use std::net::IpAddr;
use std::sync::Arc;

/// What a request's buckets are keyed on. Made once per request, and only when its route or
/// key has limits; every part is an `Arc` clone (no allocation), so it is kept on the request
/// context and lives across awaits. `model` is filled in by the LLM phase once the body names
/// it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub route: Arc<str>,
    pub tenant: Option<Arc<str>>,
    pub app: Option<Arc<str>>,
    /// The public id of the API key.
    pub key_id: Option<Arc<str>>,
    pub model: Option<Arc<str>>,
    pub client_ip: Option<IpAddr>,
}

/// Response headers the limits add: rate-limit headers, `Retry-After`.
pub type Headers = Vec<(HeaderName, HeaderValue)>;

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

/// The key hash of `c`'s bucket in `spec`: the limit's name and the parts it is keyed on.
pub fn bucket(spec: &LimitSpec, c: &Caller) -> u64 {
    let ip = c.client_ip.map(|a| match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    });
    let mut parts: [&[u8]; 7] = [spec.name.as_bytes(), &[], &[], &[], &[], &[], &[]];
    for (slot, part) in parts[1..].iter_mut().zip(&spec.key) {
        *slot = match part {
            KeyPart::Route => c.route.as_bytes(),
            KeyPart::Tenant => text(&c.tenant).as_bytes(),
            KeyPart::App => text(&c.app).as_bytes(),
            KeyPart::ApiKey => text(&c.key_id).as_bytes(),
            KeyPart::Model => text(&c.model).as_bytes(),
            KeyPart::ClientIp => ip.as_ref().map_or(&[][..], |o| o.as_slice()),
        };
    }
    key_hash(&parts[..=spec.key.len()])
}

/// The text naming a bucket (the most-refused table shows it): the limit's name and the key
/// parts it is keyed on, e.g. `per-ip client_ip=10.0.0.1`. Made only when a refused bucket
/// takes a top entry.
pub fn label(spec: &LimitSpec, caller: &Caller) -> String {
    let mut out = spec.name.clone();
    for &p in &spec.key {
        let _ = match p {
            KeyPart::Tenant => write!(out, " tenant={}", text(&caller.tenant)),
            KeyPart::App => write!(out, " app={}", text(&caller.app)),
            KeyPart::ApiKey => write!(out, " api_key={}", text(&caller.key_id)),
            KeyPart::Route => write!(out, " route={}", caller.route),
            KeyPart::Model => write!(out, " model={}", text(&caller.model)),
            KeyPart::ClientIp => match caller.client_ip {
                Some(ip) => write!(out, " client_ip={ip}"),
                None => write!(out, " client_ip="),
            },
        };
    }
    out
}

/// A key part's text; empty when the request has none.
fn text(part: &Option<Arc<str>>) -> &str {
    part.as_deref().unwrap_or("")
}
