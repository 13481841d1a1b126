//! A large store for the console's page-load figures: 100 tenants with 10 apps each in the
//! control-plane store, and a million calls over the last 7 days in the call store, written
//! by the project's own code (`Store::create_tenant`/`create_app`; each call's record written
//! as the proxy writes it, read back and inserted in batches as the call store's writer
//! thread does, totals included). Seeding takes a while, so the files are kept under
//! target/console-seed/<hash>/, the hash covering what could change them (this file and the
//! sources of the stores' formats), and reused while their calls still fill the last day.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tollgate::config::CallStoreSettings;
use tollgate::store::{Actor, Store};
use tollgate::telemetry::call::CallRecord;
use tollgate::telemetry::calls::{Call, CallStore, SqliteCalls};
use tollgate::telemetry::record::Record;

pub const TENANTS: u64 = 100;
pub const APPS_PER_TENANT: u64 = 10;
pub const CALLS: u64 = 1_000_000;
const SPAN_MS: u64 = 7 * 86_400_000;
/// A seed older than this no longer fills the usage page's default day: seed again.
const FRESH_FOR: Duration = Duration::from_secs(18 * 3600);
const BATCH: usize = 10_000;

/// The files that decide what a seeded store holds.
const SOURCES: &[&str] = &[
    "tests/it/console_seed.rs",
    "src/telemetry/calls/sqlite.rs",
    "src/telemetry/calls/rollup.rs",
    "src/telemetry/calls/hist.rs",
    "src/telemetry/record.rs",
    "src/telemetry/record/json.rs",
    "src/telemetry/call.rs",
    "src/store/migrations.rs",
    "src/store/tenants.rs",
];

/// A directory holding `tollgate.db` and `calls.db`, seeded now or earlier; and how long
/// seeding took (zero when reused).
pub fn seeded() -> (PathBuf, Duration) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    for s in SOURCES {
        feed(&std::fs::read(root.join(s)).unwrap_or_else(|e| panic!("{s}: {e}")));
    }
    let dir = root.join(format!("target/console-seed/{hash:016x}"));
    let fresh = std::fs::read_to_string(dir.join("seeded_at"))
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .is_some_and(|at| now_ms().saturating_sub(at) < FRESH_FOR.as_millis() as u64);
    if fresh {
        return (dir, Duration::ZERO);
    }
    let started = Instant::now();
    // Built beside and renamed into place, so that a seed cut short is never reused.
    let building = root.join(format!(
        "target/console-seed/building-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&building).unwrap();
    let now = now_ms();
    seed_store(&building.join("tollgate.db"));
    seed_calls(&building.join("calls.db"), now);
    std::fs::write(building.join("seeded_at"), now.to_string()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&building, &dir).unwrap();
    // Seeds of other sources are no longer used: nearly a gigabyte each.
    for old in std::fs::read_dir(root.join("target/console-seed"))
        .unwrap()
        .flatten()
    {
        let name = old.file_name().to_string_lossy().into_owned();
        if name.len() == 16 && old.path() != dir {
            let _ = std::fs::remove_dir_all(old.path());
        }
    }
    (dir, started.elapsed())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub fn tenant(i: u64) -> String {
    format!("tenant-{i:03}")
}

/// App `j`, of tenant `j / APPS_PER_TENANT`.
pub fn app(j: u64) -> String {
    format!("app-{j:04}")
}

fn seed_store(path: &Path) {
    let store = Store::create(path).unwrap();
    let actor = Actor::new("seed", None);
    for t in 0..TENANTS {
        store
            .create_tenant(&actor, &tenant(t), "A tenant of the page-load figures")
            .unwrap();
        for a in 0..APPS_PER_TENANT {
            let j = t * APPS_PER_TENANT + a;
            store
                .create_app(&actor, &tenant(t), &app(j), "", None)
                .unwrap();
        }
    }
}

pub fn call_settings(path: &Path) -> CallStoreSettings {
    CallStoreSettings {
        path: path.to_path_buf(),
        retention: Duration::from_secs(30 * 86_400),
        max_size: 16 << 30,
        queue: 65_536,
        rollups: [Duration::from_secs(730 * 86_400); 3],
    }
}

fn seed_calls(path: &Path, now: u64) {
    let mut store = SqliteCalls::open(&call_settings(path), 0).unwrap();
    let first = now - SPAN_MS;
    let mut lines = Vec::with_capacity(BATCH);
    for i in 0..CALLS {
        lines.push(line(i, first + i * SPAN_MS / CALLS));
        if lines.len() == BATCH || i + 1 == CALLS {
            let calls: Vec<Call<'_>> = lines
                .iter()
                .map(|json| Call {
                    record: serde_json::from_str(json).unwrap(),
                    json,
                })
                .collect();
            store.insert(&calls).unwrap();
            lines.clear();
        }
    }
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

/// The JSON line of call `i`, at `at_ms`: one of the 1,000 apps (and its one key), two thirds
/// chats on one of 10 models, the rest REST calls on `orders`; about 2% 5xx and 3% 429.
fn line(i: u64, at_ms: u64) -> String {
    let r = mix(i);
    let j = r % (TENANTS * APPS_PER_TENANT);
    let llm = !r.is_multiple_of(3);
    let model = if (r >> 8).is_multiple_of(10) {
        "demo".to_string()
    } else {
        format!("model-{}", (r >> 8) % 10)
    };
    let status: u16 = match (r >> 50) % 100 {
        0 | 1 => 503,
        2..=4 => 429,
        _ => 200,
    };
    let rec = CallRecord {
        requested_model: model.clone(),
        model: model.clone(),
        deployment: format!("mock/{model}"),
        provider: "mock".into(),
        stream: r.is_multiple_of(2),
        prompt_tokens: 20 + (r >> 16) % 2000,
        completion_tokens: 5 + (r >> 24) % 500,
        cost_usd: 0.0001 * ((r >> 32) % 100) as f64,
        ttft_ms: Some(80.0 + ((r >> 40) % 400) as f64),
        attempts: 1,
        outcome: "ok".into(),
        ..CallRecord::default()
    };
    let id = format!("seed{i:020x}");
    let (tenant, app, key) = (tenant(j / APPS_PER_TENANT), app(j), format!("k{j:07}"));
    let path = format!("/orders/items/{}", r % 5000);
    let record = Record {
        time: UNIX_EPOCH + Duration::from_millis(at_ms),
        request_id: Cow::Borrowed(&id),
        route: Cow::Borrowed(if llm { "llm" } else { "orders" }),
        api_version: None,
        upstream: (!llm).then_some(Cow::Borrowed("127.0.0.1:8080")),
        method: Cow::Borrowed(if llm { "POST" } else { "GET" }),
        path: Cow::Borrowed(if llm { "/v1/chat/completions" } else { &path }),
        status,
        bytes_in: if llm { 983 } else { 0 },
        bytes_out: 1843,
        latency_ms: 1.0 + ((r >> 44) % 3000) as f64 / 10.0,
        upstream_latency_ms: Some(1.0),
        ttfb_ms: Some(0.8),
        attempts: 1,
        client: Some([10, 0, (r >> 8) as u8, r as u8].into()),
        error: None,
        error_code: (status == 429).then_some(Cow::Borrowed("rate_limited")),
        tenant: Some(Cow::Borrowed(&tenant)),
        app: Some(Cow::Borrowed(&app)),
        key: Some(Cow::Borrowed(&key)),
        client_cert: None,
        grpc_status: None,
        llm: llm.then_some(Cow::Owned(rec)),
    };
    let mut out = Vec::new();
    assert!(record.write_json(&mut out, None));
    String::from_utf8(out).unwrap()
}
