//! HTTP/2: ALPN `h2` and `http/1.1` on a TLS listener, h2c with prior knowledge on a listener
//! that opts in (and only there), HTTP/2 connections living past the request-head deadline,
//! a bad preface, rapid reset and CONTINUATION floods cut off with the worker's memory bounded
//! while other clients are served, and HTTP/2 to an upstream and a provider that speak only
//! h2c. Clients: `curl` (nghttp2) and raw HTTP/2 from the pinned Python `h2` package
//! (tests/it/http2/peer.py, run by the SDK venv's Python, see `sdk::python`).

use crate::common;
use crate::lifecycle::worker_pids;
use crate::sdk::python;
use common::pki::Ca;
use common::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub fn peer_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/http2")
        .join(name)
}

/// Runs a client command of peer.py; its JSON.
fn peer(args: &[&str], ca: Option<&Path>) -> serde_json::Value {
    let mut cmd = Command::new(python());
    cmd.arg(peer_script("peer.py")).args(args);
    if let Some(ca) = ca {
        cmd.env("CA_FILE", ca);
    }
    let out = output_within(&mut cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "peer.py {args:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("peer.py {args:?}: {e}: {stdout}"))
}

/// An upstream that speaks only h2c (peer.py h2c-server), killed when dropped.
pub struct H2cUpstream {
    _proc: Running,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl H2cUpstream {
    pub fn start() -> H2cUpstream {
        Self::start_with(&[])
    }

    /// Over TLS with `cert` (ALPN `h2` only).
    pub fn start_tls(cert: &common::pki::Issued) -> H2cUpstream {
        Self::start_with(&[&cert.cert, &cert.key])
    }

    fn start_with(tls: &[&Path]) -> H2cUpstream {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let child = Command::new(python())
            .arg(peer_script("peer.py"))
            .arg("h2c-server")
            .arg(&port_file)
            .args(tls)
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut proc = Running(Some(child));
        let port = wait_for("the h2c upstream", Duration::from_secs(20), || {
            assert!(
                proc.child().try_wait().unwrap().is_none(),
                "h2c upstream exited"
            );
            std::fs::read_to_string(&port_file).ok()?.parse().ok()
        });
        H2cUpstream {
            _proc: proc,
            port,
            _dir: dir,
        }
    }
}

/// `curl` with `args`: the HTTP version it spoke and the status (`"2 200"`), or `None` when
/// the exchange failed.
fn curl(args: &[&str]) -> Option<String> {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code}",
        "--max-time",
        "10",
    ])
    .args(args);
    let out = output_within(&mut cmd, Duration::from_secs(20));
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The listeners: `plain` (HTTP/1.1 only), `h2c` and `tls`.
pub struct Ports {
    pub plain: u16,
    pub h2c: u16,
    pub tls: u16,
}

pub fn start(ports: &Ports, server_extra: &str, tls: &str, body: &str) -> Gateway {
    let admin = free_port();
    let text = format!(
        r#"
[server]
listen = ["127.0.0.1:{plain}", {{ addr = "127.0.0.1:{h2c}", h2c = true }}, {{ addr = "127.0.0.1:{tls_port}", tls = true }}]
workers = 1
grace_period = "5s"
{server_extra}

[admin]
listen = "127.0.0.1:{admin}"
token = "{ADMIN_TOKEN}"

[log]
access = "ACCESS_LOG"

{tls}
{body}
"#,
        plain = ports.plain,
        h2c = ports.h2c,
        tls_port = ports.tls,
    );
    Gateway::start_text(ports.plain, admin, &text)
}

/// A gateway with the test's listeners (plain, h2c, TLS with a test certificate) and an echo
/// upstream at `/`; `server_extra` goes into `[server]`.
struct Echoing {
    up: Upstream,
    p: Ports,
    /// The CA of the TLS listener's certificate.
    ca: PathBuf,
    gw: Gateway,
    _dir: tempfile::TempDir,
}

fn echoing(server_extra: &str) -> Echoing {
    let up = echo();
    let p = ports();
    let dir = tempfile::tempdir().unwrap();
    let (tls, ca) = certificate(dir.path());
    let gw = start(&p, server_extra, &tls, &echo_upstream(&up));
    Echoing {
        up,
        p,
        ca,
        gw,
        _dir: dir,
    }
}

fn echo() -> Upstream {
    Upstream::start("echo", |req| {
        let proto = req.header("x-forwarded-proto").unwrap_or("-");
        let host = req.header("host").unwrap_or("-");
        Reply::ok(format!("{proto}|{host}|{}", req.path))
    })
}

const ECHO_ROUTE: &str = "[[routes]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"echo\"\n";

fn echo_upstream(up: &Upstream) -> String {
    format!(
        "[[upstreams]]\nname = \"echo\"\ntargets = [\"{}\"]\n{ECHO_ROUTE}",
        up.addr()
    )
}

/// A certificate for `a.test`, the `[tls]` serving it, and the CA file that trusts it.
pub fn certificate(dir: &Path) -> (String, PathBuf) {
    let ca = Ca::new("h2 CA");
    let leaf = ca.server(dir, "a", "a.test", &["a.test", "127.0.0.1"], 30);
    let table = format!(
        "[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\ndefault = true\n",
        leaf.cert.display(),
        leaf.key.display()
    );
    (table, ca.write(dir, "ca.pem"))
}

pub fn ports() -> Ports {
    Ports {
        plain: free_port(),
        h2c: free_port(),
        tls: free_port(),
    }
}

#[test]
fn alpn_picks_h2_or_http11_and_h2c_is_served_only_where_enabled() {
    let Echoing {
        up: _up,
        p,
        ca,
        gw: _gw,
        _dir,
    } = echoing("");
    let ca_arg = ca.to_str().unwrap();
    let resolve = format!("a.test:{}:127.0.0.1", p.tls);
    let https = format!("https://a.test:{}/x", p.tls);
    let over_tls =
        |version: &str| curl(&[version, "--cacert", ca_arg, "--resolve", &resolve, &https]);
    assert_eq!(over_tls("--http2").as_deref(), Some("2 200"));
    assert_eq!(over_tls("--http1.1").as_deref(), Some("1.1 200"));

    let h2c = format!("http://127.0.0.1:{}/x", p.h2c);
    assert_eq!(
        curl(&["--http2-prior-knowledge", &h2c]).as_deref(),
        Some("2 200")
    );
    // HTTP/1.1 is still served on an h2c listener.
    assert_eq!(curl(&["--http1.1", &h2c]).as_deref(), Some("1.1 200"));
    // A listener without h2c does not take HTTP/2 in clear.
    let plain = format!("http://127.0.0.1:{}/x", p.plain);
    assert_ne!(
        curl(&["--http2-prior-knowledge", &plain]).as_deref(),
        Some("2 200")
    );
    assert_eq!(curl(&["--http1.1", &plain]).as_deref(), Some("1.1 200"));

    // A raw HTTP/2 client, ALPN h2 and h2c: the request reaches the upstream as HTTP/1.1
    // with the scheme and the :authority as Host.
    let r = peer(
        &[
            "requests",
            &format!("https://127.0.0.1:{}/tls", p.tls),
            "1",
            "0",
        ],
        Some(&ca),
    );
    assert_eq!(r[0]["status"], 200, "{r}");
    assert_eq!(
        r[0]["body"],
        format!("https|127.0.0.1:{}|/tls", p.tls),
        "{r}"
    );
    let r = peer(
        &[
            "requests",
            &format!("http://127.0.0.1:{}/clear", p.h2c),
            "1",
            "0",
        ],
        None,
    );
    assert_eq!(r[0]["status"], 200, "{r}");
    assert_eq!(
        r[0]["body"],
        format!("http|127.0.0.1:{}|/clear", p.h2c),
        "{r}"
    );
}

#[test]
fn an_h2_connection_outlives_the_request_head_deadline() {
    let Echoing {
        up: _up,
        p,
        ca,
        gw: _gw,
        _dir,
    } = echoing("header_timeout = \"1s\"");
    // Three requests on one connection, idle longer than the head deadline between them:
    // over HTTP/1.1 that deadline runs from each head's first byte; an HTTP/2 connection
    // reads frames all the time and must not be cut by it.
    for url in [
        format!("http://127.0.0.1:{}/x", p.h2c),
        format!("https://127.0.0.1:{}/x", p.tls),
    ] {
        // The deadline also bounds the TLS handshake, so it is long enough for a busy machine;
        // the gaps are longer still.
        let r = peer(&["requests", &url, "3", "1.5"], Some(&ca));
        let statuses: Vec<_> = r
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["status"].clone())
            .collect();
        assert_eq!(statuses, [200, 200, 200], "{url}: {r}");
        // Each answer has its own id, sent as a literal HPACK never indexes: ids new on every
        // request would otherwise fill the connection's header table.
        let ids: std::collections::HashSet<_> = r
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                assert_eq!(x["request_id_never_indexed"], true, "{url}: {r}");
                x["request_id"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(ids.len(), 3, "{url}: {r}");
    }
}

#[test]
fn an_idle_h2_connection_is_closed_after_the_keepalive_timeout() {
    let Echoing {
        up: _up,
        p,
        ca: _,
        gw: _gw,
        _dir,
    } = echoing("keepalive_timeout = \"1s\"");
    // Idle for twice the keep-alive timeout after the first answer: the second request finds
    // the connection closed.
    let url = format!("http://127.0.0.1:{}/x", p.h2c);
    let r = peer(&["requests", &url, "2", "2"], None);
    assert_eq!(r[0]["status"], 200, "{r}");
    assert!(r[1]["status"].is_null(), "{r}");
    assert!(
        r[1]["end"]
            .as_str()
            .is_some_and(|e| e == "closed" || e.starts_with("goaway") || e.starts_with("error")),
        "{r}"
    );
}

/// Sends `bytes` to `port` and reads until the server closes (or 10s pass); what it answered.
fn send_and_read_to_close(port: u16, bytes: &[u8]) -> (bool, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (true, got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (true, got),
            Err(_) => return (false, got),
        }
    }
}

#[test]
fn an_invalid_http2_preface_is_closed_and_the_worker_serves_on() {
    let Echoing {
        up: _up,
        p,
        ca: _,
        gw,
        _dir,
    } = echoing("header_timeout = \"1s\"");
    // The preface, then no SETTINGS frame but garbage: the HTTP/2 handshake fails.
    let mut garbage = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    garbage.extend_from_slice(&[0xff; 64]);
    let (closed, _) = send_and_read_to_close(p.h2c, &garbage);
    assert!(closed, "the connection was left open");
    // A preface that is almost right is not HTTP/2: read as HTTP/1.1, and refused.
    let (closed, answer) = send_and_read_to_close(p.h2c, b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n");
    assert!(closed, "the connection was left open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    // A client that never finishes its preface is closed at the head deadline.
    let (closed, _) = send_and_read_to_close(p.h2c, b"PRI * HT");
    assert!(closed, "a silent client kept its connection");
    let h2c = format!("http://127.0.0.1:{}/x", p.h2c);
    assert_eq!(
        curl(&["--http2-prior-knowledge", &h2c]).as_deref(),
        Some("2 200")
    );
    assert_eq!(worker_pids(&gw).len(), 1, "the worker was replaced");
}

/// The resident memory of the gateway's one worker, in KiB.
fn worker_rss_kib(gw: &Gateway) -> u64 {
    let kids = worker_pids(gw);
    assert_eq!(kids.len(), 1, "one worker expected");
    let status = std::fs::read_to_string(format!("/proc/{}/status", kids[0])).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Runs `attack` (a peer.py flood) from `clients` clients at once while another keeps making
/// requests over h2c; every one of those must succeed, the worker's memory must stay within
/// 64 MiB of where it was, and it must be the same worker after.
fn under_flood(p: &Ports, gw: &Gateway, clients: usize, attack: &[&str]) -> Vec<serde_json::Value> {
    let before = worker_rss_kib(gw);
    let worker = worker_pids(gw);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let h2c = format!("http://127.0.0.1:{}/x", p.h2c);
    let bystander = {
        let (stop, h2c) = (stop.clone(), h2c.clone());
        std::thread::spawn(move || {
            let mut results = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || results.is_empty() {
                results.push(curl(&["--http2-prior-knowledge", &h2c]));
            }
            results
        })
    };
    let attackers: Vec<_> = (0..clients)
        .map(|_| {
            let args: Vec<String> = attack.iter().map(|a| a.to_string()).collect();
            std::thread::spawn(move || {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                peer(&args, None)
            })
        })
        .collect();
    let outcomes: Vec<_> = attackers.into_iter().map(|t| t.join().unwrap()).collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let served = bystander.join().unwrap();
    assert!(
        served.iter().all(|r| r.as_deref() == Some("2 200")),
        "a bystander was not served during {attack:?}: {served:?}"
    );
    let after = worker_rss_kib(gw);
    assert!(
        after < before + 64 * 1024,
        "{attack:?}: worker memory grew from {before} KiB to {after} KiB"
    );
    assert_eq!(worker_pids(gw), worker, "the worker was replaced");
    outcomes
}

// RFC 9113 7.
const ENHANCE_YOUR_CALM: u64 = 0xb;
const COMPRESSION_ERROR: u64 = 0x9;

#[test]
fn rapid_reset_is_cut_off_with_goaway_and_memory_bounded() {
    let Echoing {
        up: _up,
        p,
        ca: _,
        gw,
        _dir,
    } = echoing("");
    let port = p.h2c.to_string();
    let outcomes = under_flood(&p, &gw, 4, &["rapid-reset", "127.0.0.1", &port, "20000"]);
    // Cut off long before the 20000 streams were all sent: by the h2 crate with GOAWAY
    // ENHANCE_YOUR_CALM (resets of streams not yet accepted), or by the gateway's own count
    // of resets (see the next test), whichever comes first.
    let mut by_count = 0;
    for o in &outcomes {
        assert_eq!(o["closed"], true, "{o}");
        assert!(o["sent"].as_u64().unwrap() < 20000, "{o}");
        if o["goaway"].as_u64() != Some(ENHANCE_YOUR_CALM) {
            by_count += 1;
        }
    }
    let counted = sample(&gw.metrics(), "tollgate_client_h2_reset_floods_total").unwrap();
    assert_eq!(counted, by_count as f64, "{outcomes:?}");
}

#[test]
fn resets_of_streams_already_accepted_are_cut_off_too() {
    let Echoing {
        up,
        p,
        ca: _,
        gw,
        _dir,
    } = echoing("");
    let port = p.h2c.to_string();
    // Each reset 5 ms after its HEADERS: the stream has been accepted (and its request
    // started) by then, so the h2 crate's count of resets before acceptance never trips.
    let attack = ["rapid-reset", "127.0.0.1", &port, "1000", "0.005"];
    let o = under_flood(&p, &gw, 1, &attack).remove(0);
    assert_eq!(o["closed"], true, "{o}");
    assert!(
        o["write_failed"] == true || o["sent"].as_u64().unwrap() < 1000,
        "{o}"
    );
    let cut = sample(&gw.metrics(), "tollgate_client_h2_reset_floods_total");
    assert_eq!(cut, Some(1.0), "{o}");
    // A few hundred at most, not a thousand: the connection is judged after 100 resets
    // (`RESETS_BEFORE_JUDGING`), and the streams opened meanwhile whose requests reach the
    // upstream within their 5 ms also count. A faster proxy path lets more of those through
    // (155 once in CI after the proxy halves were joined), so the bound leaves room for them.
    assert!(
        up.hits() < 250,
        "{} requests reached the upstream",
        up.hits()
    );
}

#[test]
fn a_continuation_flood_is_cut_off_with_memory_bounded() {
    let Echoing {
        up: _up,
        p,
        ca: _,
        gw,
        _dir,
    } = echoing("");
    let port = p.h2c.to_string();
    // 20000 frames of 16 KiB: 320 MiB of header block if it were kept.
    let outcomes = under_flood(&p, &gw, 4, &["continuation", "127.0.0.1", &port, "20000"]);
    for o in outcomes {
        assert_eq!(o["closed"], true, "{o}");
        let code = o["goaway"].as_u64();
        assert!(
            code == Some(ENHANCE_YOUR_CALM) || code == Some(COMPRESSION_ERROR),
            "{o}"
        );
        assert!(o["sent"].as_u64().unwrap() < 20000, "{o}");
    }
}

#[test]
fn a_route_reaches_an_upstream_that_speaks_only_h2c_over_few_connections() {
    let up = H2cUpstream::start();
    let body = |http2: bool| {
        format!(
            "[[upstreams]]\nname = \"h2\"\ntargets = [\"127.0.0.1:{}\"]\nhttp2 = {http2}\n\
             health_check = {{ path = \"/health\", interval = \"100ms\" }}\n\
             [[routes]]\nname = \"all\"\npath_prefix = \"/\"\nupstream = \"h2\"\n",
            up.port
        )
    };
    // Without `http2`, the gateway speaks HTTP/1.1, which this upstream does not.
    let gw = Gateway::start(1, &body(false));
    let r = client().get(gw.url("/a")).send().unwrap();
    assert_eq!(r.status(), 502);
    drop(gw);

    let gw = Gateway::start(1, &body(true));
    // The health check speaks HTTP/2 too, as requests do.
    let series = format!(
        "tollgate_upstream_target_up{{upstream=\"h2\",target=\"127.0.0.1:{}\"}}",
        up.port
    );
    wait_for(
        "the target checked healthy",
        Duration::from_secs(10),
        || (sample(&gw.metrics(), &series) == Some(1.0)).then_some(()),
    );
    let first: serde_json::Value = client()
        .get(gw.url("/a?q=1"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(first["path"], "/a?q=1", "{first}");
    assert_eq!(first["method"], "GET", "{first}");
    let url = gw.url("/b");
    let threads: Vec<_> = (0..24)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let r = client()
                    .post(&url)
                    .body(vec![b'x'; 1000 * i])
                    .send()
                    .unwrap();
                assert_eq!(r.status(), 200);
                let v: serde_json::Value = r.json().unwrap();
                assert_eq!(v["body_len"], 1000 * i, "{v}");
                v["connection"].as_u64().unwrap()
            })
        })
        .collect();
    let mut conns: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    conns.sort();
    conns.dedup();
    // 24 requests at once multiplexed: far fewer connections than requests.
    assert!(conns.len() <= 4, "connections used: {conns:?}");
}

#[test]
fn a_provider_is_called_over_h2c() {
    let up = H2cUpstream::start();
    let cfg = format!(
        r#"
[[providers]]
name = "h2"
kind = "openai"
base_url = "http://127.0.0.1:{}/v1"
api_key = "k"
http2 = true

[[models]]
name = "demo"
deployments = [{{ provider = "h2", model = "h2c-model" }}]

[[routes]]
name = "llm"
path_prefix = "/v1"
handler = "llm"
"#,
        up.port
    );
    let gw = Gateway::start(1, &cfg);
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .json(
            &serde_json::json!({"model": "demo", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "over HTTP/2", "{v}");
}

/// The mock provider behind the LLM route, a prompt API and the MCP endpoint.
const LLM: &str = common::providers::MOCK_LLM;

#[test]
fn the_openai_sdk_calls_the_llm_route_over_https_with_http2() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, ca) = certificate(dir.path());
    let p = ports();
    let gw = start(&p, "", &tls, LLM);
    let mut cmd = Command::new(python());
    cmd.arg(peer_script("openai_h2.py"))
        .arg(format!("https://127.0.0.1:{}/v1", p.tls))
        .arg(&ca);
    for (k, _) in std::env::vars_os() {
        let upper = k.to_string_lossy().to_ascii_uppercase();
        if upper.starts_with("OPENAI_") || upper.ends_with("_PROXY") {
            cmd.env_remove(&k);
        }
    }
    let out = output_within(&mut cmd, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        gw.stderr()
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["version"], "HTTP/2", "{v}");
    let content = v["content"].as_str().unwrap();
    assert!(!content.is_empty(), "{v}");
    // The stream, read chunk by chunk over HTTP/2, says what the single answer said.
    assert_eq!(v["stream"], content, "{v}");
}

/// `curl` over h2c with `args`: `"2 STATUS"` and the body.
fn curl_h2c(args: &[&str]) -> (String, String) {
    let out_file = tempfile::NamedTempFile::new().unwrap();
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--http2-prior-knowledge", "--max-time", "20"])
        .args(["-w", "%{http_version} %{http_code}", "-o"])
        .arg(out_file.path())
        .args(args);
    let out = output_within(&mut cmd, Duration::from_secs(30));
    assert!(out.status.success(), "curl {args:?}: {}", out.status);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        std::fs::read_to_string(out_file.path()).unwrap_or_default(),
    )
}

#[test]
fn llm_routes_prompt_apis_and_refusals_answer_over_http2_as_over_http11() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, _) = certificate(dir.path());
    let p = ports();
    let prompt = r#"
[[prompts]]
name = "greet"
path = "/prompts/greet"
model = "demo"
input = { type = "object", required = ["name"], properties = { name = { type = "string" } } }
messages = [{ role = "user", content = "Greet {{name}}" }]
"#;
    let _gw = start(
        &p,
        "max_body_bytes = \"2MiB\"",
        &tls,
        &format!("{LLM}{prompt}"),
    );
    let base = format!("http://127.0.0.1:{}", p.h2c);
    let chat = |content: &str, stream: bool| {
        serde_json::json!({
            "model": "demo", "stream": stream,
            "messages": [{"role": "user", "content": content}],
        })
        .to_string()
    };
    let json = ["-H", "content-type: application/json"];
    let body_file = dir.path().join("big.json");
    // A request of more than 1 MiB, read whole by the LLM handler from HTTP/2 DATA frames.
    std::fs::write(&body_file, chat(&"x".repeat(1_500_000), false)).unwrap();
    let big = format!("@{}", body_file.display());
    let url = format!("{base}/v1/chat/completions");
    let (status, body) = curl_h2c(&[&json[..], &["--data-binary", &big, &url]].concat());
    assert_eq!(status, "2 200", "{body}");
    assert!(body.contains("\"chat.completion\""), "{body}");

    let (status, body) = curl_h2c(&[&json[..], &["-d", &chat("hi", true), &url]].concat());
    assert_eq!(status, "2 200", "{body}");
    assert!(
        body.contains("data: ") && body.trim_end().ends_with("data: [DONE]"),
        "{body}"
    );

    // Over the body cap: answered at once, and the rest of the upload stopped with
    // RST_STREAM NO_ERROR (RFC 9113 8.1), not read (curl 7.88 takes that reset for an error,
    // so the raw client is used).
    let r = peer(&["post", &url, "3000000"], None);
    assert_eq!(r["status"], 413, "{r}");
    assert!(r["body"].as_str().unwrap().contains("\"error\""), "{r}");
    assert_eq!(r["ended"], 0, "{r}");
    assert!(r["unsent"].as_u64().unwrap() > 0, "{r}");

    let (status, body) = curl_h2c(
        &[
            &json[..],
            &["-d", "{\"name\":\"Ada\"}", &format!("{base}/prompts/greet")],
        ]
        .concat(),
    );
    assert_eq!(status, "2 200", "{body}");

    let (status, body) = curl_h2c(&[&format!("{base}/nowhere")]);
    assert_eq!(status, "2 404", "{body}");
}

#[test]
fn an_upstream_and_a_provider_over_tls_are_spoken_to_in_http2_chosen_by_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("upstream CA");
    let leaf = ca.server(
        dir.path(),
        "up",
        "localhost",
        &["localhost", "127.0.0.1"],
        30,
    );
    let ca_file = ca.write(dir.path(), "ca.pem");
    let up = H2cUpstream::start_tls(&leaf);
    let cfg = |http2: bool| {
        format!(
            r#"
[[upstreams]]
name = "h2"
targets = ["127.0.0.1:{port}"]
tls = true
sni = "localhost"
http2 = {http2}

[[routes]]
name = "rest"
path_prefix = "/rest"
upstream = "h2"

[[providers]]
name = "h2"
kind = "openai"
base_url = "https://localhost:{port}/v1"
api_key = "k"
http2 = {http2}

[[models]]
name = "demo"
deployments = [{{ provider = "h2", model = "h2c-model" }}]

[[routes]]
name = "llm"
path_prefix = "/v1"
handler = "llm"
"#,
            port = up.port
        )
    };
    let chat =
        serde_json::json!({"model": "demo", "messages": [{"role": "user", "content": "hi"}]});
    let env = [("SSL_CERT_FILE", ca_file.as_os_str())];
    // Without `http2` the gateway offers only http/1.1, which this server refuses.
    let gw = Gateway::start_env(1, &cfg(false), &env);
    assert_eq!(
        client().get(gw.url("/rest/a")).send().unwrap().status(),
        502
    );
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&chat)
        .send()
        .unwrap();
    assert_eq!(r.status(), 502);
    drop(gw);

    let gw = Gateway::start_env(1, &cfg(true), &env);
    let v: serde_json::Value = client()
        .get(gw.url("/rest/a"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["path"], "/rest/a", "{v}");
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&chat)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "over HTTP/2", "{v}");
}

#[test]
fn bad_http2_settings_are_each_reported_where_they_are() {
    let text = r#"
[server]
listen = [{ addr = "127.0.0.1:8443", tls = true, h2c = true }]

[server.http2]
max_concurrent_streams = 0
max_header_list_size = "2MiB"
initial_stream_window = "1KiB"
initial_connection_window = "64MiB"

[[providers]]
name = "mock"
kind = "mock"
http2 = true
"#;
    let (ok, err) = validate(text);
    assert!(!ok, "{err}");
    for expected in [
        "server.listen[0].h2c: h2c is cleartext HTTP/2",
        "server.http2.max_concurrent_streams: must be between 1 and 10000",
        "server.http2.max_header_list_size: must be between 1KiB and 1MiB",
        "server.http2.initial_stream_window: must be between 65535 bytes and 16MiB",
        "server.http2.initial_connection_window: must be between 65535 bytes and 16MiB",
        "providers[0].http2: a mock provider makes no connection",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let (ok, err) = validate("[server]\nlisten = [{ addr = \"127.0.0.1:8080\", h2c = \"yes\" }]\n");
    assert!(
        !ok && err.contains("server.listen[0].h2c: invalid type"),
        "{err}"
    );
}

#[test]
fn the_mcp_endpoint_answers_over_http2() {
    let dir = tempfile::tempdir().unwrap();
    let (tls, _) = certificate(dir.path());
    let doc = dir.path().join("billing.json");
    std::fs::write(
        &doc,
        r#"{"openapi": "3.0.3", "info": {"title": "billing", "version": "1"},
            "paths": {"/invoices/{n}": {"get": {"operationId": "getInvoice", "parameters":
            [{"name": "n", "in": "path", "required": true, "schema": {"type": "integer"}}]}}}}"#,
    )
    .unwrap();
    let key = common::keys::TestKey::new();
    let up = echo();
    let body = format!(
        "[store]\npath = \"tollgate.db\"\n\n[mcp]\n\n\
         [[upstreams]]\nname = \"echo\"\ntargets = [\"{}\"]\n\n\
         [[routes]]\nname = \"billing\"\npath_prefix = \"/billing\"\nupstream = \"echo\"\n\
         [routes.api]\nauth = \"api_key\"\nopenapi = \"{}\"\n\n\
         [[tenants]]\nname = \"acme\"\n[[tenants.apps]]\nname = \"web\"\n\
         subscriptions = [\"billing\"]\n{}",
        up.addr(),
        doc.display(),
        key.lines("")
    );
    let p = ports();
    let _gw = start(&p, "", &tls, &body);
    let url = format!("http://127.0.0.1:{}/mcp", p.h2c);
    let auth = format!("authorization: Bearer {}", key.full);
    let post = |session: Option<&str>, msg: serde_json::Value| {
        let head_file = tempfile::NamedTempFile::new().unwrap();
        let sid = session.map(|s| format!("mcp-session-id: {s}"));
        let mut args = vec![
            "-H",
            "content-type: application/json",
            "-H",
            "accept: application/json, text/event-stream",
            "-H",
            &auth,
        ];
        if let Some(sid) = &sid {
            args.extend(["-H", sid.as_str()]);
        }
        let text = msg.to_string();
        let head_path = head_file.path().to_str().unwrap().to_string();
        args.extend(["-D", &head_path, "-d", &text, &url]);
        let (status, body) = curl_h2c(&args);
        let head = std::fs::read_to_string(head_file.path()).unwrap();
        (status, head, body)
    };
    let init = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params":
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "h2", "version": "0"}}});
    let (status, head, body) = post(None, init);
    assert_eq!(status, "2 200", "{body}");
    let sid = head
        .lines()
        .find_map(|l| l.strip_prefix("mcp-session-id: "))
        .unwrap_or_else(|| panic!("no session id in {head}"))
        .trim()
        .to_string();
    let call = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "billing.getInvoice", "arguments": {"n": 7}}});
    let (status, _, body) = post(Some(&sid), call);
    assert_eq!(status, "2 200", "{body}");
    // The tool call went through the data plane to the upstream.
    assert!(body.contains("/billing/invoices/7"), "{body}");
}
