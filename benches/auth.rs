//! The API gate's cost per request: a keyed route (key lookup among 10,000, SHA-256 of the
//! secret, constant-time compare, visibility, subscription) against an open route.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::io::Write;
use tollgate::auth::Directory;
use tollgate::base::api_key as key;
use tollgate::store::{AppRow, KeyRow, Origin, Rows, SubState, SubscriptionRow};

const KEYS: usize = 10_000;

fn config() -> tollgate::config::Config {
    let text = "[server]\nlisten = [\"127.0.0.1:1\"]\nworkers = 1\n\
        [store]\npath = \"bench.db\"\n\
        [[upstreams]]\nname = \"u\"\ntargets = [\"127.0.0.1:2\"]\n\
        [[routes]]\nname = \"keyed\"\npath_prefix = \"/keyed\"\nupstream = \"u\"\n[routes.api]\nauth = \"api_key\"\n\
        [[routes]]\nname = \"open\"\npath_prefix = \"/open\"\nupstream = \"u\"\n";
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(text.as_bytes()).expect("write");
    tollgate::config::load(f.path()).expect("valid bench config")
}

/// 10,000 apps with one key and three subscriptions each; returns one of the keys.
fn directory() -> (Directory, String) {
    let mut rows = Rows::default();
    let mut some_key = String::new();
    for i in 0..KEYS {
        let (tenant, app) = (format!("t{}", i % 100), format!("a{i}"));
        let k = key::generate().expect("random");
        rows.apps.push(AppRow {
            tenant: tenant.clone(),
            name: app.clone(),
            description: String::new(),
            models: None,
            source: Origin::Admin,
            created_at: 0,
        });
        for api in ["keyed", "other", "third"] {
            rows.subscriptions.push(SubscriptionRow {
                id: 0,
                tenant: tenant.clone(),
                app: app.clone(),
                api: api.into(),
                state: SubState::Active,
                reason: None,
                created_at: 0,
                updated_at: 0,
                source: Origin::Admin,
            });
        }
        rows.keys.push(KeyRow {
            public_id: k.public_id.clone(),
            tenant,
            app,
            name: String::new(),
            hash: k.hash,
            created_at: 0,
            expires_at: Some(i64::MAX),
            revoked_at: None,
            source: Origin::Admin,
        });
        if i == KEYS / 2 {
            some_key = k.full;
        }
    }
    (Directory::build(rows, None, Default::default()).0, some_key)
}

fn bench(c: &mut Criterion) {
    let registry = tollgate::telemetry::metrics::Registry::default();
    let snap = tollgate::snapshot::Snapshot::build(std::sync::Arc::new(config()), &registry, None);
    let (dir, full) = directory();
    let route = |name: &str| {
        snap.routes
            .find(
                "h",
                &format!("/{name}"),
                &http::Method::GET,
                &http::HeaderMap::new(),
            )
            .expect("route")
            .clone()
    };
    let (keyed, open) = (route("keyed"), route("open"));
    let mut req = pingora::http::RequestHeader::build("GET", b"/keyed/x", None).expect("request");
    req.insert_header("authorization", format!("Bearer {full}"))
        .expect("header");
    c.bench_function("gate_open_route", |b| {
        b.iter(|| {
            tollgate::proxy::access::check(&open, &snap, &dir, black_box(&req), &mut None).is_ok()
        })
    });
    c.bench_function("gate_keyed_route_10k_keys", |b| {
        b.iter(|| {
            tollgate::proxy::access::check(&keyed, &snap, &dir, black_box(&req), &mut None).is_ok()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
