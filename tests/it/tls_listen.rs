//! TLS termination on the data plane: SNI choosing among certificates (exact, wildcard, RSA
//! and ECDSA) and the default; TLS 1.2 and 1.3 only; client certificates required, optional
//! or refused, their subject passed on; certificates swapped by a reload while clients keep
//! connecting, and a bad file refused with the old one kept; `tollgate validate`'s checks;
//! hostile clients on the TLS port. Certificates are made by the test (`common::pki`, and
//! `openssl` for the RSA one); `openssl s_client` shows which certificate was served.

use crate::common;
use common::pki::{self, Ca};
use common::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A gateway with a plain listener (`gw.port`) and the TLS listeners `tls` (TOML tables,
/// `PORT_n` replaced by the n-th of `ports`), `[tls]` as given, and an echo upstream at `/`.
fn start(ports: &[u16], listeners: &str, tls: &str, up: &Upstream) -> Gateway {
    start_with(ports, listeners, tls, up, "workers = 2")
}

/// `start` with `server` as the `[server]` keys after `listen`.
fn start_with(ports: &[u16], listeners: &str, tls: &str, up: &Upstream, server: &str) -> Gateway {
    let (port, admin) = (free_port(), free_port());
    let mut listeners = listeners.to_string();
    for (i, p) in ports.iter().enumerate() {
        listeners = listeners.replace(&format!("PORT_{i}"), &p.to_string());
    }
    let text = format!(
        r#"
[server]
listen = ["127.0.0.1:{port}", {listeners}]
{server}
grace_period = "5s"

[admin]
listen = "127.0.0.1:{admin}"
token = "{ADMIN_TOKEN}"

[log]
access = "ACCESS_LOG"

{tls}

[[upstreams]]
name = "echo"
targets = ["{addr}"]

[[routes]]
name = "all"
path_prefix = "/"
upstream = "echo"
"#,
        addr = up.addr()
    );
    Gateway::start_text(port, admin, &text)
}

fn echo() -> Upstream {
    Upstream::start("echo", |req| {
        let proto = req.header("x-forwarded-proto").unwrap_or("-");
        let subject = req.header("x-client-cert-subject").unwrap_or("-");
        Reply::ok(format!("{proto}|{subject}"))
    })
}

fn cert_table(c: &pki::Issued, names: Option<&str>, default: bool) -> String {
    let names = names.map_or(String::new(), |n| format!("names = [{n}]\n"));
    format!(
        "[[tls.certificates]]\ncert = \"{}\"\nkey = \"{}\"\n{names}default = {default}\n",
        c.cert.display(),
        c.key.display()
    )
}

#[test]
fn sni_chooses_the_certificate_and_a_client_without_a_known_name_gets_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let a = ca.server(dir.path(), "a", "a.test", &["a.test"], 30);
    let fallback = ca.server(dir.path(), "fallback", "fallback", &["127.0.0.1"], 30);
    // An RSA certificate (openssl), for every name under b.test, from a CA of its own.
    let rsa_dir = tempfile::tempdir().unwrap();
    tls::make_certs_for(rsa_dir.path(), "DNS:*.b.test");
    let rsa = pki::Issued {
        cert: rsa_dir.path().join("leaf.pem"),
        key: rsa_dir.path().join("leaf.key"),
        cert_pem: String::new(),
        key_pem: String::new(),
    };
    let rsa_ca = std::fs::read_to_string(rsa_dir.path().join("ca.pem")).unwrap();
    let up = echo();
    let tls_port = free_port();
    let tls = format!(
        "{}{}{}",
        cert_table(&a, None, false),
        cert_table(&rsa, None, false),
        cert_table(&fallback, Some("\"fallback.test\""), true)
    );
    let gw = start(
        &[tls_port],
        "{ addr = \"127.0.0.1:PORT_0\", tls = true }",
        &tls,
        &up,
    );

    let subject = |name: Option<&str>| pki::served_subject(tls_port, name, &[]);
    assert!(subject(Some("a.test")).unwrap().contains("a.test"));
    assert!(subject(Some("A.TEST")).unwrap().contains("a.test"));
    assert!(subject(Some("x.b.test")).unwrap().contains("localhost"));
    assert!(subject(Some("unknown.test")).unwrap().contains("fallback"));
    assert!(subject(None).unwrap().contains("fallback"));

    // Real clients check the name: each gets a certificate for the name it asked for.
    let https = pki::client(
        &[&ca.pem(), &rsa_ca],
        &["a.test", "x.b.test"],
        tls_port,
        None,
    );
    for url in [
        format!("https://a.test:{tls_port}/"),
        format!("https://x.b.test:{tls_port}/"),
        format!("https://127.0.0.1:{tls_port}/"),
    ] {
        let r = https
            .get(&url)
            .send()
            .unwrap_or_else(|e| panic!("{url}: {e:?}"));
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.text().unwrap(), "https|-", "{url}");
    }
    // The plain listener still answers, and says so to the upstream.
    assert_eq!(
        client().get(gw.url("/")).send().unwrap().text().unwrap(),
        "http|-"
    );

    // Each certificate's expiry is a metric.
    let metrics = gw.metrics();
    let series = format!(
        "tollgate_tls_certificate_expiry_timestamp_seconds{{cert=\"{}\",names=\"a.test\"}}",
        a.cert.display()
    );
    let expiry = sample(&metrics, &series).unwrap_or_else(|| panic!("{series} in\n{metrics}"));
    let in_days = (expiry - tollgate::base::clock::now_unix() as f64) / 86_400.0;
    assert!((29.0..=30.0).contains(&in_days), "{in_days}");

    // TLS 1.2 and 1.3 only.
    for (flag, ok) in [
        ("-tls1", false),
        ("-tls1_1", false),
        ("-tls1_2", true),
        ("-tls1_3", true),
    ] {
        let served = pki::served_subject(
            tls_port,
            Some("a.test"),
            &[flag, "-cipher", "DEFAULT@SECLEVEL=0"],
        );
        assert_eq!(served.is_some(), ok, "{flag}");
    }
    // ALPN: h2 when the client offers it, else http/1.1.
    for (offer, chosen) in [("http/1.1,h2", "h2"), ("http/1.1", "http/1.1")] {
        let mut cmd = std::process::Command::new("openssl");
        cmd.args(["s_client", "-connect", &format!("127.0.0.1:{tls_port}")])
            .args(["-servername", "a.test", "-alpn", offer]);
        let out = output_within(&mut cmd, Duration::from_secs(10));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("ALPN protocol: {chosen}\n")),
            "{offer}: {text}"
        );
    }
}

#[test]
fn client_certificates_are_required_optional_or_refused_and_their_subject_passed_on() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, clients, other) = (
        Ca::new("server CA"),
        Ca::new("client CA"),
        Ca::new("stranger CA"),
    );
    let server = ca.server(dir.path(), "s", "s.test", &["s.test"], 30);
    let billing = clients.client(dir.path(), "billing", "billing", "Acme");
    let stranger = other.client(dir.path(), "stranger", "billing", "Acme");
    let client_ca = clients.write(dir.path(), "clients.pem");
    let up = echo();
    let (required, optional) = (free_port(), free_port());
    let listeners = format!(
        "{{ addr = \"127.0.0.1:PORT_0\", tls = true, client_ca = \"{ca}\" }}, \
         {{ addr = \"127.0.0.1:PORT_1\", tls = true, client_ca = \"{ca}\", client_auth = \"optional\" }}",
        ca = client_ca.display()
    );
    let gw = start(
        &[required, optional],
        &listeners,
        &cert_table(&server, None, true),
        &up,
    );
    let get = |port: u16, id: Option<&pki::Issued>| {
        let c = pki::client(&[&ca.pem()], &["s.test"], port, id);
        c.get(format!("https://s.test:{port}/"))
            .header("x-client-cert-subject", "CN=admin")
            .send()
            .map(|r| r.text().unwrap())
    };
    // Required: a certificate of the CA gets through, and the upstream learns whose it is
    // (never what the client claims in the header).
    let answer = get(required, Some(&billing)).unwrap();
    assert!(
        answer.starts_with("https|") && answer.contains("CN=billing") && answer.contains("O=Acme"),
        "{answer}"
    );
    assert!(
        get(required, None).is_err(),
        "no certificate on a listener that requires one"
    );
    assert!(
        get(required, Some(&stranger)).is_err(),
        "a certificate of another CA"
    );
    // Optional: none is fine (and the claimed subject is dropped); a good one is passed on;
    // one of another CA is still refused.
    assert_eq!(get(optional, None).unwrap(), "https|-");
    assert!(get(optional, Some(&billing))
        .unwrap()
        .contains("CN=billing"));
    assert!(get(optional, Some(&stranger)).is_err());
    // The call record names the certificate.
    let log = wait_for("the records", Duration::from_secs(10), || {
        let log = gw.access_log();
        (log.lines()
            .filter(|l| l.contains("\"client_cert\":"))
            .count()
            >= 2)
            .then_some(log)
    });
    assert!(
        log.contains("\"client_cert\":\"CN=billing, O=Acme\""),
        "{log}"
    );
    // The worker still serves after the refused handshakes.
    assert_eq!(get(optional, None).unwrap(), "https|-");
}

#[test]
fn a_reload_swaps_certificates_under_running_clients_and_a_bad_file_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let v1 = ca.server(dir.path(), "site", "site v1", &["site.test"], 30);
    let up = echo();
    let tls_port = free_port();
    let tls = cert_table(&v1, None, false);
    let gw = start(
        &[tls_port],
        "{ addr = \"127.0.0.1:PORT_0\", tls = true }",
        &tls,
        &up,
    );
    let served = || pki::served_subject(tls_port, Some("site.test"), &[]).unwrap_or_default();
    assert!(served().contains("site v1"));

    // Clients keep making new connections (a handshake each) through the reload.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let ca_pem = ca.pem();
    let loop_thread = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        std::thread::spawn(move || {
            let c = pki::client(&[&ca_pem], &["site.test"], tls_port, None);
            let url = format!("https://site.test:{tls_port}/");
            while !stop.load(Ordering::Relaxed) {
                match c.get(&url).send() {
                    Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    wait_for(
        "requests before the reload",
        Duration::from_secs(10),
        || (ok.load(Ordering::Relaxed) > 5).then_some(()),
    );
    let v2 = ca.server(dir.path(), "site", "site v2", &["site.test"], 30);
    let text = std::fs::read_to_string(&gw.config_path).unwrap();
    crate::reload::reload(&gw, &text);
    wait_for("the new certificate", Duration::from_secs(10), || {
        served().contains("site v2").then_some(())
    });
    let before = ok.load(Ordering::Relaxed);
    wait_for("requests after the reload", Duration::from_secs(10), || {
        (ok.load(Ordering::Relaxed) > before + 5).then_some(())
    });
    stop.store(true, Ordering::Relaxed);
    loop_thread.join().unwrap();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the reload"
    );
    drop(v2);

    // A broken certificate file: the reload is refused, the last good certificate serves on.
    std::fs::write(&v1.cert, "-----BEGIN CERTIFICATE-----\ngarbage\n").unwrap();
    gw.signal(libc::SIGHUP);
    let said = wait_for("the refusal", Duration::from_secs(10), || {
        let log = gw.stderr();
        log.contains("reload refused").then_some(log)
    });
    assert!(said.contains("tls.certificates[0].cert"), "{said}");
    assert!(served().contains("site v2"));
    let c = pki::client(&[&ca.pem()], &["site.test"], tls_port, None);
    let r = c
        .get(format!("https://site.test:{tls_port}/"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn validate_checks_the_files_the_keys_and_the_names_and_warns_of_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let a = ca.server(dir.path(), "a", "a.test", &["a.test"], 30);
    let b = ca.server(dir.path(), "b", "b.test", &["b.test"], 30);
    let soon = ca.server(dir.path(), "soon", "soon.test", &["soon.test"], 5);
    let config = |listen: &str, tls: &str| {
        format!(
            "[server]\nlisten = [{listen}]\n\n{tls}\n[[upstreams]]\nname = \"u\"\ntargets = [\"127.0.0.1:9\"]\n\
             [[routes]]\nname = \"r\"\npath_prefix = \"/\"\nupstream = \"u\"\n"
        )
    };
    let tls_listener = "{ addr = \"127.0.0.1:1\", tls = true }";
    let (ok, out) = validate(&config(tls_listener, &cert_table(&soon, None, false)));
    assert!(ok, "{out}");
    assert!(
        out.contains("warning: certificate") && out.contains("soon.pem expires in "),
        "{out}"
    );
    // A certificate good for a month is not worth a warning.
    let (ok, out) = validate(&config(tls_listener, &cert_table(&a, None, false)));
    assert!(ok && !out.contains("warning"), "{out}");

    let mismatched = pki::Issued {
        cert: a.cert.clone(),
        key: b.key.clone(),
        cert_pem: String::new(),
        key_pem: String::new(),
    };
    let missing = pki::Issued {
        cert: dir.path().join("nope.pem"),
        key: a.key.clone(),
        cert_pem: String::new(),
        key_pem: String::new(),
    };
    let tls = format!(
        "{}{}{}{}",
        cert_table(&mismatched, None, false),
        cert_table(&missing, None, false),
        cert_table(&b, Some("\"a.test\", \"bad name\", \"x.*.test\""), true),
        cert_table(&a, None, true),
    );
    let listeners = format!(
        "{tls_listener}, {{ addr = \"127.0.0.1:2\", client_auth = \"sometimes\" }}, \
         {{ addr = \"127.0.0.1:3\", tls = true, client_auth = \"sometimes\" }}"
    );
    let (ok, out) = validate(&config(&listeners, &tls));
    assert!(!ok, "{out}");
    for expected in [
        "tls.certificates[0].key: ",
        "is not the key of",
        "tls.certificates[1].cert: cannot read",
        "tls.certificates[2].names[1]: \"bad name\" is not a host name",
        "tls.certificates[2].names[2]: \"x.*.test\"",
        "tls.certificates[3].names: \"a.test\" is also served by tls.certificates[2]",
        "tls.certificates[3].default: only one certificate may be the default",
        "server.listen[1].client_auth: only a TLS listener",
        "server.listen[2].client_auth: \"sometimes\": use \"required\" or \"optional\"",
        "server.listen[2].client_auth: needs client_ca",
    ] {
        assert!(out.contains(expected), "{expected:?} not in:\n{out}");
    }
    let (ok, out) = validate(&config(tls_listener, ""));
    assert!(
        !ok && out.contains("server.listen[0].tls: a TLS listener needs [[tls.certificates]]"),
        "{out}"
    );
}

#[test]
fn hostile_clients_on_the_tls_port_are_closed_and_the_worker_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let site = ca.server(dir.path(), "site", "site", &["site.test"], 30);
    let up = echo();
    let tls_port = free_port();
    // No default certificate: an unknown name has none.
    let gw = start(
        &[tls_port],
        "{ addr = \"127.0.0.1:PORT_0\", tls = true }",
        &cert_table(&site, None, false),
        &up,
    );
    let c = pki::client(&[&ca.pem()], &["site.test"], tls_port, None);
    let works = || {
        let r = c
            .get(format!("https://site.test:{tls_port}/"))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    works();
    // Plain HTTP on the TLS port: closed, never answered as HTTP.
    let answer = raw_exchange(
        tls_port,
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::from_secs(5),
    );
    assert!(!answer.unwrap_or_default().starts_with("HTTP/1.1 200"));
    // A ClientHello cut short, then the connection closed.
    let hello = [
        0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03,
    ];
    let _ = raw_exchange(tls_port, &hello, Duration::from_secs(2));
    // An unknown name with no default certificate, and no name at all: refused in the handshake.
    assert!(pki::served_subject(tls_port, Some("unknown.test"), &[]).is_none());
    assert!(pki::served_subject(tls_port, None, &[]).is_none());
    works();
    // None of it is the gateway's fault: none of it is logged as an error.
    assert!(!gw.stderr().contains("handshake error"), "{}", gw.stderr());
}

#[test]
fn a_handshake_is_bounded_by_the_header_timeout_and_counted_in_the_connection_cap() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("test CA");
    let site = ca.server(dir.path(), "site", "site", &["site.test"], 30);
    let up = echo();
    let tls_port = free_port();
    let server = "workers = 1\nmax_connections = 3\nheader_timeout = \"1s\"";
    let listener = "{ addr = \"127.0.0.1:PORT_0\", tls = true }";
    let gw = start_with(
        &[tls_port],
        listener,
        &cert_table(&site, None, false),
        &up,
        server,
    );
    let metric = |name: &str| sample(&gw.metrics(), name).unwrap_or(0.0);
    // Three clients that connect and never say hello hold every place of the worker...
    let silent: Vec<std::net::TcpStream> = (0..3)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", tls_port)).unwrap())
        .collect();
    wait_for(
        "the silent connections to be counted",
        Duration::from_secs(10),
        || (metric("tollgate_client_connections") >= 3.0).then_some(()),
    );
    // ...so a fourth is closed on arrival, handshake or not.
    let c = pki::client(&[&ca.pem()], &["site.test"], tls_port, None);
    let url = format!("https://site.test:{tls_port}/");
    assert!(c.get(&url).send().is_err());
    assert!(metric("tollgate_client_connections_refused_total") >= 1.0);
    // The silent ones are closed once the header timeout has passed, long before Pingora's
    // own 60 s, and counted as failed handshakes.
    for mut s in silent {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 16];
        let read = s.read(&mut buf);
        let closed = match &read {
            Ok(n) => *n == 0,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(closed, "still open after 10 s: {read:?}");
    }
    wait_for("the failures counted", Duration::from_secs(10), || {
        (metric("tollgate_client_tls_handshake_failures_total") >= 3.0).then_some(())
    });
    // Places free again: a client is served.
    let r = wait_for("a place for a client", Duration::from_secs(10), || {
        c.get(&url).send().ok().filter(|r| r.status() == 200)
    });
    assert_eq!(r.text().unwrap(), "https|-");
}
