//! Hot-path costs of the routing layer: the request-target normalisation, route lookup in a
//! table of realistic size, and target selection for each balancing policy.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use http::{HeaderMap, Method};
use std::io::Write;
use tollgate::base::hash::mix;
use tollgate::config::BalanceSpec;
use tollgate::routing::upstream::UpstreamGroup;

/// A config of 50 routes over 4 upstreams, loaded the way the gateway loads it.
fn config() -> tollgate::config::Config {
    let mut text = String::from("[server]\nlisten = [\"127.0.0.1:1\"]\nworkers = 1\n");
    for u in 0..4 {
        text.push_str(&format!(
            "[[upstreams]]\nname = \"u{u}\"\ntargets = [\"127.0.0.1:{}\", \"127.0.0.1:{}\", {{ addr = \"127.0.0.1:{}\", weight = 3 }}]\n",
            1000 + u,
            2000 + u,
            3000 + u
        ));
    }
    for r in 0..50 {
        text.push_str(&format!(
            "[[routes]]\nname = \"r{r}\"\npath_prefix = \"/svc{r}/v1\"\nupstream = \"u{}\"\n",
            r % 4
        ));
    }
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(text.as_bytes()).expect("write");
    tollgate::config::load(f.path()).expect("valid bench config")
}

fn bench(c: &mut Criterion) {
    let cfg = std::sync::Arc::new(config());
    let registry = tollgate::telemetry::metrics::Registry::default();
    let snap = tollgate::snapshot::Snapshot::build(cfg.clone(), &registry, None);
    let headers = HeaderMap::new();
    // Most paths are already normal: one scan, no allocation.
    c.bench_function("normalize_normal_path", |b| {
        b.iter(|| tollgate::routing::target::normalize(black_box("/svc37/v1/orders/42")))
    });
    c.bench_function("normalize_dot_segments", |b| {
        b.iter(|| {
            tollgate::routing::target::normalize(black_box("/svc37/v1/../v1/./orders/%34%32"))
        })
    });
    c.bench_function("route_lookup_50_routes", |b| {
        b.iter(|| {
            snap.routes.find(
                black_box("api.example.com"),
                black_box("/svc37/v1/orders/42"),
                &Method::GET,
                &headers,
            )
        })
    });
    for (name, balance) in [
        ("round_robin", BalanceSpec::RoundRobin),
        ("weighted", BalanceSpec::Weighted),
        ("least_inflight", BalanceSpec::LeastInflight),
        (
            "consistent_hash",
            BalanceSpec::ConsistentHash(tollgate::config::HashOn::ClientIp),
        ),
    ] {
        let mut spec = cfg.upstreams[0].clone();
        spec.balance = balance;
        let group = UpstreamGroup::new(spec, Default::default());
        let mut k = 0u64;
        c.bench_function(&format!("select_{name}"), |b| {
            b.iter(|| {
                k += 1;
                group.select(Some(mix(k)), 0)
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
