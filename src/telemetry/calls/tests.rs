//! The SQLite call store on its own: totals, percentiles, retention by age and by size.

use super::*;
use crate::telemetry::call::CallRecord;
use std::borrow::Cow;
use std::time::{Duration, UNIX_EPOCH};

fn settings(dir: &std::path::Path) -> CallStoreSettings {
    CallStoreSettings {
        path: dir.join("calls.db"),
        retention: Duration::from_secs(3600),
        max_size: 1 << 30,
        queue: 1000,
        rollups: [Duration::from_secs(7200); 3],
    }
}

/// A call `ms` after the epoch, of `tenant`, on model `model` ("" for a REST call).
fn record(i: usize, ms: u64, tenant: &str, model: &str, latency: f64) -> Record<'static> {
    Record {
        time: UNIX_EPOCH + Duration::from_millis(ms),
        request_id: format!("r{i}").into(),
        route: "r".into(),
        api_version: None,
        upstream: None,
        method: "GET".into(),
        path: "/".into(),
        status: if i % 10 == 9 { 503 } else { 200 },
        bytes_in: 0,
        bytes_out: 10,
        latency_ms: latency,
        upstream_latency_ms: None,
        ttfb_ms: Some(latency / 2.0),
        attempts: 1,
        client: None,
        error: None,
        error_code: None,
        tenant: Some(tenant.to_string().into()),
        app: None,
        key: None,
        client_cert: None,
        grpc_status: None,
        llm: (!model.is_empty()).then(|| {
            Cow::Owned(CallRecord {
                requested_model: model.into(),
                model: model.into(),
                provider: "p".into(),
                prompt_tokens: 10,
                completion_tokens: 5,
                cost_usd: 0.25,
                ..CallRecord::default()
            })
        }),
    }
}

fn insert(store: &mut SqliteCalls, records: Vec<Record<'static>>) {
    let json: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    let calls: Vec<Call<'_>> = records
        .into_iter()
        .zip(&json)
        .map(|(record, json)| Call { record, json })
        .collect();
    store.insert(&calls).unwrap();
}

#[test]
fn totals_add_up_across_batches_and_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteCalls::open(&settings(dir.path()), 0).unwrap();
    // 100 calls a minute apart... in two batches, so totals merge in the upsert too.
    let hour: i64 = 3_600_000;
    let all: Vec<_> = (0..100)
        .map(|i| {
            record(
                i,
                (hour + i as i64 * 60_000) as u64,
                "acme",
                "gpt",
                (i + 1) as f64,
            )
        })
        .collect();
    let (a, b): (Vec<_>, Vec<_>) = all.into_iter().partition(|r| r.request_id.len() % 2 == 0);
    insert(&mut store, a);
    insert(&mut store, b);
    let q = |bucket| UsageQuery {
        from: 0,
        to: 10 * hour,
        group_by: GroupBy::Model,
        bucket,
        tenant: None,
    };
    let hours = store.usage(&q(Bucket::Hour)).unwrap();
    assert_eq!(hours.len(), 2);
    assert_eq!(hours[0].bucket, "1970-01-01T01:00:00Z");
    assert_eq!(hours.iter().map(|r| r.counts.requests).sum::<u64>(), 100);
    let day = store.usage(&q(Bucket::Day)).unwrap();
    assert_eq!(day.len(), 1);
    let d = &day[0];
    assert_eq!(
        (d.group.as_str(), d.counts.requests, d.counts.errors),
        ("gpt", 100, 10)
    );
    assert_eq!(
        (d.counts.prompt_tokens, d.counts.completion_tokens),
        (1000, 500)
    );
    assert!((d.counts.cost_usd - 25.0).abs() < 1e-9);
    let p50 = d.latency_ms.p50.unwrap();
    assert!((50.0..=50.0 * 1.19).contains(&p50), "{p50}");
    assert_eq!(store.usage(&q(Bucket::Minute)).unwrap().len(), 100);
    let other = UsageQuery {
        tenant: Some("globex".into()),
        ..q(Bucket::Day)
    };
    assert!(store.usage(&other).unwrap().is_empty());
}

#[test]
fn old_calls_and_totals_go_by_age() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteCalls::open(&settings(dir.path()), 0).unwrap();
    let now = 10 * 3_600_000;
    insert(
        &mut store,
        vec![
            record(0, now - 3 * 3_600_000, "a", "", 1.0),
            record(1, now - 1_000, "a", "", 1.0),
        ],
    );
    let pruned = store.prune(now as i64).unwrap();
    assert_eq!(pruned.calls, 1);
    // The old call's minute and hour are past their two hours; its day is not over.
    assert_eq!(pruned.totals, 2);
    let page = store
        .calls(&CallFilter {
            limit: 10,
            ..CallFilter::default()
        })
        .unwrap();
    assert_eq!(page.calls.len(), 1);
    assert_eq!(page.calls[0]["request_id"], "r1");
}

#[test]
fn the_oldest_calls_go_when_the_file_outgrows_its_cap() {
    let dir = tempfile::tempdir().unwrap();
    let s = CallStoreSettings {
        max_size: 1 << 20,
        ..settings(dir.path())
    };
    let mut store = SqliteCalls::open(&s, 0).unwrap();
    let pad = "x".repeat(2000);
    for batch in 0..10 {
        let records = (0..200)
            .map(|i| {
                let n = batch * 200 + i;
                let mut r = record(n, 1_000 + n as u64, "a", "", 1.0);
                r.path = Cow::Owned(format!("/{pad}"));
                r
            })
            .collect();
        insert(&mut store, records);
    }
    assert!(store.used_bytes().unwrap() > 1 << 22);
    let pruned = store.prune(10_000).unwrap();
    assert!(pruned.calls > 0);
    assert!(store.used_bytes().unwrap() <= 1 << 20);
    let newest = store
        .calls(&CallFilter {
            limit: 1,
            ..CallFilter::default()
        })
        .unwrap();
    assert_eq!(newest.calls[0]["request_id"], "r1999", "the newest stay");
    let file = std::fs::metadata(&s.path).unwrap().len();
    assert!(
        file <= 2 << 20,
        "pages went back to the file system: {file}"
    );
}

#[test]
fn the_path_filter_finds_calls_whose_path_contains_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteCalls::open(&settings(dir.path()), 0).unwrap();
    let records = [
        "/orders/17",
        "/orders/170/items",
        "/health",
        "/v1/%_orders",
        "/q\"uote\\d",
    ]
    .iter()
    .enumerate()
    .map(|(i, p)| {
        let mut r = record(i, 1_000 + i as u64, "a", "", 1.0);
        r.path = Cow::Owned((*p).to_string());
        r
    })
    .collect();
    insert(&mut store, records);
    let ids = |text: &str| -> Vec<String> {
        let page = store
            .calls(&CallFilter {
                path: Some(text.into()),
                limit: 10,
                ..CallFilter::default()
            })
            .unwrap();
        page.calls
            .iter()
            .map(|c| c["request_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids("orders/17"), ["r1", "r0"]);
    // Plain text, not a pattern: LIKE's wildcards match only themselves.
    assert_eq!(ids("%_"), ["r3"]);
    assert!(ids("/nowhere").is_empty());
    // Text the record escapes is still found (past the raw-text test, which it skips)...
    assert_eq!(ids("q\"uote\\"), ["r4"]);
    // ...and text elsewhere in the record than its path is not.
    assert!(ids("request_id").is_empty());
}
