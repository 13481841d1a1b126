//! Active HTTP health checks: one task per upstream group, probing every target each interval.
//!
//! The task holds only a `Weak` reference, so it ends by itself once a reload drops the group.

use super::upstream::UpstreamGroup;
use crate::config::compile::HealthSpec;
use std::sync::{Arc, Weak};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn spawn(group: &Arc<UpstreamGroup>) {
    let Some(spec) = group.spec.health.clone() else {
        return;
    };
    let weak = Arc::downgrade(group);
    tokio::spawn(run(weak, spec));
}

async fn run(group: Weak<UpstreamGroup>, spec: HealthSpec) {
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
        for (i, t) in g.targets.iter().enumerate() {
            let (addr, label, spec) = (t.addr, t.label.clone(), spec.clone());
            set.spawn(async move { (i, probe(addr, &label, &spec).await) });
        }
        let mut results = vec![false; n];
        while let Some(Ok((i, ok))) = set.join_next().await {
            results[i] = ok;
        }
        for (i, ok) in results.into_iter().enumerate() {
            let s = &mut streaks[i];
            *s = match (ok, *s) {
                (true, s) if s > 0 => s + 1,
                (true, _) => 1,
                (false, s) if s < 0 => s - 1,
                (false, _) => -1,
            };
            let t = &g.targets[i];
            if *s >= spec.healthy_threshold as i64 && t.set_healthy(true) {
                tracing::info!(upstream = %g.spec.name, target = %t.label, "target is healthy again");
            } else if -*s >= spec.unhealthy_threshold as i64 && t.set_healthy(false) {
                tracing::warn!(upstream = %g.spec.name, target = %t.label, "target failed its health check");
            }
        }
    }
}

/// One `GET` with `Connection: close`; healthy on an expected status within the timeout.
async fn probe(addr: std::net::SocketAddr, label: &str, spec: &HealthSpec) -> bool {
    let host = spec.host.as_deref().unwrap_or(label);
    let attempt = async {
        let mut stream = TcpStream::connect(addr).await?;
        let req = format!(
            "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tollgate-health-check\r\nConnection: close\r\n\r\n",
            spec.path
        );
        stream.write_all(req.as_bytes()).await?;
        let mut buf = [0u8; 64];
        let mut len = 0;
        while len < 12 {
            let n = stream.read(&mut buf[len..]).await?;
            if n == 0 {
                break;
            }
            len += n;
        }
        Ok::<_, std::io::Error>(parse_status(&buf[..len]))
    };
    match tokio::time::timeout(spec.timeout, attempt).await {
        Ok(Ok(Some(status))) => {
            if spec.expect_status.is_empty() {
                (200..400).contains(&status)
            } else {
                spec.expect_status.contains(&status)
            }
        }
        _ => false,
    }
}

fn parse_status(head: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(head.get(..12)?).ok()?;
    let rest = text.strip_prefix("HTTP/1.")?;
    rest.get(2..5)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn status_line_parses() {
        assert_eq!(
            super::parse_status(b"HTTP/1.1 204 No Content\r\n"),
            Some(204)
        );
        assert_eq!(super::parse_status(b"HTTP/1.0 503 x"), Some(503));
        assert_eq!(super::parse_status(b"garbage"), None);
    }
}
