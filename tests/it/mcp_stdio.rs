//! Stdio MCP servers behind the gateway (`[[mcp_servers]]` with a `command`): the upstream of
//! tests/it/sdk/mcp_upstream.py run by the gateway itself with `--stdio`, reached through `/mcp`
//! by the official SDK's client (and at `/mcp/up`): its tools prefixed, filtered and called
//! with the environment the gateway injects, concurrently, each call recorded; a child that is killed, exits, hangs or writes garbage
//! gives clean tool errors and the next call a new child; the child survives a reload that
//! keeps its launch, is killed by one that changes it, and is gone once the gateway stops.

use crate::common;
use crate::mcp::{sdk_at, Raw};
use crate::reload::reload;
use crate::sdk::python;
use common::keys::TestKey;
use common::*;
use serde_json::{json, Value};
use std::ffi::OsStr;
use std::time::Duration;

/// The body of a gateway whose MCP server `up` runs the SDK upstream over stdio with `env`
/// (TOML inline-table lines), acme/web subscribed to it; `extra` adds servers (`quits` and
/// `garbage` and `stubborn`, which web is subscribed to as well).
fn body(web: &TestKey, env: &str, extra: &str) -> String {
    let subscriptions = if extra.is_empty() {
        r#"["up"]"#
    } else {
        r#"["up", "quits", "garbage", "stubborn"]"#
    };
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/sdk/mcp_upstream.py");
    format!(
        r#"
[store]
path = "tollgate.db"

[mcp]

[[upstreams]]
name = "none"
targets = ["127.0.0.1:1"]

[[routes]]
name = "rest"
path_prefix = "/rest"
upstream = "none"

[[mcp_servers]]
name = "up"
command = ["{python}", "{script}", "--stdio"]
env = {{ {env} }}
tools = ["echo", "env_var", "pid", "kill_self", "die", "sleep", "chatter", "meet"]
timeout = "6s"
[mcp_servers.api]
auth = "api_key"
{extra}
[[tenants]]
name = "acme"
[[tenants.apps]]
name = "web"
subscriptions = {subscriptions}
{web}
"#,
        python = python().display(),
        script = script.display(),
        web = web.lines(""),
    )
}

const ENV: &str = r#"UP_TOKEN = "${UP_TOKEN}", PYTHONDONTWRITEBYTECODE = "1""#;

/// A gateway with one worker (so one child) and `UP_TOKEN` (and a secret of its own) in its
/// environment.
fn start(web: &TestKey, extra: &str) -> Gateway {
    let (port, admin_port) = (free_port(), free_port());
    let text = format!(
        "{}\n{}",
        base_config(port, admin_port, 1, ""),
        body(web, ENV, extra)
    );
    Gateway::start_text_with(port, admin_port, &text, |cmd| {
        cmd.env("UP_TOKEN", "up-token")
            .env("GATEWAY_ONLY", OsStr::new("not for children"));
    })
}

fn tool_names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = v["tools"].as_object().unwrap().keys().cloned().collect();
    n.sort();
    n
}

fn pid_of(call: &Value) -> u32 {
    assert_eq!(call["isError"], false, "{call}");
    call["text"].as_str().unwrap().parse().unwrap()
}

/// Whether `pid` is a live process (a zombie waiting for its reaper counts as gone).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(|r| r.trim_start().to_string()))
        .is_some_and(|rest| !rest.starts_with('Z'))
}

fn wait_gone(pid: u32, what: &str) {
    wait_for(what, Duration::from_secs(15), || {
        (!alive(pid)).then_some(())
    });
}

#[test]
fn a_stdio_server_is_proxied_with_injected_env_and_recovers_from_its_childs_death() {
    let web = TestKey::new();
    let mut gw = start(&web, "");
    let calls = json!([
        {"name": "up.echo", "arguments": {"text": "hello"}},
        {"name": "up.env_var", "arguments": {"name": "UP_TOKEN"}},
        {"name": "up.env_var", "arguments": {"name": "GATEWAY_ONLY"}},
        {"name": "up.hidden", "arguments": {}},
        {"name": "up.pid", "arguments": {}},
        {"name": "up.kill_self", "arguments": {}},
        {"name": "up.pid", "arguments": {}},
        {"name": "up.die", "arguments": {}},
        {"name": "up.sleep", "arguments": {"seconds": 30}},
        {"name": "up.chatter", "arguments": {"text": "a line on stderr"}},
        {"name": "up.pid", "arguments": {}},
    ]);
    let out = sdk_at(&gw, "/mcp", &web, calls);
    assert_eq!(
        tool_names(&out),
        [
            "up.chatter",
            "up.die",
            "up.echo",
            "up.env_var",
            "up.kill_self",
            "up.meet",
            "up.pid",
            "up.sleep"
        ]
    );
    let c = &out["calls"];
    assert_eq!(c[0], json!({"isError": false, "text": "hello"}), "{c}");
    // The configured variable reaches the child; the gateway's own environment does not.
    assert_eq!(c[1], json!({"isError": false, "text": "up-token"}), "{c}");
    assert_eq!(c[2], json!({"isError": false, "text": "<unset>"}), "{c}");
    assert_eq!(c[3]["isError"], true, "{c}");
    assert!(
        c[3]["text"].as_str().unwrap().contains("not offered"),
        "{c}"
    );
    // Killed mid-call: a clean error at once, and the next call a new child.
    let first = pid_of(&c[4]);
    assert_eq!(
        c[5],
        json!({"isError": true, "text": "MCP server up: its process ended (signal: 9 (SIGKILL))"}),
        "{c}"
    );
    let second = pid_of(&c[6]);
    assert_ne!(first, second);
    assert!(!alive(first));
    assert_eq!(
        c[7],
        json!({"isError": true, "text": "MCP server up: its process ended (exit status: 3)"}),
        "{c}"
    );
    // A hanging call times out; the child still answers the next ones.
    assert_eq!(
        c[8],
        json!({"isError": true, "text": "MCP server up: no answer within 6s"}),
        "{c}"
    );
    assert_eq!(c[9], json!({"isError": false, "text": "said"}), "{c}");
    let last = pid_of(&c[10]);
    assert!(alive(last));
    // The child's stderr is logged, its environment's values are not.
    let log = wait_for("the child's stderr logged", Duration::from_secs(10), || {
        let log = gw.stderr();
        log.contains("mcp server up (stderr): a line on stderr")
            .then_some(log)
    });
    assert!(!log.contains("up-token"), "the secret was logged");
    // Each call is recorded as a call of the API up, its upstream the program.
    let record = wait_for("a record of up.echo", Duration::from_secs(10), || {
        gw.access_log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|r| r["path"] == "/mcp/up/echo")
    });
    assert_eq!(record["route"], "up", "{record}");
    assert_eq!(record["status"], 200, "{record}");
    let upstream = record["upstream"].as_str().unwrap_or_default();
    assert!(
        upstream.starts_with("stdio:") && upstream.ends_with("python"),
        "{record}"
    );
    // No orphan once the gateway has stopped.
    gw.stop();
    wait_gone(last, "the child to be gone after the gateway stopped");
}

#[test]
fn concurrent_calls_share_the_child() {
    let web = TestKey::new();
    let gw = start(&web, "");
    let raw = Raw::new(&gw);
    let sid = raw.initialize(&web);
    let call = |i: u32| {
        let m = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": "up.meet", "arguments": {"n": 4}}});
        let (status, _, body) = raw.post(Some(&web), Some(&sid), &m.to_string());
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["id"], i, "{v}");
        v["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // Each call answers only once all four are in flight at the child together.
    let answers: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=4).map(|i| s.spawn(move || call(i))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(answers, ["met"; 4]);
}

#[test]
fn children_that_exit_at_once_write_garbage_or_hang_give_clean_errors() {
    let web = TestKey::new();
    let dir = tempfile::tempdir().unwrap();
    let starts = dir.path().join("starts");
    let extra = format!(
        r#"
[[mcp_servers]]
name = "quits"
command = ["sh", "-c", "echo started >> {starts}; exit 1"]
[mcp_servers.api]
auth = "api_key"

[[mcp_servers]]
name = "garbage"
command = ["sh", "-c", "echo 'this is not JSON-RPC'; exec cat > /dev/null"]
[mcp_servers.api]
auth = "api_key"

# Never answers, and does not exit when its stdin closes.
[[mcp_servers]]
name = "stubborn"
command = ["sh", "-c", "exec sleep 600"]
timeout = "1s"
[mcp_servers.api]
auth = "api_key"
"#,
        starts = starts.display()
    );
    let mut gw = start(&web, &extra);
    let calls = json!([
        {"name": "stubborn.x", "arguments": {}},
        {"name": "quits.x", "arguments": {}},
        {"name": "quits.x", "arguments": {}},
        {"name": "quits.x", "arguments": {}},
        {"name": "garbage.x", "arguments": {}},
        {"name": "up.echo", "arguments": {"text": "unharmed"}},
    ]);
    let out = sdk_at(&gw, "/mcp", &web, calls);
    // Listing leaves the broken servers out.
    assert!(
        tool_names(&out)
            .iter()
            .all(|n| !n.starts_with("quits.") && !n.starts_with("garbage.")),
        "{out}"
    );
    let c = out["calls"].as_array().unwrap();
    assert_eq!(
        c[0],
        json!({"isError": true, "text": "MCP server stubborn: no answer within 1s"})
    );
    let c = &c[1..];
    for q in &c[..3] {
        assert_eq!(q["isError"], true, "{q}");
        let text = q["text"].as_str().unwrap();
        assert!(
            text.starts_with(
                "MCP server quits: its process ended (exit status: 1), before it answered initialize"
            ),
            "{q}"
        );
    }
    // Not started again in a loop: within the back-off, calls fail without a new child.
    assert!(
        c[..3].iter().any(|q| q["text"]
            .as_str()
            .unwrap()
            .contains("not started again for")),
        "{c:?}"
    );
    let n = std::fs::read_to_string(&starts).unwrap().lines().count();
    assert!((1..=2).contains(&n), "started {n} times");
    assert_eq!(c[3]["isError"], true, "{c:?}");
    assert!(
        c[3]["text"]
            .as_str()
            .unwrap()
            .starts_with("MCP server garbage: bad answer: a line of its stdout is not JSON"),
        "{c:?}"
    );
    assert_eq!(c[4], json!({"isError": false, "text": "unharmed"}), "{c:?}");
    // A child that ignores its stdin closing is killed with its worker all the same.
    let sleeper = gw
        .children()
        .into_iter()
        .flat_map(children_of)
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep")
        })
        .expect("the stubborn child runs");
    gw.stop();
    wait_gone(
        sleeper,
        "the stubborn child to be gone after the gateway stopped",
    );
}

#[test]
fn the_child_survives_a_reload_that_keeps_its_launch_and_not_one_that_changes_it() {
    let web = TestKey::new();
    let (port, admin_port) = (free_port(), free_port());
    let text = |env: &str| {
        format!(
            "{}\n{}",
            base_config(port, admin_port, 1, ""),
            body(&web, env, "")
        )
    };
    let gw = Gateway::start_text_with(port, admin_port, &text(ENV), |cmd| {
        cmd.env("UP_TOKEN", "up-token");
    });
    let pid = |gw: &Gateway| {
        let calls = json!([{"name": "up.pid", "arguments": {}}]);
        pid_of(&sdk_at(gw, "/mcp", &web, calls)["calls"][0])
    };
    let first = pid(&gw);
    // The server's own endpoint reaches the same child, its tools unprefixed.
    let own = sdk_at(
        &gw,
        "/mcp/up",
        &web,
        json!([{"name": "pid", "arguments": {}}]),
    );
    assert_eq!(pid_of(&own["calls"][0]), first);
    // The same launch (a route added): the same child.
    reload(
        &gw,
        &format!(
            "{}\n[[routes]]\nname = \"more\"\npath_prefix = \"/more\"\nupstream = \"none\"\n",
            text(ENV)
        ),
    );
    assert_eq!(pid(&gw), first);
    // Another environment: a new child, and the old one is killed.
    reload(&gw, &text(&format!("{ENV}, MORE = \"1\"")));
    let second = pid(&gw);
    assert_ne!(second, first);
    wait_gone(first, "the old child to be killed");
    assert!(alive(second));
}
