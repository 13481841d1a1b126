//! The console pages that manage APIs and models live, in a real browser
//! (tests/it/console/manage_flow.py): upstreams and routes created, published, edited and
//! deleted through the console and called through the data plane; providers and models
//! created through it and chatted with; a bad entry's error next to its field; declared ones
//! without edit controls.

use crate::common::upstream::Upstream;
use crate::console::{run, start};
use std::sync::atomic::Ordering;

#[test]
fn an_operator_creates_an_upstream_and_a_route_publishes_it_and_calls_it() {
    let c = start("", "");
    let shipping = Upstream::named("shipping");
    run(
        "manage_flow.py",
        "routes_and_upstreams",
        &c.gw,
        &[("TG_SHIP_ADDR", &shipping.addr())],
    );
    // The published route reached the new upstream, not the declared one.
    assert!(shipping.hits.load(Ordering::SeqCst) >= 1);
    assert_eq!(c.upstream.hits.load(Ordering::SeqCst), 0);
}

#[test]
fn an_operator_creates_a_provider_and_a_model_and_chats_with_it() {
    let c = start("", "");
    let out = run("manage_flow.py", "providers_and_models", &c.gw, &[]);
    assert!(out.contains("chat answered"), "{out}");
    // The literal key went in through the console and is never shown: not in the log either.
    assert!(!c.gw.stderr().contains("sk-literal-never-shown-4242"));
}
