//! What one access log line costs the request that writes it: formatting a record (a plain
//! proxied request, and an LLM call with its usage), and the whole `AccessLog::write` into a
//! file-backed log, hand-overs to the writer thread included.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::SystemTime;
use tollgate::config::AccessLogTarget;
use tollgate::telemetry::access_log::AccessLog;
use tollgate::telemetry::batch::SinkStats;
use tollgate::telemetry::call::CallRecord;
use tollgate::telemetry::record::Record;

fn record(llm: Option<&CallRecord>) -> Record<'_> {
    Record {
        time: SystemTime::now(),
        request_id: "01JEXAMPLE0REQUEST0ID0000".into(),
        route: "orders-api".into(),
        api_version: Some("v1".into()),
        upstream: Some("10.0.0.12:8080".into()),
        method: "GET".into(),
        path: "/orders/v1/items/12345".into(),
        status: 200,
        bytes_in: 0,
        bytes_out: 1843,
        latency_ms: 1.734,
        upstream_latency_ms: Some(1.211),
        ttfb_ms: Some(1.5),
        attempts: 1,
        client: Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 44))),
        error: None,
        error_code: None,
        tenant: Some("acme".into()),
        app: Some("web".into()),
        key: Some("k3x9q2m7a1b4".into()),
        client_cert: None,
        grpc_status: None,
        llm: llm.map(Cow::Borrowed),
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
        outcome: "ok".into(),
        ..CallRecord::default()
    }
}

fn bench(c: &mut Criterion) {
    let mut buf = Vec::with_capacity(64 << 10);
    c.bench_function("access_log_format_rest", |b| {
        b.iter(|| {
            buf.clear();
            assert!(record(None).write_json(&mut buf, None));
            black_box(buf.len())
        })
    });
    let llm = call();
    c.bench_function("access_log_format_llm", |b| {
        b.iter(|| {
            buf.clear();
            assert!(record(Some(&llm)).write_json(&mut buf, None));
            black_box(buf.len())
        })
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let target = AccessLogTarget::File(dir.path().join("access.log"));
    let stats = Arc::new(SinkStats::default());
    let log = AccessLog::start(&target, 65536, stats).expect("log starts");
    c.bench_function("access_log_write_rest", |b| {
        b.iter(|| log.write(|out| black_box(&record(None)).write_json(out, None)))
    });
    log.flush(std::time::Duration::from_secs(5));
}

criterion_group!(benches, bench);
criterion_main!(benches);
