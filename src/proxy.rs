//! The Pingora `ProxyHttp` implementation. Each phase is thin and calls one domain function;
//! all per-request state lives in `ctx::RequestCtx`.

pub mod access;
pub mod connection;
pub mod ctx;
pub mod headers;
pub mod hygiene;

use crate::config::compile::{BalanceSpec, HashOn, PathMatch};
use crate::error::{self, GatewayError};
use crate::limits::check::{self, Caller, Scope};
use crate::limits::{plans, top};
use crate::llm::models::Models;
use crate::routing::{Handler, Snapshot};
use crate::telemetry::access_log::{AccessLog, AccessRecord};
use crate::telemetry::metrics::Registry;
use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use ctx::{InflightGuard, RequestCtx, RequestIds};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, Result};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// State shared by every request of a worker.
pub struct GatewayState {
    pub snapshot: ArcSwap<Snapshot>,
    /// The host-wide limit table, shared with the other workers.
    pub limiter: crate::limits::local::LocalTable,
    /// Requests in flight per key, host-wide; this worker counts in column `slot`.
    pub concurrency: crate::limits::concurrency::ConcurrencyTable,
    pub slot: usize,
    /// The most refused buckets of the host, written on refusals only.
    pub top: crate::limits::top::TopTable,
    /// The link to Redis for cluster-scope limits, when `[redis]` is set; remade on reload.
    pub cluster: arc_swap::ArcSwapOption<crate::limits::cluster::Cluster>,
    /// Keys, apps and subscriptions from the store, kept current by `auth::refresh`.
    pub directory: Arc<ArcSwap<crate::auth::Directory>>,
    pub registry: Arc<Registry>,
    pub access_log: AccessLog,
    pub ids: RequestIds,
}

pub struct Gateway {
    pub state: Arc<GatewayState>,
}

/// What `Gateway::admit` decided.
struct Admitted {
    /// The client keep-alive timeout to apply.
    keepalive: Duration,
    /// The models, when the route is an LLM route.
    llm: Option<Arc<Models>>,
    /// Request limits still to decide in Redis.
    pending: Option<PendingLimits>,
    /// The client waits for `100 Continue` before sending the body.
    expects_continue: bool,
}

struct PendingLimits {
    snapshot: Arc<Snapshot>,
    draws: Vec<check::Draw>,
}

fn client_ip(session: &Session) -> Option<std::net::IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

/// The consistent-hash key: the header's value, or the client IP when it is absent. Fixed
/// seeds, so every worker maps a key to the same target.
fn hash_key(on: &HashOn, session: &Session) -> Option<u64> {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = ahash::RandomState::with_seeds(1, 2, 3, 4).build_hasher();
    let header = match on {
        HashOn::Header(name) => session.req_header().headers.get(name),
        HashOn::ClientIp => None,
    };
    match header {
        Some(v) => h.write(v.as_bytes()),
        None => client_ip(session)?.hash(&mut h),
    }
    Some(h.finish())
}

impl Gateway {
    /// Answers a request refused before any upstream work, from `request_filter`: Pingora then
    /// finishes the exchange normally and can keep the connection.
    async fn refuse_now(
        session: &mut Session,
        ctx: &mut RequestCtx,
        err: GatewayError,
    ) -> Result<bool> {
        // A client waiting for `100 Continue` may never send its body: close instead.
        let waiting = session
            .req_header()
            .headers
            .contains_key(http::header::EXPECT);
        let reuse = err.keeps_connection() && !waiting && drain_body(session).await;
        error::respond(session, &err, &ctx.request_id, reuse, &ctx.response_headers).await;
        ctx.error = Some(err);
        Ok(true)
    }

    /// Checks the request against the caps and picks its route. Synchronous on purpose: the
    /// snapshot guard must not live across an await.
    fn admit(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> std::result::Result<Admitted, GatewayError> {
        let snapshot = self.state.snapshot.load();
        let server = &snapshot.config.server;
        ctx.max_body_bytes = server.max_body_bytes;
        // Pingora's per-read timeout, from here on the wait for each piece of the body.
        session.set_read_timeout(Some(server.body_timeout));
        hygiene::check(session, server.max_header_bytes, server.max_body_bytes)?;
        hygiene::normalize_target(session.req_header_mut())?;
        let session = &*session;
        let expects_continue = hygiene::expects_continue(session.req_header())?;
        let req = session.req_header();
        let host = crate::routing::table::request_host(req.uri.host(), &req.headers);
        let route = snapshot
            .routes
            .find(&host, req.uri.path(), &req.method, &req.headers)
            .ok_or_else(|| GatewayError::NoRoute {
                method: req.method.to_string(),
                path: req.uri.path().to_string(),
            })?;
        let admitted = access::check(route, &snapshot, &self.state.directory.load(), req);
        // Kept on the context even when refused, so an LLM route answers in its client's format.
        ctx.route = Some(route.clone());
        let admitted = admitted?;
        ctx.response_headers = admitted.notice;
        let key_limited = admitted
            .principal
            .as_ref()
            .is_some_and(|p| !p.limits.requests.is_empty() || !p.limits.usage.is_empty());
        let route_limited = !route.spec.limits.is_empty() || !route.spec.usage_limits.is_empty();
        let models_limited = snapshot.config.llm.models_limited;
        if route.is_llm() && (route_limited || key_limited || models_limited) {
            // Made before the request limits are decided: a refusal carries OpenAI's headers too.
            let key_id = admitted.principal.as_ref().and_then(|_| {
                crate::auth::directory::presented_key(&req.headers)
                    .and_then(crate::auth::key::parse)
                    .map(|(id, _)| id.to_string())
            });
            ctx.budget = Some(Box::new(crate::limits::budget::Budget::new(
                self.state.limiter,
                self.state.top,
                self.state.cluster.load_full(),
                Arc::clone(&snapshot),
                route,
                admitted.principal.clone(),
                key_id,
                client_ip(session),
            )));
        }
        let mut pending = None;
        let attached = admitted.principal.as_ref().map(|p| &p.limits);
        let key_limits = attached.map_or(&[][..], |e| &e.requests[..]);
        if !route.spec.limits.is_empty()
            || !key_limits.is_empty()
            || !route.spec.concurrency_limits.is_empty()
        {
            let key_id = admitted.principal.as_ref().and_then(|_| {
                crate::auth::directory::presented_key(&req.headers)
                    .and_then(crate::auth::key::parse)
                    .map(|(id, _)| id)
            });
            let caller = Caller {
                route: &route.spec.name,
                tenant: admitted.principal.as_ref().map(|p| &*p.tenant),
                app: admitted.principal.as_ref().map(|p| &*p.app),
                key_id,
                model: None,
                client_ip: client_ip(session),
            };
            // Caps first: a request refused for want of a place costs the rate limits nothing.
            ctx.concurrency = crate::limits::concurrency::hold(
                &self.state.concurrency,
                self.state.slot,
                &snapshot.config.limits,
                &snapshot.limit_metrics,
                &route.spec.concurrency_limits,
                &caller,
                &mut ctx.response_headers,
            )?;
            let specs = &snapshot.config.limits;
            let index = &snapshot.limit_index;
            let draws = plans::draws(specs, index, &route.spec.limits, key_limits, &caller);
            if draws.iter().any(|d| specs[d.limit].cluster.is_some()) {
                // Redis is awaited once the snapshot guard is gone.
                pending = Some(PendingLimits {
                    snapshot: Arc::clone(&snapshot),
                    draws,
                });
            } else {
                let scope = Scope {
                    table: &self.state.limiter,
                    cluster: None,
                    specs,
                    metrics: &snapshot.limit_metrics,
                };
                let now = crate::limits::local::now_ns();
                let take = scope.take(&draws, now, &mut ctx.response_headers, |_| 1, |_| {});
                match check::now_or_never(take) {
                    Some(Err(limited)) => {
                        top::note(&self.state.top, specs, &draws, &limited, &caller);
                        return Err(limited.into());
                    }
                    Some(Ok(())) => {}
                    None => return Err(GatewayError::Other("a local limit waited".into())),
                }
            }
        }
        ctx.principal = admitted.principal;
        if let Some(total) = route.group().and_then(|g| g.spec.total_timeout) {
            ctx.deadline = Some(ctx.start + total);
        }
        let llm = match route.handler {
            Handler::Llm => Some(snapshot.models.clone()),
            Handler::Proxy(_) => None,
        };
        Ok(Admitted {
            keepalive: server.keepalive_timeout,
            llm,
            pending,
            expects_continue,
        })
    }

    /// Decides request limits kept in Redis.
    async fn take_cluster(
        &self,
        session: &Session,
        ctx: &mut RequestCtx,
        pending: PendingLimits,
    ) -> std::result::Result<(), GatewayError> {
        let cluster = self.state.cluster.load_full();
        let scope = Scope {
            table: &self.state.limiter,
            cluster: cluster.as_deref(),
            specs: &pending.snapshot.config.limits,
            metrics: &pending.snapshot.limit_metrics,
        };
        let now = crate::limits::local::now_ns();
        let headers = &mut ctx.response_headers;
        let mut taken = Vec::new();
        let decided = scope.take(&pending.draws, now, headers, |_| 1, |t| taken.push(t));
        let Err(limited) = decided.await else {
            if let Some(budget) = ctx.budget.as_mut() {
                budget.note_cluster_requests(taken);
            }
            return Ok(());
        };
        // The same bucket description the local path gives the most-refused table.
        let key_id = ctx.principal.as_ref().and_then(|_| {
            crate::auth::directory::presented_key(&session.req_header().headers)
                .and_then(crate::auth::key::parse)
                .map(|(id, _)| id)
        });
        let caller = Caller {
            route: ctx.route.as_ref().map_or("", |r| &r.spec.name),
            tenant: ctx.principal.as_ref().map(|p| &*p.tenant),
            app: ctx.principal.as_ref().map(|p| &*p.app),
            key_id,
            model: None,
            client_ip: client_ip(session),
        };
        let specs = &pending.snapshot.config.limits;
        top::note(&self.state.top, specs, &pending.draws, &limited, &caller);
        Err(limited.into())
    }

    fn refuse(ctx: &mut RequestCtx, err: GatewayError) -> Box<Error> {
        let e = Error::explain(
            pingora::ErrorType::HTTPStatus(err.status()),
            err.to_string(),
        );
        ctx.error = Some(err);
        e
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new()
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        _ctx: &mut RequestCtx,
    ) -> Result<()> {
        connection::mark_head_read(session);
        // RFC 9112 9.3.2: requests sent back to back on one connection are answered in order.
        session.as_downstream_mut().set_pipelining_enabled(true);
        Ok(())
    }

    /// What Pingora's own log lines say about a request: never the query string, which may
    /// carry keys.
    fn request_summary(&self, session: &Session, ctx: &RequestCtx) -> String {
        let req = session.req_header();
        format!(
            "{} {} request_id={}",
            req.method,
            req.uri.path(),
            ctx.request_id
        )
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
        ctx.inflight = Some(InflightGuard::new(&self.state.registry));
        ctx.request_id = self.state.ids.next(
            session
                .req_header()
                .headers
                .get("x-request-id")
                .map(|v| v.as_bytes()),
        );
        let admitted = match self.admit(session, ctx) {
            Ok(mut a) => match a.pending.take() {
                Some(p) => self.take_cluster(session, ctx, p).await.map(|()| a),
                None => Ok(a),
            },
            Err(e) => Err(e),
        };
        match admitted {
            Ok(Admitted {
                keepalive,
                llm,
                expects_continue,
                ..
            }) => {
                session.set_keepalive(Some(keepalive.as_secs()));
                // Only now that the request may go on is the client asked for its body.
                if expects_continue && has_body(session.req_header()) {
                    session.write_continue_response().await?;
                }
                match llm {
                    Some(models) => crate::llm::handler::serve(session, ctx, models).await,
                    None => Ok(false),
                }
            }
            Err(GatewayError::Denied(d)) if ctx.route.as_ref().is_some_and(|r| r.is_llm()) => {
                crate::llm::handler::deny(session, ctx, d).await
            }
            Err(GatewayError::RateLimited(l)) if ctx.route.as_ref().is_some_and(|r| r.is_llm()) => {
                crate::llm::handler::limited(session, ctx, l).await
            }
            Err(err) => Self::refuse_now(session, ctx, err).await,
        }
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(b) = body {
            ctx.body_bytes += b.len() as u64;
            if ctx.body_bytes > ctx.max_body_bytes {
                let limit = ctx.max_body_bytes;
                return Err(Self::refuse(ctx, GatewayError::BodyTooLarge { limit }));
            }
        }
        Ok(())
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> Result<Box<HttpPeer>> {
        let Some(group) = ctx.group().cloned() else {
            return Err(Self::refuse(
                ctx,
                GatewayError::Other("no route selected".into()),
            ));
        };
        let spec = &group.spec;
        let key = match &spec.balance {
            BalanceSpec::ConsistentHash(on) => hash_key(on, session),
            _ => None,
        };
        // A stale pooled connection may be retried on the target that was already tried.
        let Some(i) = group
            .select(key, ctx.tried)
            .or_else(|| group.select(key, 0))
        else {
            let err = GatewayError::UpstreamFailed {
                upstream: spec.name.clone(),
                detail: "no target".into(),
            };
            return Err(Self::refuse(ctx, err));
        };
        if ctx.attempts > 0 {
            group.metrics.retries.fetch_add(1, Relaxed);
        }
        ctx.release_target();
        group.begin(i);
        ctx.target = Some(i);
        ctx.tried |= 1 << i;
        ctx.attempts += 1;
        let now = Instant::now();
        ctx.upstream_start = Some(now);
        let mut read_timeout = spec.read_timeout;
        if let Some(deadline) = ctx.deadline {
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                let err = GatewayError::UpstreamTimeout {
                    upstream: spec.name.clone(),
                };
                return Err(Self::refuse(ctx, err));
            }
            read_timeout = read_timeout.min(left);
        }
        let target = &group.targets[i];
        let mut peer = HttpPeer::new(target.addr, spec.tls, spec.sni.clone());
        peer.options.connection_timeout = Some(spec.connect_timeout);
        peer.options.total_connection_timeout = Some(spec.connect_timeout);
        peer.options.read_timeout = Some(read_timeout);
        peer.options.write_timeout = Some(spec.write_timeout);
        peer.options.idle_timeout = Some(spec.keepalive_timeout);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        let Some(route) = ctx.route.clone() else {
            return Ok(());
        };
        let upgrade = headers::is_upgrade(upstream);
        headers::strip_request_hop_by_hop(upstream, upgrade);
        let original_host = session
            .req_header()
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok());
        let ip = client_ip(session).map(|ip| ip.to_string());
        headers::set_forwarded(upstream, ip.as_deref(), original_host);
        if let Some(host) = &route.spec.upstream_host {
            upstream.insert_header(http::header::HOST, host.clone())?;
        }
        if let (true, PathMatch::Prefix(prefix)) = (route.spec.strip_prefix, &route.spec.path) {
            let path = headers::strip_prefix(upstream.uri.path(), prefix);
            let uri = match upstream.uri.query() {
                Some(q) => format!("{path}?{q}"),
                None => path.to_string(),
            };
            let parsed = uri.parse::<http::Uri>().map_err(|_| {
                Self::refuse(ctx, GatewayError::BadFraming("path cannot be rewritten"))
            })?;
            upstream.set_uri(parsed);
        }
        if route.spec.api.auth == crate::config::compile::AuthMode::ApiKey {
            // The client's key is the gateway's business; the route may set the service's own.
            for h in crate::auth::directory::KEY_HEADERS {
                upstream.remove_header(h);
            }
        }
        // The gateway answered the client's `Expect` itself.
        upstream.remove_header(&http::header::EXPECT);
        headers::apply_request(&route.spec.request_headers, upstream);
        upstream.insert_header("x-request-id", ctx.request_id.as_str())?;
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        _upstream: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let (Some(group), Some(i), Some(t0)) = (ctx.group(), ctx.target, ctx.upstream_start) {
            group.report_success(i);
            let latency = t0.elapsed();
            group.metrics.latency.observe(latency);
            ctx.upstream_latency = Some(latency);
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        headers::strip_response_hop_by_hop(resp);
        if let Some(route) = &ctx.route {
            headers::apply_response(&route.spec.response_headers, resp);
        }
        for (name, value) in &ctx.response_headers {
            resp.insert_header(name.clone(), value.clone())?;
        }
        resp.insert_header("x-request-id", ctx.request_id.as_str())?;
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        _body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        match ctx.deadline {
            Some(d) if Instant::now() > d => Err(Error::explain(
                pingora::ErrorType::ReadTimedout,
                "total timeout passed while streaming the response",
            )),
            _ => Ok(None),
        }
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let (Some(group), Some(i)) = (ctx.group(), ctx.target) {
            group.report_failure(i);
            // Nothing reached the upstream, so any method may go to another target.
            let untried = group.targets.len() > ctx.tried.count_ones() as usize;
            e.set_retry(untried && ctx.attempts <= group.spec.retries);
        }
        e
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut RequestCtx,
        client_reused: bool,
    ) -> Box<Error> {
        let mut e = e.more_context(format!("peer {peer}"));
        let safe = session.req_header().method.is_idempotent()
            && !session.as_ref().retry_buffer_truncated();
        let upstream_fault = e.esource() == &pingora::ErrorSource::Upstream;
        if let (Some(group), Some(i)) = (ctx.group(), ctx.target) {
            if upstream_fault && !client_reused {
                group.report_failure(i);
            }
            let headers_seen = ctx.upstream_latency.is_some();
            let retries_left = ctx.attempts <= group.spec.retries;
            if !safe || headers_seen {
                e.set_retry(false);
            } else if upstream_fault && retries_left && ctx.error.is_none() {
                e.set_retry(true);
            } else {
                e.retry.decide_reuse(client_reused);
            }
        }
        e
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut RequestCtx,
    ) -> FailToProxy {
        let upstream = ctx.group().map(|g| g.spec.name.clone());
        let err = ctx
            .error
            .take()
            .unwrap_or_else(|| GatewayError::from_pingora(e, upstream.as_deref()));
        // An unread request body would be taken for the next request, so only a bodiless
        // request refused before any upstream work keeps its connection.
        let reuse = err.keeps_connection() && !has_body(session.req_header());
        let code = if error::downstream_is_gone(e) || session.response_written().is_some() {
            0
        } else {
            error::respond(session, &err, &ctx.request_id, reuse, &ctx.response_headers).await
        };
        ctx.error = Some(err);
        FailToProxy {
            error_code: code,
            can_reuse_downstream: reuse,
        }
    }

    async fn logging(&self, session: &mut Session, _e: Option<&Error>, ctx: &mut RequestCtx) {
        let status = session
            .response_written()
            .map(|r| r.status.as_u16())
            .unwrap_or(0);
        match &ctx.route {
            Some(r) => r.metrics.count(status),
            None => self.state.registry.unmatched.count(status),
        }
        if self.state.access_log.enabled() {
            self.state
                .access_log
                .send(access_record(session, ctx, status));
        }
        ctx.release_target();
        ctx.inflight = None;
        ctx.concurrency.clear();
        connection::mark_request_done(session);
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &RequestCtx, _e: &Error) -> bool {
        // Refusals the gateway decided on are normal traffic, not errors of the gateway.
        matches!(
            ctx.error,
            Some(
                GatewayError::NoRoute { .. }
                    | GatewayError::BodyTooLarge { .. }
                    | GatewayError::HeaderTooLarge { .. }
                    | GatewayError::BadFraming(_)
                    | GatewayError::BadRequest(_)
                    | GatewayError::BadTarget(_)
                    | GatewayError::UnsupportedTransferCoding(_)
                    | GatewayError::ExpectationFailed(_)
                    | GatewayError::ClientGone
                    | GatewayError::ClientTimeout
            )
        )
    }
}

/// How much of a refused request's body is read, so the client (still sending it) reads the
/// answer rather than a reset, and the connection can serve its next request.
const DRAIN_LIMIT: usize = 1 << 20;

/// Reads and drops the request body; `false` when it could not be read to its end within
/// the limit (the connection must then close).
pub async fn drain_body(session: &mut Session) -> bool {
    if !has_body(session.req_header()) {
        return true;
    }
    let mut seen = 0usize;
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                seen += chunk.len();
                if seen > DRAIN_LIMIT {
                    return false;
                }
            }
            Ok(None) => return true,
            Err(_) => return false,
        }
    }
}

fn has_body(req: &RequestHeader) -> bool {
    req.headers.contains_key(http::header::TRANSFER_ENCODING)
        || req
            .headers
            .get(http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

fn access_record(session: &Session, ctx: &RequestCtx, status: u16) -> AccessRecord {
    let req = session.req_header();
    let target = match (ctx.group(), ctx.target) {
        (Some(g), Some(i)) => Some(g.targets[i].label.clone()),
        _ => None,
    };
    AccessRecord {
        time: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        request_id: ctx.request_id.clone(),
        route: ctx
            .route
            .as_ref()
            .map(|r| r.name.clone())
            .unwrap_or_else(|| Arc::from("")),
        upstream: target,
        method: req.method.to_string(),
        path: req.uri.path().to_string(),
        status,
        bytes: session.body_bytes_sent(),
        latency_ms: ctx.start.elapsed().as_secs_f64() * 1e3,
        upstream_latency_ms: ctx.upstream_latency.map(|d| d.as_secs_f64() * 1e3),
        attempts: ctx.attempts,
        client: client_ip(session).map(|ip| ip.to_string()),
        error: ctx.error.as_ref().map(|e| e.to_string()),
        tenant: ctx.principal.as_ref().map(|p| p.tenant.clone()),
        app: ctx.principal.as_ref().map(|p| p.app.clone()),
        llm: ctx.llm.clone(),
    }
}
