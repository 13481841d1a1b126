//! The console's observe-and-govern pages in a real browser (tests/it/console/dash_flow.py):
//! usage charts whose rendered numbers are the calls the test sent, the call log's filters,
//! pages and detail view, the audit log, the limits and a bucket's reset; and the page-load
//! figures of every console page against 100 tenants, 1,000 apps and a million calls.

use crate::common::*;
use crate::console::{run, start, start_in, ConsoleGateway};
use crate::console_seed;
use std::path::Path;
use std::time::Instant;

/// Beside the console's standard gateway: `broken` (an upstream nobody listens on),
/// `captured` (bodies and headers captured), `limited` (2 calls an hour per tenant and app) and the
/// `priced` model, whose calls cost something.
fn extra() -> String {
    format!(
        r#"
[[upstreams]]
name = "nowhere"
targets = ["127.0.0.1:{dead}"]

[[routes]]
name = "broken"
path_prefix = "/broken"
upstream = "nowhere"
[routes.api]
auth = "api_key"
approval = "auto"

[[routes]]
name = "captured"
path_prefix = "/captured"
upstream = "orders-svc"
capture = {{ bodies = true, headers = true }}
[routes.api]
auth = "api_key"
approval = "auto"

[[limits]]
name = "tiny"
rate = 2
period = "1h"
key = ["tenant", "app"]

[[routes]]
name = "limited"
path_prefix = "/limited"
upstream = "orders-svc"
limits = ["tiny"]
[routes.api]
auth = "api_key"
approval = "auto"

[[models]]
name = "priced"
deployments = [{{ provider = "mock", model = "mock-2" }}]
input_price = 1000.0
output_price = 3000.0
"#,
        dead = free_port()
    )
}

fn gateway() -> ConsoleGateway {
    start("", &extra())
}

#[test]
fn usage_charts_show_the_calls_that_were_sent_by_api_app_and_model() {
    let c = gateway();
    run("dash_flow.py", "usage_charts", &c.gw, &[]);
}

#[test]
fn the_call_log_filters_pages_and_shows_a_calls_every_field() {
    let c = gateway();
    run("dash_flow.py", "call_log", &c.gw, &[]);
}

#[test]
fn operators_read_the_audit_log_and_inspect_and_reset_a_limit_bucket() {
    let c = gateway();
    run("dash_flow.py", "audit_and_limits", &c.gw, &[]);
}

/// Pages beside the side bar's that the figures cover: the heavier views of the same pages.
const EXTRA_ROUTES: &str = "/usage?range=7d&group=app,/usage?range=1h&group=model,\
                            /calls?status=5xx&model=model-3,/calls?path=items/4242,\
                            /calls?tenant=tenant-042&app=app-0421";

/// Not an assertion on time (tests do not assert wall-clock figures): it prints, and saves
/// under target/console-artifacts/page_load/figures.txt, how long each page takes to load.
#[test]
fn page_load_figures_with_a_million_calls() {
    let (seed, took) = console_seed::seeded();
    let dir = tempfile::tempdir().unwrap();
    let copied = Instant::now();
    for f in ["tollgate.db", "calls.db"] {
        std::fs::copy(seed.join(f), dir.path().join(f)).unwrap();
    }
    let copied = copied.elapsed();
    let c = start_in(dir, "", "retention = \"30d\"\nmax_size = \"16GiB\"", "");
    let out = run(
        "dash_flow.py",
        "page_load",
        &c.gw,
        &[("TG_EXTRA_ROUTES", EXTRA_ROUTES)],
    );
    let figures = format!(
        "store: {} tenants, {} apps, {} calls (seeded in {:.1}s{}; copied in {:.1}s)\n{out}",
        console_seed::TENANTS,
        console_seed::TENANTS * console_seed::APPS_PER_TENANT,
        console_seed::CALLS,
        took.as_secs_f64(),
        if took.is_zero() { ", reused" } else { "" },
        copied.as_secs_f64()
    );
    println!("{figures}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/console-artifacts/page_load/figures.txt");
    std::fs::write(&path, &figures).unwrap();
}
