//! The web console in a real browser: Debian's `chromium`, headless, driven by `selenium` and
//! `chromedriver` from the Python scenarios in tests/it/console/ (`browser.py` is their
//! harness). Each test starts the real gateway with a store, a call store, a bootstrap operator,
//! an in-test upstream behind the `orders` API and the mock LLM provider, then runs one
//! scenario, which asserts what the pages show. Screenshots of every step are kept under
//! target/console-artifacts/<scenario>/.

use crate::common;
use crate::sdk::python;
use common::upstream::Upstream;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const OP_NAME: &str = "root";
pub const OP_PASSWORD: &str = "console-root-Pw-7Hk2";

/// A scenario drives two browsers at most through a few pages; this bounds the whole run.
const SCENARIO_DEADLINE: Duration = Duration::from_secs(180);

/// A gateway for the console, with `admin_extra` lines in `[admin]` and `extra` config after
/// the standard part. The upstream answers every request with `orders`.
pub struct ConsoleGateway {
    pub gw: Gateway,
    /// The `orders` API's target.
    pub upstream: Upstream,
}

pub fn start(admin_extra: &str, extra: &str) -> ConsoleGateway {
    start_in(tempfile::tempdir().unwrap(), admin_extra, "", extra)
}

/// `start` in a directory the test prepared (e.g. with a seeded `tollgate.db` and `calls.db`),
/// with `log_store_extra` lines in `[log.store]`.
pub fn start_in(
    dir: tempfile::TempDir,
    admin_extra: &str,
    log_store_extra: &str,
    extra: &str,
) -> ConsoleGateway {
    let upstream = Upstream::named("orders");
    let (port, admin_port) = (free_port(), free_port());
    let token_line = format!("token = \"{ADMIN_TOKEN}\"\n");
    let admin = format!(
        "{token_line}bootstrap_operator = {{ name = \"{OP_NAME}\", password = \"${{OP_PASSWORD}}\" }}\n{admin_extra}\n"
    );
    let text = base_config(port, admin_port, 1, "").replace(&token_line, &admin);
    let text = format!(
        r#"{text}
[log.store]
path = "calls.db"
{log_store_extra}

[store]
path = "tollgate.db"
secret_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

[[upstreams]]
name = "orders-svc"
targets = ["127.0.0.1:{up}"]

[[routes]]
name = "orders"
path_prefix = "/orders"
upstream = "orders-svc"
[routes.api]
auth = "api_key"
approval = "manual"
description = "Orders: place, list and track orders."
version = "1.2.0"

{mock_llm}[routes.api]
auth = "api_key"
approval = "auto"
description = "OpenAI-compatible chat for every model."
{extra}
"#,
        up = upstream.port,
        mock_llm = common::providers::MOCK_LLM,
    );
    let gw = Gateway::start_in(dir, port, admin_port, &text, |c| {
        c.env("OP_PASSWORD", OP_PASSWORD);
    });
    ConsoleGateway { gw, upstream }
}

/// Where a scenario's screenshots go: target/console-artifacts/<scenario>, emptied first.
fn artifacts(scenario: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/console-artifacts")
        .join(scenario);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `scenario` of tests/it/console/`script` against `gw` and asserts it passed; returns
/// its standard output (scenarios print their measurements there).
pub fn run(script: &str, scenario: &str, gw: &Gateway, env: &[(&str, &str)]) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/console");
    let mut cmd = Command::new(python());
    cmd.arg(dir.join(script))
        .arg(scenario)
        .current_dir(&dir)
        .env(
            "TG_ADMIN_URL",
            format!("http://127.0.0.1:{}", gw.admin_port),
        )
        .env("TG_DATA_URL", gw.url(""))
        .env("TG_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("TG_OP_NAME", OP_NAME)
        .env("TG_OP_PASSWORD", OP_PASSWORD)
        .env("TG_ARTIFACTS", artifacts(scenario))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .envs(env.iter().copied());
    let out = output_within(&mut cmd, SCENARIO_DEADLINE);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "{script} {scenario} failed ({}):\n{stdout}\n{stderr}\n--- gateway:\n{}",
        out.status,
        gw.stderr()
    );
    stdout
}

#[test]
fn an_operator_signs_in_sees_the_overview_and_signs_out() {
    let c = start("", "");
    run("signin_flow.py", "sign_in_and_out", &c.gw, &[]);
    // The console is the admin listener's alone: nothing of it reaches the data plane.
    assert_eq!(c.upstream.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn an_expired_session_sends_the_console_back_to_sign_in() {
    let c = start("session_ttl = \"3s\"", "");
    run("signin_flow.py", "session_expires", &c.gw, &[]);
}

/// The issue's whole journey across two browser sessions (journey_flow.py says each step).
/// `TOLLGATE_README_SHOTS=docs/console` also writes the README's screenshots there.
#[test]
fn an_operator_publishes_and_approves_while_a_developer_subscribes_calls_and_sees_the_call() {
    let draft = r#"
[[routes]]
name = "inventory"
path_prefix = "/inventory"
upstream = "orders-svc"
[routes.api]
auth = "api_key"
approval = "manual"
state = "draft"
description = "Inventory: stock levels per warehouse."
version = "0.3.0"
"#;
    let c = start("", draft);
    let shots = std::env::var("TOLLGATE_README_SHOTS").ok().map(|d| {
        let d = Path::new(&d);
        match d.is_absolute() {
            true => d.to_path_buf(),
            false => Path::new(env!("CARGO_MANIFEST_DIR")).join(d),
        }
    });
    let shots = shots.map(|d| d.display().to_string()).unwrap_or_default();
    let env: &[(&str, &str)] = match shots.is_empty() {
        true => &[],
        false => &[("TG_README_SHOTS", &shots)],
    };
    run("journey_flow.py", "operator_and_developer", &c.gw, env);
    assert_eq!(c.upstream.hits.load(std::sync::atomic::Ordering::SeqCst), 3);
}
