//! What a SIGHUP reload promises beyond switching routes (lifecycle.rs): target health
//! carried over, the `[[tenants]]` seed rewritten, a store error refusing the reload, and
//! models and limits changed in place.

use crate::common;
use common::keys::TestKey;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// The full text of `gw`'s configuration with `body` after the base sections.
fn full(gw: &Gateway, workers: usize, body: &str) -> String {
    format!(
        "{}\n{body}",
        base_config(gw.port, gw.admin_port, workers, "")
    )
}

/// Rewrites the file, sends SIGHUP and waits until every worker applied it.
pub(crate) fn reload(gw: &Gateway, text: &str) {
    let applied = |gw: &Gateway| {
        gw.stderr()
            .matches("reload applied by every worker")
            .count()
    };
    let before = applied(gw);
    gw.rewrite_config(text);
    gw.signal(libc::SIGHUP);
    wait_for("the reload to be applied", Duration::from_secs(15), || {
        (applied(gw) > before).then_some(())
    });
}

fn status(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> u16 {
    raw_get(gw.port, path, headers).map_or(0, |r| r.0)
}

fn target_up(gw: &Gateway, up: &Upstream) -> Option<f64> {
    let series = format!(
        "tollgate_upstream_target_up{{upstream=\"pair\",target=\"{}\"}}",
        up.addr()
    );
    sample(&gw.metrics(), &series)
}

#[test]
fn a_target_marked_down_stays_down_across_a_reload_that_keeps_it() {
    let (a, b) = (Upstream::named("a"), Upstream::named("b"));
    // Down after one failed check, up again only after 100 passing ones (10s).
    let body = |extra_route: &str| {
        format!(
            "[[upstreams]]\nname = \"pair\"\ntargets = [\"{}\", \"{}\"]\n\
             health_check = {{ path = \"/health\", interval = \"100ms\", \
             healthy_threshold = 100, unhealthy_threshold = 1 }}\n\n\
             [[routes]]\nname = \"svc\"\npath_prefix = \"/svc\"\nupstream = \"pair\"\n{extra_route}",
            a.addr(),
            b.addr()
        )
    };
    let gw = Gateway::start(1, &body(""));
    b.set_healthy(false);
    wait_for("b marked down", Duration::from_secs(10), || {
        (target_up(&gw, &b) == Some(0.0)).then_some(())
    });
    // b passes its checks again, but needs 100 in a row (10s) to be taken back.
    b.set_healthy(true);
    let extra = "[[routes]]\nname = \"more\"\npath_prefix = \"/more\"\nupstream = \"pair\"\n";
    reload(&gw, &full(&gw, 1, &body(extra)));
    // A fresh group would start b as up; the one built by the reload inherits "down".
    assert_eq!(target_up(&gw, &b), Some(0.0), "{}", gw.metrics());
    assert_eq!(target_up(&gw, &a), Some(1.0));
    let b_hits = b.hits();
    for _ in 0..10 {
        assert_eq!(
            raw_get(gw.port, "/svc", &[]).map(|r| r.1).as_deref(),
            Some("a")
        );
    }
    assert_eq!(
        b.hits(),
        b_hits,
        "the down target got traffic after the reload"
    );
    assert_eq!(status(&gw, "/more", &[]), 200);
}

/// A keyed route `/orders` with a store, and a seed giving tenant acme's app `web` `key`.
fn keyed(up: &Upstream, store: &str, key: &TestKey) -> String {
    format!(
        "[store]\npath = \"{store}\"\n\n\
         [[upstreams]]\nname = \"orders\"\ntargets = [\"{}\"]\n\n\
         [[routes]]\nname = \"orders\"\npath_prefix = \"/orders\"\nupstream = \"orders\"\n\
         [routes.api]\nauth = \"api_key\"\n\n\
         [[tenants]]\nname = \"acme\"\n[[tenants.apps]]\nname = \"web\"\n\
         subscriptions = [\"orders\"]\n{}",
        up.addr(),
        key.lines("")
    )
}

fn with_key(k: &TestKey) -> [(&'static str, String); 1] {
    [("authorization", format!("Bearer {}", k.full))]
}

fn keyed_status(gw: &Gateway, k: &TestKey) -> u16 {
    let h = with_key(k);
    status(gw, "/orders/1", &[(h[0].0, h[0].1.as_str())])
}

#[test]
fn a_reload_rewrites_the_tenants_seed() {
    let up = Upstream::named("orders");
    let (old, new) = (TestKey::new(), TestKey::new());
    let gw = Gateway::start(2, &keyed(&up, "tollgate.db", &old));
    assert_eq!(keyed_status(&gw, &old), 200);
    assert_eq!(keyed_status(&gw, &new), 401);

    reload(&gw, &full(&gw, 2, &keyed(&up, "tollgate.db", &new)));
    // Every worker follows the store within a refresh (250ms): fresh connections, spread over
    // both workers, until 20 in a row see the new seed.
    let mut in_a_row = 0;
    wait_for(
        "the new key taken, the old one gone",
        Duration::from_secs(10),
        || {
            let now = (keyed_status(&gw, &new), keyed_status(&gw, &old));
            in_a_row = if now == (200, 401) { in_a_row + 1 } else { 0 };
            (in_a_row >= 20).then_some(())
        },
    );
}

#[test]
fn a_store_error_refuses_the_reload() {
    let (a, b) = (Upstream::named("a"), Upstream::named("b"));
    let k = TestKey::new();
    let body = |up: &Upstream| keyed(up, "tollgate.db", &k);
    let gw = Gateway::start(1, &body(&a));
    assert_eq!(keyed_status(&gw, &k), 200);

    // Another process holds the store's write lock for longer than the master waits (5s).
    let db = rusqlite::Connection::open(gw.dir.path().join("tollgate.db")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    gw.rewrite_config(&full(&gw, 1, &body(&b)));
    gw.signal(libc::SIGHUP);
    let log = wait_for("the reload to be refused", Duration::from_secs(20), || {
        let log = gw.stderr();
        log.contains("reload refused").then_some(log)
    });
    assert!(log.contains("store") && log.contains("locked"), "{log}");
    assert_eq!(
        sample(&gw.metrics(), "tollgate_config_generation"),
        Some(1.0)
    );
    // The running configuration stays: the route still goes to a.
    let h = with_key(&k);
    for _ in 0..5 {
        let got = raw_get(gw.port, "/orders/1", &[(h[0].0, h[0].1.as_str())]);
        assert_eq!(got.map(|r| r.1).as_deref(), Some("a"));
    }
    assert_eq!(b.hits(), 0);

    // The lock released, the same file is taken.
    db.execute_batch("ROLLBACK").unwrap();
    drop(db);
    reload(&gw, &full(&gw, 1, &body(&b)));
    let got = raw_get(gw.port, "/orders/1", &[(h[0].0, h[0].1.as_str())]);
    assert_eq!(got.map(|r| r.1).as_deref(), Some("b"));
}

const MOCK: &str = "[[providers]]\nname = \"mock\"\nkind = \"mock\"\n\n\
    [[routes]]\nname = \"llm\"\npath_prefix = \"/v1\"\nhandler = \"llm\"\n";

/// A public model `name` served by the mock's model `deployment`.
fn model(name: &str, deployment: &str) -> String {
    format!(
        "[[models]]\nname = \"{name}\"\ndeployments = [{{ provider = \"mock\", model = \"{deployment}\" }}]\n"
    )
}

fn chat(gw: &Gateway, model: &str) -> (u16, Value) {
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

#[test]
fn a_reload_changes_models() {
    let gw = Gateway::start(2, &format!("{MOCK}{}", model("demo", "mock-1")));
    assert_eq!(chat(&gw, "demo").0, 200);
    let (status, err) = chat(&gw, "fresh");
    assert_eq!(status, 404, "{err}");

    reload(
        &gw,
        &full(&gw, 2, &format!("{MOCK}{}", model("fresh", "mock-2"))),
    );
    for _ in 0..6 {
        let (status, v) = chat(&gw, "fresh");
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["model"], "mock-2", "{v}");
        let (status, err) = chat(&gw, "demo");
        assert_eq!(status, 404, "a removed model still answers: {err}");
    }
}

#[test]
fn a_reload_changes_limits() {
    let up = Upstream::named("u");
    let limits = "[[limits]]\nname = \"one\"\nrate = 1\nperiod = \"1h\"\nkey = [\"route\"]\n\n";
    let routes = |limited: &str, free: &str| {
        format!(
            "{limits}[[upstreams]]\nname = \"u\"\ntargets = [\"{}\"]\n\n\
             [[routes]]\nname = \"r1\"\npath_prefix = \"/r1\"\nupstream = \"u\"\nlimits = [{limited}]\n\n\
             [[routes]]\nname = \"r2\"\npath_prefix = \"/r2\"\nupstream = \"u\"\nlimits = [{free}]\n",
            up.addr()
        )
    };
    let gw = Gateway::start(2, &routes("\"one\"", ""));
    assert_eq!(status(&gw, "/r1", &[]), 200);
    assert_eq!(status(&gw, "/r1", &[]), 429);
    for _ in 0..3 {
        assert_eq!(status(&gw, "/r2", &[]), 200);
    }

    // The limit moves from r1 to r2.
    reload(&gw, &full(&gw, 2, &routes("", "\"one\"")));
    for _ in 0..3 {
        assert_eq!(status(&gw, "/r1", &[]), 200);
    }
    assert_eq!(status(&gw, "/r2", &[]), 200);
    assert_eq!(status(&gw, "/r2", &[]), 429);
}
