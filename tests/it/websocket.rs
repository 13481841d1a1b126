//! WebSocket pass-through: an upgrade through the gateway reaches an in-test WebSocket echo
//! server over raw TCP, the `101` comes back with its headers, and frames flow both ways on
//! the upgraded connection. Then the `websockets` package at both ends
//! (tests/it/sdk/websocket_peer.py), over plain HTTP/1.1 and over TLS: messages of every kind
//! and size, either side closing mid-stream, and either side just dropping the connection.

use crate::common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

/// RFC 6455's example handshake: this key's accept value is the one below.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;

/// One frame (FIN set), masked as a client must, unmasked as a server does.
fn frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    assert!(payload.len() < 126, "short frames only");
    let mut out = vec![0x80 | opcode];
    match mask {
        Some(m) => {
            out.push(0x80 | payload.len() as u8);
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => {
            out.push(payload.len() as u8);
            out.extend_from_slice(payload);
        }
    }
    out
}

/// Reads one short frame: (opcode, unmasked payload).
fn read_frame(r: &mut impl Read) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head)?;
    assert_eq!(head[0] & 0x80, 0x80, "fragmented frame");
    let len = (head[1] & 0x7f) as usize;
    assert!(len < 126, "short frames only");
    let mut mask = [0u8; 4];
    if head[1] & 0x80 != 0 {
        r.read_exact(&mut mask)?;
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    Ok((head[0] & 0x0f, payload))
}

/// Reads an HTTP head (up to the blank line) from `r`.
fn read_head(r: &mut impl BufRead) -> String {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            return head;
        }
        head.push_str(&line);
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A WebSocket echo server for one connection; sends the upgrade request's head on `heads`.
fn echo_server(heads: mpsc::Sender<String>) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let head = read_head(&mut reader);
        let _ = heads.send(head);
        writer
            .write_all(
                format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
        // Echo every frame back, unmasked, until the close (echoed too).
        while let Ok((opcode, payload)) = read_frame(&mut reader) {
            writer.write_all(&frame(opcode, &payload, None)).unwrap();
            if opcode == CLOSE {
                return;
            }
        }
    });
    (port, thread)
}

#[test]
fn a_websocket_upgrade_passes_through_and_frames_echo_both_ways() {
    let (heads, upgrade) = mpsc::channel();
    let (ws_port, server) = echo_server(heads);
    let gw = Gateway::start(
        1,
        &format!(
            "[[upstreams]]\nname = \"ws\"\ntargets = [\"127.0.0.1:{ws_port}\"]\n\n\
             [[routes]]\nname = \"ws\"\npath_prefix = \"/ws\"\nupstream = \"ws\"\n"
        ),
    );
    let stream = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    writer
        .write_all(
            format!(
                "GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n",
                gw.port
            )
            .as_bytes(),
        )
        .unwrap();

    // The upstream got the upgrade: its hop-by-hop headers were kept for it.
    let sent = upgrade.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(sent.starts_with("GET /ws/chat HTTP/1.1\r\n"), "{sent}");
    assert_eq!(header(&sent, "upgrade"), Some("websocket"), "{sent}");
    assert!(
        header(&sent, "connection").is_some_and(|v| v.to_ascii_lowercase().contains("upgrade")),
        "{sent}"
    );
    assert_eq!(header(&sent, "sec-websocket-key"), Some(KEY), "{sent}");
    assert_eq!(header(&sent, "sec-websocket-version"), Some("13"), "{sent}");

    // The client gets the 101 with the server's handshake headers.
    let head = read_head(&mut reader);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(header(&head, "upgrade"), Some("websocket"), "{head}");
    assert_eq!(
        header(&head, "sec-websocket-accept"),
        Some(ACCEPT),
        "{head}"
    );

    // Frames go through in both directions, several on the same connection.
    let mask = Some([0x12, 0x34, 0x56, 0x78]);
    for (opcode, payload) in [
        (TEXT, &b"hello through the gateway"[..]),
        (BINARY, &[0u8, 1, 2, 254, 255][..]),
        (TEXT, &b"and again"[..]),
    ] {
        writer.write_all(&frame(opcode, payload, mask)).unwrap();
        let (got, echoed) = read_frame(&mut reader).unwrap();
        assert_eq!((got, echoed.as_slice()), (opcode, payload));
    }
    writer
        .write_all(&frame(CLOSE, &[0x03, 0xe8], mask))
        .unwrap();
    assert_eq!(read_frame(&mut reader).unwrap(), (CLOSE, vec![0x03, 0xe8]));
    server.join().unwrap();
}

/// The `websockets` echo server of tests/it/sdk/websocket_peer.py, and the file where it
/// writes how each connection ended.
struct PyServer {
    _server: Running,
    port: u16,
    events: std::path::PathBuf,
}

fn peer_script() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/sdk/websocket_peer.py")
}

impl PyServer {
    fn start(dir: &std::path::Path) -> PyServer {
        let events = dir.join("events.jsonl");
        let mut child = std::process::Command::new(crate::sdk::python())
            .arg(peer_script())
            .args(["server".as_ref(), events.as_os_str()])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(dir.join("server.stderr")).unwrap())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let server = Running(Some(child));
        let mut line = String::new();
        BufReader::new(out).read_line(&mut line).unwrap();
        let port = line.trim().parse().expect("the server printed its port");
        PyServer {
            _server: server,
            port,
            events,
        }
    }

    /// How the connection to `path` ended, once the server has seen it end.
    fn ended(&self, path: &str) -> serde_json::Value {
        wait_for(
            &format!("the end of {path} at the server"),
            Duration::from_secs(20),
            || {
                let text = std::fs::read_to_string(&self.events).unwrap_or_default();
                text.lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .find(|e| e["path"] == path)
            },
        )
    }
}

/// Runs one scenario of the `websockets` client; its summary, or a panic with its stderr and
/// the gateway's log.
fn py_client(gw: &Gateway, url: &str, ca: &std::path::Path, scenario: &str) -> serde_json::Value {
    let mut cmd = std::process::Command::new(crate::sdk::python());
    cmd.arg(peer_script())
        .args(["client", url, "--ca"])
        .arg(ca)
        .arg(scenario)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().to_ascii_uppercase().ends_with("_PROXY") {
            cmd.env_remove(k);
        }
    }
    let out = output_within(&mut cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{scenario} via {url}: {}\n{}\ngateway log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        gw.stderr()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_websockets_package_talks_through_the_gateway_over_http_and_tls() {
    let dir = tempfile::tempdir().unwrap();
    let server = PyServer::start(dir.path());
    let ca = common::pki::Ca::new("ws CA");
    let cert = ca.server(dir.path(), "gw", "gw", &["127.0.0.1"], 30);
    let ca_file = ca.write(dir.path(), "ca.pem");
    let plain = Upstream::named("plain");
    let (port, tls_port, admin) = (free_port(), free_port(), free_port());
    let text = format!(
        r#"
[server]
listen = ["127.0.0.1:{port}", {{ addr = "127.0.0.1:{tls_port}", tls = true }}]
workers = 1
threads = 1

[admin]
listen = "127.0.0.1:{admin}"
token = "{ADMIN_TOKEN}"

[log]
access = "ACCESS_LOG"

[[tls.certificates]]
cert = "{cert}"
key = "{key}"
default = true

[[upstreams]]
name = "ws"
targets = ["127.0.0.1:{ws}"]

[[upstreams]]
name = "plain"
targets = ["{plain}"]

[[upstreams]]
name = "ws-idle"
targets = ["127.0.0.1:{ws}"]
timeouts = {{ read = "1s" }}

[[routes]]
name = "ws-idle"
path_prefix = "/idle"
upstream = "ws-idle"

[[routes]]
name = "ws"
path_prefix = "/ws"
upstream = "ws"

[[routes]]
name = "plain"
path_prefix = "/"
upstream = "plain"
"#,
        cert = cert.cert.display(),
        key = cert.key.display(),
        ws = server.port,
        plain = plain.addr(),
    );
    let gw = Gateway::start_text(port, admin, &text);

    let mut paths = Vec::new();
    for (scheme, port) in [("ws", port), ("wss", tls_port)] {
        for scenario in [
            "echo",
            "client-close",
            "server-close",
            "drop",
            "server-drop",
        ] {
            let path = format!("/ws/{scheme}/{scenario}");
            let url = format!("{scheme}://127.0.0.1:{port}{path}");
            let summary = py_client(&gw, &url, &ca_file, scenario);
            let end = server.ended(&path);
            let what = format!("{url}: client {summary}, server {end}");
            // Both close frames crossed the gateway, whichever side began.
            let (code, clean) = match scenario {
                "echo" => (Some(1000), true),
                "client-close" => (Some(4001), true),
                "server-close" => (Some(4000), true),
                // The side that stayed saw the connection end (the gateway closed it) rather
                // than waiting on it forever.
                _ => (None, false),
            };
            assert_eq!(end["code"].as_u64(), code, "{what}");
            assert_eq!(end["clean"], clean, "{what}");
            if scenario == "server-close" {
                assert_eq!(summary["reason"], "server bye", "{what}");
            }
            paths.push(path);
        }
        // The worker keeps serving on that listener.
        let (status, body) = raw_get(port, "/after", &[]).unwrap_or_default();
        if scheme == "ws" {
            assert_eq!((status, body.as_str()), (200, "plain"), "{}", gw.stderr());
        }
    }
    // A WebSocket idle for longer than its upstream's read timeout is ended, as nginx's
    // proxy_read_timeout does: the client sees the end, and so does the server.
    let summary = py_client(
        &gw,
        &format!("ws://127.0.0.1:{port}/idle"),
        &ca_file,
        "idle",
    );
    let idle = summary["idle_seconds"].as_f64().unwrap();
    assert!((0.9..15.0).contains(&idle), "{summary}");
    assert_eq!(server.ended("/idle")["clean"], false);
    paths.push("/idle".to_string());

    let https = common::pki::client(&[&ca.pem()], &[], tls_port, None);
    let resp = https
        .get(format!("https://127.0.0.1:{tls_port}/after"))
        .send()
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Each connection is one call in the access log, with the 101 of its upgrade.
    let log = wait_for("the access log", Duration::from_secs(10), || {
        let l = gw.access_log();
        paths
            .iter()
            .all(|p| l.contains(&format!("\"path\":\"{p}\"")))
            .then_some(l)
    });
    for p in &paths {
        let lines: Vec<serde_json::Value> = log
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["path"] == p.as_str())
            .collect();
        assert_eq!(lines.len(), 1, "{p}:\n{log}");
        assert_eq!(lines[0]["status"], 101, "{p}:\n{log}");
    }
}
