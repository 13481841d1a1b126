//! The edge around TLS: `[tls] hsts` on answers over TLS only (proxied, refused by the
//! gateway, and LLM answers), and a plain listener that redirects every request to HTTPS
//! without routing it.

use crate::common;
use common::pki::{self, Ca};
use common::*;
use std::time::Duration;

const HSTS: &str = "max-age=63072000; includeSubDomains";

/// A gateway with a plain listener (`gw.port`), a TLS one at `tls_port` serving `cert` for
/// every name, the extra listeners `more`, `[tls]` lines `tls_extra`, an upstream at `/up`
/// and the mock LLM provider at `/v1`.
fn start(tls_port: u16, more: &str, tls_extra: &str, cert: &pki::Issued, up: &Upstream) -> Gateway {
    let (port, admin) = (free_port(), free_port());
    let text = format!(
        r#"
[server]
listen = ["127.0.0.1:{port}", {{ addr = "127.0.0.1:{tls_port}", tls = true }}{more}]
workers = 1
threads = 1

[admin]
listen = "127.0.0.1:{admin}"
token = "{ADMIN_TOKEN}"

[log]
access = "ACCESS_LOG"

[tls]
{tls_extra}

[[tls.certificates]]
cert = "{cert}"
key = "{key}"
default = true

[[upstreams]]
name = "up"
targets = ["{up}"]

[[routes]]
name = "up"
path_prefix = "/up"
upstream = "up"

[[providers]]
name = "mock"
kind = "mock"

[[models]]
name = "demo"
deployments = [{{ provider = "mock", model = "mock-1" }}]

[[routes]]
name = "llm"
path_prefix = "/v1"
handler = "llm"
"#,
        cert = cert.cert.display(),
        key = cert.key.display(),
        up = up.addr(),
    );
    Gateway::start_text(port, admin, &text)
}

#[test]
fn hsts_is_on_every_answer_over_tls_and_never_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("edge CA");
    let cert = ca.server(dir.path(), "gw", "gw", &["127.0.0.1"], 30);
    let up = Upstream::start("up", |_| {
        // An upstream's own value is replaced by the gateway's.
        Reply::ok("up").header("strict-transport-security", "max-age=1")
    });
    let tls_port = free_port();
    let gw = start(tls_port, "", &format!("hsts = \"{HSTS}\""), &cert, &up);
    let https = pki::client(&[&ca.pem()], &[], tls_port, None);
    let plain = client();
    let chat =
        serde_json::json!({"model": "demo", "messages": [{"role": "user", "content": "hi"}]});
    for (scheme, port, client) in [("https", tls_port, &https), ("http", gw.port, &plain)] {
        let base = format!("{scheme}://127.0.0.1:{port}");
        let answers = [
            (
                "proxied",
                client.get(format!("{base}/up/x")).send().unwrap(),
            ),
            (
                "no route",
                client.get(format!("{base}/nothing")).send().unwrap(),
            ),
            (
                "llm",
                client
                    .post(format!("{base}/v1/chat/completions"))
                    .json(&chat)
                    .send()
                    .unwrap(),
            ),
        ];
        for (what, resp) in answers {
            let status = resp.status().as_u16();
            assert_eq!(status, if what == "no route" { 404 } else { 200 }, "{what}");
            let values: Vec<_> = resp
                .headers()
                .get_all("strict-transport-security")
                .iter()
                .map(|v| v.to_str().unwrap().to_string())
                .collect();
            match scheme {
                "https" => assert_eq!(values, [HSTS], "{what} over TLS"),
                _ => assert!(
                    values.iter().all(|v| v == "max-age=1"),
                    "{what} over plain HTTP: {values:?}"
                ),
            }
        }
    }
}

#[test]
fn a_bad_hsts_value_is_refused_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = Ca::new("edge CA").server(dir.path(), "gw", "gw", &["127.0.0.1"], 30);
    for (value, says) in [
        ("includeSubDomains", "has no max-age"),
        ("max-age=two years", "not a number of seconds"),
        ("max-age=60; always", "not an HSTS directive"),
    ] {
        let text = format!(
            "[server]\nlisten = [{{ addr = \"127.0.0.1:1\", tls = true }}]\n\n[tls]\nhsts = \
             \"{value}\"\n\n[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\ndefault = true\n",
            cert.cert.display(),
            cert.key.display()
        );
        let (ok, out) = validate(&text);
        assert!(!ok, "{value}: {out}");
        assert!(
            out.contains("tls.hsts") && out.contains(says),
            "{value}: {out}"
        );
    }
}

/// One request in raw bytes to `port`; (status, head) of the answer, which must close the
/// connection.
fn exchange(port: u16, request: &str) -> (u16, String) {
    let text = raw_exchange(port, request.as_bytes(), Duration::from_secs(10)).unwrap();
    let (status, head, _) = parse_response(&text).unwrap_or_else(|| panic!("{text:?}"));
    (status, head)
}

fn location(head: &str) -> Option<&str> {
    head.lines().find_map(|l| {
        l.strip_prefix("location: ")
            .or(l.strip_prefix("Location: "))
    })
}

#[test]
fn a_redirect_listener_sends_every_request_to_https_and_routes_none() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("edge CA");
    let cert = ca.server(dir.path(), "gw", "gw", &["127.0.0.1", "a.test"], 30);
    let up = Upstream::named("up");
    let (tls_port, redirect) = (free_port(), free_port());
    let more = format!(", {{ addr = \"127.0.0.1:{redirect}\", redirect_https = {tls_port} }}");
    let gw = start(tls_port, &more, &format!("hsts = \"{HSTS}\""), &cert, &up);

    // GET and HEAD: 301, the host without its port, the HTTPS port, the path and query.
    for method in ["GET", "HEAD"] {
        let (status, head) = exchange(
            redirect,
            &format!("{method} /up/x?a=1&b=%20 HTTP/1.1\r\nHost: a.test:{redirect}\r\n\r\n"),
        );
        assert_eq!(status, 301, "{head}");
        let want = format!("https://a.test:{tls_port}/up/x?a=1&b=%20");
        assert_eq!(location(&head), Some(want.as_str()), "{head}");
        // Plain HTTP: no HSTS here.
        assert!(
            !head.to_ascii_lowercase().contains("strict-transport"),
            "{head}"
        );
    }
    // Any other method: 308, so the client repeats it, with its body, over HTTPS.
    let (status, head) = exchange(
        redirect,
        "POST /up/form HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(status, 308, "{head}");
    let want = format!("https://a.test:{tls_port}/up/form");
    assert_eq!(location(&head), Some(want.as_str()), "{head}");
    // Keep-alive asked for, the connection still ends after the answer (`raw_exchange` reads to
    // the close, within its timeout).
    let t0 = std::time::Instant::now();
    let (status, _) = exchange(
        redirect,
        "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: keep-alive\r\n\r\n",
    );
    assert_eq!(status, 301);
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "the connection stayed open"
    );

    // No usable host: a clear 400, never a redirect somewhere else.
    for host in ["", "Host: evil.test/x\r\n", "Host: a.test:80:80\r\n"] {
        let (status, head) = exchange(redirect, &format!("GET / HTTP/1.0\r\n{host}\r\n"));
        assert_eq!(status, 400, "{host:?}: {head}");
        assert_eq!(location(&head), None, "{host:?}: {head}");
    }

    // Nothing reached the upstream through the redirect listener; following the redirect does.
    assert_eq!(up.hits(), 0);
    let https = pki::client(&[&ca.pem()], &["a.test"], tls_port, None);
    let resp = https.get(want.replace("/form", "/x")).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().unwrap(), "up");
    assert_eq!(up.hits(), 1);
    // The data-plane listeners serve as before.
    assert_eq!(raw_get(gw.port, "/up/y", &[]), Some((200, "up".into())));
}

#[test]
fn a_redirect_listener_is_plain_names_a_port_and_is_not_alone() {
    let plain = "\"127.0.0.1:2\"";
    let redirect = "{ addr = \"127.0.0.1:1\", redirect_https = 443 }";
    for (listen, says) in [
        (
            format!("{plain}, {{ addr = \"127.0.0.1:1\", redirect_https = 443, tls = true }}"),
            "leave out tls",
        ),
        (
            format!("{plain}, {{ addr = \"127.0.0.1:1\", redirect_https = 0 }}"),
            "1 to 65535",
        ),
        (
            format!("{plain}, {{ addr = \"127.0.0.1:1\", redirect_https = true }}"),
            "redirect_https",
        ),
        (redirect.to_string(), "nothing serves the routes"),
    ] {
        let text = format!(
            "[server]\nlisten = [{listen}]\n\n[[tls.certificates]]\ncert = \
             \"/nonexistent.pem\"\nkey = \"/nonexistent.key\"\ndefault = true\n"
        );
        let (ok, out) = validate(&text);
        assert!(!ok, "{listen}: {out}");
        assert!(out.contains(says), "{listen}: {out}");
    }
}

/// `tollgate admin -c <config> limits list`, with `env` and the arguments `extra`.
fn admin_cli(config: &std::path::Path, extra: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = std::process::Command::new(binary());
    cmd.arg("admin").arg("-c").arg(config).args(extra);
    cmd.args(["limits", "list"]);
    for var in [
        "TOLLGATE_ADMIN_URL",
        "TOLLGATE_ADMIN_TOKEN",
        "TOLLGATE_ADMIN_CA_FILE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let out = output_within(&mut cmd, Duration::from_secs(20));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_admin_listener_over_tls_serves_https_and_the_cli_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("admin CA");
    let cert = ca.server(dir.path(), "gw", "gw", &["127.0.0.1"], 30);
    let ca_file = ca.write(dir.path(), "ca.pem");
    let (port, admin) = (free_port(), free_port());
    let text = format!(
        r#"
[server]
listen = ["127.0.0.1:{port}"]
workers = 1

[admin]
listen = "127.0.0.1:{admin}"
token = "{ADMIN_TOKEN}"
tls = true

[log]
access = "ACCESS_LOG"

[[tls.certificates]]
cert = "{cert}"
key = "{key}"
default = true

[[upstreams]]
name = "up"
targets = ["127.0.0.1:9"]

[[routes]]
name = "up"
path_prefix = "/"
upstream = "up"
"#,
        cert = cert.cert.display(),
        key = cert.key.display(),
    );
    let gw_dir = tempfile::tempdir().unwrap();
    let child = spawn_gateway(gw_dir.path(), &text);
    let config_path = gw_dir.path().join("tollgate.toml");
    let mut gw = Gateway {
        child: Some(child),
        port,
        admin_port: admin,
        dir: gw_dir,
        config_path,
    };
    let https = pki::client(&[&ca.pem()], &[], admin, None);
    let get = |path: &str| {
        https
            .get(format!("https://127.0.0.1:{admin}{path}"))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .ok()
            .map(|r| r.status().as_u16())
    };
    wait_for("the admin API over TLS", Duration::from_secs(30), || {
        if let Some(status) = gw.child.as_mut().unwrap().try_wait().unwrap() {
            panic!("the gateway exited ({status}):\n{}", gw.stderr());
        }
        (get("/readyz") == Some(200)).then_some(())
    });
    assert_eq!(get("/metrics"), Some(200));
    // Plain HTTP gets no answer from a TLS listener.
    assert_eq!(raw_get(admin, "/healthz", &[]).map(|(s, _)| s), None);

    // The CLI reads tls = true from the file, and trusts --ca-file or the variable.
    let cfg = &gw.config_path;
    let ca_arg = ca_file.to_str().unwrap();
    let (ok, out) = admin_cli(cfg, &["--ca-file", ca_arg], &[]);
    assert!(ok, "{out}\n{}", gw.stderr());
    let (ok, out) = admin_cli(cfg, &[], &[("TOLLGATE_ADMIN_CA_FILE", ca_arg)]);
    assert!(ok, "{out}");
    // The system's roots do not hold the test CA: a clear refusal naming what to give.
    let (ok, out) = admin_cli(cfg, &[], &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("TLS failed") && out.contains("--ca-file") && out.contains("https://"),
        "{out}"
    );
    // An explicit URL works the same; a plain one says what may be wrong.
    let url = format!("https://127.0.0.1:{admin}");
    let (ok, out) = admin_cli(cfg, &["--url", &url, "--ca-file", ca_arg], &[]);
    assert!(ok, "{out}");
    let plain = format!("http://127.0.0.1:{admin}");
    let (ok, out) = admin_cli(cfg, &["--url", &plain], &[]);
    assert!(!ok && out.contains("over TLS? then use https://"), "{out}");

    // A renewed certificate from another CA is served after a reload, with no restart.
    let ca2 = Ca::new("admin CA 2");
    let renewed = ca2.server(dir.path(), "gw2", "gw", &["127.0.0.1"], 30);
    std::fs::write(&cert.cert, &renewed.cert_pem).unwrap();
    std::fs::write(&cert.key, &renewed.key_pem).unwrap();
    let ca2_file = ca2.write(dir.path(), "ca2.pem");
    gw.signal(libc::SIGHUP);
    wait_for(
        "the renewed admin certificate",
        Duration::from_secs(20),
        || {
            admin_cli(cfg, &["--ca-file", ca2_file.to_str().unwrap()], &[])
                .0
                .then_some(())
        },
    );
    let (ok, out) = admin_cli(cfg, &["--ca-file", ca_arg], &[]);
    assert!(!ok, "{out}");
}

#[test]
fn an_admin_listener_over_tls_needs_certificates() {
    let (ok, out) = validate(
        "[server]\nlisten = [\"127.0.0.1:1\"]\n\n[admin]\nlisten = \"127.0.0.1:2\"\ntls = true\n",
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("admin.tls") && out.contains("[[tls.certificates]]"),
        "{out}"
    );
}

#[test]
fn an_http_1_0_client_is_closed_after_the_answer_and_an_ip_as_sni_logs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("edge CA");
    let cert = ca.server(dir.path(), "gw", "gw", &["127.0.0.1"], 30);
    let up = Upstream::named("up");
    let tls_port = free_port();
    let gw = start(tls_port, "", "", &cert, &up);

    // Plain: the answer, then the close (not the keep-alive timeout).
    let t0 = std::time::Instant::now();
    let text = raw_exchange(
        gw.port,
        b"GET /up/x HTTP/1.0\r\n\r\n",
        Duration::from_secs(10),
    )
    .unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "still open after the answer: {text}"
    );
    let (status, head, body) = parse_response(&text).unwrap();
    assert_eq!((status, body.as_str()), (200, "up"), "{head}");
    assert!(!head.to_ascii_lowercase().contains("keep-alive"), "{head}");

    // Over TLS, as `openssl s_time` (the load test's handshake client) asks; with the address as
    // the server name, as wrk sends it, which rustls ignores (and the log does not show).
    let request = dir.path().join("request");
    std::fs::write(&request, "GET /up/x HTTP/1.0\r\n\r\n").unwrap();
    let answer = dir.path().join("answer");
    let t0 = std::time::Instant::now();
    let mut client = Running(Some(
        std::process::Command::new("openssl")
            .args([
                "s_client",
                "-quiet",
                "-ign_eof",
                "-servername",
                "127.0.0.1",
                "-connect",
            ])
            .arg(format!("127.0.0.1:{tls_port}"))
            .stdin(std::fs::File::open(&request).unwrap())
            .stdout(std::fs::File::create(&answer).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    ));
    wait_for(
        "the end of the TLS connection",
        Duration::from_secs(20),
        || client.child().try_wait().unwrap(),
    );
    let text = std::fs::read_to_string(&answer).unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "still open after the answer: {text}"
    );
    assert!(
        text.starts_with("HTTP/1.1 200") && text.ends_with("up"),
        "{text}"
    );
    assert!(!gw.stderr().contains("SNI"), "{}", gw.stderr());

    // HTTP/1.0 that asks for keep-alive keeps the connection: two answers on one.
    let two = b"GET /up/a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /up/b HTTP/1.0\r\n\r\n";
    let text = raw_exchange(gw.port, two, Duration::from_secs(10)).unwrap();
    assert_eq!(text.matches("HTTP/1.1 200").count(), 2, "{text}");
}
