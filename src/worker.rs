//! A worker process: one Pingora server with `threads` threads serving the data plane.
//!
//! Beside the proxy runs a control service that reloads the configuration on SIGHUP (validated,
//! then swapped in place: listeners and in-flight requests are untouched), runs the health
//! checks, reports readiness to the master's scoreboard and serves this worker's metrics to the
//! admin process. On SIGTERM Pingora stops accepting, and the worker exits as soon as its
//! in-flight requests are done or the grace period has passed.

use crate::config::{self, Config};
use crate::lean::LeanApp;
use crate::limits::gate::Gate;
use crate::master::scoreboard::{metrics_socket_name, Scoreboard};
use crate::proxy::connection::{ConnectionLimits, GuardedApp, TlsListeners};
use crate::proxy::ctx::RequestIds;
use crate::proxy::http2;
use crate::proxy::lean::GatewayPolicy;
use crate::proxy::redirect::RedirectHttps;
use crate::proxy::tls::TlsState;
use crate::proxy::{Gateway, GatewayState};
use crate::snapshot::Snapshot;
use crate::telemetry::access_log::AccessLog;
use crate::telemetry::metrics::Registry;
use crate::telemetry::otel::Otel;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::listeners::{L4BufferSettings, ListenerConfig, TcpSocketOptions};
use pingora::proxy::HttpProxy;
use pingora::server::configuration::ServerConf;
use pingora::server::{
    ExecutionPhase, RunArgs, Server, ShutdownSignal, ShutdownSignalWatch, ShutdownWatch,
};
use pingora::services::background::{background_service, BackgroundService};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{signal, SignalKind};

pub struct WorkerArgs {
    pub slot: usize,
    pub config_path: PathBuf,
    pub config: Arc<Config>,
    /// The generation of `config`; the master may have accepted a newer one since the fork.
    pub generation: u64,
    pub board: &'static Scoreboard,
    pub limiter: crate::limits::local::LocalTable,
    /// The host-wide concurrency table; this worker counts in column `slot`.
    pub concurrency: crate::limits::concurrency::ConcurrencyTable,
    /// The most refused buckets of the host, counted on refusals.
    pub top: crate::limits::top::TopTable,
    /// The host's MCP sessions.
    pub sessions: crate::mcp::sessions::SessionTable,
}

/// Runs the worker until it is told to stop; never returns.
pub fn run(args: WorkerArgs) -> ! {
    let registry = Arc::new(Registry::default());
    let log = &args.config.log;
    let access_log = match AccessLog::start(&log.access, log.queue, registry.access_log.clone()) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("worker {}: cannot open the access log: {e}", args.slot);
            std::process::exit(3);
        }
    };
    // Worker 0 also deletes old calls, for the host.
    let call_store = match &log.store {
        Some(settings) => {
            let stats = registry.call_store.clone();
            // Slots are fewer than 256 (`base::shm::MAX_SLOTS`).
            let slot = args.slot.min(255) as u8;
            match crate::telemetry::calls::start(settings, slot, stats) {
                Ok(b) => Some(b),
                Err(e) => {
                    tracing::error!("worker {}: cannot start the call store: {e}", args.slot);
                    std::process::exit(3);
                }
            }
        }
        None => None,
    };
    let otel = match Otel::start(args.config.otel.as_ref(), registry.otlp.clone()) {
        Ok(o) => o,
        Err(e) => {
            tracing::error!("worker {}: cannot start the OTLP exporter: {e}", args.slot);
            std::process::exit(3);
        }
    };
    // The provider connector reads the system trust store: once, here, not on a request.
    crate::llm::client::client();
    let snapshot = Snapshot::build(args.config.clone(), &registry, None);
    // Keys are loaded before the first request: a keyed API must not answer 401 while the
    // worker catches up.
    let (store, directory) = match &args.config.store {
        Some(settings) => match crate::auth::refresh::load_now(settings, &args.config) {
            Ok((store, dir)) => (Some((store, settings.clone())), dir),
            Err(e) => {
                // Never serve with no keys (every keyed request a 401): exit, and the master
                // restarts this worker with a pause while the others keep their keys.
                tracing::error!(
                    "worker {}: cannot load keys from the store, not serving: {e}",
                    args.slot
                );
                std::process::exit(3);
            }
        },
        None => (None, crate::auth::Directory::default()),
    };
    let snapshot = match &store {
        Some((s, _)) => crate::snapshot::stored::at_start(snapshot, s, &registry),
        None => snapshot,
    };
    let directory = Arc::new(ArcSwap::from_pointee(directory));
    let tls = match TlsState::new(&args.config) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("worker {}: cannot set up TLS: {e}", args.slot);
            std::process::exit(3);
        }
    };
    let state = Arc::new(GatewayState {
        snapshot: ArcSwap::from_pointee(snapshot),
        directory: directory.clone(),
        gate: Gate::new(
            args.limiter,
            args.concurrency,
            args.slot,
            args.top,
            args.config.redis.as_ref(),
        ),
        registry: registry.clone(),
        access_log,
        call_store,
        ids: RequestIds::new(),
        otel,
        sessions: args.sessions,
        tls,
    });
    let server_cfg = &args.config.server;
    let conf = ServerConf {
        threads: server_cfg.threads,
        // One current-thread runtime per thread instead of a work-stealing pool: no cross-thread
        // wakeups on the request path; measured at about 1.5x the requests/s with threads = 1.
        work_stealing: false,
        grace_period_seconds: Some(server_cfg.grace_period.as_secs().max(1)),
        graceful_shutdown_timeout_seconds: Some(1),
        upstream_keepalive_pool_size: args
            .config
            .upstreams
            .iter()
            .map(|u| u.keepalive)
            .sum::<usize>()
            .max(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let phases = server.watch_execution_phase();

    for service in data_plane(&server, server_cfg, &state, &registry, args.slot) {
        server.add_service(service);
    }
    for service in redirects(server_cfg, &registry) {
        server.add_service(service);
    }
    let control = Control {
        slot: args.slot,
        path: args.config_path,
        generation: args.generation,
        board: args.board,
        state: state.clone(),
        store: StoreHandOff::new(store),
        store_health: Arc::default(),
    };
    server.add_service(background_service("control", control));

    let grace = server_cfg.grace_period;
    std::thread::Builder::new()
        .name("drain".into())
        .spawn(move || drain_then_exit(phases, state, grace))
        .ok();
    server.run(RunArgs {
        shutdown_signal: Box::new(Signals),
    });
    std::process::exit(0)
}

type DataPlane =
    pingora::services::listening::Service<GuardedApp<LeanApp<GatewayPolicy, HttpProxy<Gateway>>>>;

/// The data-plane services: one for the listeners that serve HTTP/1.1 (and HTTP/2 by ALPN on
/// TLS), and, when some listener has `h2c = true`, one for those, which also take HTTP/2 with
/// prior knowledge. Apart so that the others never wait for a preface (each service has its
/// own pool of upstream connections).
fn data_plane(
    server: &Server,
    server_cfg: &config::ServerSettings,
    state: &Arc<GatewayState>,
    registry: &Registry,
    slot: usize,
) -> Vec<DataPlane> {
    let mut services = Vec::new();
    for h2c in [false, true] {
        let listeners: Vec<_> = (server_cfg.listen.iter())
            .filter(|l| l.h2c == h2c && l.redirect_https.is_none())
            .collect();
        if listeners.is_empty() {
            continue;
        }
        let mut http = HttpProxy::new(
            Gateway {
                state: state.clone(),
            },
            server.configuration.clone(),
        );
        http.handle_init_modules();
        http.server_options = Some(http2::server_options(h2c, server_cfg.keepalive_timeout));
        http.h2_options = Some(http2::h2_options(&server_cfg.http2));
        let limits = ConnectionLimits {
            max_connections: server_cfg.max_connections,
            header_timeout: server_cfg.header_timeout,
            h2c,
        };
        // TLS listeners are added as TCP ones: the connection layer makes their handshake.
        let mut tls = TlsListeners::default();
        for listener in listeners.iter().filter(|l| l.tls.is_some()) {
            match state.tls.settings(listener) {
                Ok(settings) => tls.add(listener.addr, settings.build()),
                Err(e) => {
                    let addr = listener.addr;
                    tracing::error!("worker {slot}: cannot listen with TLS on {addr}: {e}");
                    std::process::exit(3);
                }
            }
        }
        // The lean path takes plain HTTP/1 connections when `lean_http1` says so (read per
        // connection, so a reload turns it on or off); the rest go to `http` as before.
        let lean = LeanApp {
            policy: GatewayPolicy {
                state: state.clone(),
            },
            fallback: Arc::new(http),
            settings: lean_settings(&state.snapshot.load().config),
        };
        let app = GuardedApp::new(lean, limits, registry.connections.clone()).with_tls(tls);
        let name = if h2c { "tollgate-h2c" } else { "tollgate" };
        let mut proxy = pingora::services::listening::Service::new(name.into(), app);
        for listener in listeners {
            proxy.add_listener(listener_config(listener));
        }
        services.push(proxy);
    }
    services
}

/// The lean path's own settings: the connection layer keeps the idle and head deadlines, as
/// for Pingora's path; each read of a body and write of an answer waits `body_timeout`. Its
/// pool of idle upstream connections (one per thread) holds as many as all upstreams'
/// `keepalive` together, each for the shortest of their `keepalive_timeout`s; both as at start.
fn lean_settings(config: &Config) -> crate::lean::Settings {
    let ups = &config.upstreams;
    crate::lean::Settings {
        keepalive: None,
        head: None,
        client_io: config.server.body_timeout,
        pool_size: ups.iter().map(|u| u.keepalive).sum(),
        pool_idle: (ups.iter().map(|u| u.keepalive_timeout).min())
            .unwrap_or(Duration::from_secs(60)),
    }
}

/// A data-plane listener as Pingora takes it: `SO_REUSEPORT` (every worker binds it), and on a
/// plain listener no L4 read buffer. Pingora gives each accepted connection a 64 KiB read buffer
/// that lives as long as the connection, idle keep-alive ones included: 10,000 idle client
/// connections held 640 MiB of them in one worker (`CASES=idle loadtest/run.sh`, issue 17).
/// Pingora reads request heads and bodies into buffers of its own, so on plain HTTP the one
/// below only saved a system call on a body that arrived with its head; HTTP/2 (h2c) has its
/// own read buffer too. A TLS listener keeps it: the TLS layer reads in small pieces, which the
/// buffer serves from one system call (Pingora's reason for the default).
fn listener_config(listener: &config::Listener) -> ListenerConfig {
    let mut opts = TcpSocketOptions::default();
    opts.so_reuseport = Some(true);
    let config = ListenerConfig::tcp(listener.addr.to_string()).tcp_socket_options(opts);
    if listener.tls.is_some() {
        config
    } else {
        config.l4_buffer(L4BufferSettings::default().read(0))
    }
}

/// A service per listener that only redirects to HTTPS: nothing of the gateway's request path
/// runs for it, but the same connection cap and head deadline hold.
fn redirects(
    server_cfg: &config::ServerSettings,
    registry: &Registry,
) -> Vec<pingora::services::listening::Service<GuardedApp<RedirectHttps>>> {
    let limits = ConnectionLimits {
        max_connections: server_cfg.max_connections,
        header_timeout: server_cfg.header_timeout,
        h2c: false,
    };
    let mut services = Vec::new();
    for listener in &server_cfg.listen {
        let Some(port) = listener.redirect_https else {
            continue;
        };
        let app = GuardedApp::new(RedirectHttps { port }, limits, registry.connections.clone());
        let mut service = pingora::services::listening::Service::new("redirect-https".into(), app);
        service.add_listener(listener_config(listener));
        services.push(service);
    }
    services
}

/// SIGTERM and SIGQUIT drain; SIGINT stops at once. Pingora's own SIGQUIT (hand listeners to
/// a new binary) is not used: the master replaces workers itself.
struct Signals;

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let (Ok(mut term), Ok(mut quit), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::quit()),
            signal(SignalKind::interrupt()),
        ) else {
            return ShutdownSignal::FastShutdown;
        };
        tokio::select! {
            _ = term.recv() => ShutdownSignal::GracefulTerminate,
            _ = quit.recv() => ShutdownSignal::GracefulTerminate,
            _ = int.recv() => ShutdownSignal::FastShutdown,
        }
    }
}

/// Once Pingora has stopped accepting, waits for in-flight requests (up to the grace period),
/// flushes the access log and the OTLP exporter and exits, instead of sleeping out the whole grace period.
// Its own thread, outside the runtime: it only polls a counter while the worker drains.
#[allow(clippy::disallowed_methods)]
fn drain_then_exit(
    mut phases: tokio::sync::broadcast::Receiver<ExecutionPhase>,
    state: Arc<GatewayState>,
    grace: Duration,
) {
    loop {
        match phases.blocking_recv() {
            Ok(ExecutionPhase::ShutdownGracePeriod) => break,
            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => return,
        }
    }
    let deadline = Instant::now() + grace;
    let mut idle_polls = 0;
    // Two idle polls in a row: a connection accepted just before the stop gets to start.
    while Instant::now() < deadline && idle_polls < 2 {
        if state.registry.inflight.load(Relaxed) == 0 {
            idle_polls += 1;
        } else {
            idle_polls = 0;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = state.registry.inflight.load(Relaxed);
    if left > 0 {
        tracing::warn!("grace period over with {left} requests still in flight");
    }
    state.access_log.flush(Duration::from_secs(2));
    if let Some(calls) = &state.call_store {
        calls.flush(Duration::from_secs(2));
    }
    state.otel.flush(Duration::from_secs(2));
    std::process::exit(0);
}

/// The store, from the worker's start-up to its control service, which takes it once.
// Locked once, when the control service starts; requests never see it.
#[allow(clippy::disallowed_types)]
type StoreHandOff = std::sync::Mutex<Option<(crate::store::Store, crate::config::StoreSettings)>>;

struct Control {
    slot: usize,
    path: PathBuf,
    /// The generation of the configuration the worker started with.
    generation: u64,
    board: &'static Scoreboard,
    state: Arc<GatewayState>,
    /// Handed to the refresh task when the service starts.
    store: StoreHandOff,
    /// Store refresh failures, for `/metrics`.
    store_health: Arc<crate::auth::refresh::StoreHealth>,
}

#[async_trait]
impl BackgroundService for Control {
    async fn start(&self, shutdown: ShutdownWatch) {
        self.state.snapshot.load().start_health_checks();
        self.spawn_metrics_server();
        let store = self.store.lock().ok().and_then(|mut s| s.take());
        if let Some((store, settings)) = store {
            let target = self.state.directory.clone();
            let state = self.state.clone();
            let config = move || state.snapshot.load().config.clone();
            let health = self.store_health.clone();
            let (path, every) = (settings.path.clone(), settings.refresh);
            tokio::spawn(crate::snapshot::stored::follow(
                path,
                every,
                self.state.clone(),
            ));
            tokio::spawn(crate::auth::refresh::follow(
                store, settings, target, config, health,
            ));
        }
        let ports: Vec<u16> = self
            .state
            .snapshot
            .load()
            .config
            .server
            .listen
            .iter()
            .map(|l| l.addr.port())
            .collect();
        // Watched before reporting ready: until now SIGHUP was ignored (see the master's fork).
        let hup = signal(SignalKind::hangup());
        watch_log_reopen(self.state.access_log.clone(), self.slot);
        let slot = &self.board.slots[self.slot];
        match wait_until_listening(&ports, Duration::from_secs(10)).await {
            // Report the generation of the configuration held, not the master's latest one.
            true => slot.ready_generation.store(self.generation.max(1), Relaxed),
            false => {
                tracing::error!("worker {}: listeners not up after 10s; exiting", self.slot);
                std::process::exit(3);
            }
        }
        let Ok(hup) = hup else {
            tracing::error!(
                "worker {}: cannot watch SIGHUP; reloads will not apply",
                self.slot
            );
            return;
        };
        follow_reloads(hup, self.board, self.generation, shutdown, || self.reload()).await;
    }
}

/// Reopens the access log file on every SIGUSR1 the master passes on (logrotate's `postrotate`).
fn watch_log_reopen(log: AccessLog, slot: usize) {
    if !log.enabled() {
        return;
    }
    match signal(SignalKind::user_defined1()) {
        Ok(mut usr1) => {
            tokio::spawn(async move {
                while usr1.recv().await.is_some() {
                    log.reopen();
                }
            });
        }
        Err(e) => tracing::error!(
            "worker {slot}: cannot watch SIGUSR1 ({e}); the access log will not be reopened"
        ),
    }
}

/// The child's side of a reload: apply one on every SIGHUP until shutdown, after catching up on
/// a generation the master accepted while this child was starting (its SIGHUP was ignored then,
/// see the master's fork). `started` is the generation the child was forked with.
pub async fn follow_reloads<F>(
    mut hup: tokio::signal::unix::Signal,
    board: &Scoreboard,
    started: u64,
    mut shutdown: ShutdownWatch,
    reload: impl Fn() -> F,
) where
    F: std::future::Future<Output = ()>,
{
    if board.generation.load(Relaxed) > started {
        reload().await;
    }
    loop {
        tokio::select! {
            _ = hup.recv() => reload().await,
            _ = shutdown.changed() => return,
        }
    }
}

/// Loads the configuration on the blocking pool, never on a request thread.
pub async fn load_off_thread(path: &std::path::Path) -> Result<Config, String> {
    let path = path.to_path_buf();
    match tokio::task::spawn_blocking(move || config::load(&path)).await {
        Ok(Ok(cfg)) => Ok(cfg),
        Ok(Err(problems)) => Err(problems.to_string()),
        Err(e) => Err(format!("the loader failed: {e}")),
    }
}

impl Control {
    async fn reload(&self) {
        let generation = self.board.generation.load(Relaxed);
        match load_off_thread(&self.path).await {
            Ok(cfg) => {
                let old = self.state.snapshot.load_full();
                let new = Snapshot::build(Arc::new(cfg), &self.state.registry, Some(&old));
                new.start_health_checks();
                self.state.gate.relink(new.config.redis.as_ref());
                self.state.tls.update(&new.config);
                self.state.snapshot.store(Arc::new(new));
                self.board.slots[self.slot]
                    .ready_generation
                    .store(generation, Relaxed);
                tracing::debug!(
                    "worker {}: configuration generation {generation} applied",
                    self.slot
                );
            }
            Err(problems) => tracing::error!(
                "worker {}: reload refused, the running configuration stays:\n{problems}",
                self.slot
            ),
        }
    }

    fn spawn_metrics_server(&self) {
        let name = metrics_socket_name(self.board.master_pid.load(Relaxed), self.slot);
        let listener = match bind_abstract(&name) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("worker {}: cannot serve metrics on @{name}: {e}", self.slot);
                return;
            }
        };
        let state = self.state.clone();
        let store_health = self.store_health.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let snapshot = state.snapshot.load();
                let mut text = state.registry.render(&snapshot.targets_up());
                store_health.render(&mut text);
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(2),
                        conn.write_all(text.as_bytes()),
                    )
                    .await;
                });
            }
        });
    }
}

fn bind_abstract(name: &str) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    let std_listener = std::os::unix::net::UnixListener::bind_addr(&addr)?;
    std_listener.set_nonblocking(true)?;
    tokio::net::UnixListener::from_std(std_listener)
}

/// Polls until this process holds a listening TCP socket on every port, or the timeout passes.
async fn wait_until_listening(ports: &[u16], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let wanted = ports.to_vec();
    while Instant::now() < deadline {
        let w = wanted.clone();
        let ok = tokio::task::spawn_blocking(move || {
            let have = crate::procfs::listening_ports("self");
            w.iter().all(|p| have.contains(p))
        })
        .await
        .unwrap_or(false);
        if ok {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}
