//! `tollgate validate`: every problem with file:line:col and key path, exit 1; and `conf/`.

use crate::common;
use common::*;
use std::process::Command;
use std::sync::LazyLock;
use std::time::Duration;

/// The data and admin ports of `SPEC_EXAMPLE`: held by this process (`free_port`), so `run` on
/// the example, were it ever accepted, could not take a port another test uses.
static PORTS: LazyLock<(u16, u16)> = LazyLock::new(|| (free_port(), free_port()));

/// How long a `tollgate validate` or refused `tollgate run` may take.
const DEADLINE: Duration = Duration::from_secs(20);

static SPEC_EXAMPLE: LazyLock<String> = LazyLock::new(|| {
    SPEC_TEMPLATE
        .replace("DATA_PORT", &PORTS.0.to_string())
        .replace("ADMIN_PORT", &PORTS.1.to_string())
});

const SPEC_TEMPLATE: &str = r#"
[server]
listen = ["127.0.0.1:DATA_PORT"]
workers = 2
threads = 1

[admin]
listen = "127.0.0.1:ADMIN_PORT"
token = "${TOLLGATE_ADMIN_TOKEN}"

[[upstreams]]
name = "echo"
targets = ["127.0.0.1:18001", "127.0.0.1:18002"]
balance = "round_robin"
health_check = { path = "/health", interval = "1s" }

[[routes]]
name = "echo"
path_prefix = "/echo"
upstream = "echo"
"#;

fn validate_env(text: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    std::fs::write(&path, text).unwrap();
    let mut cmd = Command::new(binary());
    cmd.args(["validate", "-c"])
        .arg(&path)
        .env_remove("TOLLGATE_ADMIN_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = output_within(&mut cmd, DEADLINE);
    let stderr =
        String::from_utf8_lossy(&out.stderr).replace(&path.to_string_lossy().to_string(), "t.toml");
    (
        out.status.success(),
        stderr,
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn the_spec_example_validates() {
    let (ok, err, _) = validate_env(&SPEC_EXAMPLE, &[("TOLLGATE_ADMIN_TOKEN", "x")]);
    assert!(ok, "{err}");
}

#[test]
fn shipped_configs_validate() {
    let out = output_within(
        Command::new(binary())
            .args(["validate", "-c", "conf/tollgate.toml"])
            .current_dir(env!("CARGO_MANIFEST_DIR")),
        DEADLINE,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unset_secret_is_named() {
    let (ok, err, _) = validate_env(&SPEC_EXAMPLE, &[]);
    assert!(!ok);
    assert!(
        err.contains(
            "t.toml:9:9: admin.token: environment variable TOLLGATE_ADMIN_TOKEN is not set"
        ),
        "{err}"
    );
}

#[test]
fn five_kinds_of_mistakes_are_each_located() {
    let listen = format!("listen = [\"127.0.0.1:{}\"]", PORTS.0);
    let cases: &[(&str, &str, &str)] = &[
        // (what to replace, replacement, expected line in stderr)
        (
            "upstream = \"echo\"",
            "upstream = \"ehco\"",
            "t.toml:20:12: routes[0].upstream: no upstream named \"ehco\" (did you mean \"echo\"?)",
        ),
        (
            "threads = 1",
            "thraeds = 1",
            "unknown key \"thraeds\" (did you mean \"threads\"?)",
        ),
        (
            "interval = \"1s\"",
            "interval = \"soon\"",
            "t.toml:15:47: upstreams[0].health_check.interval: invalid duration \"soon\"",
        ),
        (
            &listen,
            "listen = [\"localhost\"]",
            "t.toml:3:11: server.listen[0]: \"localhost\" is not an IP:port address",
        ),
        (
            "balance = \"round_robin\"",
            "balance = \"roundrobin\"",
            "upstreams[0].balance: unknown value \"roundrobin\" (did you mean \"round_robin\"?)",
        ),
        (
            "workers = 2",
            "workers = \"two\"",
            "server.workers: invalid type: string \"two\"",
        ),
        (
            "path_prefix = \"/echo\"",
            "path_prefix = \"echo\"",
            "routes[0].path_prefix: \"echo\" must start with '/'",
        ),
        ("[[routes]]", "[[routes]\n", "TOML syntax error"),
    ];
    for (from, to, expected) in cases {
        let text = SPEC_EXAMPLE.replacen(from, to, 1);
        let (ok, err, _) = validate_env(&text, &[("TOLLGATE_ADMIN_TOKEN", "x")]);
        assert!(!ok, "{to} was accepted");
        assert!(
            err.contains(expected),
            "for {to}: expected {expected:?} in:\n{err}"
        );
    }
}

#[test]
fn every_semantic_problem_is_listed_at_once() {
    let text = SPEC_EXAMPLE
        .replace("upstream = \"echo\"", "upstream = \"nope\"")
        .replace("\"127.0.0.1:18002\"", "\"127.0.0.1\"")
        .replace("workers = 2", "workers = 0")
        + "\n[[routes]]\nname = \"echo\"\npath = \"/x\"\nupstream = \"echo\"\n";
    let (ok, err, _) = validate_env(&text, &[("TOLLGATE_ADMIN_TOKEN", "x")]);
    assert!(!ok);
    for expected in [
        "server.workers: workers must be between 1 and 256",
        "upstreams[0].targets[1]: \"127.0.0.1\" has no port",
        "routes[0].upstream: no upstream named \"nope\"",
        "routes[1].name: duplicate route name \"echo\"",
        "4 problem(s)",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}

#[test]
fn run_refuses_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        SPEC_EXAMPLE.replace("upstream = \"echo\"", "upstream = \"ehco\""),
    )
    .unwrap();
    let out = output_within(
        Command::new(binary())
            .args(["run", "-c"])
            .arg(&path)
            .env("TOLLGATE_ADMIN_TOKEN", "x"),
        DEADLINE,
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no upstream named \"ehco\"") && err.contains("refusing to start"),
        "{err}"
    );
}

const LLM_EXAMPLE: &str = r#"
[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "http://127.0.0.1:18102"
api_key = "${ANTHROPIC_API_KEY}"

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "claude"
deployments = [{ provider = "anthropic", model = "claude-sonnet-4-5" }]
fallbacks = ["demo"]

[[models]]
name = "demo"
deployments = [{ provider = "mock", model = "mock-1" }]

[[routes]]
name = "llm"
path_prefix = "/v1"
handler = "llm"
"#;

#[test]
fn the_llm_example_validates() {
    let (ok, err, _) = validate_env(LLM_EXAMPLE, &[("ANTHROPIC_API_KEY", "sk-ant")]);
    assert!(ok, "{err}");
    let (ok, err, _) = validate_env(LLM_EXAMPLE, &[]);
    assert!(!ok);
    assert!(err.contains("ANTHROPIC_API_KEY"), "{err}");
}

#[test]
fn llm_mistakes_are_each_located() {
    let text = LLM_EXAMPLE
        .replace("provider = \"anthropic\"", "provider = \"antropic\"")
        .replace("fallbacks = [\"demo\"]", "fallbacks = [\"dmeo\"]")
        .replace("kind = \"mock\"", "kind = \"mock\"\nbase_url = \"http://x\"")
        .replace("base_url = \"http://127.0.0.1:18102\"", "base_url = \"ftp://host\"")
        + "\n[[routes]]\nname = \"api\"\npath_prefix = \"/api\"\n\n[[models]]\nname = \"demo\"\ndeployments = [{ provider = \"mock\", model = \"m\", weight = 0 }]\n";
    let (ok, err, _) = validate_env(&text, &[("ANTHROPIC_API_KEY", "sk-ant")]);
    assert!(!ok);
    for expected in [
        "providers[0].base_url: \"ftp://host\" must start with http:// or https://",
        "providers[1].base_url: a mock provider has no base_url",
        "models[0].deployments[0].provider: no provider named \"antropic\" (did you mean \"anthropic\"?)",
        "models[0].fallbacks: no model named \"dmeo\" (did you mean \"demo\"?)",
        "models[2].name: model name \"demo\" is used twice",
        "models[2].deployments[0].weight: weight must be between 1 and 1000",
        "routes[1].upstream: a proxy route needs `upstream`",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let kind = LLM_EXAMPLE.replace("kind = \"mock\"", "kind = \"mocky\"");
    let (ok, err, _) = validate_env(&kind, &[("ANTHROPIC_API_KEY", "k")]);
    assert!(!ok && err.contains("mock"), "{err}");
}

const API_EXAMPLE: &str = r#"
[store]
path = "tollgate.db"
secret_key = "${TOLLGATE_SECRET_KEY}"

[[upstreams]]
name = "orders"
targets = ["127.0.0.1:18001"]

[[routes]]
name = "orders-v1"
path_prefix = "/orders/v1"
upstream = "orders"
[routes.api]
auth = "api_key"
state = "deprecated"
successor = "orders-v2"
sunset = "2027-06-30"
description = "Orders, first version"
version = "v1"

[[routes]]
name = "orders-v2"
path_prefix = "/orders/v2"
upstream = "orders"
[routes.api]
auth = "api_key"
approval = "manual"
visibility = ["acme"]

[[tenants]]
name = "acme"
[[tenants.apps]]
name = "web"
subscriptions = ["orders-v2"]
[[tenants.apps.keys]]
id = "abcdefghijkl"
sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
expires = "2027-01-01"
"#;

const SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

#[test]
fn the_api_management_example_validates() {
    let (ok, err, _) = validate_env(API_EXAMPLE, &[("TOLLGATE_SECRET_KEY", SECRET)]);
    assert!(ok, "{err}");
}

#[test]
fn api_management_mistakes_are_each_located() {
    let text = API_EXAMPLE
        .replace("successor = \"orders-v2\"", "successor = \"orders-v3\"")
        .replace("sunset = \"2027-06-30\"", "sunset = \"next june\"")
        .replace("id = \"abcdefghijkl\"", "id = \"ABC\"")
        .replace(
            "subscriptions = [\"orders-v2\"]",
            "subscriptions = [\"ordres-v2\"]",
        )
        .replace("name = \"web\"", "name = \"Web App\"");
    let (ok, err, _) = validate_env(&text, &[("TOLLGATE_SECRET_KEY", "short")]);
    assert!(!ok);
    for expected in [
        "store.secret_key: the secret key must be 32 bytes",
        "routes[0].api.successor: no API (route or MCP server) named \"orders-v3\" (did you mean",
        "routes[0].api.sunset: \"next june\" is not a date",
        "tenants[0].apps[0].name: \"Web App\": use 1 to 64 of a-z, 0-9, '-' and '_'",
        "tenants[0].apps[0].subscriptions[0]: no API (route or MCP server) named \"ordres-v2\" (did you mean \"orders-v2\"?)",
        "tenants[0].apps[0].keys[0].id: \"ABC\" is not a key id",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let text = API_EXAMPLE.replace("approval = \"manual\"", "approval = \"sometimes\"");
    let (ok, err, _) = validate_env(&text, &[("TOLLGATE_SECRET_KEY", SECRET)]);
    assert!(!ok);
    assert!(
        err.contains(
            "routes[1].api.approval: unknown value \"sometimes\"; expected one of: auto, manual"
        ),
        "{err}"
    );
    // Keys need a store, and a seed key is a hash, never the key itself.
    let text = API_EXAMPLE
        .replace(
            "[store]\npath = \"tollgate.db\"\nsecret_key = \"${TOLLGATE_SECRET_KEY}\"\n",
            "",
        )
        .replace(
            "sha256 = \"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\"",
            "sha256 = \"tg_abcdefghijkl_secret\"",
        );
    let (ok, err, _) = validate_env(&text, &[]);
    assert!(!ok);
    for expected in [
        "routes[0].api.auth: auth = \"api_key\" needs a [store] section",
        "tenants: [[tenants]] needs a [store] section",
        "tenants[0].apps[0].keys[0].sha256: expected the 64 hex digits",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}

const LIMITS_EXAMPLE: &str = r#"
[[upstreams]]
name = "echo"
targets = ["127.0.0.1:18001"]

[[limits]]
name = "per-ip"
counts = "requests"
rate = 10
period = "1m"
burst = 10
key = ["client_ip"]
scope = "local"

[[routes]]
name = "echo"
path_prefix = "/echo"
upstream = "echo"
limits = ["per-ip"]
"#;

#[test]
fn the_limits_example_validates_and_mistakes_are_located() {
    let (ok, err, _) = validate_env(LIMITS_EXAMPLE, &[]);
    assert!(ok, "{err}");
    let text = LIMITS_EXAMPLE
        .replace("limits = [\"per-ip\"]", "limits = [\"per_ip\"]")
        .replace("rate = 10", "rate = 0")
        .replace(
            "key = [\"client_ip\"]",
            "key = [\"client_ip\", \"client_ip\"]",
        );
    let (ok, err, _) = validate_env(&text, &[]);
    assert!(!ok);
    for expected in [
        "routes[0].limits[0]: no limit named \"per_ip\" (did you mean \"per-ip\"?)",
        "limits[0]: rate and burst must be at least 1",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let text = LIMITS_EXAMPLE
        .replace("counts = \"requests\"", "counts = \"tokens\"")
        .replace("scope = \"local\"", "scope = \"cluster\"");
    let (ok, err, _) = validate_env(&text, &[]);
    assert!(!ok);
    for expected in [
        "routes[0].limits[0]: limit \"per-ip\" counts LLM usage; only an LLM route has any",
        "limits[0].scope: scope = \"cluster\" needs a [redis] section",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let (ok, err, _) = validate_env(
        &LIMITS_EXAMPLE.replace("\"client_ip\"]", "\"cookie\"]"),
        &[],
    );
    assert!(!ok && err.contains("limits[0].key"), "{err}");
}

#[test]
fn concurrency_and_status_keys_are_checked_and_located() {
    let cap =
        "[[limits]]\nname = \"inflight\"\ncounts = \"concurrency\"\nmax = 4\nkey = [\"route\"]\n";
    let text = format!(
        "{LIMITS_EXAMPLE}{cap}\n[[limits]]\nname = \"spent\"\nrate = 5\nperiod = \"1d\"\nkey = []\nstatus = 402\n"
    )
    .replace("limits = [\"per-ip\"]", "limits = [\"per-ip\", \"inflight\", \"spent\"]");
    let (ok, err, _) = validate_env(&text, &[]);
    assert!(ok, "{err}");
    // A cap takes max and nothing of a rate; a rate limit needs rate and period, not max.
    let text = format!(
        "{LIMITS_EXAMPLE}{}\n[[limits]]\nname = \"no-rate\"\nkey = []\nmax = 3\nstatus = 500\n",
        cap.replace(
            "max = 4",
            "rate = 4\nperiod = \"1s\"\nburst = 2\nscope = \"cluster\""
        )
    );
    let (ok, err, _) = validate_env(&text, &[]);
    assert!(!ok);
    for expected in [
        "limits[1].rate: a concurrency limit counts requests in flight, not a rate: it takes max, not rate",
        "limits[1].period: a concurrency limit counts requests in flight, not a rate: it takes max, not period",
        "limits[1].burst: a concurrency limit counts requests in flight, not a rate: it takes max, not burst",
        "limits[1].max: a concurrency limit needs max",
        "limits[1].scope: a concurrency limit is counted per host",
        "limits[2].rate: a rate limit needs a rate (units per period)",
        "limits[2].max: max is for counts = \"concurrency\"",
        "limits[2].status: status 500 is not allowed: a refusal answers 429 (the default) or 402",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let text = format!(
        "{LIMITS_EXAMPLE}[[limits]]\nname = \"daily\"\nrate = 5\nkey = []\n\n{}",
        cap.replace("max = 4", "max = 4\nstatus = 402")
    );
    let (ok, err, _) = validate_env(&text, &[]);
    assert!(!ok);
    for expected in [
        "limits[1].period: a rate limit needs a period",
        "limits[2].status: 402 is for spent budgets; a concurrency limit answers 429",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let (ok, err, _) = validate_env(
        &format!("{LIMITS_EXAMPLE}{cap}\n[[plans]]\nname = \"pro\"\nlimits = [\"inflight\"]\n"),
        &[],
    );
    assert!(
        !ok && err.contains(
            "plans[0].limits[0]: limit \"inflight\" is a concurrency cap; caps apply on routes only"
        ),
        "{err}"
    );
    let (ok, err, _) = validate_env(
        &format!("[server]\nconcurrency_slots = 0\n{LIMITS_EXAMPLE}"),
        &[],
    );
    assert!(
        !ok && err.contains("server.concurrency_slots: must be between 1 and 1048576"),
        "{err}"
    );
}

#[test]
fn cluster_limits_and_redis_settings_are_checked() {
    let cluster = LIMITS_EXAMPLE.replace(
        "scope = \"local\"",
        "scope = \"cluster\"\nsync = \"lease\"\nlease = 2\non_redis_error = \"local\"\nlocal_share = 0.5",
    );
    let redis = "\n[redis]\nurl = \"redis://127.0.0.1:6379\"\n";
    let (ok, err, _) = validate_env(&format!("{cluster}{redis}"), &[]);
    assert!(ok, "{err}");
    // The policy's other spelling, as the design names it.
    let fallback = cluster.replace("\"local\"\nlocal_share", "\"local_fallback\"\nlocal_share");
    let (ok, err, _) = validate_env(&format!("{fallback}{redis}"), &[]);
    assert!(ok, "{err}");
    let bad = [
        (
            cluster.replace("lease = 2", "lease = 50"),
            "limits[0].lease: lease must be at least 1 and at most the burst (10)",
        ),
        (
            cluster.replace("local_share = 0.5", "local_share = 1.5"),
            "limits[0].local_share: local_share is a share of the limit, in (0, 1]",
        ),
        (
            cluster.replace("on_redis_error = \"local\"", "on_redis_error = \"fail_open\""),
            "limits[0].local_share: local_share applies with scope = \"cluster\" and on_redis_error = \"local\"",
        ),
        (
            cluster.replace("sync = \"lease\"\n", ""),
            "limits[0].lease: lease needs sync = \"lease\"",
        ),
        (
            LIMITS_EXAMPLE.replace("scope = \"local\"", "scope = \"local\"\non_redis_error = \"fail_closed\""),
            "limits[0].on_redis_error: on_redis_error applies to scope = \"cluster\" limits only",
        ),
        (
            cluster.replace("on_redis_error = \"local\"", "on_redis_error = \"maybe\""),
            "limits[0].on_redis_error",
        ),
    ];
    for (text, expected) in bad {
        let (ok, err, _) = validate_env(&format!("{text}{redis}"), &[]);
        assert!(
            !ok && err.contains(expected),
            "missing {expected:?} in:\n{err}"
        );
    }
    let redis_bad = [
        ("url = \"http://example.com\"", "redis.url: not a Redis URL"),
        (
            "url = \"redis://h:1\"\nca_file = \"nope.pem\"",
            "redis.ca_file: cannot read",
        ),
        (
            "url = \"redis://h:1\"\ntimeout = \"0s\"",
            "redis.timeout: must be between 1ms and 5s",
        ),
        (
            "url = \"redis://h:1\"\nkey_prefix = \"a{b}\"",
            "redis.key_prefix: braces are reserved",
        ),
        (
            "url = \"redis://h:1\"\nbreaker_failures = 0",
            "redis.breaker_failures: must be at least 1",
        ),
        ("url = \"redis://h:1\"\npasword = \"x\"", "redis.pasword"),
    ];
    for (section, expected) in redis_bad {
        let (ok, err, _) = validate_env(&format!("{cluster}\n[redis]\n{section}\n"), &[]);
        assert!(
            !ok && err.contains(expected),
            "missing {expected:?} in:\n{err}"
        );
    }
}

#[test]
fn a_models_limits_are_checked() {
    let text = |limits: &str| {
        format!(
            r#"
[[limits]]
name = "calls"
rate = 2
period = "1h"
key = []

[[limits]]
name = "cap"
counts = "concurrency"
max = 2
key = []

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "demo"
deployments = [{{ provider = "mock", model = "m" }}]
limits = {limits}

[[routes]]
name = "llm"
handler = "llm"
"#
        )
    };
    let (ok, err, _) = validate_env(&text("[\"calls\"]"), &[]);
    assert!(ok, "{err}");
    for (limits, expected) in [
        (
            "[\"cals\"]",
            "models[0].limits[0]: no limit named \"cals\" (did you mean \"calls\"?)",
        ),
        (
            "[\"cap\"]",
            "models[0].limits: limit \"cap\" is a concurrency cap; caps go on routes, not models",
        ),
    ] {
        let (ok, err, _) = validate_env(&text(limits), &[]);
        assert!(
            !ok && err.contains(expected),
            "missing {expected:?} in:\n{err}"
        );
    }
}

/// `tollgate run` on `path`, which must exit within 10s; (exit code, stderr).
fn run_must_exit(path: &std::path::Path) -> (Option<i32>, String) {
    let mut child = Command::new(binary())
        .args(["run", "-c"])
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > std::time::Duration::from_secs(10) {
            for k in children_of(child.id()) {
                unsafe { libc::kill(k as i32, libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let mut err = String::new();
    use std::io::Read;
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    assert!(status.is_some(), "tollgate run did not exit:\n{err}");
    (status.and_then(|s| s.code()), err)
}

#[test]
fn an_empty_file_is_refused_by_validate_and_run() {
    for text in ["", "\n\n", "# nothing but a comment\n"] {
        let (ok, err, _) = validate_env(text, &[]);
        assert!(!ok, "{text:?} validated");
        assert!(
            err.contains("t.toml:1:1: the file is empty (or only comments)"),
            "{text:?}: {err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, text).unwrap();
        let (code, err) = run_must_exit(&path);
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains("the file is empty") && err.contains("refusing to start"),
            "{err}"
        );
    }
}

#[test]
fn a_file_without_routes_is_refused() {
    let no_routes = &SPEC_EXAMPLE[..SPEC_EXAMPLE.find("[[routes]]").unwrap()];
    let (ok, err, _) = validate_env(no_routes, &[("TOLLGATE_ADMIN_TOKEN", "x")]);
    assert!(!ok, "a file without routes validated");
    assert!(
        err.contains("t.toml:1:1: routes: no [[routes]]: every request would get 404"),
        "{err}"
    );
    assert!(err.contains("t.toml: 1 problem(s)"), "{err}");
    // Only [server]: the same.
    let (ok, err, _) = validate_env("[server]\nworkers = 1\n", &[]);
    assert!(!ok && err.contains("routes: no [[routes]]"), "{err}");
}
