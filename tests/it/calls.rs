//! The call store: REST and LLM calls (streamed and not, a fallback, a cut stream, a refused
//! key) recorded with exact fields, queried through `/admin/calls` and `/admin/usage`, with
//! filters, pages and the tenant restriction; retention; sinks that fail.

use crate::common;
use common::admin;
use common::providers::*;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

use common::keys::TestKey;

fn tenant(name: &str, app: &str, k: &TestKey) -> String {
    format!(
        "[[tenants]]\nname = \"{name}\"\n[[tenants.apps]]\nname = \"{app}\"\n\
         subscriptions = [\"rest\", \"llm\"]\n{}",
        k.lines("")
    )
}

struct Setup {
    gw: Gateway,
    up: Upstream,
    _providers: [Upstream; 2],
    acme: TestKey,
    globex: TestKey,
}

fn setup(store: &str) -> Setup {
    let up = Upstream::start("rest", |req| Reply::ok(format!("hello {}", req.path)));
    let failing = Upstream::start("failing", |_| {
        json_reply(json!({"error": {"message": "down", "type": "server_error"}}).to_string())
            .status(503)
    });
    let cut = Upstream::start("cut", |_| {
        let events = openai_stream_events(&["one ", "two ", "three"], true);
        Reply::chunked(
            events[..3].iter().map(|e| e.clone().into_bytes()).collect(),
            Duration::ZERO,
        )
        .header("content-type", "text/event-stream")
        .cut()
    });
    let (acme, globex) = (TestKey::new(), TestKey::new());
    let body = format!(
        "[log.store]\n{store}\n\n\
         [store]\npath = \"tollgate.db\"\n\n\
         [[upstreams]]\nname = \"rest\"\ntargets = [\"{addr}\"]\n\n\
         [[routes]]\nname = \"rest\"\npath_prefix = \"/rest\"\nupstream = \"rest\"\n\
         [routes.api]\nauth = \"api_key\"\nversion = \"v1\"\n\n\
         [[routes]]\nname = \"open\"\npath_prefix = \"/open\"\nupstream = \"rest\"\n\n\
         [[routes]]\nname = \"llm\"\npath_prefix = \"/v1\"\nhandler = \"llm\"\n\
         [routes.api]\nauth = \"api_key\"\n\n\
         {MOCK}\n{failing_p}{cut_p}{m}{cutm}\n\
         [llm]\nbackoff = \"10ms\"\nmax_backoff = \"50ms\"\n\n{a}\n{b}",
        addr = up.addr(),
        failing_p = provider("failing", "openai", &failing, ""),
        cut_p = provider("cut", "openai", &cut, ""),
        m = model(
            "m",
            &[("failing", "x")],
            "retries = 0\nfallbacks = [\"demo\"]"
        ),
        cutm = model("cutm", &[("cut", "x")], ""),
        a = tenant("acme", "web", &acme),
        b = tenant("globex", "svc", &globex),
    );
    Setup {
        gw: Gateway::start(2, &body),
        up,
        _providers: [failing, cut],
        acme,
        globex,
    }
}

fn get(gw: &Gateway, path: &str, key: Option<&str>) -> (u16, String, String) {
    let mut req = client().get(gw.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let r = req.send().unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    (r.status().as_u16(), id, r.text().unwrap())
}

fn chat(gw: &Gateway, key: &str, model: &str, stream: bool) -> (String, String) {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi there"}]});
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    let r = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    (id, r.text().unwrap())
}

/// The page of calls at `path`, once it holds `n` (the writer is asynchronous).
fn calls_once(gw: &Gateway, path: &str, n: usize) -> Vec<Value> {
    wait_for("the calls to be stored", Duration::from_secs(10), || {
        let page = admin::ok(gw, "GET", path, None);
        let calls = page["calls"].as_array()?.clone();
        (calls.len() >= n).then_some(calls)
    })
}

fn ids(calls: &[Value]) -> Vec<String> {
    calls
        .iter()
        .map(|c| c["request_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn rest_and_llm_calls_are_stored_with_exact_fields_and_totals() {
    let s = setup("path = \"calls.db\"");
    let gw = &s.gw;
    let (st, rest_acme, body) = get(gw, "/rest/x", Some(&s.acme.full));
    assert_eq!((st, body.as_str()), (200, "hello /rest/x"));
    let (_, rest_globex, _) = get(gw, "/rest/y", Some(&s.globex.full));
    let (plain, whole) = chat(gw, &s.acme.full, "demo", false);
    let usage: Value = serde_json::from_str::<Value>(&whole).unwrap()["usage"].clone();
    let (streamed, _) = chat(gw, &s.acme.full, "demo", true);
    let (fellback, _) = chat(gw, &s.acme.full, "m", false);
    let (cut, text) = chat(gw, &s.acme.full, "cutm", true);
    assert!(!text.contains("[DONE]"), "{text}");
    let bogus = format!("tg_{}_{}", "zzzzzzzzzzzz", "A".repeat(32));
    let (st, refused, _) = get(gw, "/rest/z", Some(&bogus));
    assert_eq!(st, 401);
    let (_, open, _) = get(gw, "/open/", None);

    let all = calls_once(gw, "/admin/calls?limit=100", 8);
    assert_eq!(all.len(), 8, "{all:#?}");
    let times: Vec<&str> = all.iter().map(|c| c["time"].as_str().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    let by_id = |id: &str| all.iter().find(|c| c["request_id"] == id).unwrap().clone();

    let r = by_id(&rest_acme);
    for (field, want) in [
        ("route", json!("rest")),
        ("api_version", json!("v1")),
        ("method", json!("GET")),
        ("path", json!("/rest/x")),
        ("status", json!(200)),
        ("tenant", json!("acme")),
        ("app", json!("web")),
        ("key", json!(s.acme.id)),
        ("upstream", json!(s.up.addr())),
        ("attempts", json!(1)),
        ("bytes_in", json!(0)),
        ("bytes_out", json!("hello /rest/x".len())),
    ] {
        assert_eq!(r[field], want, "{field}: {r:#}");
    }
    assert!(r["ttfb_ms"].as_f64().unwrap() <= r["latency_ms"].as_f64().unwrap());
    assert!(r["upstream_latency_ms"].as_f64().is_some(), "{r:#}");
    assert!(!r.to_string().contains(&s.acme.full), "never the key");

    let p = by_id(&plain);
    assert_eq!(p["llm"]["requested_model"], "demo");
    assert_eq!(p["llm"]["model"], "demo");
    assert_eq!(p["llm"]["deployment"], "mock/mock-1");
    assert_eq!(p["llm"]["provider"], "mock");
    assert_eq!(p["llm"]["prompt_tokens"], usage["prompt_tokens"]);
    assert_eq!(p["llm"]["completion_tokens"], usage["completion_tokens"]);
    assert_eq!(p["llm"]["outcome"], "ok");
    assert!(p["bytes_in"].as_u64().unwrap() > 0);
    assert_eq!(by_id(&streamed)["llm"]["stream"], true);

    let f = by_id(&fellback);
    assert_eq!(
        (&f["llm"]["requested_model"], &f["llm"]["model"]),
        (&json!("m"), &json!("demo"))
    );
    assert_eq!(
        (&f["llm"]["attempts"], &f["llm"]["fallbacks"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(f["attempts"], 2);

    let c = by_id(&cut);
    assert_eq!(c["llm"]["outcome"], "truncated", "{c:#}");
    assert_eq!(c["llm"]["usage_estimated"], true, "{c:#}");
    assert_eq!(c["llm"]["provider"], "cut");

    let x = by_id(&refused);
    assert_eq!(
        (&x["status"], &x["key"]),
        (&json!(401), &json!("zzzzzzzzzzzz"))
    );
    assert!(
        x["error_code"].is_string() && x.get("tenant").is_none(),
        "{x:#}"
    );
    assert!(!x.to_string().contains(&bogus));
    assert!(by_id(&open).get("tenant").is_none());

    // The access log holds the same records; its writer flushes on its own clock.
    let want = ids(&all);
    wait_for(
        "every call in the access log",
        Duration::from_secs(10),
        || {
            let log = gw.access_log();
            want.iter()
                .all(|id| log.contains(&format!("\"request_id\":\"{id}\"")))
                .then_some(())
        },
    );

    // Filters.
    let count = |q: &str| {
        admin::ok(gw, "GET", &format!("/admin/calls?{q}"), None)["calls"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count("tenant=acme"), 5);
    assert_eq!(count("route=rest"), 3);
    assert_eq!(count(&format!("key={}", s.acme.id)), 5);
    assert_eq!(count("model=demo"), 3);
    assert_eq!(count("provider=cut"), 1);
    assert_eq!(count("status=4xx"), 1);
    assert_eq!(count("status=2xx"), 7);
    assert_eq!(
        count(&format!("error_code={}", x["error_code"].as_str().unwrap())),
        1
    );
    assert_eq!(count("from=2000-01-01&to=2000-01-02"), 0);

    // Pages of three, newest first, cover all eight once.
    let mut seen = Vec::new();
    let mut path = "/admin/calls?limit=3".to_string();
    loop {
        let page = admin::ok(gw, "GET", &path, None);
        seen.extend(ids(page["calls"].as_array().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/admin/calls?limit=3&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, ids(&all));

    // One record whole; usage totals by tenant equal the records' sums.
    assert_eq!(
        admin::ok(gw, "GET", &format!("/admin/calls/{plain}"), None),
        p
    );
    let usage = admin::ok(gw, "GET", "/admin/usage?group_by=tenant&bucket=hour", None);
    let rows = usage["usage"].as_array().unwrap();
    let sum = |tenant: &str, field: &str| -> u64 {
        rows.iter()
            .filter(|r| r["group"] == tenant)
            .map(|r| r[field].as_u64().unwrap())
            .sum()
    };
    let acme_calls: Vec<&Value> = all.iter().filter(|c| c["tenant"] == "acme").collect();
    let tokens = |kind: &str| -> u64 {
        acme_calls
            .iter()
            .map(|c| c["llm"][kind].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(sum("acme", "requests"), 5);
    assert_eq!(sum("globex", "requests"), 1);
    assert_eq!(sum("", "requests"), 2);
    assert_eq!(sum("", "client_errors"), 1);
    assert_eq!(sum("acme", "errors"), 0);
    assert_eq!(sum("acme", "prompt_tokens"), tokens("prompt_tokens"));
    assert_eq!(
        sum("acme", "completion_tokens"),
        tokens("completion_tokens")
    );
    assert!(tokens("prompt_tokens") > 0);
    let by_model = admin::ok(gw, "GET", "/admin/usage?group_by=model&bucket=minute", None);
    let demo: u64 = by_model["usage"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["group"] == "demo")
        .map(|r| r["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(demo, 3);
    let row = &rows.iter().find(|r| r["group"] == "acme").unwrap();
    assert!(row["latency_ms"]["p50"].as_f64().unwrap() > 0.0, "{row:#}");
    assert!(row["ttfb_ms"]["p99"].as_f64().is_some(), "{row:#}");

    // A tenant's view never shows another tenant's calls, whatever it asks.
    let theirs = admin::ok(gw, "GET", "/admin/tenants/globex/calls?limit=100", None);
    assert_eq!(
        ids(theirs["calls"].as_array().unwrap()),
        vec![rest_globex.clone()]
    );
    let (st, _) = admin::call(gw, "GET", "/admin/tenants/globex/calls?tenant=acme", None);
    assert_eq!(st, 403);
    let (st, _) = admin::call(
        gw,
        "GET",
        &format!("/admin/tenants/globex/calls/{plain}"),
        None,
    );
    assert_eq!(st, 404);
    let own = admin::ok(
        gw,
        "GET",
        &format!("/admin/tenants/globex/calls/{rest_globex}"),
        None,
    );
    assert_eq!(own["tenant"], "globex");
    let u = admin::ok(gw, "GET", "/admin/tenants/globex/usage?group_by=app", None);
    let groups: Vec<&Value> = u["usage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["group"])
        .collect();
    assert_eq!(groups, vec!["svc"]);
    let (st, _) = admin::call(gw, "GET", "/admin/tenants/globex/usage?tenant=acme", None);
    assert_eq!(st, 403);
    for path in [
        "/admin/tenants/initech/calls",
        "/admin/tenants/initech/usage",
    ] {
        assert_eq!(admin::call(gw, "GET", path, None).0, 404, "{path}");
    }

    // Bad queries are refused with the parameter named.
    for (q, word) in [
        ("/admin/calls?status=9xx", "status"),
        ("/admin/calls?limit=0", "limit"),
        ("/admin/calls?cursor=x", "cursor"),
        ("/admin/calls?colour=red", "colour"),
        ("/admin/usage?group_by=colour", "group_by"),
        ("/admin/usage?bucket=week", "bucket"),
        ("/admin/calls?from=yesterday", "from"),
    ] {
        let (st, body) = admin::raw(gw, "GET", q, None);
        assert_eq!(st, 400, "{q}: {body}");
        assert!(body.contains(word), "{q}: {body}");
    }
}

#[test]
fn calls_older_than_the_retention_are_deleted() {
    let s = setup("path = \"calls.db\"\nretention = \"2s\"");
    let (_, id, _) = get(&s.gw, "/open/", None);
    let stored = calls_once(&s.gw, "/admin/calls", 1);
    assert_eq!(ids(&stored), vec![id]);
    wait_for("the call to be deleted", Duration::from_secs(15), || {
        let page = admin::ok(&s.gw, "GET", "/admin/calls", None);
        page["calls"].as_array()?.is_empty().then_some(())
    });
}

#[test]
fn a_store_that_cannot_be_written_loses_records_not_requests() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-db");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let s = setup(&format!("path = \"{}\"", path.display()));
    for _ in 0..20 {
        assert_eq!(get(&s.gw, "/open/", None).0, 200);
    }
    let dropped = wait_for("the drops to be counted", Duration::from_secs(10), || {
        let n = sample(&s.gw.metrics(), "tollgate_call_store_dropped_total")?;
        (n >= 20.0).then_some(n)
    });
    assert_eq!(dropped, 20.0);
    assert!(sample(&s.gw.metrics(), "tollgate_call_store_write_errors_total").unwrap() >= 1.0);
    assert!(
        s.gw.stderr().contains("cannot write the call store"),
        "{}",
        s.gw.stderr()
    );
    let (st, body) = admin::raw(&s.gw, "GET", "/admin/calls", None);
    assert_eq!(st, 503, "{body}");
}

#[test]
fn a_full_disk_loses_log_lines_and_records_not_requests() {
    let up = Upstream::start("rest", |_| Reply::ok("ok"));
    let (port, admin_port) = (free_port(), free_port());
    let text = format!(
        "{}\n[log.store]\npath = \"calls.db\"\n\n[[upstreams]]\nname = \"u\"\ntargets = [\"{}\"]\n\n\
         [[routes]]\nname = \"open\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
        base_config(port, admin_port, 1, ""),
        up.addr()
    );
    // Every file the gateway writes stops growing at 256 KiB, as on a full disk.
    let gw = Gateway::start_text_with(port, admin_port, &text, |cmd| {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe, and nothing else runs in the child here.
        unsafe {
            cmd.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 256 << 10,
                    rlim_max: 256 << 10,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let http = client();
    for i in 0..2000 {
        let r = http.get(gw.url(&format!("/{i}"))).send().unwrap();
        assert_eq!(r.status(), 200, "request {i}");
    }
    let counted = |name: &str| sample(&gw.metrics(), name).unwrap_or(0.0);
    wait_for(
        "both sinks to count their losses",
        Duration::from_secs(10),
        || {
            (counted("tollgate_access_log_dropped_total") > 0.0
                && counted("tollgate_call_store_dropped_total") > 0.0)
                .then_some(())
        },
    );
    assert!(counted("tollgate_access_log_write_errors_total") >= 1.0);
    assert!(gw.access_log().len() <= 256 << 10);
    assert_eq!(
        gw.children().len(),
        2,
        "the worker and admin processes live on"
    );
}

#[test]
fn a_read_only_store_file_loses_records_not_requests() {
    let up = Upstream::start("rest", |_| Reply::ok("ok"));
    let dir = tempfile::tempdir().unwrap();
    // The gateway runs as an unprivileged user (root ignores file modes): it reads its
    // configuration, and finds the store file (an empty SQLite database) read-only.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let store = dir.path().join("calls.db");
    std::fs::write(&store, b"").unwrap();
    std::fs::set_permissions(&store, std::os::unix::fs::PermissionsExt::from_mode(0o444)).unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let text = format!(
        "{}\n[log.store]\npath = \"{}\"\n\n[[upstreams]]\nname = \"u\"\ntargets = [\"{}\"]\n\n\
         [[routes]]\nname = \"open\"\npath_prefix = \"/\"\nupstream = \"u\"\n",
        base_config(port, admin_port, 1, "").replace("ACCESS_LOG", "off"),
        store.display(),
        up.addr()
    );
    let gw = Gateway::start_in(dir, port, admin_port, &text, |cmd| {
        use std::os::unix::process::CommandExt;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            cmd.uid(65534).gid(65534);
        }
    });
    for i in 0..20 {
        assert_eq!(get(&gw, &format!("/{i}"), None).0, 200);
    }
    let dropped = wait_for("the drops to be counted", Duration::from_secs(10), || {
        let n = sample(&gw.metrics(), "tollgate_call_store_dropped_total")?;
        (n >= 20.0).then_some(n)
    });
    assert_eq!(dropped, 20.0);
    let log = gw.stderr();
    assert!(log.contains("cannot write the call store"), "{log}");
    assert!(log.contains("readonly"), "{log}");
    assert_eq!(
        std::fs::metadata(&store).unwrap().len(),
        0,
        "nothing written"
    );
}
