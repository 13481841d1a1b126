//! The gateway on the lean HTTP/1 path (`crate::lean`), with `[server] lean_http1 = true`:
//! which requests it takes, and the proxy phases' work on them.
//!
//! It takes a request, over plain HTTP/1 or HTTP/1 over TLS, only when nothing of it needs
//! more than a plain proxy or an LLM call: a published route without capture, open or keyed
//! (then with a key that passes the API gate: a refused one is answered by Pingora's path,
//! which checks it again), that is either an LLM route without limits (`llm`: the LLM handler
//! answers it over the lean connection) or goes to an upstream group over plain HTTP/1 that
//! does not balance by consistent hash, its limits (if any) decided in the worker (a limit
//! kept in Redis is awaited on Pingora's path; a refusal is answered here); no tracing
//! (`[otel]` off, no `traceparent`); a target already in normal form and a plain `Host`.
//! Everything else (a limited LLM route, a prompt API, the MCP endpoint, a draft or deprecated
//! API, ...) goes to Pingora's path, as with the switch off. For the requests it takes it does
//! what the phases do (`proxy.rs`): the API gate and the limits gate, the request id, the
//! forwarding headers (the scheme, a verified client certificate's subject), HSTS over TLS, the
//! route's `Host`, prefix and header rewrites, the choice of target with passive health and
//! retries, the group's timeouts, the metrics and the call record. The heads are written as
//! bytes straight from the client's; no header map is built.

mod llm;

use super::ctx::{InflightGuard, RequestCtx};
use super::{access, headers, record, upstream, GatewayState};
use crate::auth::directory::{presented_key_in, Directory, KeyEntry, KEY_HEADERS};
use crate::config::{AuthMode, BalanceSpec, HeaderTransform, Lifecycle, PathMatch};
use crate::error::GatewayError;
use crate::lean::{Answered, Client, End, Failure, Head, Policy, Upstream, Way};
use crate::limits::gate::Needs;
use crate::llm::models::Models;
use crate::routing::upstream::UpstreamGroup;
use crate::routing::{Handler, Route};
use http::{HeaderName, HeaderValue, Method};
use pingora::protocols::http::date::get_cached_date;
use pingora::protocols::Stream;
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

pub struct GatewayPolicy {
    pub state: Arc<GatewayState>,
}

/// A client connection: its address, as the forwarding headers carry it, and its TLS.
pub struct Conn {
    ip: Option<IpAddr>,
    ip_value: Option<HeaderValue>,
    tls: bool,
    /// The subject of the client certificate that verified, on mutual-TLS listeners.
    cert_subject: Option<Box<str>>,
}

/// A request on the lean path.
pub struct Call {
    ctx: RequestCtx,
    /// `Strict-Transport-Security` for the answer (over TLS, with `[tls] hsts`).
    hsts: Option<HeaderValue>,
    cert_subject: Option<Box<str>>,
    method: Method,
    /// For the call record and the process log.
    path: Box<str>,
    client: Option<IpAddr>,
    /// The route or the key has request limits or concurrency caps, for `commit`.
    limited: bool,
    /// An LLM route's models: the request is answered by the LLM handler.
    models: Option<Arc<Models>>,
    anthropic_version: bool,
}

/// Names the gateway sets on the upstream's head: a client's own are not passed on.
const GATEWAY_SET: [&str; 6] = [
    "x-forwarded-for",
    "x-real-ip",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-request-id",
    "x-client-cert-subject",
];

impl Policy for GatewayPolicy {
    type Conn = Conn;
    type Call = Call;

    fn serves(&self) -> bool {
        self.state.snapshot.load().config.server.lean_http1
    }

    fn open(&self, stream: &Stream) -> Conn {
        let ip = stream
            .get_socket_digest()
            .and_then(|d| d.peer_addr().and_then(|a| a.as_inet()).map(|a| a.ip()));
        let ssl = stream.get_ssl_digest();
        let cert = ssl
            .as_ref()
            .and_then(|d| d.extension.get::<super::tls::ClientCert>());
        Conn {
            ip,
            ip_value: ip.and_then(headers::ip_value),
            tls: ssl.is_some(),
            cert_subject: cert.map(|c| c.subject.as_str().into()),
        }
    }

    fn begin(&self, conn: &Conn, head: &Head<'_>, out: &mut Vec<u8>) -> Option<(Call, Way)> {
        let state = &*self.state;
        if state.otel.enabled() {
            return None;
        }
        let snapshot = state.snapshot.load();
        let server = &snapshot.config.server;
        if head.len > server.max_header_bytes || head.body > server.max_body_bytes {
            return None;
        }
        let path = head.target.split('?').next().unwrap_or("");
        let normal = matches!(
            crate::routing::target::normalize(path),
            Ok(Cow::Borrowed(_))
        );
        if !normal || !plain_target(head.target) {
            return None;
        }
        let fields = Fields::scan(head.headers)?;
        if snapshot
            .mcp
            .as_ref()
            .is_some_and(|c| c.endpoint(path).is_some())
        {
            return None;
        }
        let method = Method::from_bytes(head.method.as_bytes()).ok()?;
        let host = match snapshot.routes.by_host() {
            true => crate::routing::table::host_of(fields.host),
            false => Cow::Borrowed(""),
        };
        let field = |name: &HeaderName| value_of(head.headers, name.as_str());
        let route = snapshot.routes.find_by(&host, path, &method, field)?;
        let is_llm = matches!(route.handler, Handler::Llm);
        let directory = state.directory.load();
        if route.spec.capture.is_some() || !published(route, &directory) {
            return None;
        }
        let key = match route.spec.api.auth {
            AuthMode::None => None,
            // A refused key is answered by Pingora's path, which checks it again.
            AuthMode::ApiKey => Some(granted_key(route, &directory, head.headers)?),
        };
        let limits = key.map(|k| &k.principal.limits);
        let models_limited = snapshot.config.llm.models_limited;
        let needs = Needs::of(&route.spec, is_llm, models_limited, limits);
        // An LLM route's limits (its budget, and its refusals in the client's format) are kept
        // on Pingora's path; so is a HEAD a limit may refuse, whose refusal has no body.
        if needs.budget || (needs.requests && (is_llm || method == Method::HEAD)) {
            return None;
        }
        let group = match is_llm {
            // The LLM surfaces take GET and POST; a HEAD's answer would have no body.
            true if method != Method::GET && method != Method::POST => return None,
            true => None,
            false => Some(plain_group(route)?),
        };
        let mut ctx = RequestCtx::new();
        ctx.route = Some(route.clone());
        if let Some(key) = key {
            ctx.principal = Some(key.principal.clone());
            ctx.key_id = Some(key.id.clone());
        }
        let way = match group {
            Some(group) => Way::Upstream(proxied(&mut ctx, group)?),
            None => Way::Answer,
        };
        ctx.inflight = Some(InflightGuard::new(&state.registry));
        let client_id = fields
            .request_id
            .and_then(|v| HeaderValue::from_bytes(v).ok());
        ctx.request_id = state.ids.next(client_id.as_ref());
        ctx.max_body_bytes = server.max_body_bytes;
        ctx.body_bytes = head.body;
        let mut hsts = conn.tls.then(|| snapshot.config.tls.hsts.clone()).flatten();
        let models = is_llm.then(|| snapshot.models.clone());
        if models.is_some() {
            // The LLM handler writes its own answers, with the context's fields.
            if let Some(value) = hsts.take() {
                let name = http::header::STRICT_TRANSPORT_SECURITY;
                ctx.response_headers.push((name, value));
            }
        } else {
            write_request(out, head, route, conn, &fields, ctx.request_id.header());
        }
        let call = Call {
            ctx,
            hsts,
            cert_subject: conn.cert_subject.clone(),
            method,
            path: path.into(),
            client: conn.ip,
            models,
            anthropic_version: fields.anthropic_version,
            limited: needs.requests,
        };
        Some((call, way))
    }

    /// The limits gate, once the request is the lean path's: a limit draws once, and a refusal
    /// (counted as it is decided) is answered here. A limit kept in Redis is awaited on
    /// Pingora's path, nothing drawn yet.
    fn commit(&self, call: &mut Call, way: Way) -> Option<Way> {
        if !call.limited {
            return Some(way);
        }
        let snapshot = self.state.snapshot.load();
        let route = call.ctx.route.clone()?;
        match super::limit(&self.state, call.client, &mut call.ctx, &snapshot, &route) {
            Ok(None) => Some(way),
            Ok(Some(_)) => None,
            Err(err) => {
                call.ctx.error = Some(Box::new(err));
                Some(Way::Answer)
            }
        }
    }

    async fn answer<'a>(&'a self, call: &'a mut Call, client: Client<'a>) -> Answered {
        match call.ctx.error.is_none() {
            true => llm::answer(call, client).await,
            false => refuse(call, client).await,
        }
    }

    /// As `fail_to_connect` and `error_while_proxy`: after a connection that could not be
    /// made (nothing reached the upstream) any method goes to an untried target; after any
    /// other failure, before an answer, only an idempotent one (the whole request is at hand
    /// to send again); while retries are left and the route's total timeout allows.
    fn retry(&self, call: &mut Call, failure: Failure) -> Option<Upstream> {
        let group = call.ctx.group()?.clone();
        let failed = call.ctx.target?;
        group.report_failure(failed);
        let may = match failure {
            Failure::Connect => group.targets.len() > call.ctx.tried.count_ones() as usize,
            Failure::Timeout | Failure::Broken => call.method.is_idempotent(),
        };
        if !may || call.ctx.attempts > group.spec.retries {
            return None;
        }
        let (i, io) = match upstream::choose_target(&mut call.ctx, &group, None) {
            Ok(chosen) => chosen,
            Err(err) => {
                call.ctx.error = Some(Box::new(err));
                return None;
            }
        };
        Some(upstream_at(&group, i, io))
    }

    fn drops(&self, call: &Call, name: &str) -> bool {
        name.eq_ignore_ascii_case(headers::REQUEST_ID.as_str())
            || (call.hsts.is_some() && name.eq_ignore_ascii_case("strict-transport-security"))
            || call
                .ctx
                .response_headers
                .iter()
                .any(|(n, _)| name.eq_ignore_ascii_case(n.as_str()))
            || call
                .ctx
                .route
                .as_ref()
                .is_some_and(|r| transformed(&r.spec.response_headers, name))
    }

    /// As `upstream_response_filter` and `response_filter`.
    fn add_fields(&self, call: &mut Call, _status: u16, out: &mut Vec<u8>) {
        let ctx = &mut call.ctx;
        ctx.upstream_answered();
        if let Some(route) = &ctx.route {
            for h in &route.spec.response_headers.set {
                line(out, &h.wire, h.value.as_bytes());
            }
        }
        if let Some(hsts) = &call.hsts {
            line(out, b"Strict-Transport-Security", hsts.as_bytes());
        }
        // A limit's fields; each name once, its last value, as `insert_header` leaves it.
        let decided = &ctx.response_headers;
        for (i, (name, value)) in decided.iter().enumerate() {
            if !decided[i + 1..].iter().any(|(n, _)| n == name) {
                line(out, name.as_str().as_bytes(), value.as_bytes());
            }
        }
        line(out, b"X-Request-Id", ctx.request_id.header().as_bytes());
    }

    fn error_answer(&self, call: &mut Call, failure: Failure, out: &mut Vec<u8>) -> (u16, usize) {
        // A retry refused for the total timeout has said why already.
        let err = match call.ctx.error.take() {
            Some(err) => *err,
            None => upstream_error(&call.ctx, failure),
        };
        let status = err.status();
        let body = crate::error::body(&err);
        let reason = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        out.extend_from_slice(head.as_bytes());
        if let Some(hsts) = &call.hsts {
            line(out, b"Strict-Transport-Security", hsts.as_bytes());
        }
        line(
            out,
            b"X-Request-Id",
            call.ctx.request_id.header().as_bytes(),
        );
        line(out, b"Date", get_cached_date().as_bytes());
        out.extend_from_slice(b"Connection: close\r\n\r\n");
        out.extend_from_slice(body.as_bytes());
        call.ctx.error = Some(Box::new(err));
        (status, body.len())
    }

    /// As the `logging` phase.
    fn end(&self, call: Call, end: End) {
        let Call {
            mut ctx,
            method,
            path,
            client,
            cert_subject,
            ..
        } = call;
        if ctx.error.is_none() {
            if end.client_gone {
                ctx.error = Some(Box::new(GatewayError::ClientGone));
            } else if let Some(failure) = end.failure {
                // An upstream that broke off mid-answer (its error answer records its own).
                ctx.error = Some(Box::new(upstream_error(&ctx, failure)));
            }
        }
        if let Some(err) = ctx.error.as_deref().filter(|_| end.failure.is_some()) {
            // As Pingora's path logs a failed proxy: with the request's summary, never its query.
            let id = ctx.request_id.as_str();
            tracing::error!("Fail to proxy: {err}, {method} {path} request_id={id}");
        }
        let took = ctx.start.elapsed();
        if let Some(route) = &ctx.route {
            route.metrics.count(end.status, took);
        }
        super::observe_llm(&self.state, &ctx, took);
        let served = &self.state.registry.connections.lean_requests;
        served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.state.access_log.enabled() || self.state.call_store.is_some() {
            let seen = record::Seen {
                method: method.as_str(),
                path: &path,
                bytes_out: end.bytes_out,
                client,
                client_cert: cert_subject.as_deref(),
                presented_key: None,
            };
            let record = record::of_seen(seen, &ctx, end.status, took);
            super::write_record(&self.state, &record, None);
        }
        ctx.release_target();
    }

    fn head_read(&self, stream: &Stream) {
        super::connection::lean_head_read(stream);
    }

    fn idle(&self, stream: &Stream) {
        let keepalive = self.state.snapshot.load().config.server.keepalive_timeout;
        super::connection::lean_idle(stream, keepalive);
    }
}

/// A proxied request's first upstream, and the group's deadline for it.
fn proxied(ctx: &mut RequestCtx, group: &UpstreamGroup) -> Option<Upstream> {
    if let Some(total) = group.spec.total_timeout {
        ctx.deadline = Some(ctx.start + total);
    }
    let (i, io) = upstream::choose_target(ctx, group, None).ok()?;
    Some(upstream_at(group, i, io))
}

/// Target `i` of `group`, with its timeouts (`io`: each read and write).
fn upstream_at(group: &UpstreamGroup, i: usize, io: std::time::Duration) -> Upstream {
    Upstream {
        addr: group.targets[i].addr,
        connect: group.spec.connect_timeout,
        io,
    }
}

/// The error of a request no upstream answered.
fn upstream_error(ctx: &RequestCtx, failure: Failure) -> GatewayError {
    let upstream = ctx.group().map(|g| g.spec.name.clone()).unwrap_or_default();
    // The details Pingora's path gives for the same failures.
    let detail = match failure {
        Failure::Timeout => return GatewayError::UpstreamTimeout { upstream },
        Failure::Connect => "connectrefused",
        Failure::Broken => "invalidhttpheader",
    };
    GatewayError::UpstreamFailed {
        upstream,
        detail: detail.into(),
    }
}

/// The key a request to a keyed route presents, if it passes the route's gate (see
/// `access::check_key`), read from the head as `presented_key` reads a header map: a value
/// that is not visible ASCII is no value.
fn granted_key<'d>(
    route: &Route,
    directory: &'d Directory,
    headers: &[httparse::Header<'_>],
) -> Option<&'d KeyEntry> {
    let header = |name: &str| {
        value_of(headers, name)
            .filter(|v| v.iter().all(|b| *b == b'\t' || (b' '..=b'~').contains(b)))
            .and_then(|v| std::str::from_utf8(v).ok())
    };
    let presented = presented_key_in(header);
    let api = &route.spec.api;
    access::check_key(&route.spec.name, api, directory, presented, &mut None).ok()
}

/// Answers a request refused before it went anywhere (by a limit), as `refuse_now` does on
/// Pingora's path: the error's JSON, the limit's fields, the connection kept if the error
/// allows.
async fn refuse(call: &mut Call, mut client: Client<'_>) -> Answered {
    let Some(err) = call.ctx.error.as_deref() else {
        return Answered::default();
    };
    let keep = err.keeps_connection() && !client.close;
    let hsts = call
        .hsts
        .iter()
        .map(|v| (http::header::STRICT_TRANSPORT_SECURITY, v.clone()));
    let extra: Vec<_> = hsts
        .chain(call.ctx.response_headers.iter().cloned())
        .collect();
    let id = call.ctx.request_id.as_str();
    let Some((head, body)) = crate::error::answer(err, id, &extra) else {
        return Answered::default();
    };
    let mut out = Vec::with_capacity(body.len() + 512);
    llm::write_head(&head, !keep, &mut out);
    out.extend_from_slice(body.as_bytes());
    let sent = client.write(&out).await;
    Answered {
        status: head.status.as_u16(),
        bytes_out: body.len() as u64,
        client_gone: !sent,
        keep: keep && sent,
    }
}

/// A proxy route's group, if the lean path can proxy to it (see the module's doc).
fn plain_group(route: &Route) -> Option<&Arc<UpstreamGroup>> {
    let group = route.group()?;
    let plain = matches!(route.handler, Handler::Proxy(_))
        && !group.spec.tls
        && !group.spec.http2
        && !matches!(group.spec.balance, BalanceSpec::ConsistentHash(_));
    plain.then_some(group)
}

/// Published, in the configuration and in the store: a draft, deprecated or retired API has
/// answers of its own, which Pingora's path gives.
fn published(route: &Route, directory: &crate::auth::Directory) -> bool {
    route.spec.api.state == Lifecycle::Published
        && directory
            .state_override(&route.spec.name)
            .is_none_or(|o| o.state == Lifecycle::Published)
}

/// A target of RFC 3986's characters only (`http::Uri` takes no more on Pingora's path).
fn plain_target(target: &str) -> bool {
    target
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b))
}

/// The request's fields the gateway reads, each present at most once.
struct Fields<'a> {
    host: &'a str,
    request_id: Option<&'a [u8]>,
    forwarded_for: Option<&'a [u8]>,
    anthropic_version: bool,
}

impl<'a> Fields<'a> {
    /// `None` for a request Pingora's path should judge: an odd `Host`, a repeated
    /// `X-Forwarded-For` or `X-Request-Id`, a `traceparent`.
    fn scan(headers: &'a [httparse::Header<'a>]) -> Option<Fields<'a>> {
        let mut f = Fields {
            host: "",
            request_id: None,
            forwarded_for: None,
            anthropic_version: false,
        };
        for h in headers {
            let name = h.name;
            if name.eq_ignore_ascii_case("host") {
                f.host = std::str::from_utf8(h.value)
                    .ok()
                    .filter(|v| plain_host(v))?;
            } else if name.eq_ignore_ascii_case("x-request-id") {
                f.request_id.replace(h.value).is_none().then_some(())?;
            } else if name.eq_ignore_ascii_case("x-forwarded-for") {
                f.forwarded_for.replace(h.value).is_none().then_some(())?;
            } else if name.eq_ignore_ascii_case("traceparent") {
                return None;
            } else if name.eq_ignore_ascii_case("anthropic-version") {
                f.anthropic_version = true;
            }
        }
        Some(f)
    }
}

/// `name[:port]` with a name of letters, digits, dots and dashes.
fn plain_host(value: &str) -> bool {
    let (name, port) = value.split_once(':').unwrap_or((value, "1"));
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    let port_ok = (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit());
    name_ok && port_ok
}

/// The first value of `name` (lower case) in the request.
fn value_of<'h>(headers: &[httparse::Header<'h>], name: &str) -> Option<&'h [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// Whether a route's transform removes or sets `name`.
fn transformed(t: &HeaderTransform, name: &str) -> bool {
    t.remove
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_str()))
        || t.set
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h.name.as_str()))
}

fn line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The upstream's head, as `upstream::rewrite_request` makes it on Pingora's path: hop-by-hop
/// fields gone, the forwarding headers, the route's `Host`, prefix and header rewrites, and the
/// request id.
fn write_request(
    out: &mut Vec<u8>,
    head: &Head<'_>,
    route: &Route,
    conn: &Conn,
    fields: &Fields<'_>,
    request_id: &HeaderValue,
) {
    let spec = &route.spec;
    out.extend_from_slice(head.method.as_bytes());
    out.push(b' ');
    match (spec.strip_prefix, &spec.path) {
        (true, PathMatch::Prefix(prefix)) => {
            let (path, query) = match head.target.split_once('?') {
                Some((p, q)) => (p, Some(q)),
                None => (head.target, None),
            };
            out.extend_from_slice(headers::strip_prefix(path, prefix).as_bytes());
            if let Some(q) = query {
                out.push(b'?');
                out.extend_from_slice(q.as_bytes());
            }
        }
        _ => out.extend_from_slice(head.target.as_bytes()),
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let new_host = spec.upstream_host.is_some();
    let keyed = spec.api.auth == AuthMode::ApiKey;
    for h in head.headers {
        let name = h.name;
        let skip = crate::lean::is_hop_by_hop(name)
            || GATEWAY_SET.iter().any(|g| name.eq_ignore_ascii_case(g))
            // The client's key is the gateway's business, as in `upstream::rewrite_request`.
            || (keyed && KEY_HEADERS.iter().any(|k| name.eq_ignore_ascii_case(k.as_str())))
            || (new_host && name.eq_ignore_ascii_case("host"))
            || transformed(&spec.request_headers, name);
        if !skip {
            line(out, name.as_bytes(), h.value);
        }
    }
    if let Some(ip) = &conn.ip_value {
        out.extend_from_slice(b"X-Forwarded-For: ");
        // As `headers::set_forwarded`: a list that is not text is replaced, not appended to.
        let text =
            |p: &&[u8]| !p.is_empty() && p.iter().all(|b| *b == b'\t' || (b' '..=b'~').contains(b));
        if let Some(prev) = fields.forwarded_for.filter(text) {
            out.extend_from_slice(prev);
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(ip.as_bytes());
        out.extend_from_slice(b"\r\n");
        line(out, b"X-Real-Ip", ip.as_bytes());
    }
    let proto: &[u8] = if conn.tls { b"https" } else { b"http" };
    line(out, b"X-Forwarded-Proto", proto);
    // Only the gateway says which client certificate verified (a client's own was dropped).
    if let Some(subject) = &conn.cert_subject {
        line(out, b"X-Client-Cert-Subject", subject.as_bytes());
    }
    if !fields.host.is_empty() {
        line(out, b"X-Forwarded-Host", fields.host.as_bytes());
    }
    if let Some(host) = &spec.upstream_host {
        line(out, b"Host", host.as_bytes());
    }
    for h in &spec.request_headers.set {
        line(out, &h.wire, h.value.as_bytes());
    }
    line(out, b"X-Request-Id", request_id.as_bytes());
    out.extend_from_slice(b"\r\n");
}
