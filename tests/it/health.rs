//! Active health checks, passive ejection and retries: the spec's example upstream with two
//! targets, one of which dies or fails its check.

use crate::common;
use common::*;
use std::time::Duration;

fn config(a: &Upstream, b: &Upstream, extra: &str) -> String {
    format!(
        r#"
[[upstreams]]
name = "echo"
targets = ["{}", "{}"]
balance = "round_robin"
health_check = {{ path = "/health", interval = "200ms", timeout = "500ms" }}
{extra}

[[routes]]
name = "echo"
path_prefix = "/echo"
upstream = "echo"
"#,
        a.addr(),
        b.addr()
    )
}

fn get(gw: &Gateway) -> (u16, String) {
    let r = client().get(gw.url("/echo")).send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

#[test]
fn failing_health_check_ejects_and_recovery_readmits() {
    let a = Upstream::named("a");
    let b = Upstream::named("b");
    let gw = Gateway::start(2, &config(&a, &b, ""));
    a.set_healthy(false);
    // Each of the two workers checks on its own: once both have said so, every request goes
    // to b, and none fails.
    wait_for(
        "a to be ejected by both workers",
        Duration::from_secs(5),
        || {
            let said = gw
                .stderr()
                .matches("target failed its health check")
                .count();
            (said >= 2).then_some(())
        },
    );
    for _ in 0..20 {
        assert_eq!(get(&gw), (200, "b".to_string()));
    }
    a.set_healthy(true);
    wait_for("a to get traffic again", Duration::from_secs(5), || {
        (0..4).any(|_| get(&gw).1 == "a").then_some(())
    });
}

#[test]
fn a_dead_target_costs_no_failed_request() {
    let mut a = Upstream::named("a");
    let b = Upstream::named("b");
    let gw = Gateway::start(1, &config(&a, &b, ""));
    a.stop();
    // Before and after ejection: a connect error is retried on b, so every request succeeds.
    for _ in 0..30 {
        assert_eq!(get(&gw), (200, "b".to_string()));
    }
    let m = gw.metrics();
    assert!(
        m.contains(&format!(
            "tollgate_upstream_target_up{{upstream=\"echo\",target=\"{}\"}} 0",
            a.addr()
        )),
        "{m}"
    );
    // It comes back on the same port and is readmitted.
    let a2 = Upstream::start_on(a.port, "a", |_| Reply::ok("a"));
    wait_for(
        "the restarted target to get traffic",
        Duration::from_secs(5),
        || (0..4).any(|_| get(&gw).1 == "a").then_some(()),
    );
    drop(a2);
}

#[test]
fn passive_ejection_without_health_checks() {
    let mut a = Upstream::named("a");
    let b = Upstream::named("b");
    let text = config(
        &a,
        &b,
        "passive = { max_fails = 1, fail_timeout = \"30s\" }",
    )
    .replace(
        "health_check = { path = \"/health\", interval = \"200ms\", timeout = \"500ms\" }\n",
        "",
    );
    let gw = Gateway::start(1, &text);
    a.stop();
    for _ in 0..10 {
        assert_eq!(get(&gw), (200, "b".to_string()));
    }
    // One failure ejected a; later requests go straight to b: one attempt each.
    let log = wait_for("access log lines", Duration::from_secs(5), || {
        let l = gw.access_log();
        (l.lines().count() >= 10).then_some(l)
    });
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["attempts"], 1, "{log}");
}

#[test]
fn idempotent_requests_retry_on_another_target_after_a_timeout() {
    let slow = Upstream::start("slow", |_| Reply::ok("slow").delay(Duration::from_secs(3)));
    let fast = Upstream::named("fast");
    let body = format!(
        r#"
[[upstreams]]
name = "u"
targets = ["{}", "{}"]
timeouts = {{ connect = "1s", read = "300ms" }}
passive = {{ max_fails = 0 }}

[[routes]]
name = "u"
path_prefix = "/u"
upstream = "u"
"#,
        slow.addr(),
        fast.addr()
    );
    let gw = Gateway::start(1, &body);
    let c = client();
    for _ in 0..4 {
        let r = c.get(gw.url("/u")).send().unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().unwrap(), "fast");
    }
    // A POST is not retried after the upstream got it: the slow target's timeout is a 504,
    // and each POST reached exactly one target (a retry would have sent it to both).
    let posts = |u: &Upstream| {
        u.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == "POST")
            .count()
    };
    let statuses: Vec<u16> = (0..2)
        .map(|_| {
            c.post(gw.url("/u"))
                .body("x")
                .send()
                .unwrap()
                .status()
                .as_u16()
        })
        .collect();
    assert!(statuses.contains(&504), "{statuses:?}");
    assert_eq!(
        (posts(&slow), posts(&fast)),
        (count(&statuses, 504), count(&statuses, 200)),
        "POSTs received by (slow, fast) for answers {statuses:?}"
    );
}

#[test]
fn a_slow_upstream_gets_504_within_the_timeout() {
    let slow = Upstream::start("slow", |_| Reply::ok("late").delay(Duration::from_secs(5)));
    let body = format!(
        r#"
[[upstreams]]
name = "slow"
targets = ["{}"]
timeouts = {{ read = "400ms" }}

[[routes]]
name = "slow"
path_prefix = "/"
upstream = "slow"
"#,
        slow.addr()
    );
    let gw = Gateway::start(1, &body);
    let started = std::time::Instant::now();
    let r = client().get(gw.url("/x")).send().unwrap();
    let took = started.elapsed();
    assert_eq!(r.status(), 504);
    assert!(r.headers().contains_key("x-request-id"));
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["error"]["code"], "upstream_timeout");
    // Bounded, not asserted tightly: one target, a retry may run against it once more.
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

#[test]
fn total_timeout_bounds_retries() {
    let slow = Upstream::start("slow", |_| Reply::ok("late").delay(Duration::from_secs(5)));
    let slow2 = Upstream::start("slow2", |_| Reply::ok("late").delay(Duration::from_secs(5)));
    let body = format!(
        r#"
[[upstreams]]
name = "slow"
targets = ["{}", "{}"]
retries = 1
timeouts = {{ read = "3s", total = "600ms" }}

[[routes]]
name = "slow"
path_prefix = "/"
upstream = "slow"
"#,
        slow.addr(),
        slow2.addr()
    );
    let gw = Gateway::start(1, &body);
    let started = std::time::Instant::now();
    let r = client().get(gw.url("/x")).send().unwrap();
    assert_eq!(r.status(), 504);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|&&s| s == status).count()
}

/// A `tls = true` upstream is probed over TLS, with its SNI and certificate checks: the probe
/// arrives (only a TLS request is logged by the server), with the target's address as `Host`;
/// a failing check takes the target out and a passing one brings it back. Probed in plain
/// text, as before, both targets failed their checks at once.
#[test]
fn tls_upstreams_are_probed_over_tls() {
    let certs = tempfile::tempdir().unwrap();
    tls::make_certs(certs.path());
    let a = tls::TlsUpstream::start(certs.path(), "a");
    let b = tls::TlsUpstream::start(certs.path(), "b");
    let body = format!(
        r#"
[[upstreams]]
name = "echo"
targets = ["{}", "{}"]
tls = true
sni = "localhost"
health_check = {{ path = "/health", interval = "200ms", timeout = "1s" }}

[[routes]]
name = "echo"
path_prefix = "/echo"
upstream = "echo"
"#,
        a.addr(),
        b.addr()
    );
    let ca = certs.path().join("ca.pem");
    let gw = Gateway::start_env(1, &body, &[("SSL_CERT_FILE", ca.as_os_str())]);
    for up in [&a, &b] {
        let probe = ("/health".to_string(), up.addr());
        wait_for("a probe over TLS", Duration::from_secs(5), || {
            up.requests().contains(&probe).then_some(())
        });
    }
    // Several rounds of checks have passed: both targets are up and take traffic.
    wait_for("three probes of each", Duration::from_secs(5), || {
        (a.requests().len() >= 3 && b.requests().len() >= 3).then_some(())
    });
    assert!(
        !gw.stderr().contains("failed its health check"),
        "{}",
        gw.stderr()
    );
    let m = gw.metrics();
    for up in [&a, &b] {
        let series = format!(
            "tollgate_upstream_target_up{{upstream=\"echo\",target=\"{}\"}}",
            up.addr()
        );
        assert_eq!(sample(&m, &series), Some(1.0), "{m}");
    }
    let answers: Vec<String> = (0..4).map(|_| get(&gw).1).collect();
    assert!(answers.contains(&"a".to_string()) && answers.contains(&"b".to_string()));
    a.set_healthy(false);
    wait_for("a to fail its check", Duration::from_secs(5), || {
        gw.stderr()
            .lines()
            .any(|l| l.contains("failed its health check") && l.contains(&a.addr()))
            .then_some(())
    });
    for _ in 0..10 {
        assert_eq!(get(&gw), (200, "b".to_string()));
    }
    a.set_healthy(true);
    wait_for("a to get traffic again", Duration::from_secs(5), || {
        (0..4).any(|_| get(&gw).1 == "a").then_some(())
    });
}

/// The probe checks the certificate as requests do: against the upstream's `sni`. A name the
/// certificate does not carry fails the check, and the verdict log says why.
#[test]
fn a_tls_probe_checks_the_certificate_name() {
    let certs = tempfile::tempdir().unwrap();
    tls::make_certs(certs.path());
    let up = tls::TlsUpstream::start(certs.path(), "a");
    let body = format!(
        r#"
[[upstreams]]
name = "echo"
targets = ["{}"]
tls = true
sni = "not-localhost.example"
health_check = {{ path = "/health", interval = "200ms", timeout = "1s" }}

[[routes]]
name = "echo"
path_prefix = "/echo"
upstream = "echo"
"#,
        up.addr()
    );
    let ca = certs.path().join("ca.pem");
    let gw = Gateway::start_env(1, &body, &[("SSL_CERT_FILE", ca.as_os_str())]);
    let line = wait_for("the verdict", Duration::from_secs(5), || {
        gw.stderr()
            .lines()
            .find(|l| l.contains("failed its health check"))
            .map(str::to_string)
    });
    assert!(line.contains("not valid for name"), "{line}");
    assert!(up.requests().is_empty(), "{:?}", up.requests());
}

/// Without `sni`, a TLS upstream is reached by the host its target names (here an address,
/// which the certificate carries), as nginx's `proxy_ssl_name` does: before, the name was
/// empty and rustls made no connection at all.
#[test]
fn a_tls_upstream_without_sni_uses_the_targets_host() {
    let certs = tempfile::tempdir().unwrap();
    tls::make_certs_for(certs.path(), "DNS:localhost,IP:127.0.0.1");
    let up = tls::TlsUpstream::start(certs.path(), "a");
    let body = format!(
        r#"
[[upstreams]]
name = "echo"
targets = ["{}"]
tls = true
health_check = {{ path = "/health", interval = "200ms", timeout = "1s" }}

[[routes]]
name = "echo"
path_prefix = "/echo"
upstream = "echo"
"#,
        up.addr()
    );
    let ca = certs.path().join("ca.pem");
    let gw = Gateway::start_env(1, &body, &[("SSL_CERT_FILE", ca.as_os_str())]);
    assert_eq!(get(&gw), (200, "a".to_string()));
    let probe = ("/health".to_string(), up.addr());
    wait_for("a probe over TLS", Duration::from_secs(5), || {
        up.requests().contains(&probe).then_some(())
    });
    assert!(
        !gw.stderr().contains("failed its health check"),
        "{}",
        gw.stderr()
    );
}
