//! What one access log line costs the request that writes it: formatting a record (a plain
//! proxied request, and an LLM call with its usage), and the whole `AccessLog::write` into a
//! file-backed log, hand-overs to the writer thread included.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::SystemTime;
use tollgate::config::AccessLogTarget;
use tollgate::telemetry::access_log::{AccessLog, AccessRecord, LogStats};
use tollgate::telemetry::call::CallRecord;

fn record<'a>(llm: Option<&'a CallRecord>) -> AccessRecord<'a> {
    AccessRecord {
        time: SystemTime::now(),
        request_id: "01JEXAMPLE0REQUEST0ID0000",
        route: "orders-api",
        upstream: Some("10.0.0.12:8080"),
        method: "GET",
        path: "/orders/v1/items/12345",
        status: 200,
        bytes: 1843,
        latency_ms: 1.734,
        upstream_latency_ms: Some(1.211),
        attempts: 1,
        client: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 44))),
        error: None,
        tenant: Some("acme"),
        app: Some("web"),
        llm,
        capture: None,
    }
}

fn call() -> CallRecord {
    CallRecord {
        requested_model: "gpt-4o".into(),
        model: "gpt-4o".into(),
        deployment: "openai/gpt-4o-2024-08-06".into(),
        provider: "openai".into(),
        stream: true,
        prompt_tokens: 1200,
        completion_tokens: 310,
        cached_tokens: 1024,
        cost_usd: 0.00612,
        ttft_ms: Some(212.5),
        attempts: 1,
        outcome: "ok",
        ..CallRecord::default()
    }
}

fn bench(c: &mut Criterion) {
    let mut buf = Vec::with_capacity(64 << 10);
    c.bench_function("access_log_format_rest", |b| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, &record(None)).expect("formats");
            black_box(buf.len())
        })
    });
    let llm = call();
    c.bench_function("access_log_format_llm", |b| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, &record(Some(&llm))).expect("formats");
            black_box(buf.len())
        })
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let target = AccessLogTarget::File(dir.path().join("access.log"));
    let stats = Arc::new(LogStats::default());
    let log = AccessLog::start(&target, 65536, stats).expect("log starts");
    c.bench_function("access_log_write_rest", |b| {
        b.iter(|| log.write(black_box(&record(None))))
    });
    log.flush(std::time::Duration::from_secs(5));
}

criterion_group!(benches, bench);
criterion_main!(benches);
