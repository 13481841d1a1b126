//! The console pages that manage APIs and models live, in a real browser
//! (tests/it/console/manage_flow.py): upstreams and routes created, published, edited and
//! deleted through the console and called through the data plane; providers and models
//! created through it and chatted with; a bad entry's error next to its field; declared ones
//! without edit controls; a stored route a reload broke listed with the reason.

use crate::common::admin;
use crate::common::upstream::Upstream;
use crate::console::{run, start};
use serde_json::json;
use std::sync::atomic::Ordering;

#[test]
fn an_operator_creates_an_upstream_and_a_route_publishes_it_and_calls_it() {
    let c = start("", "");
    let (shipping, moved) = (Upstream::named("shipping"), Upstream::named("shipping-2"));
    let env = [
        ("TG_SHIP_ADDR", shipping.addr()),
        ("TG_SHIP2_ADDR", moved.addr()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run("manage_flow.py", "routes_and_upstreams", &c.gw, &env);
    // The published route reached the new upstream, then the target it was moved to, never
    // the declared one.
    assert!(shipping.hits.load(Ordering::SeqCst) >= 1);
    assert!(moved.hits.load(Ordering::SeqCst) >= 1);
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

#[test]
fn a_stored_route_a_reload_broke_is_listed_with_why_and_can_be_fixed() {
    let extra = Upstream::named("extra");
    let block = format!(
        "\n[[upstreams]]\nname = \"extra-svc\"\ntargets = [\"{}\"]\n",
        extra.addr()
    );
    let c = start("", &block);
    let route = json!({"name": "legacy", "path_prefix": "/legacy", "upstream": "extra-svc"});
    admin::ok(&c.gw, "POST", "/admin/routes", Some(route));
    let text = std::fs::read_to_string(&c.gw.config_path).unwrap();
    assert!(text.contains(&block));
    crate::reload::reload(&c.gw, &text.replace(&block, ""));
    run("manage_flow.py", "left_out", &c.gw, &[]);
}
