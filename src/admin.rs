//! The admin process: its own listener (never a data-plane port) serving `/healthz`, to
//! operators (the admin token or an operator user) `/readyz` and `/metrics`, and the
//! `/admin/...` API over the store to every user as their role allows (see `admin::api`), and
//! the web console's files under `/console/` (see `admin::console`).
//! Metrics are gathered from every worker over its abstract Unix socket and summed, so a
//! scrape sees the whole gateway.

// The admin process serves no gateway request: clippy.toml's request-path rules are off here
// (its store calls still run off the async threads, in `spawn_blocking`).
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

mod access;
pub mod api;
mod calls;
mod console;
mod directory;
pub mod error;
mod guard;
mod inspect;
mod live;
pub mod password;
mod plans;
mod principal;
mod prompts;
mod request;
pub mod routes;
mod scope;
mod session;
mod shared;
mod throttle;
mod users;
pub mod views;

use crate::config::Config;
use crate::config::Secret;
use crate::limits::local::LocalTable;
use crate::limits::top::TopTable;
use crate::master::scoreboard::{metrics_socket_name, Scoreboard};
use crate::proxy::tls::TlsState;
use crate::telemetry::metrics;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use pingora::server::configuration::ServerConf;
use pingora::server::{Server, ShutdownWatch};
use pingora::services::background::{background_service, BackgroundService};
use pingora::services::listening::Service;
use std::fmt::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

struct AdminApp {
    token: Arc<ArcSwap<Secret>>,
    board: &'static Scoreboard,
    api: Arc<shared::Shared>,
}

/// The shared tables the admin process reads: the host's buckets and the most refused ones.
#[derive(Clone, Copy)]
pub struct Tables {
    pub limiter: LocalTable,
    pub top: TopTable,
}

/// Runs the admin process; `generation` is the one of `config`.
pub fn run(
    config: Arc<Config>,
    path: PathBuf,
    board: &'static Scoreboard,
    generation: u64,
    tables: Tables,
) -> ! {
    let Some(admin) = &config.admin else {
        std::process::exit(0);
    };
    let token = Arc::new(ArcSwap::from_pointee(admin.token.clone()));
    let current = Arc::new(ArcSwap::new(config.clone()));
    let api = shared::Shared::new(current.clone(), tables);
    let conf = ServerConf {
        threads: 1,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(0),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = Service::new(
        "admin".to_string(),
        AdminApp {
            token: token.clone(),
            board,
            api,
        },
    );
    let tls = match admin
        .tls
        .then(|| listen_tls(&mut service, &config, admin.listen))
    {
        Some(Ok(tls)) => Some(tls),
        Some(Err(e)) => {
            tracing::error!("admin: cannot listen with TLS on {}: {e}", admin.listen);
            std::process::exit(3);
        }
        None => {
            service.add_tcp(&admin.listen.to_string());
            None
        }
    };
    server.add_service(service);
    server.add_service(background_service(
        "admin-reload",
        ConfigReload {
            token,
            config: current,
            tls,
            path,
            board,
            generation,
        },
    ));
    board.admin_slot().ready_generation.store(1, Relaxed);
    server.run_forever()
}

/// The admin listener over TLS, serving the certificates of `[tls]` as the data plane does
/// (chosen by SNI, swapped by a reload); the state to update on reload.
fn listen_tls(
    service: &mut Service<AdminApp>,
    config: &Config,
    addr: std::net::SocketAddr,
) -> Result<Arc<TlsState>, String> {
    let tls = TlsState::new(config)?;
    let settings = tls.admin_settings().map_err(|e| e.to_string())?;
    service.add_tls_with_settings(&addr.to_string(), None, settings);
    Ok(Arc::new(tls))
}

/// Re-reads the configuration on SIGHUP: a rotated `admin.token` or a renewed certificate
/// needs no restart, and the admin API checks route, provider and model names against the
/// current file.
struct ConfigReload {
    token: Arc<ArcSwap<Secret>>,
    config: Arc<ArcSwap<Config>>,
    /// Set when the admin listener is over TLS.
    tls: Option<Arc<TlsState>>,
    path: PathBuf,
    board: &'static Scoreboard,
    /// The generation of the configuration the process started with.
    generation: u64,
}

#[async_trait]
impl BackgroundService for ConfigReload {
    async fn start(&self, shutdown: ShutdownWatch) {
        let Ok(hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
            return;
        };
        crate::worker::follow_reloads(hup, self.board, self.generation, shutdown, || self.reload())
            .await;
    }
}

impl ConfigReload {
    async fn reload(&self) {
        match crate::worker::load_off_thread(&self.path).await {
            Ok(cfg) => {
                if let Some(a) = &cfg.admin {
                    self.token.store(Arc::new(a.token.clone()));
                }
                if let Some(tls) = &self.tls {
                    tls.update(&cfg);
                }
                self.config.store(Arc::new(cfg));
            }
            Err(problems) => tracing::debug!("admin: reload refused: {problems}"),
        }
    }
}

pub(crate) fn reply(status: u16, content_type: &str, body: String) -> Response<Vec<u8>> {
    let body = body.into_bytes();
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(body)
        .unwrap_or_default()
}

pub(crate) fn json_error(status: u16, message: &str) -> Response<Vec<u8>> {
    let body =
        serde_json::json!({"error": {"message": message, "type": "admin_error", "code": status}});
    reply(status, "application/json", body.to_string())
}

impl AdminApp {
    async fn metrics(&self) -> String {
        let master = self.board.master_pid.load(Relaxed);
        let workers = self.board.workers.load(Relaxed) as usize;
        let mut texts = Vec::with_capacity(workers);
        for slot in 0..workers {
            if let Some(t) = scrape(&metrics_socket_name(master, slot)).await {
                texts.push(t);
            }
        }
        let mut out = metrics::merge(&texts);
        let ready = (0..workers)
            .filter(|&s| self.board.slots[s].ready_generation.load(Relaxed) > 0)
            .count();
        let _ = write!(
            out,
            "# HELP tollgate_worker_restarts_total Children the master restarted after they died.\n\
             # TYPE tollgate_worker_restarts_total counter\n\
             tollgate_worker_restarts_total {}\n\
             # HELP tollgate_workers Worker processes configured and serving.\n\
             # TYPE tollgate_workers gauge\n\
             tollgate_workers{{state=\"configured\"}} {workers}\n\
             tollgate_workers{{state=\"serving\"}} {ready}\n\
             # HELP tollgate_config_generation Configuration generation the master accepted last.\n\
             # TYPE tollgate_config_generation gauge\n\
             tollgate_config_generation {}\n",
            self.board.worker_restarts.load(Relaxed),
            self.board.generation.load(Relaxed),
        );
        certificate_expiry(&self.api.config.load().tls, &mut out);
        out
    }
}

/// When each certificate of the TLS listeners stops being valid, for an alert some days before.
fn certificate_expiry(tls: &crate::config::TlsSpec, out: &mut String) {
    if tls.certificates.is_empty() {
        return;
    }
    out.push_str(
        "# HELP tollgate_tls_certificate_expiry_timestamp_seconds When the certificate stops being valid (Unix seconds).\n\
         # TYPE tollgate_tls_certificate_expiry_timestamp_seconds gauge\n",
    );
    let label = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    for c in &tls.certificates {
        let _ = writeln!(
            out,
            "tollgate_tls_certificate_expiry_timestamp_seconds{{cert=\"{}\",names=\"{}\"}} {}",
            label(&c.cert_path),
            label(&c.names.join(",")),
            c.not_after
        );
    }
}

async fn scrape(name: &str) -> Option<String> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()?;
    let work = async {
        let std_stream = std::os::unix::net::UnixStream::connect_addr(&addr).ok()?;
        std_stream.set_nonblocking(true).ok()?;
        let mut stream = tokio::net::UnixStream::from_std(std_stream).ok()?;
        let mut text = String::new();
        stream.read_to_string(&mut text).await.ok()?;
        Some(text)
    };
    tokio::time::timeout(Duration::from_secs(2), work)
        .await
        .ok()
        .flatten()
}

/// Runs one admin answer so that a panic in it becomes a 500 in the admin error shape
/// (`Err`), never a connection closed with no answer.
async fn guarded<F>(answer: F) -> Result<Response<Vec<u8>>, Response<Vec<u8>>>
where
    F: std::future::Future<Output = Response<Vec<u8>>>,
{
    guard::Guarded::new(answer).await.map_err(|msg| {
        tracing::error!("admin: a handler panicked: {msg}");
        json_error(
            500,
            "internal error: the admin handler failed (a bug; the admin process log says where)",
        )
    })
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let outcome = guarded(self.answer(session)).await;
        outcome.unwrap_or_else(|failed| {
            // The request may be half read; the connection cannot be reused.
            session.set_keepalive(None);
            failed
        })
    }
}

impl AdminApp {
    async fn answer(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        if path == "/healthz" {
            return reply(200, "application/json", "{\"status\":\"ok\"}".into());
        }
        if console::serves(&path) {
            let tag = session
                .req_header()
                .headers
                .get(http::header::IF_NONE_MATCH);
            return console::answer(&path, tag.and_then(|v| v.to_str().ok()));
        }
        let is_api = path == "/admin" || path.starts_with("/admin/");
        if !is_api && !matches!(path.as_str(), "/readyz" | "/metrics") {
            return json_error(404, &format!("no admin endpoint {path}"));
        }
        let token = self.token.load();
        if is_api {
            return api::serve(&self.api, &token, session).await;
        }
        // The gateway's readiness and metrics are the operators'.
        let allowed = match principal::authenticate(&self.api, &token, session).await {
            Ok(who) => scope::authorize(&self.api, &who, scope::Access::Operator, &[]).await,
            Err(e) => Err(e),
        };
        if let Err(e) = allowed {
            return e.into_response();
        }
        match path.as_str() {
            "/readyz" if self.board.all_workers_ready() => {
                reply(200, "application/json", "{\"status\":\"ready\"}".into())
            }
            "/readyz" => json_error(503, "not every worker is serving yet"),
            _ => reply(200, "text/plain; version=0.0.4", self.metrics().await),
        }
    }
}
