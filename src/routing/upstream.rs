//! An upstream group at run time: its targets with their health, and target selection.
//!
//! Everything a request touches here is an atomic: selection never locks.
//!
//! DESIGN: this is our own code, not `pingora-load-balancing`'s `LoadBalancer`, which has no
//! least-in-flight, repeats each target `weight` times in a row instead of nginx's smooth order,
//! retries past an unhealthy pick by further turns or hashes rather than the next untried
//! target, looks each candidate's health up in a hash map, and has no passive ejection (see the
//! README's `[[upstreams]]` section). The active probes do use Pingora's connector (`health`).

use crate::base::breaker::Breaker;
use crate::base::clock::now_ms;
use crate::base::hash::mix;
use crate::config::{BalanceSpec, UpstreamSpec};
use crate::telemetry::metrics::UpstreamMetrics;
use pingora::upstreams::peer::HttpPeer;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

pub struct Target {
    pub label: String,
    pub addr: std::net::SocketAddr,
    pub weight: u32,
    /// Set by the active health check; true until a check says otherwise.
    healthy: AtomicBool,
    /// Passive ejection: consecutive connect errors and timeouts (`max_fails`) take the
    /// target out for `fail_timeout`.
    breaker: Breaker,
    inflight: AtomicUsize,
    /// The target's own term in rendezvous hashing, from its address.
    hrw_seed: u64,
    /// The TLS server name: the group's `sni`, else the target's host as written (as nginx's
    /// `proxy_ssl_name`), since rustls makes no connection without a name. Empty in a group
    /// without TLS, which has no use for it: the peer made per request then clones it
    /// without an allocation.
    server_name: String,
}

/// The host of `host:port` or `[v6]:port`, as the target was written.
fn host_of(label: &str) -> &str {
    match label.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => label.rsplit_once(':').map_or(label, |(host, _)| host),
    }
}

/// A target's term in rendezvous hashing, from its address rather than its place in the list:
/// the same in every worker, and unchanged when a reload adds or removes other targets (by
/// position, removing one renumbered those after it and moved their keys too).
fn hrw_seed(addr: std::net::SocketAddr) -> u64 {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(a) => u128::from(u32::from(a)),
        std::net::IpAddr::V6(a) => u128::from(a),
    };
    mix(mix(ip as u64 ^ (ip >> 64) as u64) ^ u64::from(addr.port()))
}

impl Target {
    /// Whether the target takes traffic at `now` (monotonic milliseconds, `clock::now_ms`).
    pub fn is_available(&self, now: u64) -> bool {
        self.healthy.load(Relaxed) && self.breaker.is_closed(now)
    }
    /// Records a health-check verdict; true when it changed. A target that passes its check
    /// is also forgiven a passive ejection, whether or not a check saw it fail (requests may
    /// eject it between two checks): the check has just seen it answer.
    pub fn set_healthy(&self, healthy: bool) -> bool {
        let changed = self.healthy.swap(healthy, Relaxed) != healthy;
        if healthy && (changed || !self.breaker.is_closed(now_ms())) {
            self.breaker.reset();
        }
        changed
    }
    pub fn inflight(&self) -> usize {
        self.inflight.load(Relaxed)
    }
}

pub struct UpstreamGroup {
    pub spec: UpstreamSpec,
    pub targets: Vec<Target>,
    pub metrics: Arc<UpstreamMetrics>,
    next: AtomicUsize,
    /// Smooth weighted round-robin order, one entry per unit of weight.
    schedule: Vec<u16>,
}

impl UpstreamGroup {
    pub fn new(spec: UpstreamSpec, metrics: Arc<UpstreamMetrics>) -> Self {
        let targets: Vec<Target> = spec
            .targets
            .iter()
            .map(|t| Target {
                label: t.label.clone(),
                addr: t.addr,
                weight: t.weight,
                healthy: AtomicBool::new(true),
                breaker: Breaker::default(),
                inflight: AtomicUsize::new(0),
                hrw_seed: hrw_seed(t.addr),
                server_name: match spec.sni.as_str() {
                    _ if !spec.tls => String::new(),
                    "" => host_of(&t.label).to_string(),
                    sni => sni.to_string(),
                },
            })
            .collect();
        let schedule = smooth_schedule(&targets.iter().map(|t| t.weight).collect::<Vec<_>>());
        UpstreamGroup {
            spec,
            targets,
            metrics,
            next: AtomicUsize::new(0),
            schedule,
        }
    }

    /// Keeps what is known of targets that a reload did not change.
    pub fn inherit_health(&self, old: &UpstreamGroup) {
        for t in &self.targets {
            if let Some(o) = old.targets.iter().find(|o| o.addr == t.addr) {
                t.healthy.store(o.healthy.load(Relaxed), Relaxed);
                t.breaker.inherit(&o.breaker);
            }
        }
    }

    /// Picks a target not in `tried` (a bit per target index). Healthy targets come first; when
    /// none is healthy every untried target is a candidate, as nginx does, rather than failing
    /// without trying.
    pub fn select(&self, hash_key: Option<u64>, tried: u64) -> Option<usize> {
        let now = now_ms();
        let untried = |i: usize| tried & (1u64 << i) == 0;
        // One turn per selection: were the fallback to take a second one, a group whose
        // targets are all down would step by two and, with an even count, try half of them.
        let start = self.next.fetch_add(1, Relaxed);
        self.pick(start, hash_key, |i| {
            untried(i) && self.targets[i].is_available(now)
        })
        .or_else(|| self.pick(start, hash_key, untried))
    }

    /// The first target from turn `start` that `ok` accepts, by the group's policy.
    fn pick(
        &self,
        start: usize,
        hash_key: Option<u64>,
        ok: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let n = self.targets.len();
        match &self.spec.balance {
            BalanceSpec::RoundRobin => (0..n).map(|k| (start + k) % n).find(|&i| ok(i)),
            BalanceSpec::Weighted => {
                let len = self.schedule.len();
                (0..len)
                    .map(|k| self.schedule[(start + k) % len] as usize)
                    .find(|&i| ok(i))
            }
            BalanceSpec::ConsistentHash(_) => {
                let key = hash_key.unwrap_or(0);
                (0..n)
                    .filter(|&i| ok(i))
                    .max_by(|&a, &b| self.hrw_score(key, a).total_cmp(&self.hrw_score(key, b)))
            }
            BalanceSpec::LeastInflight => (0..n)
                .map(|k| (start + k) % n)
                .filter(|&i| ok(i))
                .min_by(|&a, &b| {
                    let (ta, tb) = (&self.targets[a], &self.targets[b]);
                    (ta.inflight() * tb.weight as usize).cmp(&(tb.inflight() * ta.weight as usize))
                }),
        }
    }

    /// How to reach target `i`: TLS, SNI and certificate checks (Pingora's default: the chain
    /// and the host name against the SNI) and the connect, write and idle timeouts of the
    /// group. The proxy and the health check both connect through this, so a probe goes the
    /// way a request goes; the proxy adds its read timeout, which depends on the request.
    /// Boxed as Pingora takes it: the peer is large (about 700 bytes), and made in its box it
    /// is not copied again on its way there.
    pub fn peer(&self, i: usize) -> Box<HttpPeer> {
        let spec = &self.spec;
        let mut peer = Box::new(HttpPeer::new(
            self.targets[i].addr,
            spec.tls,
            self.targets[i].server_name.clone(),
        ));
        peer.options.connection_timeout = Some(spec.connect_timeout);
        peer.options.total_connection_timeout = Some(spec.connect_timeout);
        peer.options.write_timeout = Some(spec.write_timeout);
        peer.options.idle_timeout = Some(spec.keepalive_timeout);
        if spec.http2 {
            crate::base::http2::use_http2(&mut peer);
        }
        peer
    }

    /// Weighted rendezvous hashing: only keys of a target that leaves move elsewhere.
    fn hrw_score(&self, key: u64, i: usize) -> f64 {
        let h = mix(key ^ self.targets[i].hrw_seed);
        // A uniform value in (0, 1), never 0 so the logarithm stays finite.
        let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        -(self.targets[i].weight as f64) / u.ln()
    }

    pub fn begin(&self, i: usize) {
        self.targets[i].inflight.fetch_add(1, Relaxed);
    }

    pub fn end(&self, i: usize) {
        self.targets[i].inflight.fetch_sub(1, Relaxed);
    }

    /// A connect error or timeout: after `max_fails` in a row the target sits out `fail_timeout`
    /// (`max_fails = 0` turns passive ejection off).
    pub fn report_failure(&self, i: usize) {
        let t = &self.targets[i];
        if let Some(fails) = t
            .breaker
            .failure(self.spec.max_fails, self.spec.fail_timeout)
        {
            tracing::warn!(
                upstream = %self.spec.name, target = %t.label,
                "target ejected for {:?} after {fails} consecutive failures", self.spec.fail_timeout
            );
        }
    }

    /// A success ends the target's run of failures (an ejection runs to its end).
    pub fn report_success(&self, i: usize) {
        self.targets[i].breaker.success();
    }
}

/// nginx's smooth weighted round robin, unrolled once into a fixed order.
fn smooth_schedule(weights: &[u32]) -> Vec<u16> {
    let total: i64 = weights.iter().map(|&w| w as i64).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, &w) in current.iter_mut().zip(weights) {
            *c += w as i64;
        }
        let Some((best, _)) = current
            .iter()
            .enumerate()
            .max_by_key(|(i, &c)| (c, std::cmp::Reverse(*i)))
        else {
            break;
        };
        current[best] -= total;
        out.push(best as u16);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{HashOn, TargetSpec};
    use std::time::Duration;

    fn group(balance: BalanceSpec, weights: &[u32]) -> UpstreamGroup {
        let ports: Vec<u16> = (0..weights.len() as u16).map(|i| 1000 + i).collect();
        group_on(balance, weights, &ports)
    }

    fn group_on(balance: BalanceSpec, weights: &[u32], ports: &[u16]) -> UpstreamGroup {
        let targets = weights
            .iter()
            .zip(ports)
            .map(|(&w, port)| TargetSpec {
                label: format!("t{port}"),
                addr: format!("127.0.0.1:{port}").parse().unwrap(),
                weight: w,
            })
            .collect();
        let spec = UpstreamSpec {
            name: "u".into(),
            targets,
            balance,
            health: None,
            max_fails: 2,
            fail_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(1),
            total_timeout: None,
            retries: 1,
            keepalive: 8,
            keepalive_timeout: Duration::from_secs(1),
            tls: false,
            sni: String::new(),
            http2: false,
        };
        UpstreamGroup::new(spec, Arc::default())
    }

    #[test]
    fn the_server_name_defaults_to_the_host_as_written() {
        assert_eq!(host_of("api.example.com:443"), "api.example.com");
        assert_eq!(host_of("127.0.0.1:8443"), "127.0.0.1");
        assert_eq!(host_of("[::1]:8443"), "::1");
    }

    #[test]
    fn only_a_tls_group_gives_its_peers_a_server_name() {
        let plain = group(BalanceSpec::RoundRobin, &[1]);
        assert_eq!(plain.peer(0).sni, "");
        let mut spec = plain.spec.clone();
        spec.tls = true;
        let tls = UpstreamGroup::new(spec.clone(), Arc::default());
        assert_eq!(tls.peer(0).sni, "t1000", "the host as written");
        spec.sni = "api.example.com".into();
        let named = UpstreamGroup::new(spec, Arc::default());
        assert_eq!(named.peer(0).sni, "api.example.com");
    }

    #[test]
    fn round_robin_alternates_and_skips_unhealthy() {
        let g = group(BalanceSpec::RoundRobin, &[1, 1]);
        let picks: Vec<_> = (0..4).map(|_| g.select(None, 0).unwrap()).collect();
        assert_eq!(picks, [0, 1, 0, 1]);
        g.targets[0].set_healthy(false);
        assert!((0..4).all(|_| g.select(None, 0) == Some(1)));
    }

    #[test]
    fn all_unhealthy_still_tries_untried_targets() {
        let g = group(BalanceSpec::RoundRobin, &[1, 1]);
        g.targets[0].set_healthy(false);
        g.targets[1].set_healthy(false);
        // Every untried target is a candidate, in turn: both are picked, and a retry gets the
        // one not tried yet.
        let picks: std::collections::BTreeSet<_> =
            (0..4).map(|_| g.select(None, 0).unwrap()).collect();
        assert_eq!(picks, [0, 1].into());
        assert_eq!(g.select(None, 0b01), Some(1));
        assert_eq!(g.select(None, 0b10), Some(0));
        assert_eq!(g.select(None, 0b11), None);
    }

    #[test]
    fn weighted_follows_weights_smoothly() {
        let g = group(BalanceSpec::Weighted, &[5, 1, 1]);
        let picks: Vec<_> = (0..7).map(|_| g.select(None, 0).unwrap()).collect();
        assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 5);
        assert_eq!(picks, [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn consistent_hash_is_stable_and_moves_only_lost_keys() {
        let g = group(BalanceSpec::ConsistentHash(HashOn::ClientIp), &[1, 1, 1]);
        let before: Vec<_> = (0..300u64)
            .map(|k| g.select(Some(mix(k)), 0).unwrap())
            .collect();
        let again: Vec<_> = (0..300u64)
            .map(|k| g.select(Some(mix(k)), 0).unwrap())
            .collect();
        assert_eq!(before, again);
        for i in 0..3 {
            assert!(before.iter().filter(|&&t| t == i).count() > 50);
        }
        g.targets[1].set_healthy(false);
        for (k, &b) in before.iter().enumerate() {
            let now = g.select(Some(mix(k as u64)), 0).unwrap();
            if b != 1 {
                assert_eq!(now, b, "a key whose target stayed up must not move");
            }
        }
    }

    #[test]
    fn removing_a_target_moves_only_its_own_keys() {
        let hash = || BalanceSpec::ConsistentHash(HashOn::ClientIp);
        let all = group_on(hash(), &[1, 1, 1, 1], &[1000, 1001, 1002, 1003]);
        let without = group_on(hash(), &[1, 1, 1], &[1000, 1002, 1003]);
        let port =
            |g: &UpstreamGroup, k: u64| g.targets[g.select(Some(mix(k)), 0).unwrap()].addr.port();
        let mut moved_from_1001 = 0;
        for k in 0..2000u64 {
            let (was, now) = (port(&all, k), port(&without, k));
            if was == 1001 {
                moved_from_1001 += 1;
            } else {
                assert_eq!(now, was, "key {k} moved though its target stayed");
            }
        }
        assert!(moved_from_1001 > 300, "{moved_from_1001}");
    }

    #[test]
    fn least_inflight_prefers_the_idle_target() {
        let g = group(BalanceSpec::LeastInflight, &[1, 1]);
        g.begin(0);
        assert!((0..4).all(|_| g.select(None, 0) == Some(1)));
        g.end(0);
    }

    #[test]
    fn passive_ejection_after_max_fails() {
        let g = group(BalanceSpec::RoundRobin, &[1, 1]);
        g.report_failure(0);
        assert!(g.targets[0].is_available(now_ms()));
        g.report_failure(0);
        assert!(!g.targets[0].is_available(now_ms()));
        assert!((0..4).all(|_| g.select(None, 0) == Some(1)));
    }
}
