//! Cluster-scope decisions. With `sync = "per_request"` every decision is one run of the
//! script in Redis: exact across every gateway sharing it. With `sync = "lease"` a worker
//! takes `lease` units at a time and spends them locally; when a lease falls below half, a
//! background refill tops it up to `lease`, and a lease idle for a second is given back.
//!
//! Accuracy of leasing: a worker never holds more than `lease` units of a bucket, and every
//! unit it spends was first taken in Redis, so in any window `t` a bucket admits at most
//! `burst + rate * t / period + W * lease`, W being the number of worker processes (over all
//! gateways) that used the bucket. Units held by an idle worker are missing from the others
//! until it gives them back (within about a second), so the bucket may refuse early by at most
//! `W * lease` units meanwhile.
//!
//! When Redis cannot answer (error, timeout, breaker open), the limit's `on_redis_error`
//! decides: allow, refuse, or decide in the host's shared table at `local_share` of the limit.

use super::local::LocalTable;
use super::redis::{Mode, RedisError, RedisLink, ScriptReply};
use super::vocab::{By, Draw, Taken};
use crate::base::gcra::Decision;
use crate::config::{ClusterSpec, LimitSpec, RedisSettings};
use crate::config::{OnRedisError, SyncMode};
use crate::telemetry::metrics::LimitMetrics;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

/// Starts the link to `[redis]` at worker start, and gives it the connect timeout to connect
/// before the worker serves.
pub fn start(redis: Option<&RedisSettings>, local: LocalTable) -> Option<Arc<Cluster>> {
    let cluster = connect(redis, local)?;
    if !cluster.link.wait_connected() {
        tracing::warn!(
            "redis: not connected yet; cluster limits follow on_redis_error until it is"
        );
    }
    Some(cluster)
}

/// Starts the link to `[redis]`, when it is set. A link that cannot start (no thread) is
/// logged, and cluster limits then follow their failure policy.
pub fn connect(redis: Option<&RedisSettings>, local: LocalTable) -> Option<Arc<Cluster>> {
    let link = match RedisLink::start(redis?.clone()) {
        Ok(link) => link,
        Err(e) => {
            tracing::error!("redis: cannot start the link: {e}");
            return None;
        }
    };
    Some(Cluster::new(link, local))
}

/// A cluster limit failing closed while Redis cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

pub type Verdict = Result<(Decision, By), Unavailable>;

/// A lease idle this long is given back.
const IDLE: u64 = 1_000_000_000;
/// Leases one worker keeps at most; past it, new buckets are decided per request.
const MAX_LEASES: usize = 65_536;

pub struct Cluster {
    pub link: Arc<RedisLink>,
    local: LocalTable,
    leases: Arc<Leases>,
    /// Set while Redis is failing, so the warning is logged once per outage.
    degraded: AtomicBool,
}

impl Cluster {
    pub fn new(link: Arc<RedisLink>, local: LocalTable) -> Arc<Cluster> {
        let leases = Arc::new(Leases::default());
        link.spawn(sweep(Arc::downgrade(&leases), Arc::downgrade(&link)));
        Arc::new(Cluster {
            link,
            local,
            leases,
            degraded: AtomicBool::new(false),
        })
    }

    pub async fn take(
        &self,
        spec: &LimitSpec,
        cs: &ClusterSpec,
        m: &Arc<LimitMetrics>,
        draw: &Draw,
        units: u64,
        now: u64,
    ) -> Verdict {
        if cs.sync == SyncMode::Lease {
            return self.lease_take(spec, cs, m, draw, units, now).await;
        }
        let key = self.link.key(&spec.name, draw.key);
        match self.link.run(&key, draw.rate, units, Mode::Take).await {
            Ok(r) => {
                self.recovered();
                Ok((decision(&r, r.granted > 0), By::Redis))
            }
            Err(e) => self.fallback(spec, cs, m, draw, units, now, e),
        }
    }

    async fn lease_take(
        &self,
        spec: &LimitSpec,
        cs: &ClusterSpec,
        m: &Arc<LimitMetrics>,
        draw: &Draw,
        units: u64,
        now: u64,
    ) -> Verdict {
        let Some(lease) = self.leases.get(&self.link, spec, draw, now) else {
            let per_request = ClusterSpec {
                sync: SyncMode::PerRequest,
                ..cs.clone()
            };
            return Box::pin(self.take(spec, &per_request, m, draw, units, now)).await;
        };
        lease.used_at.store(now, Relaxed);
        if let Some(left) = lease.spend(units) {
            if left < (cs.lease / 2) as i64 && !lease.refilling.swap(true, Relaxed) {
                self.refill(&lease, cs.lease, m);
            }
            let d = Decision {
                allowed: true,
                tat: 0,
                remaining: lease.remaining.load(Relaxed) + left.max(0) as u64,
                retry_after: 0,
                reset_after: lease.reset_after.load(Relaxed),
            };
            return Ok((d, By::Lease));
        }
        // Not enough held: this request's units, and a lease's worth besides.
        let held = lease.held.load(Relaxed).max(0) as u64;
        let want = (units + cs.lease).saturating_sub(held).max(units);
        let asked = Mode::Lease { need: units };
        match self.link.run(&lease.key, draw.rate, want, asked).await {
            Ok(r) if r.granted >= units => {
                self.recovered();
                m.lease_refills.fetch_add(1, Relaxed);
                lease.hold(&r, (r.granted - units) as i64);
                Ok((decision(&r, true), By::Lease))
            }
            Ok(r) => {
                self.recovered();
                lease.note(&r);
                Ok((decision(&r, false), By::Redis))
            }
            Err(e) => self.fallback(spec, cs, m, draw, units, now, e),
        }
    }

    /// Tops `lease` up to `size` units in the background.
    fn refill(&self, lease: &Arc<Lease>, size: u64, m: &Arc<LimitMetrics>) {
        let (link, lease) = (Arc::clone(&self.link), Arc::clone(lease));
        let metrics = Arc::clone(m);
        self.link.spawn(async move {
            let want = size.saturating_sub(lease.held.load(Relaxed).max(0) as u64);
            if want > 0 {
                let asked = Mode::Lease { need: 1 };
                if let Ok(r) = link.run(&lease.key, lease.rate, want, asked).await {
                    if r.granted > 0 {
                        metrics.lease_refills.fetch_add(1, Relaxed);
                    }
                    lease.hold(&r, r.granted as i64);
                }
            }
            lease.refilling.store(false, Relaxed);
        });
    }

    /// A cluster limit's decision in a worker without a Redis link (its thread could not
    /// start, which was logged): the failure policy, as if Redis were down.
    pub fn without_redis(
        local: &LocalTable,
        cs: &ClusterSpec,
        m: &Arc<LimitMetrics>,
        draw: &Draw,
        units: u64,
        now: u64,
    ) -> Verdict {
        on_redis_error(*local, cs, m, draw, units, now)
    }

    #[allow(clippy::too_many_arguments)]
    fn fallback(
        &self,
        spec: &LimitSpec,
        cs: &ClusterSpec,
        m: &Arc<LimitMetrics>,
        draw: &Draw,
        units: u64,
        now: u64,
        e: RedisError,
    ) -> Verdict {
        if !self.degraded.swap(true, Relaxed) {
            tracing::warn!(
                "limit {}: {e}; cluster limits follow on_redis_error until Redis answers",
                spec.name
            );
        }
        on_redis_error(self.local, cs, m, draw, units, now)
    }

    fn recovered(&self) {
        if self.degraded.load(Relaxed) && self.degraded.swap(false, Relaxed) {
            tracing::info!("redis answers again; cluster limits are decided there");
        }
    }

    /// Gives `units` of `t` back where they were taken.
    pub fn give_back(&self, spec: &LimitSpec, cs: &ClusterSpec, t: &Taken, units: u64, now: u64) {
        match t.by {
            By::Lease => match self.leases.find(t.draw.key) {
                Some(lease) => {
                    lease.held.fetch_add(units as i64, Relaxed);
                }
                None => self.in_background(spec, t, units, Mode::Refund),
            },
            By::Redis => self.in_background(spec, t, units, Mode::Refund),
            By::Fallback => self.local.refund(t.draw.key, cs.fallback, now, units),
            By::Local | By::Open => {}
        }
    }

    /// Takes `units` more for `t`, even into debt.
    pub fn charge(&self, spec: &LimitSpec, cs: &ClusterSpec, t: &Taken, units: u64, now: u64) {
        match t.by {
            By::Lease | By::Redis => self.in_background(spec, t, units, Mode::Charge),
            By::Fallback => self.local.charge(t.draw.key, cs.fallback, now, units),
            By::Local | By::Open => {}
        }
    }

    fn in_background(&self, spec: &LimitSpec, t: &Taken, units: u64, mode: Mode) {
        let link = Arc::clone(&self.link);
        let key = link.key(&spec.name, t.draw.key);
        let rate = t.draw.rate;
        self.link.spawn(async move {
            if let Err(e) = link.run(&key, rate, units, mode).await {
                tracing::debug!("redis: could not settle {units} units of {key}: {e}");
            }
        });
    }
}

/// `on_redis_error` for one decision.
fn on_redis_error(
    local: LocalTable,
    cs: &ClusterSpec,
    m: &Arc<LimitMetrics>,
    draw: &Draw,
    units: u64,
    now: u64,
) -> Verdict {
    m.redis_errors.fetch_add(1, Relaxed);
    match cs.on_error {
        OnRedisError::FailOpen => {
            m.fail_open.fetch_add(1, Relaxed);
            let d = Decision {
                allowed: true,
                tat: 0,
                remaining: draw.rate.burst(),
                retry_after: 0,
                reset_after: 0,
            };
            Ok((d, By::Open))
        }
        OnRedisError::FailClosed => {
            m.fail_closed.fetch_add(1, Relaxed);
            Err(Unavailable)
        }
        OnRedisError::Local => {
            m.fallback_local.fetch_add(1, Relaxed);
            Ok((
                local.decide(draw.key, cs.fallback, now, units),
                By::Fallback,
            ))
        }
    }
}

fn decision(r: &ScriptReply, allowed: bool) -> Decision {
    Decision {
        allowed,
        tat: 0,
        remaining: r.remaining,
        retry_after: r.retry_after,
        reset_after: r.reset_after,
    }
}

/// Units of one bucket this worker holds.
struct Lease {
    key: String,
    rate: crate::base::gcra::Rate,
    held: AtomicI64,
    /// What Redis had left at the last refill, for the headers.
    remaining: AtomicU64,
    reset_after: AtomicU64,
    refilling: AtomicBool,
    used_at: AtomicU64,
}

impl Lease {
    /// Spends `units` if they are held; the units left after.
    fn spend(&self, units: u64) -> Option<i64> {
        let units = units as i64;
        self.held
            .fetch_update(Relaxed, Relaxed, |h| (h >= units).then_some(h - units))
            .ok()
            .map(|h| h - units)
    }

    fn hold(&self, r: &ScriptReply, units: i64) {
        self.held.fetch_add(units, Relaxed);
        self.note(r);
    }

    fn note(&self, r: &ScriptReply) {
        self.remaining.store(r.remaining, Relaxed);
        self.reset_after.store(r.reset_after, Relaxed);
    }
}

#[derive(Default)]
struct Leases {
    map: RwLock<HashMap<u64, Arc<Lease>>>,
}

impl Leases {
    fn find(&self, bucket: u64) -> Option<Arc<Lease>> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.get(&bucket).cloned()
    }

    /// The lease of `draw`'s bucket, made empty when new; `None` when the table is full.
    fn get(&self, link: &RedisLink, spec: &LimitSpec, draw: &Draw, now: u64) -> Option<Arc<Lease>> {
        if let Some(l) = self.find(draw.key) {
            return Some(l);
        }
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_LEASES {
            return None;
        }
        let lease = map.entry(draw.key).or_insert_with(|| {
            Arc::new(Lease {
                key: link.key(&spec.name, draw.key),
                rate: draw.rate,
                held: AtomicI64::new(0),
                remaining: AtomicU64::new(0),
                reset_after: AtomicU64::new(0),
                refilling: AtomicBool::new(false),
                used_at: AtomicU64::new(now),
            })
        });
        Some(Arc::clone(lease))
    }
}

/// Every 250ms, gives back the units of leases idle for `IDLE`, and forgets them.
async fn sweep(leases: Weak<Leases>, link: Weak<RedisLink>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        let (Some(leases), Some(link)) = (leases.upgrade(), link.upgrade()) else {
            return;
        };
        let now = crate::base::clock::now_ns();
        let idle: Vec<Arc<Lease>> = {
            let mut map = leases.map.write().unwrap_or_else(|e| e.into_inner());
            let idle = map
                .values()
                .filter(|l| now.saturating_sub(l.used_at.load(Relaxed)) >= IDLE)
                .filter(|l| !l.refilling.load(Relaxed))
                .cloned()
                .collect();
            map.retain(|_, l| {
                now.saturating_sub(l.used_at.load(Relaxed)) < IDLE || l.refilling.load(Relaxed)
            });
            idle
        };
        for lease in idle {
            let units = lease.held.swap(0, Relaxed);
            if units > 0 {
                let _ = link
                    .run(&lease.key, lease.rate, units as u64, Mode::Refund)
                    .await;
            }
        }
    }
}
