//! Per-worker metrics: fixed sets of atomics resolved at build time, so the request path only
//! increments counters it already holds. Rendered as Prometheus text for the admin process,
//! which sums the workers (see `merge`).

pub mod llm;

use crate::telemetry::batch::SinkStats;
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
// The name-to-metrics maps are locked when a snapshot is built (start-up, reload) and when
// `/metrics` renders; a request holds its `Arc`s, resolved at build time, and never locks.
#[allow(clippy::disallowed_types)]
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds in seconds of the latency histogram buckets.
const BUCKETS: [f64; 15] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 30.0, 60.0, 120.0,
];

#[derive(Default)]
pub struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(d.as_micros() as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cumulative += self.buckets[i].load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum{{{labels}}} {}",
            self.sum_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// One histogram family: its `# HELP` and `# TYPE` lines, then a series per (labels, histogram).
fn render_histograms<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (String, &'a Histogram)>,
) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (labels, h) in series {
        h.render(out, name, &labels);
    }
}

/// Families of one unlabelled sample each: (name, help, type, value).
fn render_values(out: &mut String, families: &[(&str, &str, &str, i64)]) {
    for (name, help, kind, value) in families {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
}

/// A sink's three series: `tollgate_{sink}_dropped_total`, `tollgate_{sink}_queued_{unit}`
/// and `tollgate_{sink}_write_errors_total`; `what` names its records in the help lines.
fn render_sink(out: &mut String, sink: &str, what: &str, unit: &str, stats: &SinkStats) {
    let name = |series: &str| format!("tollgate_{sink}_{series}");
    let dropped = name("dropped_total");
    let queued = name(&format!("queued_{unit}"));
    let errors = name("write_errors_total");
    let help = [
        format!("{what} lost: the queue was full or the sink refused them."),
        format!("{what} handed to the writer thread and not yet written."),
        format!(
            "Writes of {} to their sink that failed.",
            what.to_lowercase()
        ),
    ];
    render_values(
        out,
        &[
            (
                &dropped,
                &help[0],
                "counter",
                stats.dropped.load(Relaxed) as i64,
            ),
            (
                &queued,
                &help[1],
                "gauge",
                stats.queued.load(Relaxed) as i64,
            ),
            (
                &errors,
                &help[2],
                "counter",
                stats.write_errors.load(Relaxed) as i64,
            ),
        ],
    );
}

/// Responses of one route by status class (index 0 counts requests that got no response),
/// and how long requests took, arrival to the last byte sent.
#[derive(Default)]
pub struct RouteMetrics {
    by_class: [AtomicU64; 6],
    duration: Histogram,
}

impl RouteMetrics {
    pub fn count(&self, status: u16, took: Duration) {
        let class = (status / 100) as usize;
        self.by_class[if (1..=5).contains(&class) { class } else { 0 }].fetch_add(1, Relaxed);
        self.duration.observe(took);
    }
}

/// Decisions of one limit.
#[derive(Default)]
pub struct LimitMetrics {
    pub allowed: AtomicU64,
    pub limited: AtomicU64,
    /// Cluster limits: decisions Redis could not answer, and what the policy made of them.
    pub redis_errors: AtomicU64,
    pub fail_open: AtomicU64,
    pub fail_closed: AtomicU64,
    pub fallback_local: AtomicU64,
    pub lease_refills: AtomicU64,
}

#[derive(Default)]
pub struct UpstreamMetrics {
    pub latency: Histogram,
    pub retries: AtomicU64,
}

/// Client connections, counted by the connection layer under the proxy.
#[derive(Default)]
pub struct ConnectionMetrics {
    pub open: AtomicI64,
    pub refused: AtomicU64,
    pub head_timeouts: AtomicU64,
    /// HTTP/2 connections cut for resetting most of their streams.
    pub h2_reset_floods: AtomicU64,
    /// TLS handshakes that failed or took longer than `header_timeout`.
    pub tls_handshake_failures: AtomicU64,
    /// Requests served on the lean HTTP/1 path (`[server] lean_http1`).
    pub lean_requests: AtomicU64,
}

/// Whether one upstream target takes traffic (health check passing, not ejected).
pub struct TargetUp<'a> {
    pub upstream: &'a str,
    pub target: &'a str,
    pub up: bool,
}

/// The worker's metrics; named entries survive reloads so counters never go backwards.
#[derive(Default)]
#[allow(clippy::disallowed_types)] // Locked off the request path: see the `use` above.
pub struct Registry {
    routes: Mutex<HashMap<String, Arc<RouteMetrics>>>,
    upstreams: Mutex<HashMap<String, Arc<UpstreamMetrics>>>,
    limits: Mutex<HashMap<String, Arc<LimitMetrics>>>,
    /// By (public model, provider).
    llm: Mutex<HashMap<(String, String), Arc<llm::LlmMetrics>>>,
    pub unmatched: RouteMetrics,
    pub inflight: AtomicI64,
    /// Shared with the access log's writer thread.
    pub access_log: Arc<SinkStats>,
    pub call_store: Arc<SinkStats>,
    /// Shared with the OTLP exporter thread.
    pub otlp: Arc<crate::telemetry::otel::OtlpStats>,
    /// Kept by the connection layer under the proxy (`proxy::connection`).
    pub connections: Arc<ConnectionMetrics>,
}

impl Registry {
    pub fn route(&self, name: &str) -> Arc<RouteMetrics> {
        let mut map = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(name.to_string()).or_default().clone()
    }

    pub fn upstream(&self, name: &str) -> Arc<UpstreamMetrics> {
        let mut map = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(name.to_string()).or_default().clone()
    }

    pub fn limit(&self, name: &str) -> Arc<LimitMetrics> {
        let mut map = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(name.to_string()).or_default().clone()
    }

    pub fn llm(&self, model: &str, provider: &str) -> Arc<llm::LlmMetrics> {
        let mut map = self.llm.lock().unwrap_or_else(|e| e.into_inner());
        let key = (model.to_string(), provider.to_string());
        map.entry(key).or_default().clone()
    }

    fn render_llm(&self, out: &mut String) {
        let map = self.llm.lock().unwrap_or_else(|e| e.into_inner());
        let mut series: Vec<(&str, &str, &llm::LlmMetrics)> = map
            .iter()
            .map(|((m, p), v)| (m.as_str(), p.as_str(), &**v))
            .collect();
        series.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        llm::render(out, &series);
    }

    fn render_limits(&self, out: &mut String) {
        let limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<_> = limits.keys().collect();
        names.sort();
        type Series = (&'static str, fn(&LimitMetrics) -> &AtomicU64);
        let families: [(&str, &str, &str, &[Series]); 4] = [
            (
                "tollgate_limit_decisions_total",
                "Requests a limit allowed or refused.",
                "decision",
                &[("allowed", |m| &m.allowed), ("limited", |m| &m.limited)],
            ),
            (
                "tollgate_limit_redis_errors_total",
                "Cluster-limit decisions Redis could not answer (error, timeout, breaker open).",
                "",
                &[("", |m| &m.redis_errors)],
            ),
            (
                "tollgate_limit_redis_fallback_total",
                "Cluster-limit decisions made by on_redis_error, by policy.",
                "policy",
                &[
                    ("fail_open", |m| &m.fail_open),
                    ("fail_closed", |m| &m.fail_closed),
                    ("local", |m| &m.fallback_local),
                ],
            ),
            (
                "tollgate_limit_lease_refills_total",
                "Leases of units a worker took from Redis.",
                "",
                &[("", |m| &m.lease_refills)],
            ),
        ];
        for (family, help, label, series) in families {
            let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} counter");
            for name in &names {
                for (value, field) in series {
                    let extra = if label.is_empty() {
                        String::new()
                    } else {
                        format!(",{label}=\"{value}\"")
                    };
                    let v = field(&limits[*name]).load(Relaxed);
                    let _ = writeln!(out, "{family}{{limit=\"{name}\"{extra}}} {v}");
                }
            }
        }
    }

    /// The worker's metrics as Prometheus text, with `targets`, the health of the current
    /// snapshot's upstream targets (handed in: metrics know nothing of routing).
    pub fn render(&self, targets: &[TargetUp]) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP tollgate_requests_total Requests by route and status class.\n");
        out.push_str("# TYPE tollgate_requests_total counter\n");
        let classes = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"];
        let routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<_> = routes.keys().collect();
        names.sort();
        let mut emit = |route: &str, m: &RouteMetrics| {
            for (i, c) in classes.iter().enumerate() {
                let v = m.by_class[i].load(Relaxed);
                let _ = writeln!(
                    out,
                    "tollgate_requests_total{{route=\"{route}\",status=\"{c}\"}} {v}"
                );
            }
        };
        for name in &names {
            emit(name, &routes[*name]);
        }
        emit("", &self.unmatched);
        render_histograms(
            &mut out,
            "tollgate_request_duration_seconds",
            "Requests by route, from arrival to the last byte sent.",
            names
                .iter()
                .map(|n| (format!("route=\"{n}\""), &routes[*n].duration)),
        );
        drop(routes);

        let ups = self.upstreams.lock().unwrap_or_else(|e| e.into_inner());
        let mut names: Vec<_> = ups.keys().collect();
        names.sort();
        render_histograms(
            &mut out,
            "tollgate_upstream_latency_seconds",
            "Time from choosing a target to its response header.",
            names
                .iter()
                .map(|n| (format!("upstream=\"{n}\""), &ups[*n].latency)),
        );
        out.push_str(
            "# HELP tollgate_upstream_retries_total Requests sent again to another target.\n",
        );
        out.push_str("# TYPE tollgate_upstream_retries_total counter\n");
        for name in &names {
            let _ = writeln!(
                out,
                "tollgate_upstream_retries_total{{upstream=\"{name}\"}} {}",
                ups[*name].retries.load(Relaxed)
            );
        }
        drop(ups);

        out.push_str("# HELP tollgate_upstream_target_up Whether the target takes traffic (health check passing, not ejected).\n");
        out.push_str("# TYPE tollgate_upstream_target_up gauge\n");
        for t in targets {
            let _ = writeln!(
                out,
                "tollgate_upstream_target_up{{upstream=\"{}\",target=\"{}\"}} {}",
                t.upstream,
                t.target,
                u8::from(t.up)
            );
        }
        render_values(
            &mut out,
            &[(
                "tollgate_inflight_requests",
                "Requests being served.",
                "gauge",
                self.inflight.load(Relaxed),
            )],
        );
        render_sink(
            &mut out,
            "access_log",
            "Access log lines",
            "lines",
            &self.access_log,
        );
        render_sink(
            &mut out,
            "call_store",
            "Call records",
            "records",
            &self.call_store,
        );
        self.render_connections(&mut out);
        self.render_otlp(&mut out);
        self.render_limits(&mut out);
        self.render_llm(&mut out);
        out
    }

    fn render_otlp(&self, out: &mut String) {
        let o = &self.otlp;
        render_values(
            out,
            &[
                (
                    "tollgate_otlp_dropped_total",
                    "Spans and log records lost: the export queue was full or their export failed.",
                    "counter",
                    o.dropped.load(Relaxed) as i64,
                ),
                (
                    "tollgate_otlp_export_errors_total",
                    "OTLP export requests that failed, after their one retry.",
                    "counter",
                    o.export_errors.load(Relaxed) as i64,
                ),
                (
                    "tollgate_otlp_queued_spans",
                    "Spans and log records waiting for the OTLP exporter thread.",
                    "gauge",
                    o.queued.load(Relaxed) as i64,
                ),
            ],
        );
    }

    fn render_connections(&self, out: &mut String) {
        let c = &self.connections;
        render_values(
            out,
            &[
                (
                    "tollgate_client_connections",
                    "Open client connections.",
                    "gauge",
                    c.open.load(Relaxed),
                ),
                (
                    "tollgate_client_connections_refused_total",
                    "Client connections closed on arrival because the worker held server.max_connections.",
                    "counter",
                    c.refused.load(Relaxed) as i64,
                ),
                (
                    "tollgate_client_header_timeouts_total",
                    "Client connections closed because a request head took longer than server.header_timeout.",
                    "counter",
                    c.head_timeouts.load(Relaxed) as i64,
                ),
                (
                    "tollgate_client_h2_reset_floods_total",
                    "HTTP/2 client connections cut for resetting most of the streams they opened.",
                    "counter",
                    c.h2_reset_floods.load(Relaxed) as i64,
                ),
                (
                    "tollgate_client_tls_handshake_failures_total",
                    "Client connections closed because their TLS handshake failed or took longer than server.header_timeout.",
                    "counter",
                    c.tls_handshake_failures.load(Relaxed) as i64,
                ),
                (
                    "tollgate_lean_requests_total",
                    "Requests served on the lean HTTP/1 path (server.lean_http1); the others took Pingora's.",
                    "counter",
                    c.lean_requests.load(Relaxed) as i64,
                ),
            ],
        );
    }
}

/// Merges the texts of several workers into one exposition: samples with the same name and
/// labels are added up, except `tollgate_upstream_target_up`, which is the minimum (a target is
/// up only where every worker sees it up). Samples stay under the family (`# HELP`/`# TYPE`)
/// they came under, even when only a later worker has them (after a reload, say).
pub fn merge(texts: &[String]) -> String {
    struct Family {
        comments: Vec<String>,
        series: Vec<String>,
    }
    let mut families: Vec<Family> = Vec::new();
    let mut family_of: HashMap<String, usize> = HashMap::new();
    let mut values: HashMap<String, f64> = HashMap::new();
    for text in texts {
        let mut current: Option<usize> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# ") {
                let name = rest.split_whitespace().nth(1).unwrap_or("").to_string();
                let idx = *family_of.entry(name).or_insert_with(|| {
                    families.push(Family {
                        comments: Vec::new(),
                        series: Vec::new(),
                    });
                    families.len() - 1
                });
                if !families[idx].comments.iter().any(|c| c == line) {
                    families[idx].comments.push(line.to_string());
                }
                current = Some(idx);
                continue;
            }
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let v: f64 = value.parse().unwrap_or(0.0);
            match values.get_mut(series) {
                Some(old) if series.starts_with("tollgate_upstream_target_up") => *old = old.min(v),
                Some(old) => *old += v,
                None => {
                    values.insert(series.to_string(), v);
                    let idx = current.unwrap_or_else(|| {
                        families.push(Family {
                            comments: Vec::new(),
                            series: Vec::new(),
                        });
                        families.len() - 1
                    });
                    current = Some(idx);
                    families[idx].series.push(series.to_string());
                }
            }
        }
    }
    let mut out = String::with_capacity(texts.first().map_or(0, String::len) + 64);
    for f in families {
        for c in f.comments {
            let _ = writeln!(out, "{c}");
        }
        for s in f.series {
            let _ = writeln!(out, "{s} {}", values[&s]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_sums_counters_and_takes_min_of_health() {
        let a =
            "# TYPE x counter\nx{a=\"1\"} 2\ntollgate_upstream_target_up{t=\"1\"} 1\n".to_string();
        let b =
            "# TYPE x counter\nx{a=\"1\"} 3\ntollgate_upstream_target_up{t=\"1\"} 0\n".to_string();
        let m = merge(&[a, b]);
        assert_eq!(
            m,
            "# TYPE x counter\nx{a=\"1\"} 5\ntollgate_upstream_target_up{t=\"1\"} 0\n"
        );
    }

    #[test]
    fn a_series_only_a_later_worker_has_stays_in_its_family() {
        let a = "# TYPE x counter\nx{r=\"1\"} 1\n# TYPE y gauge\ny 1\n".to_string();
        let b = "# TYPE x counter\nx{r=\"1\"} 1\nx{r=\"2\"} 4\n# TYPE y gauge\ny 2\n".to_string();
        let m = merge(&[a, b]);
        assert_eq!(
            m,
            "# TYPE x counter\nx{r=\"1\"} 2\nx{r=\"2\"} 4\n# TYPE y gauge\ny 3\n"
        );
    }

    #[test]
    fn histogram_is_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_millis(300));
        let mut s = String::new();
        h.render(&mut s, "h", "u=\"x\"");
        assert!(s.contains("h_bucket{u=\"x\",le=\"0.005\"} 1"));
        assert!(s.contains("h_bucket{u=\"x\",le=\"0.5\"} 2"));
        assert!(s.contains("h_count{u=\"x\"} 2"));
    }
}
