//! The Pingora `ProxyHttp` implementation. Each phase is thin and calls one domain function;
//! all per-request state lives in `ctx::RequestCtx`.

pub mod access;
pub mod connection;
pub mod ctx;
pub mod headers;
pub mod http2;
pub mod hygiene;
pub mod lean;
pub mod llm;
pub(crate) mod mcp;
pub mod prompt;
mod record;
pub mod redirect;
pub mod tls;
pub mod trace;
pub mod upstream;

use crate::base::boxed::in_place;
use crate::config::BalanceSpec;
use crate::error::{self, GatewayError};
use crate::limits::budget::Budget;
use crate::limits::check::Book;
use crate::limits::gate::{Gate, Needs, Pending};
use crate::limits::vocab::Caller;
use crate::llm::models::Models;
use crate::routing::{Handler, Route};
use crate::snapshot::Snapshot;
use crate::telemetry::access_log::AccessLog;
use crate::telemetry::capture::Capturing;
use crate::telemetry::metrics::Registry;
use arc_swap::ArcSwap;
use bytes::Bytes;
use ctx::{InflightGuard, RequestCtx, RequestIds};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::HttpModules;
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// State shared by every request of a worker.
pub struct GatewayState {
    pub snapshot: ArcSwap<Snapshot>,
    /// The limits every request passes: caps, rate limits (local and in Redis), refusals.
    pub gate: Gate,
    /// Keys, apps and subscriptions from the store, kept current by `auth::refresh`.
    pub directory: Arc<ArcSwap<crate::auth::Directory>>,
    pub registry: Arc<Registry>,
    pub access_log: AccessLog,
    /// The call store's sink, when `[log.store]` is set.
    pub call_store: Option<crate::telemetry::batch::Batcher>,
    pub ids: RequestIds,
    /// OpenTelemetry: the worker's exporter, or off.
    pub otel: crate::telemetry::otel::Otel,
    /// MCP sessions, shared with every worker.
    pub sessions: crate::mcp::sessions::SessionTable,
    /// The certificates and client CAs of the TLS listeners, swapped on reload.
    pub tls: tls::TlsState,
}

pub struct Gateway {
    pub state: Arc<GatewayState>,
}

/// How an admitted request goes on.
struct Onward {
    /// The client keep-alive timeout to apply.
    keepalive: Duration,
    /// The models, when the route is an LLM route or a prompt API.
    llm: Option<Arc<Models>>,
    /// The prompt API the route publishes.
    prompt: Option<Arc<crate::config::PromptSpec>>,
    /// The client waits for `100 Continue` before sending the body.
    expects_continue: bool,
    /// The request is to the MCP endpoint (`[mcp]`), with the snapshot it is answered under.
    /// The MCP endpoint's world, and the upstream server when it is `{path}/{server}`.
    mcp: Option<(Arc<Snapshot>, Arc<crate::mcp::Catalog>, Option<usize>)>,
}

/// Request limits still to decide in Redis, with the snapshot they were drawn under (kept
/// across the await, where the snapshot guard cannot be).
struct InRedis {
    snapshot: Arc<Snapshot>,
    pending: Pending,
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
        ctx.error = Some(Box::new(err));
        Ok(true)
    }

    /// Admits a request: its hygiene, its route, the API gate, then the limits gate (what is
    /// decided locally, then what is kept in Redis).
    async fn admit(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> std::result::Result<Onward, GatewayError> {
        let (onward, in_redis) = self.admit_now(session, ctx)?;
        if let Some(r) = in_redis {
            let Some(caller) = &ctx.caller else {
                return Err(GatewayError::Other(
                    "cluster limits without a caller".into(),
                ));
            };
            let book = Book::of(&r.snapshot);
            let headers = &mut ctx.response_headers;
            let gate = &self.state.gate;
            // Boxed: a rare path, kept out of `request_filter`'s future (see there).
            let taken = Box::pin(gate.admit_cluster(&book, r.pending, caller, headers)).await?;
            if let Some(budget) = ctx.budget.as_mut() {
                budget.note_cluster_requests(taken);
            }
        }
        Ok(onward)
    }

    /// Everything of admission that needs no await: the snapshot guard must not live across
    /// one.
    fn admit_now(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> std::result::Result<(Onward, Option<InRedis>), GatewayError> {
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
        // The one cost of `[mcp]` to other requests: this comparison.
        if let Some(catalog) = snapshot.mcp.as_ref() {
            if let Some(only) = catalog.endpoint(req.uri.path()) {
                let onward = Onward {
                    keepalive: server.keepalive_timeout,
                    llm: None,
                    prompt: None,
                    expects_continue,
                    mcp: Some((Arc::clone(&snapshot), catalog.clone(), only)),
                };
                return Ok((onward, None));
            }
        }
        let route = snapshot
            .routes
            .find_request(&req.uri, &req.method, &req.headers)
            .ok_or_else(|| GatewayError::NoRoute {
                method: req.method.to_string(),
                path: req.uri.path().to_string(),
            })?;
        let directory = self.state.directory.load();
        let mut known = None;
        let granted = access::check(route, &snapshot, &directory, req, &mut known);
        // Kept on the context even when refused, so an LLM route answers in its client's format
        // and the call record names the route and the key's tenant.
        ctx.route = Some(route.clone());
        if let Some(key) = known {
            ctx.principal = Some(key.principal.clone());
            ctx.key_id = Some(key.id.clone());
        }
        ctx.capture = route.spec.capture.as_ref().map(Capturing::new);
        let granted = granted?;
        ctx.response_headers.extend(granted.notice);
        let client_ip = upstream::client_ip(session);
        let in_redis = limit(&self.state, client_ip, ctx, &snapshot, route)?;
        if let Some(total) = route.group().and_then(|g| g.spec.total_timeout) {
            ctx.deadline = Some(ctx.start + total);
        }
        let (llm, prompt) = match &route.handler {
            Handler::Llm => (Some(snapshot.models.clone()), None),
            Handler::Prompt(p) => (Some(snapshot.models.clone()), Some(p.clone())),
            Handler::Proxy(_) => (None, None),
        };
        let onward = Onward {
            keepalive: server.keepalive_timeout,
            llm,
            prompt,
            expects_continue,
            mcp: None,
        };
        Ok((onward, in_redis))
    }

    /// Answers a request admission refused: on an LLM route in its client's error format.
    async fn refuse_admission(
        session: &mut Session,
        ctx: &mut RequestCtx,
        err: GatewayError,
    ) -> Result<bool> {
        let llm = ctx.route.as_ref().is_some_and(|r| r.is_llm());
        match err {
            GatewayError::Denied(d) if llm => llm::deny(session, ctx, d).await,
            GatewayError::RateLimited(l) if llm => llm::limited(session, ctx, l).await,
            err => Self::refuse_now(session, ctx, err).await,
        }
    }

    fn refuse(ctx: &mut RequestCtx, err: GatewayError) -> Box<Error> {
        let e = Error::explain(
            pingora::ErrorType::HTTPStatus(err.status()),
            err.to_string(),
        );
        ctx.error = Some(Box::new(err));
        e
    }
}

impl ProxyHttp for Gateway {
    type CTX = RequestCtx;

    fn new_ctx(&self) -> RequestCtx {
        RequestCtx::new()
    }

    /// None: Pingora's default is its response compression module, disabled, which still
    /// costs every request an allocation and three boxed calls. Tollgate compresses nothing.
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}

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
        ctx.request_id = self
            .state
            .ids
            .next(session.req_header().headers.get(headers::REQUEST_ID));
        ctx.trace = trace::begin(&self.state.otel, session, ctx);
        tls::add_hsts(session, &self.state.snapshot, &mut ctx.response_headers);
        // Every path but the plain proxy's is boxed: this future is a state of Pingora's
        // request future, so a state inlined here (an LLM call, an MCP session, a refusal, a
        // limit kept in Redis) would size every request's future, and be copied with it.
        let onward = match self.admit(session, ctx).await {
            Ok(onward) => onward,
            Err(err) => return in_place(|| Self::refuse_admission(session, ctx, err)).await,
        };
        // Only the idle time is the gateway's: a client that asked for the connection to end
        // (HTTP/1.0 without `Connection: keep-alive`, or `Connection: close`) has it end after
        // the answer, as Pingora decided on reading the request; its `set_keepalive` would
        // otherwise keep an HTTP/1.0 connection open, and the client waiting for its close.
        if session.get_keepalive().is_some() {
            connection::keep_alive(session, onward.keepalive);
        }
        // Only now that the request may go on is the client asked for its body.
        if onward.expects_continue && has_body(session.req_header()) {
            session.write_continue_response().await?;
        }
        if let Some((snapshot, catalog, only)) = onward.mcp {
            return in_place(|| mcp::serve(self, session, ctx, (snapshot, catalog), only)).await;
        }
        match (onward.llm, onward.prompt) {
            (Some(models), Some(p)) => in_place(|| prompt::serve(session, ctx, models, p)).await,
            (Some(models), None) => in_place(|| llm::serve(session, ctx, models)).await,
            (None, _) => Ok(false),
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
            if let Some(c) = ctx.capture.as_mut() {
                c.request_body(b);
            }
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
            let err = GatewayError::Other("no route selected".into());
            return Err(Self::refuse(ctx, err));
        };
        // A retry sends the body again, through `request_body_filter` again: it is counted
        // (and captured) once.
        ctx.body_bytes = 0;
        if let Some(c) = ctx.capture.as_mut() {
            c.restart_request();
        }
        let key = match &group.spec.balance {
            BalanceSpec::ConsistentHash(on) => upstream::hash_key(on, session),
            _ => None,
        };
        match upstream::choose_peer(ctx, &group, key) {
            Ok(peer) => {
                trace::upstream_attempt(session, ctx, &group);
                Ok(peer)
            }
            Err(err) => Err(Self::refuse(ctx, err)),
        }
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
        trace::propagate(ctx, upstream);
        let http2 = ctx.group().is_some_and(|g| g.spec.http2);
        let client = upstream::Client::of(session);
        let id = ctx.request_id.header();
        upstream::rewrite_request(&route.spec, &client, upstream, id, http2)
            .map_err(|err| Self::refuse(ctx, err))
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        trace::answered(ctx, upstream.status.as_u16());
        // A gRPC error may come as headers alone ("trailers-only").
        ctx.grpc_status = headers::grpc_status(&upstream.headers);
        ctx.upstream_answered();
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
        resp.insert_titled_header(headers::REQUEST_ID, ctx.request_id.header().clone());
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        _end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Duration>> {
        if let (Some(c), Some(b)) = (ctx.capture.as_mut(), body.as_ref()) {
            c.response_body(b);
        }
        match ctx.deadline {
            Some(d) if Instant::now() > d => Err(Error::explain(
                pingora::ErrorType::ReadTimedout,
                "total timeout passed while streaming the response",
            )),
            _ => Ok(None),
        }
    }

    fn upstream_response_trailer_filter(
        &self,
        _session: &mut Session,
        trailers: &mut http::HeaderMap,
        ctx: &mut RequestCtx,
    ) -> Result<()> {
        if let Some(status) = headers::grpc_status(trailers) {
            ctx.grpc_status = Some(status);
        }
        Ok(())
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut RequestCtx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        trace::attempt_failed(ctx, e.etype().as_str());
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
        trace::attempt_failed(ctx, e.etype().as_str());
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
            .unwrap_or_else(|| Box::new(GatewayError::from_pingora(e, upstream.as_deref())));
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
        let took = ctx.start.elapsed();
        match &ctx.route {
            Some(r) => r.metrics.count(status, took),
            None => self.state.registry.unmatched.count(status, took),
        }
        observe_llm(&self.state, ctx, took);
        // Masked once, here, after the answer has been sent; every sink takes the result.
        let captured = ctx
            .capture
            .take()
            .map(|c| c.finish(&session.req_header().headers));
        if self.state.access_log.enabled() || self.state.call_store.is_some() {
            let record = record::of(session, ctx, status, took);
            write_record(&self.state, &record, captured.as_ref());
        }
        trace::finish(&self.state.otel, session, ctx, status);
        ctx.release_target();
        ctx.inflight = None;
        ctx.concurrency.clear();
        connection::mark_request_done(session);
    }

    fn suppress_error_log(&self, _session: &Session, ctx: &RequestCtx, _e: &Error) -> bool {
        // Refusals the gateway decided on are normal traffic, not errors of the gateway.
        matches!(
            ctx.error.as_deref(),
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

/// Counts an LLM call in its model's metrics.
fn observe_llm(state: &GatewayState, ctx: &RequestCtx, took: std::time::Duration) {
    let Some(rec) = ctx.llm.as_deref() else {
        return;
    };
    // A call no provider answered has no served model: it counts under the one asked.
    let model = match rec.model.as_str() {
        "" => rec.requested_model.as_str(),
        m => m,
    };
    if let Some(m) = state.snapshot.load().llm_metrics(model, &rec.provider) {
        m.observe(rec, took);
    }
}

/// Gives a request's record to the access log and the call store, formatted once.
fn write_record(
    state: &GatewayState,
    record: &crate::telemetry::record::Record<'_>,
    captured: Option<&crate::telemetry::capture::Captured>,
) {
    record::with_line(record, captured, |line| {
        let copy = |out: &mut Vec<u8>| line.map(|l| out.extend_from_slice(l)).is_some();
        state.access_log.write(copy);
        if let Some(calls) = &state.call_store {
            calls.push(copy);
        }
    });
}

/// The one body-drain policy, for every refusal (a proxy refusal, an LLM route's refusal, an
/// LLM body over its cap): what is left of a refused request's body is read and dropped, up
/// to this many bytes, so the client (still sending it) reads the answer rather than a reset,
/// and the connection can serve its next request; a longer body closes the connection.
/// 64 MiB: well above the bodies an LLM client sends over a route's cap.
const DRAIN_LIMIT: u64 = 64 << 20;

/// Reads and drops the request body under the drain policy; `false` when it could not be
/// read to its end within `DRAIN_LIMIT` (the connection must then close).
pub async fn drain_body(session: &mut Session) -> bool {
    if !has_body(session.req_header()) {
        return true;
    }
    drain_rest(session).await
}

/// Reads and drops what is left of a body already being read, under the drain policy.
pub async fn drain_rest(session: &mut Session) -> bool {
    let mut seen: u64 = 0;
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                seen += chunk.len() as u64;
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

/// The limits gate's synchronous half, for both paths (the lean one is a child module), for
/// the caller the API gate let through (`ctx.principal`, `ctx.key_id`). The request's `Caller`
/// is made here, once, and only when its route or key has limits; so is an LLM route's budget.
fn limit(
    state: &GatewayState,
    client_ip: Option<std::net::IpAddr>,
    ctx: &mut RequestCtx,
    snapshot: &Arc<Snapshot>,
    route: &Route,
) -> std::result::Result<Option<InRedis>, GatewayError> {
    // The caller as the API gate let it through.
    let principal = ctx.principal.as_ref();
    let models_limited = snapshot.config.llm.models_limited;
    let limits = principal.map(|p| &p.limits);
    let needs = Needs::of(&route.spec, route.calls_llm(), models_limited, limits);
    if !needs.any() {
        return Ok(None);
    }
    let caller = ctx.caller.insert(Box::new(Caller {
        route: route.name.clone(),
        tenant: principal.map(|p| p.tenant.clone()),
        app: principal.map(|p| p.app.clone()),
        key_id: ctx.key_id.clone(),
        model: None,
        client_ip,
    }));
    let gate = &state.gate;
    if needs.budget {
        let budget = Budget::new(gate, Arc::clone(snapshot), &route.spec, principal.cloned());
        ctx.budget = Some(Box::new(budget));
    }
    if !needs.requests {
        return Ok(None);
    }
    let key_limits = limits.map_or(&[][..], |e| &e.requests[..]);
    let headers = &mut ctx.response_headers;
    let book = Book::of(snapshot);
    let pending = gate.admit_local(
        &book,
        &route.spec,
        key_limits,
        caller,
        headers,
        &mut ctx.concurrency,
    )?;
    Ok(pending.map(|pending| InRedis {
        snapshot: Arc::clone(snapshot),
        pending,
    }))
}
