//! Property tests of the config loader (`config::load`): whatever a file holds (arbitrary
//! bytes, TOML-like text, a valid configuration with keys mutated, removed or repeated) it
//! never panics, and every problem it reports is located: in the file it read, at a line and
//! column inside the text. A bounded number of cases runs in each `cargo test` (a few seconds
//! in a debug build); any input that ever broke the loader is kept below as a plain test.

use proptest::prelude::*;
use std::path::Path;

/// The shipped configuration, and one that uses every other section.
const SHIPPED: &str = include_str!("../../conf/tollgate.toml");
const FULL: &str = r#"
include = []

[server]
listen = ["127.0.0.1:18080", "[::1]:18080"]
workers = 2
threads = 1
grace_period = "10s"
max_header_bytes = "32KiB"
max_body_bytes = 1048576

[admin]
listen = "127.0.0.1:19090"
token = "${TOLLGATE_TEST_UNSET_TOKEN:-t0ken}"

[store]
path = "tollgate.db"
refresh = "100ms"
secret_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

[redis]
url = "redis://127.0.0.1:6379"

[log]
access = "off"
level = "debug"

[[upstreams]]
name = "echo"
targets = ["127.0.0.1:18001", "127.0.0.1:18002"]
balance = "consistent_hash"
hash_on = "header:x-user"
retries = 2
timeouts = { connect = "1s", read = "300ms", total = "5s" }
passive = { max_fails = 0 }
health_check = { path = "/health", interval = "200ms", timeout = "500ms" }

[[limits]]
name = "per-ip"
counts = "requests"
rate = 10
period = "1m"
burst = 10
key = ["client_ip", "route"]
scope = "cluster"
on_redis_error = "fail_closed"

[[limits]]
name = "budget"
counts = "cost"
rate = 2.5
period = "1d"
key = ["tenant", "model"]
status = 402

[[limits]]
name = "inflight"
counts = "concurrency"
max = 4
key = ["app"]

[[plans]]
name = "pro"
limits = ["per-ip", "budget"]

[[routes]]
name = "echo"
path_prefix = "/echo"
methods = ["GET", "POST"]
upstream = "echo"
strip_prefix = true
limits = ["per-ip", "inflight"]
response_headers = { set = { "x-served-by" = "tollgate" } }
[routes.api]
auth = "api_key"
approval = "manual"
version = "v1"

[[routes]]
name = "llm"
path_prefix = "/v1"
handler = "llm"
limits = ["budget"]

[[providers]]
name = "mock"
kind = "mock"
mock = { chunk_chars = 8 }

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "http://127.0.0.1:18102"
api_key = "${TOLLGATE_TEST_UNSET_KEY:-sk-x}"

[[models]]
name = "demo"
input_price = 1.5
output_price = 2.0
deployments = [{ provider = "mock", model = "mock-1", weight = 2 }, { provider = "anthropic", model = "claude" }]
fallbacks = []

[[tenants]]
name = "acme"
plan = "pro"
[[tenants.apps]]
name = "web"
subscriptions = ["echo"]
"#;

/// Loads `text` as a file of its own and checks the result. A panic fails the case; so does
/// a problem that is not in this file, or not at a line and column of its text.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tollgate.toml");
    std::fs::write(&path, bytes).unwrap();
    let Err(problems) = tollgate::config::load(&path) else {
        return Ok(());
    };
    prop_assert!(!problems.0.is_empty(), "refused without a problem");
    let text = std::str::from_utf8(bytes).ok();
    for p in &problems.0 {
        prop_assert!(p.file.starts_with(dir.path()), "{p}: not in the file read");
        prop_assert!(!p.message.trim().is_empty(), "{p}: no message");
        // A file that is not UTF-8 is not read as text: the problem is the whole file.
        let Some(text) = text.filter(|_| p.file == path) else {
            continue;
        };
        prop_assert!(located(text, p.line, p.col), "{p}: outside the text");
    }
    Ok(())
}

/// Whether line:col (1-based) is in `text`, or just after its end.
fn located(text: &str, line: usize, col: usize) -> bool {
    let lines: Vec<&str> = text.split('\n').collect();
    line >= 1
        && col >= 1
        && lines
            .get(line - 1)
            .is_some_and(|l| col <= l.chars().count() + 1)
}

/// The pieces TOML-like text is made of.
fn token() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "\n",
        " ",
        " = ",
        "=",
        "[",
        "]",
        "[[",
        "]]",
        "{",
        "}",
        ",",
        ".",
        "\"",
        "'",
        "#",
        "\\",
        "server",
        "routes",
        "upstreams",
        "limits",
        "models",
        "providers",
        "tenants",
        "apps",
        "plans",
        "store",
        "redis",
        "admin",
        "log",
        "include",
        "listen",
        "workers",
        "name",
        "targets",
        "upstream",
        "path_prefix",
        "handler",
        "rate",
        "period",
        "key",
        "scope",
        "deployments",
        "provider",
        "model",
        "kind",
        "token",
        "\"127.0.0.1:1\"",
        "\"llm\"",
        "\"mock\"",
        "\"1s\"",
        "\"0s\"",
        "\"99999999999d\"",
        "\"10MiB\"",
        "\"${X}\"",
        "\"${\"",
        "1",
        "0",
        "-1",
        "1e400",
        "nan",
        "inf",
        "18446744073709551616",
        "true",
        "1979-05-27",
        "\"\"\"",
        "'''",
        "\r\n",
        "\t",
        "é",
        "\u{feff}",
    ])
    .prop_map(String::from);
    prop_oneof![4 => fixed, 1 => "[a-z_]{1,8}", 1 => "\"[^\"\\\\]{0,8}\""]
}

/// A TOML value of any type, including ones far out of range for the key it lands on.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        "[0-9]{1,25}(ms|s|m|h|d|y|KiB|MiB|GiB|x)?".prop_map(|s| format!("\"{s}\"")),
        "\"[^\"\\\\]{0,12}\"",
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("[1, \"a\", { b = 2 }]".to_string()),
        Just("{ provider = \"mock\", model = \"m\" }".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
        Just("\"${UNSET_TOLLGATE_VAR}\"".to_string()),
        Just("\"${TOLLGATE_VAR:-x\"".to_string()),
        Just("\"0.0.0.0:0\"".to_string()),
        Just("\"[::1]:99999\"".to_string()),
    ]
}

/// One change to a line of a valid configuration.
#[derive(Debug, Clone)]
enum Mutation {
    Remove,
    Duplicate,
    RenameKey(String),
    SetValue(String),
    Insert(String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Remove),
        Just(Mutation::Duplicate),
        "[a-z_]{1,12}".prop_map(Mutation::RenameKey),
        value().prop_map(Mutation::SetValue),
        prop::collection::vec(token(), 1..6).prop_map(|t| Mutation::Insert(t.concat())),
    ]
}

/// Applies `m` to the line `at` (taken modulo the line count).
fn mutate(text: &str, at: usize, m: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    if lines.is_empty() {
        return text.to_string();
    }
    let i = at % lines.len();
    let line = lines[i].clone();
    let split = line.split_once('=');
    match m {
        Mutation::Remove => {
            lines.remove(i);
        }
        Mutation::Duplicate => lines.insert(i, line),
        Mutation::RenameKey(k) => {
            if let Some((_, v)) = split {
                lines[i] = format!("{k} ={v}");
            } else if line.starts_with('[') {
                lines[i] = line.replace(|c: char| c.is_ascii_alphabetic(), "") + k;
            }
        }
        Mutation::SetValue(v) => {
            if let Some((k, _)) = split {
                lines[i] = format!("{k}= {v}");
            }
        }
        Mutation::Insert(t) => lines.insert(i, t.clone()),
    }
    lines.join("\n") + "\n"
}

fn config() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![SHIPPED, FULL])
}

proptest! {
    // PROPTEST_CASES=N runs more (a longer hunt); 200 keeps the suite fast.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(200),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_are_refused_or_loaded_without_a_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..400)
    ) {
        check(&bytes)?;
    }

    #[test]
    fn toml_like_text_never_panics_and_every_problem_is_located(
        tokens in prop::collection::vec(token(), 0..80)
    ) {
        check(tokens.concat().as_bytes())?;
    }

    #[test]
    fn a_mutated_valid_config_never_panics_and_every_problem_is_located(
        base in config(),
        changes in prop::collection::vec((any::<usize>(), mutation()), 1..4)
    ) {
        let text = changes
            .iter()
            .fold(base.to_string(), |t, (at, m)| mutate(&t, *at, m));
        check(text.as_bytes())?;
    }
}

#[test]
fn both_base_configs_load() {
    for base in [SHIPPED, FULL] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tollgate.toml");
        std::fs::write(&path, base).unwrap();
        if let Err(p) = tollgate::config::load(&path) {
            panic!("{p}");
        }
        assert!(!Path::new(&path).with_extension("db").exists());
    }
}
