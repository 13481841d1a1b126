//! A local limit decision: hash the key, find its slot in the shared table, one GCRA step and
//! one compare-and-swap. And a cluster decision in Redis, per request and leased.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::time::Duration;
use tollgate::base::clock::now_ns;
use tollgate::base::gcra::Rate;
use tollgate::limits::local::{key_hash, LocalTable};

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

criterion_group!(benches, bench, bench_redis);
criterion_main!(benches);

/// A decision in Redis, per request (one EVALSHA round trip on loopback) and from a lease
/// (spent locally, refilled in the background), against a `redis-server` started here.
fn bench_redis(c: &mut Criterion) {
    let Some(server) = RedisProcess::start() else {
        eprintln!("redis-server is not installed: skipping the Redis decision benchmarks");
        return;
    };
    let text = format!(
        r#"
[redis]
url = "redis://127.0.0.1:{}"
[[limits]]
name = "per-request"
rate = 1000000000
period = "1s"
key = ["client_ip"]
scope = "cluster"
[[limits]]
name = "leased"
rate = 1000000000
period = "1s"
key = ["client_ip"]
scope = "cluster"
sync = "lease"
lease = 1000
"#,
        server.port
    );
    let file: tollgate::config::schema::FileConfig = toml::from_str(&text).expect("bench config");
    let config = tollgate::config::compile(&file).expect("bench config compiles");
    let table = LocalTable::map(1024).expect("shared table");
    let cluster = tollgate::limits::cluster::start(config.redis.as_ref(), table).expect("link");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let metrics = std::sync::Arc::new(tollgate::telemetry::metrics::LimitMetrics::default());
    for (i, name) in ["redis_decision_per_request", "redis_decision_leased"]
        .into_iter()
        .enumerate()
    {
        let spec = &config.limits[i];
        let cs = spec.cluster.as_ref().expect("cluster limit");
        let draw = tollgate::limits::vocab::Draw {
            limit: i,
            rate: spec.gcra,
            key: key_hash(&[spec.name.as_bytes(), b"10.0.0.1"]),
        };
        c.bench_function(name, |b| {
            b.iter(|| {
                let take = cluster.take(spec, cs, &metrics, &draw, 1, now_ns());
                let verdict = rt.block_on(take);
                assert!(matches!(verdict, Ok((d, _)) if d.allowed), "{verdict:?}");
            })
        });
    }
    drop(server);
}

struct RedisProcess {
    child: std::process::Child,
    port: u16,
}

impl RedisProcess {
    fn start() -> Option<RedisProcess> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let up = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < up, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(RedisProcess { child, port })
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
