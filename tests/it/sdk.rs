//! The official `openai` and `anthropic` Python SDKs as real clients of the real gateway: each
//! test starts the gateway with the mock provider and runs one scenario of
//! tests/it/sdk/{openai,anthropic}_client.py (chat, streaming, tools, streaming tools, models,
//! embeddings), which asserts what the SDK parsed. Chat and streaming also run with `demo`
//! served by in-test providers that answer as the mock does: translated (a format other than
//! the SDK's) and byte-exact pass-through (the SDK's own format). The Python is `$TOLLGATE_SDK_PYTHON`, else
//! target/sdk-venv/bin/python; scripts/sdk-venv.sh makes that venv (scripts/test.sh runs it).

use crate::common;
use common::providers;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MOCK: &str = providers::MOCK_LLM;

/// A scenario makes a few requests with a 15s client timeout each; this bounds the whole run.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(120);

pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TOLLGATE_SDK_PYTHON") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "TOLLGATE_SDK_PYTHON={} does not exist: run scripts/sdk-venv.sh and point it at \
             target/sdk-venv/bin/python",
            p.display()
        );
        return p;
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/sdk-venv/bin/python");
    assert!(
        p.exists(),
        "{} does not exist: run scripts/sdk-venv.sh first (it installs the pinned openai and \
         anthropic SDKs), or set TOLLGATE_SDK_PYTHON to a Python that has them",
        p.display()
    );
    p
}

/// Runs `scenario` of tests/it/sdk/`script` against a fresh gateway and asserts it succeeded and
/// that the gateway served exactly `requests` requests, all 200, on the llm route.
fn run(script: &str, scenario: &str, requests: usize) {
    run_with(script, scenario, requests, MOCK);
}

/// `run` with `demo` served by an in-test provider of `kind` answering as the mock does, and
/// asserts every request reached it.
fn run_via(script: &str, scenario: &str, requests: usize, kind: &'static str) {
    let up = providers::echo_server(kind);
    let cfg = format!(
        "{}{}{}",
        providers::provider("echo", kind, &up, ""),
        providers::model("demo", &[("echo", "echo-1")], ""),
        providers::LLM_ROUTE,
    );
    run_with(script, scenario, requests, &cfg);
    assert_eq!(up.hits(), requests, "{script} {scenario} via {kind}");
}

fn run_with(script: &str, scenario: &str, requests: usize, config: &str) {
    let python = python();
    let mut gw = Gateway::start(1, config);
    let script_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/sdk")
        .join(script);
    let stdout_path = gw.dir.path().join("sdk.stdout");
    let stderr_path = gw.dir.path().join("sdk.stderr");
    let mut cmd = Command::new(&python);
    cmd.arg(&script_path)
        .args(["--base-url", &gw.url(""), "--model", "demo", scenario])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    // Only the arguments configure the SDKs: no keys, base URLs or proxies from the environment.
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        let upper = k.to_ascii_uppercase();
        if upper.starts_with("OPENAI_")
            || upper.starts_with("ANTHROPIC_")
            || upper.ends_with("_PROXY")
            || upper == "PYTHONPATH"
            || upper == "PYTHONHOME"
        {
            cmd.env_remove(&*k);
        }
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let deadline = Instant::now() + SCRIPT_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let report = |gw: &Gateway, what: &str| {
        format!(
            "{script} {scenario}: {what}\n--- script stdout:\n{}\n--- script stderr:\n{}\n\
             --- gateway stderr:\n{}\n--- access log:\n{}",
            std::fs::read_to_string(&stdout_path).unwrap_or_default(),
            std::fs::read_to_string(&stderr_path).unwrap_or_default(),
            gw.stderr(),
            gw.access_log(),
        )
    };
    match status {
        None => panic!(
            "{}",
            report(
                &gw,
                &format!("still running after {SCRIPT_DEADLINE:?}, killed")
            )
        ),
        Some(s) if !s.success() => panic!("{}", report(&gw, &format!("failed ({s})"))),
        Some(_) => {}
    }
    let stdout = std::fs::read_to_string(&stdout_path).unwrap();
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{}",
            report(&gw, &format!("summary is not one JSON line: {e}"))
        )
    });
    assert_eq!(
        summary["scenario"],
        scenario,
        "{}",
        report(&gw, "wrong summary")
    );

    // The access log is written by a thread of its own: wait (bounded) for every line.
    let log_deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let lines: Vec<serde_json::Value> = gw
            .access_log()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= requests || Instant::now() > log_deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(
        lines.len(),
        requests,
        "{}",
        report(&gw, "unexpected requests")
    );
    for l in &lines {
        assert_eq!(
            l["route"],
            "llm",
            "{}",
            report(&gw, "request off the llm route")
        );
        assert_eq!(
            l["status"],
            200,
            "{}",
            report(&gw, "request not answered 200")
        );
    }
    let code = gw.stop();
    assert_eq!(
        code,
        Some(0),
        "{}",
        report(&gw, "gateway did not exit cleanly")
    );
}

// Request counts: each scenario's requests (a second one for the SDK's stream helper, one per
// tool round trip).

#[test]
fn openai_chat() {
    run("openai_client.py", "chat", 1);
}

#[test]
fn openai_stream() {
    run("openai_client.py", "stream", 2);
}

#[test]
fn openai_tools() {
    run("openai_client.py", "tools", 2);
}

#[test]
fn openai_stream_tools() {
    run("openai_client.py", "stream_tools", 3);
}

#[test]
fn openai_models() {
    run("openai_client.py", "models", 1);
}

#[test]
fn openai_embeddings() {
    run("openai_client.py", "embeddings", 2);
}

#[test]
fn anthropic_chat() {
    run("anthropic_client.py", "chat", 1);
}

#[test]
fn anthropic_stream() {
    run("anthropic_client.py", "stream", 1);
}

#[test]
fn anthropic_tools() {
    run("anthropic_client.py", "tools", 2);
}

#[test]
fn anthropic_stream_tools() {
    run("anthropic_client.py", "stream_tools", 2);
}

// Through providers: translated (another format) and byte-exact (the SDK's own format).

#[test]
fn openai_chat_via_anthropic_gemini_and_pass_through() {
    for kind in ["anthropic", "gemini", "openai"] {
        run_via("openai_client.py", "chat", 1, kind);
    }
}

#[test]
fn openai_stream_via_anthropic_gemini_and_pass_through() {
    for kind in ["anthropic", "gemini", "openai"] {
        run_via("openai_client.py", "stream", 2, kind);
    }
}

#[test]
fn anthropic_chat_via_openai_gemini_and_pass_through() {
    for kind in ["openai", "gemini", "anthropic"] {
        run_via("anthropic_client.py", "chat", 1, kind);
    }
}

#[test]
fn anthropic_stream_via_openai_gemini_and_pass_through() {
    for kind in ["openai", "gemini", "anthropic"] {
        run_via("anthropic_client.py", "stream", 1, kind);
    }
}
