//! `[[upstreams]]` compiled: targets resolved once, balancing, health checks, timeouts.

use super::{positive_timeouts, Checker, MAX_TARGETS};
use crate::config::problem::{key, Issue, Seg};
use crate::config::schema::{self, Balance, TargetSection};
use http::HeaderName;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    pub name: String,
    pub targets: Vec<TargetSpec>,
    pub balance: BalanceSpec,
    pub health: Option<HealthSpec>,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub total_timeout: Option<Duration>,
    pub retries: u32,
    pub keepalive: usize,
    pub keepalive_timeout: Duration,
    pub tls: bool,
    pub sni: String,
    /// HTTP/2 to the targets: by ALPN over TLS, prior knowledge (h2c) in clear.
    pub http2: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// The address as written, for logs and metrics labels.
    pub label: String,
    pub addr: SocketAddr,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BalanceSpec {
    RoundRobin,
    Weighted,
    ConsistentHash(HashOn),
    LeastInflight,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOn {
    ClientIp,
    Header(HeaderName),
}

#[derive(Debug, Clone)]
pub struct HealthSpec {
    pub path: String,
    pub host: Option<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub expect_status: Vec<u16>,
}

pub(super) fn compile_upstream(
    u: &schema::UpstreamSection,
    base: &[Seg],
    ck: &mut Checker,
) -> UpstreamSpec {
    let mut targets = Vec::new();
    if u.targets.is_empty() {
        ck.at(base, &["targets"], "an upstream needs at least one target");
    }
    if u.targets.len() > MAX_TARGETS {
        ck.at(
            base,
            &["targets"],
            format!("at most {MAX_TARGETS} targets per upstream"),
        );
    }
    for (i, t) in u.targets.iter().enumerate() {
        let (addr, weight) = match t {
            TargetSection::Addr(a) => (a, 1),
            TargetSection::Weighted { addr, weight } => (addr, *weight),
        };
        let mut at = base.to_vec();
        at.extend([key("targets"), Seg::Index(i)]);
        if weight == 0 || weight > 1000 {
            ck.issues
                .push(Issue::new(at.clone(), "weight must be between 1 and 1000"));
        }
        match resolve(addr) {
            Ok(sock) => targets.push(TargetSpec {
                label: addr.clone(),
                addr: sock,
                weight,
            }),
            Err(msg) => ck.issues.push(Issue::new(at, msg)),
        }
    }
    let balance = match (u.balance, u.hash_on.as_deref()) {
        (Balance::RoundRobin, None) => BalanceSpec::RoundRobin,
        (Balance::Weighted, None) => BalanceSpec::Weighted,
        (Balance::LeastInflight, None) => BalanceSpec::LeastInflight,
        (Balance::ConsistentHash, Some("client_ip")) => {
            BalanceSpec::ConsistentHash(HashOn::ClientIp)
        }
        (Balance::ConsistentHash, Some(h)) => {
            match h.strip_prefix("header:").map(HeaderName::try_from) {
                Some(Ok(name)) => BalanceSpec::ConsistentHash(HashOn::Header(name)),
                _ => {
                    ck.at(
                        base,
                        &["hash_on"],
                        format!("{h:?} is neither \"client_ip\" nor \"header:NAME\""),
                    );
                    BalanceSpec::RoundRobin
                }
            }
        }
        (Balance::ConsistentHash, None) => {
            ck.at(
                base,
                &["hash_on"],
                "balance = \"consistent_hash\" needs hash_on = \"client_ip\" or \"header:NAME\"",
            );
            BalanceSpec::RoundRobin
        }
        (_, Some(_)) => {
            ck.at(
                base,
                &["hash_on"],
                "hash_on only applies to balance = \"consistent_hash\"",
            );
            BalanceSpec::RoundRobin
        }
    };
    let health = u.health_check.as_ref().map(|h| compile_health(h, base, ck));
    let t = &u.timeouts;
    positive_timeouts(
        [("connect", t.connect), ("read", t.read), ("write", t.write)],
        base,
        ck,
    );
    if u.passive.fail_timeout.0.is_zero() {
        ck.at(base, &["passive", "fail_timeout"], "must be more than zero");
    }
    UpstreamSpec {
        name: u.name.clone(),
        targets,
        balance,
        health,
        max_fails: u.passive.max_fails,
        fail_timeout: u.passive.fail_timeout.0,
        connect_timeout: t.connect.0,
        read_timeout: t.read.0,
        write_timeout: t.write.0,
        total_timeout: t.total.map(|d| d.0),
        retries: u.retries,
        keepalive: u.keepalive,
        keepalive_timeout: u.keepalive_timeout.0,
        tls: u.tls,
        sni: u.sni.clone().unwrap_or_default(),
        http2: u.http2,
    }
}

/// Resolves `host:port` once, at load time, so the request path never touches DNS.
// The one blocking DNS lookup, while the configuration compiles (start-up, or a reload in
// `spawn_blocking`).
#[allow(clippy::disallowed_methods)]
fn resolve(addr: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(a);
    }
    if !addr.contains(':') {
        return Err(format!("{addr:?} has no port; write it as host:port"));
    }
    match addr.to_socket_addrs() {
        Ok(mut it) => it
            .next()
            .ok_or_else(|| format!("{addr:?} resolves to no address")),
        Err(e) => Err(format!("cannot resolve {addr:?}: {e}")),
    }
}

fn compile_health(h: &schema::HealthCheckSection, base: &[Seg], ck: &mut Checker) -> HealthSpec {
    if !h.path.starts_with('/') {
        ck.at(base, &["health_check", "path"], "must start with '/'");
    }
    if h.interval.0.is_zero() || h.timeout.0.is_zero() {
        ck.at(
            base,
            &["health_check"],
            "interval and timeout must be more than zero",
        );
    }
    if h.healthy_threshold == 0 || h.unhealthy_threshold == 0 {
        ck.at(base, &["health_check"], "thresholds must be at least 1");
    }
    if h.expect_status.iter().any(|s| !(100..=599).contains(s)) {
        ck.at(
            base,
            &["health_check", "expect_status"],
            "statuses are between 100 and 599",
        );
    }
    HealthSpec {
        path: h.path.clone(),
        host: h.host.clone(),
        interval: h.interval.0,
        timeout: h.timeout.0,
        healthy_threshold: h.healthy_threshold,
        unhealthy_threshold: h.unhealthy_threshold,
        expect_status: h.expect_status.clone(),
    }
}
