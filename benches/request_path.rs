//! Issue 17's hot-path benches: the request context's life (made, given an id, a route and an
//! in-flight slot, dropped) and the header rewrites of a plain proxied `GET` (the request head
//! sent upstream, the answer head sent back). `benches/request_allocs.rs` counts their
//! allocations.

mod common;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use std::sync::Arc;
use tollgate::proxy::ctx::{InflightGuard, RequestCtx, RequestIds};
use tollgate::telemetry::metrics::Registry;

fn bench(c: &mut Criterion) {
    let snap = common::snapshot();
    let route = common::route(&snap);
    let registry = Arc::new(Registry::default());
    let ids = RequestIds::new();
    c.bench_function("request_ctx_lifecycle", |b| {
        b.iter(|| {
            let mut ctx = RequestCtx::new();
            ctx.inflight = Some(InflightGuard::new(&registry));
            ctx.request_id = ids.next(None);
            ctx.route = Some(route.clone());
            black_box(&ctx);
        })
    });
    c.bench_function("request_id_made", |b| b.iter(|| ids.next(black_box(None))));
    c.bench_function("request_id_from_client", |b| {
        let client = http::HeaderValue::from_static("3f2a9c0d5e6b7a8c9d0e1f20");
        b.iter(|| ids.next(black_box(Some(&client))))
    });
    let id = ids.next(None);
    let request = common::get_request();
    c.bench_function("header_rewrite_request", |b| {
        b.iter_batched(
            || request.clone(),
            |mut req| {
                common::rewrite_request(&route, &request, &mut req, id.header());
                req
            },
            BatchSize::SmallInput,
        )
    });
    let response = common::small_response();
    c.bench_function("header_rewrite_response", |b| {
        b.iter_batched(
            || response.clone(),
            |mut resp| {
                common::rewrite_response(&route, &mut resp, id.header());
                resp
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
