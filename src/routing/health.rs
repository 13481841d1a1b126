//! Active HTTP health checks: one task per upstream group, probing every target each interval.
//!
//! A probe is one `GET` through Pingora's HTTP connector, to the peer the proxy itself would
//! use (`UpstreamGroup::peer`): a `tls = true` upstream is probed over TLS, with its SNI and
//! the same certificate checks as its requests. The verdict (thresholds, a passing check
//! forgiving a passive ejection) stays ours, on the target's atomics that selection reads.
//!
//! DESIGN: `pingora_load_balancing::health_check::HttpHealthCheck` would send the probe the
//! same way, but it holds one request header (one `Host`) for every backend it checks and owns
//! its connector: our default `Host` is each target's own address, so it would take one check,
//! hence one connector with its own TLS trust store and pools, per target, per worker, per
//! reload. Its verdicts also feed `Backends`' private health state, reporting only flips, not
//! each pass. So the probe uses its building blocks (the connector, `RequestHeader`, the
//! response parser) directly, one connector per worker process.
//!
//! The task holds only a `Weak` reference, so it ends by itself once a reload drops the group.

use super::upstream::UpstreamGroup;
use crate::config::HealthSpec;
use once_cell::sync::Lazy;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use std::sync::{Arc, Weak};

/// Every probe of this worker process goes through one connector. It trusts what the proxy's
/// own connector trusts: the platform's roots, `SSL_CERT_FILE` included (the server sets no
/// `ca_file`). Probes never return a connection to its pool: each checks a fresh connect and
/// handshake, as a new request to a target with no idle connection would make.
static CONNECTOR: Lazy<Connector> = Lazy::new(|| Connector::new(None));

pub fn spawn(group: &Arc<UpstreamGroup>) {
    let Some(spec) = group.spec.health.clone() else {
        return;
    };
    let weak = Arc::downgrade(group);
    tokio::spawn(run(weak, spec));
}

async fn run(group: Weak<UpstreamGroup>, spec: HealthSpec) {
    // Building the connector reads the trust store from disk: on the blocking pool, once per
    // process, not on the worker thread that serves requests.
    let _ = tokio::task::spawn_blocking(|| {
        Lazy::force(&CONNECTOR);
    })
    .await;
    let spec = Arc::new(spec);
    let n = match group.upgrade() {
        Some(g) => g.targets.len(),
        None => return,
    };
    // Consecutive results per target: positive for passes, negative for failures.
    let mut streaks = vec![0i64; n];
    let mut ticker = tokio::time::interval(spec.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(g) = group.upgrade() else { return };
        // Probes run concurrently, so one slow target does not delay the verdict on the others.
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            let (g, spec) = (g.clone(), spec.clone());
            set.spawn(async move { (i, probe(&g, i, &spec).await) });
        }
        let mut results: Vec<Result<(), String>> = vec![Err("not probed".into()); n];
        while let Some(Ok((i, result))) = set.join_next().await {
            results[i] = result;
        }
        for (i, result) in results.into_iter().enumerate() {
            let s = &mut streaks[i];
            *s = match (result.is_ok(), *s) {
                (true, s) if s > 0 => s + 1,
                (true, _) => 1,
                (false, s) if s < 0 => s - 1,
                (false, _) => -1,
            };
            let t = &g.targets[i];
            if *s >= spec.healthy_threshold as i64 && t.set_healthy(true) {
                tracing::info!(upstream = %g.spec.name, target = %t.label, "target is healthy again");
            } else if -*s >= spec.unhealthy_threshold as i64 && t.set_healthy(false) {
                let reason = result.err().unwrap_or_default();
                tracing::warn!(upstream = %g.spec.name, target = %t.label, %reason, "target failed its health check");
            }
        }
    }
}

/// One `GET` with `Connection: close` to target `i`; healthy on an expected status within the
/// timeout, which bounds the whole probe (connect, handshake, request and response head).
/// Over HTTP/2 (`http2 = true`) the probe is a stream on the probes' shared connection, as a
/// request is one on the proxy's, and has no `Connection` header, which HTTP/2 forbids.
async fn probe(group: &UpstreamGroup, i: usize, spec: &HealthSpec) -> Result<(), String> {
    let host = spec.host.as_deref().unwrap_or(&group.targets[i].label);
    let req = request(&spec.path, host, !group.spec.http2).map_err(|e| e.to_string())?;
    let peer = group.peer(i);
    let attempt = async {
        let (mut session, _) = CONNECTOR.get_http_session(&*peer).await?;
        session.write_request_header(Box::new(req)).await?;
        session.finish_request_body().await?;
        session.read_response_header().await?;
        Ok::<_, Box<pingora::Error>>(session.response_header().map(|h| h.status.as_u16()))
    };
    match tokio::time::timeout(spec.timeout, attempt).await {
        Ok(Ok(Some(status))) if expected(spec, status) => Ok(()),
        Ok(Ok(Some(status))) => Err(format!("status {status}")),
        Ok(Ok(None)) => Err("no response header".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {:?}", spec.timeout)),
    }
}

fn request(path: &str, host: &str, close: bool) -> pingora::Result<RequestHeader> {
    let mut req = RequestHeader::build("GET", path.as_bytes(), None)?;
    req.insert_header("Host", host)?;
    req.insert_header("User-Agent", "tollgate-health-check")?;
    if close {
        req.insert_header("Connection", "close")?;
    }
    Ok(req)
}

/// Any 2xx or 3xx unless `expect_status` lists the statuses that count.
fn expected(spec: &HealthSpec, status: u16) -> bool {
    if spec.expect_status.is_empty() {
        (200..400).contains(&status)
    } else {
        spec.expect_status.contains(&status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn spec(expect_status: Vec<u16>) -> HealthSpec {
        HealthSpec {
            path: "/health".into(),
            host: None,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            healthy_threshold: 1,
            unhealthy_threshold: 1,
            expect_status,
        }
    }

    #[test]
    fn any_2xx_or_3xx_passes_unless_statuses_are_listed() {
        let any = spec(vec![]);
        assert!(expected(&any, 204) && expected(&any, 302));
        assert!(!expected(&any, 404) && !expected(&any, 503) && !expected(&any, 101));
        let listed = spec(vec![418]);
        assert!(expected(&listed, 418) && !expected(&listed, 200));
    }

    #[test]
    fn the_request_names_its_host_and_closes() {
        let req = request("/health?deep=1", "svc.internal:8443", true).unwrap();
        assert_eq!(req.uri.to_string(), "/health?deep=1");
        assert_eq!(req.headers["host"], "svc.internal:8443");
        assert_eq!(req.headers["connection"], "close");
        let h2 = request("/health", "svc.internal:8443", false).unwrap();
        assert!(h2.headers.get("connection").is_none());
    }
}
