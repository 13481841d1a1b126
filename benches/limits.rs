//! A local limit decision: hash the key, find its slot in the shared table, one GCRA step and
//! one compare-and-swap.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::Duration;
use tollgate::limits::gcra::Rate;
use tollgate::limits::local::{key_hash, now_ns, LocalTable};

fn bench(c: &mut Criterion) {
    let table = LocalTable::map(65_536).expect("shared table");
    // A limit that never refuses, so every iteration does the full update.
    let rate = Rate::new(u64::MAX / 2, Duration::from_secs(1), 1_000_000).expect("rate");
    let ips: Vec<String> = (0..10_000)
        .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
        .collect();
    let mut i = 0;
    c.bench_function("local_decision_10k_keys", |b| {
        b.iter(|| {
            i = (i + 1) % ips.len();
            let key = key_hash(&[b"per-ip", ips[i].as_bytes()]);
            table.decide(black_box(key), rate, now_ns(), 1).allowed
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
