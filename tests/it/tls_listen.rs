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
    let (port, admin) = (free_port(), free_port());
    let mut listeners = listeners.to_string();
    for (i, p) in ports.iter().enumerate() {
        listeners = listeners.replace(&format!("PORT_{i}"), &p.to_string());
    }
    let text = format!(
        r#"
[server]
listen = ["127.0.0.1:{port}", {listeners}]
workers = 2
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
    let gw = start(&[tls_port], "{ addr = \"127.0.0.1:PORT_0\", tls = true }", &tls, &up);

    let subject = |name: Option<&str>| pki::served_subject(tls_port, name, &[]);
    assert!(subject(Some("a.test")).unwrap().contains("a.test"));
    assert!(subject(Some("A.TEST")).unwrap().contains("a.test"));
    assert!(subject(Some("x.b.test")).unwrap().contains("localhost"));
    assert!(subject(Some("unknown.test")).unwrap().contains("fallback"));
    assert!(subject(None).unwrap().contains("fallback"));

    // Real clients check the name: each gets a certificate for the name it asked for.
    let https = pki::client(&[&ca.pem(), &rsa_ca], &["a.test", "x.b.test"], tls_port, None);
    for url in [
        format!("https://a.test:{tls_port}/"),
        format!("https://x.b.test:{tls_port}/"),
        format!("https://127.0.0.1:{tls_port}/"),
    ] {
        let r = https.get(&url).send().unwrap_or_else(|e| panic!("{url}: {e:?}"));
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.text().unwrap(), "https|-", "{url}");
    }
    // The plain listener still answers, and says so to the upstream.
    assert_eq!(client().get(gw.url("/")).send().unwrap().text().unwrap(), "http|-");

    // TLS 1.2 and 1.3 only; ALPN offers HTTP/1.1.
    for (flag, ok) in [("-tls1", false), ("-tls1_1", false), ("-tls1_2", true), ("-tls1_3", true)] {
        let served = pki::served_subject(tls_port, Some("a.test"), &[flag, "-cipher", "DEFAULT@SECLEVEL=0"]);
        assert_eq!(served.is_some(), ok, "{flag}");
    }
    let mut cmd = std::process::Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{tls_port}")])
        .args(["-servername", "a.test", "-alpn", "h2,http/1.1"]);
    let out = output_within(&mut cmd, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ALPN protocol: http/1.1"), "{text}");
}
