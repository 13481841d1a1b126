//! gRPC through the gateway over HTTP/2, client to gateway by h2c or TLS (ALPN h2), gateway to
//! server by h2c (`http2 = true`): unary and server-streaming calls, a status and its message
//! carried in trailers (and in a trailers-only answer), `grpc_status` in the access log, and a
//! client or server ending a stream midway. Server and client are the pinned `grpcio`
//! (tests/it/http2/grpc_peer.py, generic handlers, no generated code).

use crate::common;
use crate::http2::{certificate, peer_script, ports, start, Ports};
use crate::sdk::python;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The gRPC server, killed when dropped; it marks a call its client cancelled in `dir`.
struct GrpcServer {
    _proc: Running,
    port: u16,
    dir: tempfile::TempDir,
}

impl GrpcServer {
    fn start() -> GrpcServer {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let child = Command::new(python())
            .arg(peer_script("grpc_peer.py"))
            .arg("server")
            .arg(&port_file)
            .arg(dir.path())
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut proc = Running(Some(child));
        let port = wait_for("the gRPC server", Duration::from_secs(30), || {
            assert!(
                proc.child().try_wait().unwrap().is_none(),
                "gRPC server exited"
            );
            std::fs::read_to_string(&port_file).ok()?.parse().ok()
        });
        GrpcServer {
            _proc: proc,
            port,
            dir,
        }
    }
}

/// Runs `scenario` of grpc_peer.py's client against `port` (over TLS trusting `ca` if given).
fn call(port: u16, scenario: &str, ca: Option<&Path>) -> serde_json::Value {
    let mut cmd = Command::new(python());
    cmd.arg(peer_script("grpc_peer.py"))
        .args(["client", &format!("127.0.0.1:{port}"), scenario]);
    if let Some(ca) = ca {
        cmd.arg(ca);
    }
    let out = output_within(&mut cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{scenario}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{scenario}: {e}: {stdout}"))
}

fn gateway(p: &Ports, server: &GrpcServer, dir: &Path) -> (Gateway, std::path::PathBuf) {
    let (tls, ca) = certificate(dir);
    let body = format!(
        "[[upstreams]]\nname = \"grpc\"\ntargets = [\"127.0.0.1:{}\"]\nhttp2 = true\n\
         [[routes]]\nname = \"echo\"\npath_prefix = \"/test.Echo/\"\nupstream = \"grpc\"\n",
        server.port
    );
    (start(p, "", &tls, &body), ca)
}

/// The access log's records of `path`, waited for until there are `n`.
fn records(gw: &Gateway, path: &str, n: usize) -> Vec<serde_json::Value> {
    wait_for("access log records", Duration::from_secs(10), || {
        let found: Vec<serde_json::Value> = gw
            .access_log()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|r| r["path"] == path)
            .collect();
        (found.len() >= n).then_some(found)
    })
}

#[test]
fn unary_and_streaming_calls_pass_with_their_trailers_and_status_logged() {
    let server = GrpcServer::start();
    let dir = tempfile::tempdir().unwrap();
    let p = ports();
    let (gw, ca) = gateway(&p, &server, dir.path());
    for (port, ca) in [(p.h2c, None), (p.tls, Some(ca.as_path()))] {
        let r = call(port, "unary", ca);
        assert_eq!(r["reply"], "echo:hello", "{r}");
        let r = call(port, "stream", ca);
        assert_eq!(
            r["messages"],
            serde_json::json!(["msg0", "msg1", "msg2", "msg3", "msg4"]),
            "{r}"
        );
        // A failure before any message: status and message in a trailers-only answer.
        let r = call(port, "fail", ca);
        assert_eq!(r["code"], "NOT_FOUND", "{r}");
        assert_eq!(r["details"], "no such thing", "{r}");
    }
    for r in records(&gw, "/test.Echo/Unary", 2)
        .iter()
        .chain(&records(&gw, "/test.Echo/Stream", 2))
    {
        assert_eq!(r["grpc_status"], 0, "{r}");
        assert_eq!(r["status"], 200, "{r}");
    }
    for r in records(&gw, "/test.Echo/Fail", 2) {
        assert_eq!(r["grpc_status"], 5, "{r}");
    }
}

#[test]
fn a_stream_ended_midway_by_the_server_or_the_client_is_passed_on() {
    let server = GrpcServer::start();
    let dir = tempfile::tempdir().unwrap();
    let p = ports();
    let (gw, _) = gateway(&p, &server, dir.path());
    // The server fails after two messages: the client gets both, then the status in the
    // trailers.
    let r = call(p.h2c, "die", None);
    assert_eq!(r["messages"], serde_json::json!(["one", "two"]), "{r}");
    assert_eq!(r["code"], "UNAVAILABLE", "{r}");
    assert_eq!(r["details"], "going away mid-stream", "{r}");
    assert_eq!(records(&gw, "/test.Echo/Die", 1)[0]["grpc_status"], 14);

    // The client cancels after three messages: the server learns of it, and the gateway
    // goes on serving.
    let r = call(p.h2c, "cancel", None);
    assert_eq!(r["messages"].as_array().unwrap().len(), 3, "{r}");
    let mark = server.dir.path().join("cancelled");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !path_exists(&mark) {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not see the cancel in 20s\n--- access log:\n{}\n--- gateway:\n{}",
            gw.access_log(),
            gw.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let slow = &records(&gw, "/test.Echo/Slow", 1)[0];
    assert!(slow["grpc_status"].is_null(), "{slow}");
    assert_eq!(call(p.h2c, "unary", None)["reply"], "echo:hello");
}
