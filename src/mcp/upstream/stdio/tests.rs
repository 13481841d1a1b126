//! The line framing, and a server's task against small `sh` servers: requests multiplexed by
//! id, a ping from the server answered (another request refused), a child that dies or writes
//! garbage or too long a line failing its calls cleanly and the next call starting a new one,
//! a child that exits at once not restarted in a loop, a child no configuration holds ended.

use super::child::next_line;
use super::*;
use serde_json::json;

async fn lines(input: &[u8], max: usize) -> Vec<(String, bool)> {
    let mut r = input;
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while let Some(cut) = next_line(&mut r, &mut buf, max).await.unwrap() {
        out.push((String::from_utf8_lossy(&buf).to_string(), cut));
    }
    out
}

#[tokio::test]
async fn lines_are_split_and_cut_at_the_limit() {
    let got = lines(b"ab\n\ncdefgh\nij", 4).await;
    let want = [("ab", false), ("", false), ("cdef", true), ("ij", false)];
    let want: Vec<(String, bool)> = want.iter().map(|(s, c)| (s.to_string(), *c)).collect();
    assert_eq!(got, want);
    assert!(lines(b"", 4).await.is_empty());
}

fn launch(script: &str) -> Arc<Launch> {
    Arc::new(Launch {
        server: "t".into(),
        program: "sh".into(),
        args: vec!["-c".into(), script.into()],
        env: vec![("GREETING".into(), "s3cret".into())],
        cwd: None,
    })
}

/// A shell server: answers `initialize`, then runs `body` on each further request with the
/// line in `$l` and its id in `$id` (serde_json writes "id" first: the keys are sorted).
fn sh_server(body: &str) -> String {
    format!(
        r#"idof() {{ printf '%s' "$1" | sed -n 's/^{{"id":\([0-9]*\).*/\1/p'; }}
read l; echo "{{\"jsonrpc\":\"2.0\",\"id\":$(idof "$l"),\"result\":{{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{{}}}}}}"
read l
while read l; do id=$(idof "$l"); {body}; done"#
    )
}

/// Answers `{"pid": ...}` to `$id`.
const PID: &str = r#"echo "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"pid\":$$}}""#;

const T: Duration = Duration::from_secs(5);

/// `method` with no params, bounded by `T` as `Upstream` bounds it.
async fn ask(s: &Server, method: &str) -> Result<Value, String> {
    tokio::time::timeout(T, s.request(method, json!({}), T))
        .await
        .unwrap_or_else(|_| Err(format!("no answer to {method} within {T:?}")))
}

#[tokio::test]
async fn requests_are_answered_and_the_env_is_injected() {
    let body = r#"echo '{"jsonrpc":"2.0","method":"notifications/message","params":{}}'; echo "{\"jsonrpc\":\"2.0\",\"id\":$id,\"result\":{\"env\":\"$GREETING\"}}""#;
    let s = Server::of(&launch(&sh_server(body)));
    let r = ask(&s, "tools/list").await.unwrap();
    assert_eq!(r, json!({"env": "s3cret"}));
    let r = ask(&s, "tools/list").await.unwrap();
    assert_eq!(r, json!({"env": "s3cret"}));
    // The same launch is the same server; another is another.
    assert!(Arc::ptr_eq(&s, &Server::of(&s.launch.clone())));
    assert!(!Arc::ptr_eq(&s, &Server::of(&launch("exit 0"))));
    assert!(!format!("{:?}", s.launch).contains("s3cret"));
}

#[tokio::test]
async fn concurrent_requests_are_routed_by_id_and_pings_answered() {
    // Reads two requests, pings the gateway and asks it for roots (which it does not offer),
    // then answers the two in the reverse order.
    let script = sh_server(&format!(
        r#"first=$id; read l; id=$(idof "$l"); echo '{{"jsonrpc":"2.0","id":"p1","method":"ping"}}'; read pong
case "$pong" in *'"id":"p1"'*'"result":{{}}'*) ;; *) exit 9;; esac
echo '{{"jsonrpc":"2.0","id":"r1","method":"roots/list"}}'; read no
case "$no" in *'"code":-32601'*'"id":"r1"'*) ;; *) exit 8;; esac
{PID}; id=$first; {PID}"#
    ));
    let s = Server::of(&launch(&script));
    let (a, b) = tokio::join!(ask(&s, "a"), ask(&s, "b"));
    assert_eq!(a.unwrap()["pid"], b.unwrap()["pid"]);
}

#[tokio::test]
async fn garbage_and_death_fail_the_call_and_the_next_starts_a_new_child() {
    let body = format!(
        r#"case "$l" in *'"method":"garbage"'*) echo 'not json';; *'"method":"big"'*) printf '{{"jsonrpc":"2.0","id":%s,"result":{{"x":"' $id; head -c 5000000 /dev/zero | tr '\0' a; echo '"}}}}';; *'"method":"die"'*) exit 3;; *) {PID};; esac"#
    );
    let s = Server::of(&launch(&sh_server(&body)));
    let e = ask(&s, "garbage").await.unwrap_err();
    assert!(
        e.starts_with("bad answer: a line of its stdout is not JSON"),
        "{e}"
    );
    let e = ask(&s, "big").await.unwrap_err();
    assert_eq!(
        e,
        "bad answer: a line of its stdout is larger than 4194304 bytes"
    );
    let first = ask(&s, "pid").await.unwrap();
    let e = ask(&s, "die").await.unwrap_err();
    assert_eq!(e, "its process ended (exit status: 3)");
    let second = ask(&s, "pid").await.unwrap();
    assert_ne!(first["pid"], second["pid"]);
}

#[tokio::test]
async fn a_child_that_exits_at_once_is_not_restarted_in_a_loop() {
    let dir = tempfile::tempdir().unwrap();
    let count = dir.path().join("starts");
    let script = format!("echo x >> {}; exit 1", count.display());
    let s = Server::of(&launch(&script));
    let e = ask(&s, "x").await.unwrap_err();
    assert!(
        e.contains("exit status: 1") && e.contains("before it answered initialize"),
        "{e}"
    );
    let e = ask(&s, "x").await.unwrap_err();
    assert!(e.contains("not started again for 1s"), "{e}");
    let starts = std::fs::read_to_string(&count).unwrap();
    assert_eq!(starts.lines().count(), 1);
}

#[tokio::test]
async fn a_server_no_configuration_holds_any_more_ends_its_child() {
    // Answers, then ignores its stdin closing: killed after the grace.
    let body = format!("{PID}; exec sleep 600");
    let s = Server::of(&launch(&sh_server(&body)));
    let pid = ask(&s, "pid").await.unwrap()["pid"].as_u64().unwrap();
    let stat = format!("/proc/{pid}/stat");
    let running = |stat: &str| {
        std::fs::read_to_string(stat)
            .is_ok_and(|s| !s.rsplit(')').next().unwrap().trim_start().starts_with('Z'))
    };
    assert!(running(&stat));
    drop(s);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while running(&stat) {
        assert!(std::time::Instant::now() < deadline, "the child still runs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
