//! Balancing policies across real upstreams.

use crate::common;
use common::*;

fn upstreams_toml(name: &str, targets: &[&Upstream], extra: &str) -> String {
    let list: Vec<String> = targets
        .iter()
        .map(|u| format!("\"{}\"", u.addr()))
        .collect();
    format!(
        "[[upstreams]]\nname = \"{name}\"\ntargets = [{}]\n{extra}\n\n[[routes]]\nname = \"{name}\"\npath_prefix = \"/{name}\"\nupstream = \"{name}\"\n",
        list.join(", ")
    )
}

fn bodies(gw: &Gateway, path: &str, n: usize, headers: &[(&str, &str)]) -> Vec<String> {
    let c = client();
    (0..n)
        .map(|_| {
            let mut req = c.get(gw.url(path));
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let r = req.send().unwrap();
            assert_eq!(r.status(), 200);
            r.text().unwrap()
        })
        .collect()
}

#[test]
fn round_robin_alternates() {
    let a = Upstream::named("a");
    let b = Upstream::named("b");
    let gw = Gateway::start(
        1,
        &upstreams_toml("echo", &[&a, &b], "balance = \"round_robin\""),
    );
    let got = bodies(&gw, "/echo", 6, &[]);
    for pair in got.chunks(2) {
        assert_ne!(pair[0], pair[1], "{got:?}");
    }
    assert_eq!((a.hits(), b.hits()), (3, 3));
}

#[test]
fn weighted_follows_weights() {
    let a = Upstream::named("a");
    let b = Upstream::named("b");
    let extra = "balance = \"weighted\"\n";
    let body = upstreams_toml("w", &[&a, &b], extra).replace(
        &format!("targets = [\"{}\", \"{}\"]", a.addr(), b.addr()),
        &format!(
            "targets = [{{ addr = \"{}\", weight = 3 }}, {{ addr = \"{}\", weight = 1 }}]",
            a.addr(),
            b.addr()
        ),
    );
    let gw = Gateway::start(1, &body);
    bodies(&gw, "/w", 40, &[]);
    assert_eq!((a.hits(), b.hits()), (30, 10));
}

#[test]
fn consistent_hash_on_header_sticks() {
    let ups: Vec<Upstream> = (0..3).map(|i| Upstream::named(&format!("u{i}"))).collect();
    let refs: Vec<&Upstream> = ups.iter().collect();
    let gw = Gateway::start(
        1,
        &upstreams_toml(
            "h",
            &refs,
            "balance = \"consistent_hash\"\nhash_on = \"header:x-user\"",
        ),
    );
    let mut seen = std::collections::HashSet::new();
    for user in ["alice", "bob", "carol", "dave", "erin", "frank"] {
        let got = bodies(&gw, "/h", 5, &[("x-user", user)]);
        assert!(
            got.iter().all(|g| g == &got[0]),
            "user {user} moved: {got:?}"
        );
        seen.insert(got[0].clone());
    }
    assert!(seen.len() >= 2, "all users on one target: {seen:?}");
}

#[test]
fn least_inflight_avoids_the_busy_target() {
    // The held request stays in flight until the test opens the gate, however slow the run.
    let gate = Gate::new();
    let _open_at_exit = gate.opener();
    let handler = |name: &'static str| {
        let gate = gate.clone();
        move |req: &Request| {
            if req.path.ends_with("/hold") {
                gate.wait();
            }
            Reply::ok(name)
        }
    };
    let a = Upstream::start("a", handler("a"));
    let b = Upstream::start("b", handler("b"));
    let gw = Gateway::start(
        1,
        &upstreams_toml("l", &[&a, &b], "balance = \"least_inflight\""),
    );
    let url = gw.url("/l/hold");
    let held = std::thread::spawn(move || client().get(url).send().unwrap().text().unwrap());
    wait_for(
        "the held request to reach a target",
        std::time::Duration::from_secs(5),
        || (a.hits() + b.hits() == 1).then_some(()),
    );
    let busy = if a.hits() == 1 { "a" } else { "b" };
    let got = bodies(&gw, "/l/quick", 6, &[]);
    assert!(
        got.iter().all(|g| g != busy),
        "requests went to the busy target {busy}: {got:?}"
    );
    assert!(!held.is_finished(), "the held request was answered early");
    gate.open();
    assert_eq!(held.join().unwrap(), busy);
}
