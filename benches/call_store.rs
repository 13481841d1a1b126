//! The call store at scale: one million calls over one day (120 keys of 40 apps of 20 tenants,
//! LLM calls over 10 models and REST calls over 4 routes), then what the dashboards ask of it
//! (a day's usage by model, per hour and per day; a tenant's usage per minute over an hour;
//! the newest page of a tenant's calls; one call by its request id), and what storing one
//! call costs the writer thread.
//! `CALLS=200000 cargo bench --bench call_store` for a smaller store.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::borrow::Cow;
use std::time::{Duration, UNIX_EPOCH};
use tollgate::config::CallStoreSettings;
use tollgate::telemetry::call::CallRecord;
use tollgate::telemetry::calls::{
    Bucket, Call, CallFilter, CallStore, GroupBy, SqliteCalls, UsageQuery,
};
use tollgate::telemetry::record::Record;

const DAY_MS: u64 = 86_400_000;
/// 2026-12-01T00:00:00Z.
const START_MS: u64 = 1_796_083_200_000;

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^ (x >> 33)
}

/// The JSON line of call `i` of `n`, spread evenly over the day; with `spread` off, every
/// call is the same key's GET on one route (as in the load test's `store` case).
fn line(i: u64, n: u64, spread: bool) -> String {
    let r = if spread { mix(i) } else { 3 };
    let key = r % 120;
    let llm = !r.is_multiple_of(3);
    let model = format!("model-{}", (r >> 8) % 10);
    let rec = CallRecord {
        requested_model: model.clone(),
        model: model.clone(),
        deployment: format!("p{}/{model}", (r >> 8) % 10 % 3),
        provider: format!("p{}", (r >> 8) % 10 % 3),
        stream: r.is_multiple_of(2),
        prompt_tokens: 200 + (r >> 16) % 2000,
        completion_tokens: 50 + (r >> 24) % 500,
        cost_usd: 0.0001 * ((r >> 32) % 100) as f64,
        ttft_ms: Some(80.0 + ((r >> 40) % 400) as f64),
        attempts: 1,
        outcome: "ok".into(),
        ..CallRecord::default()
    };
    let id = format!("{i:024x}");
    let route = if llm {
        "llm".to_string()
    } else {
        format!("rest-{}", r % 4)
    };
    let tenant = format!("tenant-{}", key / 6);
    let app = format!("app-{}", key / 3);
    let key_id = format!("key{key:09}");
    let record = Record {
        time: UNIX_EPOCH + Duration::from_millis(START_MS + i * DAY_MS / n),
        request_id: Cow::Borrowed(&id),
        route: Cow::Borrowed(&route),
        api_version: None,
        upstream: (!llm).then_some(Cow::Borrowed("10.0.0.12:8080")),
        method: Cow::Borrowed(if llm { "POST" } else { "GET" }),
        path: Cow::Borrowed(if llm {
            "/v1/chat/completions"
        } else {
            "/orders/v1/items/12345"
        }),
        status: if r.is_multiple_of(50) { 503 } else { 200 },
        bytes_in: if llm { 983 } else { 0 },
        bytes_out: 1843,
        latency_ms: 1.0 + ((r >> 44) % 3000) as f64 / 10.0,
        upstream_latency_ms: Some(1.0),
        ttfb_ms: Some(0.8),
        attempts: 1,
        client: None,
        error: None,
        error_code: None,
        tenant: Some(Cow::Borrowed(&tenant)),
        app: Some(Cow::Borrowed(&app)),
        key: Some(Cow::Borrowed(&key_id)),
        client_cert: None,
        grpc_status: None,
        llm: llm.then_some(Cow::Owned(rec)),
    };
    let mut out = Vec::new();
    record.write_json(&mut out, None);
    String::from_utf8(out).expect("JSON is UTF-8")
}

fn insert(store: &mut SqliteCalls, lines: &[String]) {
    let calls: Vec<Call<'_>> = lines
        .iter()
        .map(|json| Call {
            record: serde_json::from_str(json).expect("a record"),
            json,
        })
        .collect();
    store.insert(&calls).expect("inserted");
}

fn settings(dir: &std::path::Path) -> CallStoreSettings {
    CallStoreSettings {
        path: dir.join("calls.db"),
        retention: Duration::from_secs(30 * 86_400),
        max_size: 1 << 40,
        queue: 65_536,
        rollups: [Duration::from_secs(730 * 86_400); 3],
    }
}

fn bench(c: &mut Criterion) {
    let n: u64 = std::env::var("CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = SqliteCalls::open(&settings(dir.path()), 0).expect("store");
    let started = std::time::Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        let lines: Vec<String> = chunk.iter().map(|&i| line(i, n, true)).collect();
        insert(&mut store, &lines);
    }
    let took = started.elapsed();
    eprintln!(
        "stored {n} calls in {:.1}s ({:.1} µs per call, in batches of 10000); file {} MiB",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64,
        std::fs::metadata(dir.path().join("calls.db")).map_or(0, |m| m.len() >> 20)
    );

    let day = |group_by, bucket| UsageQuery {
        from: START_MS as i64,
        to: (START_MS + DAY_MS) as i64,
        group_by,
        bucket,
        tenant: None,
    };
    c.bench_function("usage_day_by_model_hourly", |b| {
        b.iter(|| {
            black_box(
                store
                    .usage(&day(GroupBy::Model, Bucket::Hour))
                    .expect("usage"),
            )
        })
    });
    c.bench_function("usage_day_by_model_daily", |b| {
        b.iter(|| {
            black_box(
                store
                    .usage(&day(GroupBy::Model, Bucket::Day))
                    .expect("usage"),
            )
        })
    });
    let tenant_hour = UsageQuery {
        from: (START_MS + DAY_MS / 2) as i64,
        to: (START_MS + DAY_MS / 2 + 3_600_000) as i64,
        group_by: GroupBy::App,
        bucket: Bucket::Minute,
        tenant: Some("tenant-7".into()),
    };
    c.bench_function("usage_tenant_hour_by_app_per_minute", |b| {
        b.iter(|| black_box(store.usage(&tenant_hour).expect("usage")))
    });
    let page = CallFilter {
        tenant: Some("tenant-7".into()),
        limit: 50,
        ..CallFilter::default()
    };
    c.bench_function("calls_newest_page_of_a_tenant", |b| {
        b.iter(|| black_box(store.calls(&page).expect("calls")))
    });
    // A call from the middle of the day, by its request id (the id `line` gives call i).
    let id = format!("{:024x}", n / 2);
    c.bench_function("call_by_request_id", |b| {
        b.iter(|| black_box(store.call(&id, None).expect("call").expect("found")))
    });
    let errors = CallFilter {
        status_class: Some(5),
        model: Some("model-3".into()),
        limit: 50,
        ..CallFilter::default()
    };
    c.bench_function("calls_newest_page_of_5xx_on_a_model", |b| {
        b.iter(|| black_box(store.calls(&errors).expect("calls")))
    });

    // New calls after the day: a batch of a thousand, as a writer thread sees them.
    let mut next = n;
    let mut group = c.benchmark_group("call_store_write");
    group.throughput(criterion::Throughput::Elements(1000));
    for (name, spread) in [
        ("decode_and_insert_1000", true),
        ("decode_and_insert_1000_one_route", false),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    next += 1000;
                    (next..next + 1000)
                        .map(|i| line(i, n, spread))
                        .collect::<Vec<_>>()
                },
                |batch| insert(&mut store, black_box(&batch)),
                criterion::BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
