//! Process lifecycle: worker restart, reloads (good and bad) under load, draining on SIGTERM,
//! the admin endpoints, the access log, and refusing to start.

use crate::common;
use common::*;

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `[[upstreams]]` entries, each with its targets, followed by one route `/svc` to `route_to`.
fn config_body(upstreams: &[(&str, &[&Upstream])], route_to: &str) -> String {
    let mut out = String::new();
    for (name, targets) in upstreams {
        let list: Vec<String> = targets
            .iter()
            .map(|u| format!("\"{}\"", u.addr()))
            .collect();
        out.push_str(&format!(
            "[[upstreams]]\nname = \"{name}\"\ntargets = [{}]\n\n",
            list.join(", ")
        ));
    }
    out.push_str(&format!(
        "[[routes]]\nname = \"svc\"\npath_prefix = \"/svc\"\nupstream = \"{route_to}\"\n"
    ));
    out
}

fn full_config(gw: &Gateway, workers: usize, body: &str) -> String {
    format!(
        "{}\n{body}",
        base_config(gw.port, gw.admin_port, workers, "")
    )
}

fn socket_inodes(pid: u32) -> std::collections::HashSet<String> {
    tollgate::procfs::socket_inodes(&pid.to_string())
}

fn listening_ports(pid: u32) -> Vec<u16> {
    tollgate::procfs::listening_ports(&pid.to_string())
}

/// The master's children that listen on the data port: the workers (the admin process does not).
pub fn worker_pids(gw: &Gateway) -> Vec<u32> {
    gw.children()
        .into_iter()
        .filter(|&p| listening_ports(p).contains(&gw.port))
        .collect()
}

/// One worker's own metrics, read from its abstract socket the way the admin process does.
fn worker_metrics(master_pid: u32, slot: usize) -> Option<String> {
    use std::io::Read;
    use std::os::linux::net::SocketAddrExt;
    let name = format!("tollgate-{master_pid}-worker-{slot}-metrics");
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()?;
    let mut s = std::os::unix::net::UnixStream::connect_addr(&addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    Some(text)
}

/// The value of one series (exact name and labels) in a Prometheus text.
fn assert_sample(metrics: &str, series: &str, expected: f64) {
    assert_eq!(
        sample(metrics, series),
        Some(expected),
        "{series} in:\n{metrics}"
    );
}

fn svc_2xx(text: &str) -> f64 {
    sample(
        text,
        "tollgate_requests_total{route=\"svc\",status=\"2xx\"}",
    )
    .unwrap_or(0.0)
}

/// A body of 200 over a fresh connection, or what went wrong.
fn fresh_get(port: u16, path: &str) -> Result<String, String> {
    match raw_get(port, path, &[]) {
        Some((200, body)) => Ok(body),
        Some((status, body)) => Err(format!("status {status}: {body}")),
        None => Err("no response".into()),
    }
}

struct Outcome {
    thread: usize,
    started: Instant,
    result: Result<String, String>,
}

/// Client threads requesting `/svc` in a loop until stopped, on fresh or keep-alive connections.
struct Load {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(gw: &Gateway, fresh: usize, keepalive: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for thread in 0..fresh + keepalive {
            let (stop, outcomes, port) = (stop.clone(), outcomes.clone(), gw.port);
            let url = gw.url("/svc");
            let keep = thread >= fresh;
            threads.push(std::thread::spawn(move || {
                let c = client();
                while !stop.load(Ordering::SeqCst) {
                    let started = Instant::now();
                    let result = if keep {
                        keepalive_get(&c, &url)
                    } else {
                        fresh_get(port, "/svc")
                    };
                    outcomes.lock().unwrap().push(Outcome {
                        thread,
                        started,
                        result,
                    });
                    // Pacing only, so that the client threads do not starve the gateway.
                    std::thread::sleep(Duration::from_millis(1));
                }
            }));
        }
        Load {
            stop,
            outcomes,
            threads,
        }
    }

    /// Waits until every thread has `n` successful requests that started after `since`.
    fn wait_ok_since(&self, since: Instant, n: usize) {
        let threads = self.threads.len();
        wait_for(
            "client threads to make progress",
            Duration::from_secs(20),
            || {
                let o = self.outcomes.lock().unwrap();
                (0..threads)
                    .all(|t| {
                        o.iter()
                            .filter(|x| x.thread == t && x.started > since && x.result.is_ok())
                            .count()
                            >= n
                    })
                    .then_some(())
            },
        );
    }

    fn finish(mut self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.outcomes.lock().unwrap())
    }
}

/// A test that fails half-way must not leave its client threads running.
impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn keepalive_get(c: &reqwest::blocking::Client, url: &str) -> Result<String, String> {
    let r = c.get(url).send().map_err(|e| format!("{e:?}"))?;
    let status = r.status();
    let body = r.text().map_err(|e| format!("{e:?}"))?;
    if status == 200 {
        Ok(body)
    } else {
        Err(format!("status {status}: {body}"))
    }
}

fn errors(outcomes: &[Outcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter_map(|o| {
            o.result
                .as_ref()
                .err()
                .map(|e| format!("thread {}: {e}", o.thread))
        })
        .collect()
}

fn kill(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a process this test started (directly or through the master).
    unsafe { libc::kill(pid as i32, sig) };
}

#[test]
fn a_killed_worker_is_restarted_and_the_gateway_keeps_answering() {
    let a = Upstream::named("a");
    let mut gw = Gateway::start(2, &config_body(&[("one", &[&a])], "one"));
    let before = wait_for("two workers listening", Duration::from_secs(10), || {
        let w = worker_pids(&gw);
        (w.len() == 2).then_some(w)
    });
    let begin = Instant::now();
    let load = Load::start(&gw, 2, 1);
    load.wait_ok_since(begin, 5);

    let victim = before[0];
    kill(victim, libc::SIGKILL);
    // Gone means reaped: a killed process's main thread shows as a zombie while its other
    // threads still exit, holding the listening socket (and the connections the kernel queues
    // on it) until the last one is gone.
    wait_for(
        "the killed worker to be reaped",
        Duration::from_secs(10),
        || (!path_exists(&std::path::PathBuf::from(format!("/proc/{victim}")))).then_some(()),
    );
    let dead_at = Instant::now();
    let after = wait_for("a new worker listening", Duration::from_secs(20), || {
        let w = worker_pids(&gw);
        (w.len() == 2 && !w.contains(&victim)).then_some(w)
    });
    let replacement = after.iter().find(|p| !before.contains(p)).copied();
    assert!(
        replacement.is_some(),
        "no new worker pid: before {before:?}, after {after:?}"
    );
    gw.wait_ready();
    load.wait_ok_since(Instant::now(), 10);
    let outcomes = load.finish();

    // Requests in flight on the killed worker may fail; none that started after it was gone.
    let late: Vec<String> = errors(
        &outcomes
            .into_iter()
            .filter(|o| o.started > dead_at)
            .collect::<Vec<_>>(),
    );
    assert!(
        late.is_empty(),
        "requests failed after the worker was gone: {late:?}"
    );

    // The replacement takes traffic: its own counter moves when fresh connections arrive.
    let counts = |gw: &Gateway| -> Vec<f64> {
        (0..2)
            .map(|s| {
                worker_metrics(gw.pid(), s)
                    .map(|t| svc_2xx(&t))
                    .unwrap_or(-1.0)
            })
            .collect()
    };
    let start = counts(&gw);
    assert!(
        start.iter().all(|&c| c >= 0.0),
        "a worker does not serve its metrics: {start:?}"
    );
    wait_for(
        "both workers to serve new requests",
        Duration::from_secs(20),
        || {
            fresh_get(gw.port, "/svc").unwrap();
            let now = counts(&gw);
            now.iter().zip(&start).all(|(n, s)| n > s).then_some(())
        },
    );

    let metrics = gw.metrics();
    assert_sample(&metrics, "tollgate_worker_restarts_total", 1.0);
    assert_sample(&metrics, "tollgate_workers{state=\"serving\"}", 2.0);
    let log = gw.stderr();
    assert!(
        log.contains(&format!("(pid {victim}) exited (killed by signal 9)")),
        "{log}"
    );
}

#[test]
fn reload_under_load_switches_upstream_without_a_failed_request() {
    let a = Upstream::named("a");
    let b = Upstream::named("b");
    let ups: &[(&str, &[&Upstream])] = &[("one", &[&a]), ("two", &[&b])];
    let gw = Gateway::start(2, &config_body(ups, "one"));
    let begin = Instant::now();
    let load = Load::start(&gw, 2, 2);
    load.wait_ok_since(begin, 5);

    gw.rewrite_config(&full_config(&gw, 2, &config_body(ups, "two")));
    gw.signal(libc::SIGHUP);
    wait_for(
        "every worker to apply the reload",
        Duration::from_secs(15),
        || {
            gw.stderr()
                .contains("reload applied by every worker")
                .then_some(())
        },
    );
    let applied = Instant::now();
    load.wait_ok_since(applied, 10);
    let outcomes = load.finish();

    let errs = errors(&outcomes);
    assert!(
        errs.is_empty(),
        "{} of {} requests failed: {errs:?}",
        errs.len(),
        outcomes.len()
    );
    assert!(a.hits() > 0, "the first upstream never served");
    let stale: Vec<&String> = outcomes
        .iter()
        .filter(|o| o.started > applied)
        .filter_map(|o| o.result.as_ref().ok())
        .filter(|body| *body != "b")
        .collect();
    assert!(
        stale.is_empty(),
        "old upstream answered after the reload: {stale:?}"
    );
    let metrics = gw.metrics();
    assert_sample(&metrics, "tollgate_config_generation", 2.0);
    assert_sample(&metrics, "tollgate_worker_restarts_total", 0.0);
}

#[test]
fn a_bad_reload_keeps_the_running_config() {
    let a = Upstream::named("a");
    let b = Upstream::named("b");
    let gw = Gateway::start(2, &config_body(&[("one", &[&a]), ("two", &[&b])], "one"));
    assert_eq!(fresh_get(gw.port, "/svc"), Ok("a".to_string()));

    // Points the route at an upstream that does not exist (and drops "one").
    gw.rewrite_config(&full_config(
        &gw,
        2,
        &config_body(&[("two", &[&b])], "nope"),
    ));
    gw.signal(libc::SIGHUP);
    let log = wait_for(
        "the master to refuse the reload",
        Duration::from_secs(10),
        || {
            let log = gw.stderr();
            log.contains("reload refused").then_some(log)
        },
    );
    assert!(log.contains("no upstream named \"nope\""), "{log}");
    assert!(log.contains("routes[0].upstream"), "{log}");

    for _ in 0..20 {
        assert_eq!(fresh_get(gw.port, "/svc"), Ok("a".to_string()));
    }
    assert_eq!(b.hits(), 0);
    let metrics = gw.metrics();
    assert_sample(&metrics, "tollgate_config_generation", 1.0);
    assert_sample(&metrics, "tollgate_worker_restarts_total", 0.0);

    // A corrected file is taken on the next SIGHUP.
    gw.rewrite_config(&full_config(&gw, 2, &config_body(&[("two", &[&b])], "two")));
    gw.signal(libc::SIGHUP);
    wait_for(
        "the fixed config to be applied",
        Duration::from_secs(15),
        || {
            gw.stderr()
                .contains("reload applied by every worker")
                .then_some(())
        },
    );
    for _ in 0..10 {
        assert_eq!(fresh_get(gw.port, "/svc"), Ok("b".to_string()));
    }
}

#[test]
fn sigterm_drains_in_flight_requests_and_exits_zero() {
    // The request stays in flight until the test has seen the listeners close.
    let gate = Gate::new();
    let _open_at_exit = gate.opener();
    let held = gate.clone();
    let slow = Upstream::start("slow", move |_: &Request| {
        held.wait();
        Reply::ok("done")
    });
    let mut gw = Gateway::start(2, &config_body(&[("slow", &[&slow])], "slow"));
    let port = gw.port;
    let inflight = std::thread::spawn(move || raw_get(port, "/svc", &[]));
    wait_for(
        "the upstream to receive the request",
        Duration::from_secs(10),
        || (slow.hits() == 1).then_some(()),
    );

    let sent = Instant::now();
    gw.signal(libc::SIGTERM);
    // Draining workers stop accepting at once, long before the slow request is answered.
    let mut refused_in_a_row = 0;
    wait_for(
        "new connections to be refused",
        Duration::from_secs(5),
        || {
            match TcpStream::connect(("127.0.0.1", port)) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    refused_in_a_row += 1
                }
                _ => refused_in_a_row = 0,
            }
            (refused_in_a_row >= 20).then_some(())
        },
    );
    assert!(
        !inflight.is_finished(),
        "connections were refused only after the in-flight request ended"
    );
    gate.open();

    let got = inflight.join().unwrap();
    assert_eq!(
        got,
        Some((200, "done".to_string())),
        "the in-flight request did not complete"
    );
    let child = gw.child.as_mut().unwrap();
    let status = wait_for("the master to exit", Duration::from_secs(15), || {
        child.try_wait().unwrap()
    });
    let took = sent.elapsed();
    gw.child = None;
    assert_eq!(status.code(), Some(0), "{}", gw.stderr());
    assert!(
        took < Duration::from_secs(5),
        "draining took {took:?} (grace period 10s)"
    );
    assert!(
        gw.stderr().contains("all workers stopped; exiting"),
        "{}",
        gw.stderr()
    );
    // The worker wrote the drained request's access log line before it exited.
    let log = gw.access_log();
    let rec: serde_json::Value = serde_json::from_str(log.lines().next().unwrap_or("{}")).unwrap();
    assert_eq!(
        (log.lines().count(), &rec["status"]),
        (1, &serde_json::json!(200)),
        "{log}"
    );
}

#[test]
fn admin_endpoints_need_the_token_and_metrics_sum_the_workers() {
    let a = Upstream::named("a");
    let gw = Gateway::start(2, &config_body(&[("one", &[&a])], "one"));
    let port = gw.admin_port;
    for path in ["/readyz", "/metrics"] {
        let none = raw_get(port, path, &[]).unwrap();
        assert_eq!(none.0, 401, "{path} without a token: {}", none.1);
        let wrong = raw_get(port, path, &[("authorization", "Bearer not-the-token")]).unwrap();
        assert_eq!(wrong.0, 401, "{path} with a wrong token: {}", wrong.1);
        assert!(!wrong.1.contains("tollgate_"), "{}", wrong.1);
        let basic = raw_get(
            port,
            path,
            &[("authorization", &format!("Basic {ADMIN_TOKEN}"))],
        )
        .unwrap();
        assert_eq!(basic.0, 401, "{path} with another scheme: {}", basic.1);
    }
    assert_eq!(raw_get(port, "/healthz", &[]).map(|r| r.0), Some(200));
    assert_eq!(gw.admin_get("/readyz").map(|r| r.0), Some(200));

    // Fresh connections, so that SO_REUSEPORT spreads them over both workers.
    let n = 30;
    for _ in 0..n {
        assert_eq!(fresh_get(gw.port, "/svc"), Ok("a".to_string()));
    }
    // Requests are counted once logged, just after the response.
    let metrics = wait_for(
        "the requests to be counted",
        Duration::from_secs(10),
        || {
            let m = gw.metrics();
            (svc_2xx(&m) == n as f64 && sample(&m, "tollgate_inflight_requests") == Some(0.0))
                .then_some(m)
        },
    );
    let per_worker: Vec<f64> = (0..2)
        .map(|s| svc_2xx(&worker_metrics(gw.pid(), s).unwrap()))
        .collect();
    assert_eq!(per_worker.iter().sum::<f64>(), n as f64, "{per_worker:?}");
    assert!(
        per_worker.iter().all(|&c| c > 0.0),
        "one worker got every request: {per_worker:?}"
    );

    let up = "upstream=\"one\"";
    assert_eq!(
        sample(
            &metrics,
            &format!("tollgate_upstream_latency_seconds_bucket{{{up},le=\"+Inf\"}}")
        ),
        Some(n as f64),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            &format!("tollgate_upstream_latency_seconds_count{{{up}}}")
        ),
        Some(n as f64),
        "{metrics}"
    );
    let target_up = metrics
        .lines()
        .find(|l| l.starts_with("tollgate_upstream_target_up{upstream=\"one\""));
    assert!(target_up.is_some_and(|l| l.ends_with(" 1")), "{metrics}");
    assert_eq!(
        sample(
            &metrics,
            "tollgate_requests_total{route=\"svc\",status=\"5xx\"}"
        ),
        Some(0.0),
        "{metrics}"
    );
    assert_sample(&metrics, "tollgate_workers{state=\"configured\"}", 2.0);
    let misplaced = misplaced_samples(&metrics);
    assert!(misplaced.is_empty(), "{misplaced:#?}\n{metrics}");
    for family in [
        "tollgate_requests_total",
        "tollgate_upstream_latency_seconds",
        "tollgate_inflight_requests",
    ] {
        let types = metrics
            .lines()
            .filter(|l| l.starts_with(&format!("# TYPE {family} ")))
            .count();
        assert_eq!(types, 1, "{family} TYPE lines in:\n{metrics}");
    }
}

#[test]
fn access_log_has_one_json_line_per_request() {
    let a = Upstream::named("a");
    let gw = Gateway::start(2, &config_body(&[("one", &[&a])], "one"));
    let c = client();
    let mut ids = Vec::new();
    for i in 0..3 {
        let r = c.get(gw.url(&format!("/svc/item/{i}"))).send().unwrap();
        assert_eq!(r.status(), 200);
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert!(!id.is_empty());
        ids.push(id);
    }
    let mine = "client-chosen-id-42";
    let r = c
        .get(gw.url("/svc/mine"))
        .header("x-request-id", mine)
        .send()
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], mine);
    assert_eq!(a.last_request().unwrap().header("x-request-id"), Some(mine));
    ids.push(mine.to_string());
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");

    let lines = wait_for("four access log lines", Duration::from_secs(10), || {
        let text = gw.access_log();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        (lines.len() >= ids.len()).then_some(lines)
    });
    assert_eq!(lines.len(), ids.len(), "{lines:#?}");
    let records: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let rec = records
            .iter()
            .find(|r| r["request_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no access log line for {id}: {lines:#?}"));
        let path = if i < 3 {
            format!("/svc/item/{i}")
        } else {
            "/svc/mine".to_string()
        };
        assert_eq!(rec["route"], "svc", "{rec}");
        assert_eq!(rec["status"], 200, "{rec}");
        assert_eq!(rec["method"], "GET", "{rec}");
        assert_eq!(rec["path"], path.as_str(), "{rec}");
        assert_eq!(rec["upstream"], a.addr().as_str(), "{rec}");
        assert!(
            rec["latency_ms"].as_f64().is_some_and(|l| l >= 0.0),
            "{rec}"
        );
    }
}

/// Runs `tollgate run` on a config that must be refused; (exit code, stderr).
fn run_expecting_exit(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_gateway(dir.path(), text);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let kids = children_of(child.id());
            let _ = child.kill();
            let _ = child.wait();
            for k in kids {
                kill(k, libc::SIGKILL);
            }
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let err = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    assert!(status.is_some(), "tollgate run did not exit:\n{err}");
    (status.and_then(|s| s.code()), err)
}

#[test]
fn run_refuses_a_bad_config_and_a_busy_port() {
    let a = Upstream::named("a");
    let (port, admin_port) = (free_port(), free_port());
    let base = base_config(port, admin_port, 1, "");

    let bad = format!("{base}\n{}", config_body(&[("one", &[&a])], "nope"));
    let (code, err) = run_expecting_exit(&bad);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no upstream named \"nope\""), "{err}");
    assert!(err.contains("refusing to start"), "{err}");

    let good = format!("{base}\n{}", config_body(&[("one", &[&a])], "one"));
    let busy = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (code, err) = run_expecting_exit(&good);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
    drop(busy);

    let busy_admin = TcpListener::bind(("127.0.0.1", admin_port)).unwrap();
    let (code, err) = run_expecting_exit(&good);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{admin_port} (admin)")),
        "{err}"
    );
    drop(busy_admin);
}

#[test]
fn a_reload_while_a_worker_is_starting_does_not_kill_it() {
    let a = Upstream::named("a");
    let b = Upstream::named("b");
    let ups: &[(&str, &[&Upstream])] = &[("one", &[&a]), ("two", &[&b])];
    let mut gw = Gateway::start(2, &config_body(ups, "one"));
    let initial = gw.children();
    let victim = worker_pids(&gw)[0];
    kill(victim, libc::SIGKILL);
    let newborn = wait_for(
        "the master to fork a replacement",
        Duration::from_secs(10),
        || gw.children().into_iter().find(|p| !initial.contains(p)),
    );
    // The replacement is still starting up: reload right now.
    gw.rewrite_config(&full_config(&gw, 2, &config_body(ups, "two")));
    gw.signal(libc::SIGHUP);
    wait_for(
        "every worker to apply the reload",
        Duration::from_secs(15),
        || {
            gw.stderr()
                .contains("reload applied by every worker")
                .then_some(())
        },
    );
    gw.wait_ready();
    let metrics = gw.metrics();
    assert_eq!(
        sample(&metrics, "tollgate_worker_restarts_total"),
        Some(1.0),
        "{metrics}\n{}",
        gw.stderr()
    );
    assert!(
        worker_pids(&gw).contains(&newborn),
        "the replacement {newborn} died:\n{}",
        gw.stderr()
    );
    for _ in 0..20 {
        assert_eq!(fresh_get(gw.port, "/svc"), Ok("b".to_string()));
    }
}

#[test]
fn reload_resizes_the_workers_and_rotates_the_admin_token() {
    let a = Upstream::named("a");
    let body = config_body(&[("one", &[&a])], "one");
    let mut gw = Gateway::start(2, &body);
    let rotated = [("authorization", "Bearer rotated-token")];
    let reload_with = |gw: &Gateway, workers: usize| {
        let text = full_config(gw, workers, &body).replace(ADMIN_TOKEN, "rotated-token");
        gw.rewrite_config(&text);
        gw.signal(libc::SIGHUP);
    };

    reload_with(&gw, 3);
    wait_for("three workers", Duration::from_secs(15), || {
        (worker_pids(&gw).len() == 3).then_some(())
    });
    let metrics = wait_for(
        "the new token and three serving workers",
        Duration::from_secs(15),
        || {
            let (status, m) = raw_get(gw.admin_port, "/metrics", &rotated)?;
            (status == 200 && sample(&m, "tollgate_workers{state=\"serving\"}") == Some(3.0))
                .then_some(m)
        },
    );
    assert_sample(&metrics, "tollgate_workers{state=\"configured\"}", 3.0);
    assert_eq!(
        gw.admin_get("/readyz").map(|r| r.0),
        Some(401),
        "the old token still works"
    );

    reload_with(&gw, 1);
    wait_for("one worker", Duration::from_secs(15), || {
        (worker_pids(&gw).len() == 1).then_some(())
    });
    for _ in 0..20 {
        assert_eq!(fresh_get(gw.port, "/svc"), Ok("a".to_string()));
    }
    let metrics = raw_get(gw.admin_port, "/metrics", &rotated).unwrap().1;
    assert_sample(&metrics, "tollgate_worker_restarts_total", 0.0);
    assert_sample(&metrics, "tollgate_workers{state=\"configured\"}", 1.0);
    assert_sample(&metrics, "tollgate_workers{state=\"serving\"}", 1.0);
    assert_eq!(
        raw_get(gw.admin_port, "/readyz", &rotated).map(|r| r.0),
        Some(200)
    );
    assert_eq!(gw.stop(), Some(0), "{}", gw.stderr());
}

#[test]
fn settings_read_at_start_survive_a_reload_and_a_restart() {
    let a = Upstream::named("a");
    let mut gw = Gateway::start(1, &config_body(&[("one", &[&a])], "one"));
    let moved = gw.dir.path().join("moved.log");
    let text = full_config(&gw, 1, &config_body(&[("one", &[&a])], "one"))
        .replace("ACCESS_LOG", &moved.to_string_lossy())
        .replace("grace_period = \"10s\"", "grace_period = \"20s\"");
    gw.rewrite_config(&text);
    gw.signal(libc::SIGHUP);
    wait_for("the reload to be applied", Duration::from_secs(15), || {
        gw.stderr()
            .contains("reload applied by every worker")
            .then_some(())
    });
    let log = gw.stderr();
    assert!(
        log.contains("server.grace_period, log.access changes apply on restart only"),
        "{log}"
    );

    // A replacement worker opens the same access log as the one it replaces.
    let victim = worker_pids(&gw)[0];
    kill(victim, libc::SIGKILL);
    wait_for("a replacement worker", Duration::from_secs(20), || {
        let w = worker_pids(&gw);
        (w.len() == 1 && w[0] != victim).then_some(())
    });
    gw.wait_ready();
    let c = client();
    let r = c.get(gw.url("/svc")).send().unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    wait_for(
        "the request in the original access log",
        Duration::from_secs(10),
        || gw.access_log().contains(&id).then_some(()),
    );
    assert!(
        !moved.exists(),
        "a worker wrote to the new log.access path before a restart"
    );
}

/// Samples that do not sit under their own family's `# TYPE` line, as `family: sample`.
fn misplaced_samples(text: &str) -> Vec<String> {
    let mut family = "";
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            family = rest.split(' ').next().unwrap_or("");
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap_or("");
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|b| *b == family))
            .unwrap_or(name);
        if base != family {
            out.push(format!("{family}: {line}"));
        }
    }
    out
}

/// Every worker keeps the counters of a route a reload removed; one started since has none. The
/// merged exposition must still keep each series under its own family's `# TYPE` line.
#[test]
fn metrics_keep_each_family_together_when_workers_have_different_series() {
    let a = Upstream::named("a");
    let body = config_body(&[("one", &[&a])], "one");
    let extra = "[[routes]]\nname = \"extra\"\npath_prefix = \"/extra\"\nupstream = \"one\"\n";
    let gw = Gateway::start(2, &format!("{body}\n{extra}"));
    gw.rewrite_config(&full_config(&gw, 2, &body));
    gw.signal(libc::SIGHUP);
    wait_for("the reload to be applied", Duration::from_secs(15), || {
        gw.stderr()
            .contains("reload applied by every worker")
            .then_some(())
    });
    // Replace the worker in slot 0, whose text the merge follows: the pid holding its socket.
    let unix = std::fs::read_to_string("/proc/net/unix").unwrap();
    let name = format!("@tollgate-{}-worker-0-metrics", gw.pid());
    let line = unix.lines().find(|l| l.ends_with(&name)).unwrap();
    let inode = line.split_whitespace().nth(6).unwrap().to_string();
    let slot0 = gw
        .children()
        .into_iter()
        .find(|&p| socket_inodes(p).contains(&inode))
        .unwrap();
    kill(slot0, libc::SIGKILL);
    wait_for(
        "a replacement serving its metrics",
        Duration::from_secs(20),
        || {
            let w = worker_pids(&gw);
            let serving = (0..2).all(|s| worker_metrics(gw.pid(), s).is_some());
            (w.len() == 2 && !w.contains(&slot0) && serving).then_some(())
        },
    );
    let metrics = gw.metrics();
    assert!(metrics.contains("route=\"extra\""), "{metrics}");
    let misplaced = misplaced_samples(&metrics);
    assert!(misplaced.is_empty(), "{misplaced:#?}\n{metrics}");
}

/// An upstream whose answers wait for the gate, and a GET /svc sent to `gw` that it holds.
fn held_request(gw: &Gateway, up: &Upstream) -> JoinHandle<Option<(u16, String)>> {
    let port = gw.port;
    let before = up.hits();
    let client = std::thread::spawn(move || raw_get(port, "/svc", &[]));
    wait_for(
        "the upstream to hold the request",
        Duration::from_secs(10),
        || (up.hits() > before).then_some(()),
    );
    client
}

fn gated_upstream(gate: &Gate) -> Upstream {
    let g = gate.clone();
    Upstream::start("held", move |_: &Request| {
        g.wait();
        Reply::ok("late")
    })
}

/// Whether a process is gone (no such pid, or a zombie nobody reaped yet).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// The admin process: the master's child that listens on the admin port.
fn admin_pid(gw: &Gateway) -> u32 {
    wait_for("the admin process", Duration::from_secs(10), || {
        gw.children()
            .into_iter()
            .find(|&p| listening_ports(p).contains(&gw.admin_port))
    })
}

#[test]
fn a_reload_refuses_an_empty_or_routeless_file_and_never_stops_the_admin_process() {
    let a = Upstream::named("a");
    let body = config_body(&[("one", &[&a])], "one");
    let gw = Gateway::start(2, &body);
    let admin = admin_pid(&gw);
    let refusals = |gw: &Gateway| gw.stderr().matches("reload refused").count();

    for (text, why) in [
        ("", "the file is empty"),
        ("# all commented out\n", "the file is empty"),
        (&full_config(&gw, 2, "")[..], "routes: no [[routes]]"),
    ] {
        let before = refusals(&gw);
        gw.rewrite_config(text);
        gw.signal(libc::SIGHUP);
        let log = wait_for("the reload to be refused", Duration::from_secs(10), || {
            let log = gw.stderr();
            (refusals(&gw) > before).then_some(log)
        });
        assert!(log.contains(why), "{why:?} not in:\n{log}");
        assert_eq!(fresh_get(gw.port, "/svc"), Ok("a".to_string()));
    }
    let metrics = gw.metrics();
    assert_sample(&metrics, "tollgate_config_generation", 1.0);

    // A good file without [admin]: taken, but the admin process stays as it is until a restart.
    let no_admin = full_config(&gw, 2, &body);
    let start = no_admin.find("[admin]").unwrap();
    let end = no_admin.find("[log]").unwrap();
    let no_admin = format!("{}{}", &no_admin[..start], &no_admin[end..]);
    gw.rewrite_config(&no_admin);
    gw.signal(libc::SIGHUP);
    wait_for("the reload to be applied", Duration::from_secs(15), || {
        gw.stderr()
            .contains("reload applied by every worker")
            .then_some(())
    });
    let log = gw.stderr();
    assert!(
        log.contains("[admin] changes apply on restart only"),
        "{log}"
    );
    assert!(!gone(admin), "the admin process exited:\n{log}");
    assert_eq!(admin_pid(&gw), admin);
    assert_eq!(gw.admin_get("/readyz").map(|r| r.0), Some(200));
    assert_sample(&gw.metrics(), "tollgate_config_generation", 2.0);
    assert_eq!(fresh_get(gw.port, "/svc"), Ok("a".to_string()));
}

#[test]
fn workers_and_the_admin_process_die_at_once_with_a_killed_master() {
    let gate = Gate::new();
    let _open = gate.opener();
    let up = gated_upstream(&gate);
    let mut gw = Gateway::start(2, &config_body(&[("held", &[&up])], "held"));
    let children = gw.children();
    assert_eq!(children.len(), 3, "two workers and the admin process");
    // A worker busy with a request that never ends, as a runaway one would be.
    let client = held_request(&gw, &up);

    let mut master = gw.child.take().unwrap();
    master.kill().unwrap();
    master.wait().unwrap();
    let left = wait_for_or(Duration::from_secs(5), || {
        let left: Vec<u32> = children.iter().copied().filter(|&p| !gone(p)).collect();
        left.is_empty().then_some(()).ok_or(left)
    });
    for &p in left.as_ref().err().into_iter().flatten() {
        kill(p, libc::SIGKILL);
    }
    assert!(left.is_ok(), "children outlived their master: {left:?}");
    gate.open();
    assert_ne!(client.join().unwrap(), Some((200, "late".to_string())));
}

/// Polls `f` every 10ms until Ok or the timeout; the last Err otherwise (for a cleanup first).
fn wait_for_or<E>(timeout: Duration, mut f: impl FnMut() -> Result<(), E>) -> Result<(), E> {
    let deadline = Instant::now() + timeout;
    loop {
        match f() {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

#[test]
fn sigint_stops_at_once_without_draining() {
    let gate = Gate::new();
    let _open = gate.opener();
    let up = gated_upstream(&gate);
    let mut gw = Gateway::start(2, &config_body(&[("held", &[&up])], "held"));
    let children = gw.children();
    let client = held_request(&gw, &up);
    let sent = Instant::now();
    gw.signal(libc::SIGINT);
    let child = gw.child.as_mut().unwrap();
    // Grace period 10s: a stop that drained would wait for the held request that long.
    let status = wait_for("the master to exit", Duration::from_secs(8), || {
        child.try_wait().unwrap()
    });
    let took = sent.elapsed();
    gw.child = None;
    assert_eq!(status.code(), Some(0), "{}", gw.stderr());
    assert!(took < Duration::from_secs(5), "a fast stop took {took:?}");
    assert!(children.iter().all(|&p| gone(p)), "{}", gw.stderr());
    // The held request was cut, not answered.
    gate.open();
    assert_ne!(client.join().unwrap(), Some((200, "late".to_string())));
    assert!(gw.stderr().contains("stopping now, without draining"));
}

#[test]
fn sigterm_kills_what_is_left_after_the_grace_period_plus_5s() {
    let gate = Gate::new();
    let _open = gate.opener();
    let up = gated_upstream(&gate);
    let (port, admin_port) = (free_port(), free_port());
    let text = format!(
        "{}\n{}",
        base_config(port, admin_port, 2, "").replace("\"10s\"", "\"1s\""),
        config_body(&[("held", &[&up])], "held")
    );
    let mut gw = Gateway::start_text(port, admin_port, &text);
    let children = gw.children();
    let client = held_request(&gw, &up);
    // A child that never acts on SIGTERM: the admin process, stopped.
    let admin = admin_pid(&gw);
    kill(admin, libc::SIGSTOP);
    let sent = Instant::now();
    gw.signal(libc::SIGTERM);
    let child = gw.child.as_mut().unwrap();
    let status = wait_for("the master to exit", Duration::from_secs(15), || {
        child.try_wait().unwrap()
    });
    let took = sent.elapsed();
    gw.child = None;
    let log = gw.stderr();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(children.iter().all(|&p| gone(p)), "{log}");
    // Grace period 1s, then 5s: the stopped child is killed then, not before, not much later.
    assert!(
        took >= Duration::from_millis(5900) && took < Duration::from_secs(10),
        "the stop took {took:?}:\n{log}"
    );
    let kill_line = log
        .lines()
        .find(|l| l.contains("still running past the stop deadline; killing them"));
    assert!(
        kill_line.is_some_and(|l| l.contains(&admin.to_string())),
        "{log}"
    );
    gate.open();
    assert_ne!(client.join().unwrap(), Some((200, "late".to_string())));
}

#[test]
fn access_log_write_errors_are_counted_and_reported_once() {
    let a = Upstream::named("a");
    let (port, admin_port) = (free_port(), free_port());
    let text = format!(
        "{}\n{}",
        base_config(port, admin_port, 1, "").replace("ACCESS_LOG", "/dev/full"),
        config_body(&[("one", &[&a])], "one")
    );
    let gw = Gateway::start_text(port, admin_port, &text);
    let n = 5;
    for _ in 0..n {
        assert_eq!(fresh_get(gw.port, "/svc"), Ok("a".to_string()));
    }
    // Every line is lost on the full device, and counted.
    let metrics = wait_for("the lost lines counted", Duration::from_secs(10), || {
        let m = gw.metrics();
        (sample(&m, "tollgate_access_log_dropped_total") == Some(n as f64)).then_some(m)
    });
    let errors = sample(&metrics, "tollgate_access_log_write_errors_total").unwrap_or(0.0);
    assert!((1.0..=n as f64).contains(&errors), "{metrics}");
    // Reported in the process log, once for the lot (rate-limited), not once per line.
    let log = gw.stderr();
    let reports = log.matches("cannot write the access log").count();
    let first = log.matches("ERROR cannot write the access log").count();
    // One report, and a second only if the requests took over 10s: never one per write.
    assert!(first == 1 && reports < n, "{log}");
    assert!(log.contains("No space left on device"), "{log}");
}

#[test]
fn the_open_files_limit_is_raised_to_the_hard_limit() {
    let a = Upstream::named("a");
    let hard = open_files_limit().1;
    // (soft, hard) at the start; (what the master and every child must have, whether it warns).
    let cases = [
        ((256, hard), (hard.min(nr_open()), hard < 65536)),
        ((256, 1024), (1024, true)),
    ];
    for ((soft, hard), (want, warned)) in cases {
        let (port, admin_port) = (free_port(), free_port());
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("tollgate.toml");
        let text = format!(
            "{}\n{}",
            base_config(port, admin_port, 1, "").replace("ACCESS_LOG", "off"),
            config_body(&[("one", &[&a])], "one")
        );
        std::fs::write(&conf, text).unwrap();
        let mut cmd = std::process::Command::new(binary());
        cmd.args(["run", "-c"])
            .arg(&conf)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap());
        // SAFETY: only setrlimit (async-signal-safe) runs in the child before exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: soft,
                    rlim_max: hard,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut gw = Gateway {
            child: Some(cmd.spawn().unwrap()),
            port,
            admin_port,
            dir,
            config_path: conf,
        };
        gw.wait_ready();
        let mut pids = gw.children();
        pids.push(gw.pid());
        for p in pids {
            let limits = std::fs::read_to_string(format!("/proc/{p}/limits")).unwrap();
            let line = limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .unwrap();
            let soft_now: u64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
            assert_eq!(soft_now, want, "pid {p}: {line}");
        }
        let log = gw.stderr();
        assert_eq!(
            log.contains("the open-files limit is"),
            warned,
            "soft {soft}, hard {hard}:\n{log}"
        );
        assert_eq!(gw.stop(), Some(0));
    }
}

/// The test process's own (soft, hard) open-files limit.
fn open_files_limit() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (lim.rlim_cur, lim.rlim_max)
}

fn nr_open() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u64::MAX)
}

#[test]
fn a_crash_looping_worker_is_restarted_once_a_second_and_readyz_says_503() {
    let a = Upstream::named("a");
    let (port, admin_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let access = logs.join("access.log");
    let text = format!(
        "{}\n{}",
        base_config(port, admin_port, 2, "").replace("ACCESS_LOG", &access.to_string_lossy()),
        config_body(&[("one", &[&a])], "one")
    );
    let gw = Gateway::start_text(port, admin_port, &text);
    // Without the log's directory a new worker cannot open its access log and exits at once;
    // the running ones keep theirs open.
    std::fs::remove_dir_all(&logs).unwrap();
    let victim = worker_pids(&gw)[0];
    kill(victim, libc::SIGKILL);
    wait_for("/readyz to answer 503", Duration::from_secs(10), || {
        (gw.admin_get("/readyz").map(|r| r.0) == Some(503)).then_some(())
    });
    let restarts = |gw: &Gateway| sample(&gw.metrics(), "tollgate_worker_restarts_total");
    wait_for("the crash loop to start", Duration::from_secs(10), || {
        (restarts(&gw)? >= 2.0).then_some(())
    });
    // Counted over a window: with the one-second pause a 3s window sees about 3 restarts,
    // without it hundreds.
    let (before, window) = (restarts(&gw).unwrap(), Instant::now());
    while window.elapsed() < Duration::from_secs(3) {
        // Still down, and the other worker still serves meanwhile.
        assert_eq!(gw.admin_get("/readyz").map(|r| r.0), Some(503));
        assert_eq!(fresh_get(gw.port, "/svc"), Ok("a".to_string()));
        std::thread::sleep(Duration::from_millis(100));
    }
    let during = restarts(&gw).unwrap() - before;
    assert!((1.0..=4.0).contains(&during), "{during} restarts in 3s");
    let log = gw.stderr();
    assert!(log.contains("cannot open the access log"), "{log}");
    assert!(log.contains("exited (exit code 3); restarting it"), "{log}");

    // The cause gone, the next restart serves and /readyz is 200 again.
    std::fs::create_dir(&logs).unwrap();
    wait_for("/readyz to answer 200", Duration::from_secs(10), || {
        (gw.admin_get("/readyz").map(|r| r.0) == Some(200)).then_some(())
    });
    assert_eq!(worker_pids(&gw).len(), 2);
}

/// logrotate's way: the file is moved, then SIGUSR1 to the master makes every worker open the
/// path again. Lines written before go to the moved file, lines after to the new one, and no
/// line is lost or written twice.
#[test]
fn sigusr1_reopens_the_access_log_after_a_rotation() {
    let a = Upstream::named("a");
    let gw = Gateway::start(2, &config_body(&[("pool", &[&a])], "pool"));
    let c = client();
    let get = |tag: &str| {
        let r = c.get(gw.url(&format!("/svc/{tag}"))).send().unwrap();
        assert_eq!(r.status(), 200);
        r.headers()["x-request-id"].to_str().unwrap().to_string()
    };
    let before: Vec<String> = (0..20).map(|i| get(&format!("before-{i}"))).collect();
    let log = gw.dir.path().join("access.log");
    let rotated = gw.dir.path().join("access.log.1");
    wait_for("the first lines", Duration::from_secs(10), || {
        (gw.access_log().lines().count() == before.len()).then_some(())
    });
    std::fs::rename(&log, &rotated).unwrap();
    gw.signal(libc::SIGUSR1);
    wait_for("both workers to reopen", Duration::from_secs(10), || {
        (gw.stderr().matches("access log reopened").count() >= 2).then_some(())
    });
    let after: Vec<String> = (0..20).map(|i| get(&format!("after-{i}"))).collect();
    let ids_in = |path: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["request_id"].to_string()
            })
            .map(|id| id.trim_matches('"').to_string())
            .collect()
    };
    let new_ids = wait_for(
        "the new lines in the new file",
        Duration::from_secs(10),
        || {
            let ids = ids_in(&log);
            (ids.len() >= after.len()).then_some(ids)
        },
    );
    let mut new_sorted = new_ids.clone();
    new_sorted.sort();
    let mut after_sorted = after.clone();
    after_sorted.sort();
    assert_eq!(
        new_sorted, after_sorted,
        "the new file holds exactly the lines after"
    );
    let mut old_ids = ids_in(&rotated);
    old_ids.sort();
    let mut before_sorted = before.clone();
    before_sorted.sort();
    assert_eq!(
        old_ids, before_sorted,
        "the moved file holds exactly the lines before"
    );
    // A gateway keeps serving, and a worker that cannot reopen would have said so.
    assert!(!gw.stderr().contains("cannot reopen"), "{}", gw.stderr());
}

/// A path that cannot be opened again (here a directory took its place) keeps the open file:
/// the lines go on to it, and the process log says why.
#[test]
fn a_failed_reopen_keeps_writing_to_the_open_file() {
    let a = Upstream::named("a");
    let gw = Gateway::start(1, &config_body(&[("pool", &[&a])], "pool"));
    let c = client();
    let log = gw.dir.path().join("access.log");
    let rotated = gw.dir.path().join("access.log.1");
    assert_eq!(c.get(gw.url("/svc/one")).send().unwrap().status(), 200);
    wait_for("the first line", Duration::from_secs(10), || {
        (gw.access_log().lines().count() == 1).then_some(())
    });
    std::fs::rename(&log, &rotated).unwrap();
    std::fs::create_dir(&log).unwrap();
    gw.signal(libc::SIGUSR1);
    wait_for("the refusal", Duration::from_secs(10), || {
        gw.stderr()
            .contains("cannot reopen the access log")
            .then_some(())
    });
    assert_eq!(c.get(gw.url("/svc/two")).send().unwrap().status(), 200);
    wait_for(
        "the second line in the open file",
        Duration::from_secs(10),
        || {
            let text = std::fs::read_to_string(&rotated).unwrap_or_default();
            (text.lines().count() == 2 && text.contains("/svc/two")).then_some(())
        },
    );
}
