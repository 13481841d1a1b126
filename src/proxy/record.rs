//! The call record of a request, made in the logging phase from what the phases left on the
//! context: borrowed, so making it copies nothing.

use super::ctx::RequestCtx;
use super::{access, upstream};
use crate::telemetry::capture::Captured;
use crate::telemetry::record::{millis, Record};
use pingora::proxy::Session;
use std::borrow::Cow;
use std::cell::RefCell;
use std::time::Duration;

thread_local! {
    /// Where a record's line is formatted, once, for every sink to copy.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Formats `record` (with `captured`) once and gives the line to `f`; `None` when it cannot be
/// formatted (each sink then counts a lost record).
pub fn with_line<R>(
    record: &Record<'_>,
    captured: Option<&Captured>,
    f: impl FnOnce(Option<&[u8]>) -> R,
) -> R {
    LINE.with(|cell| {
        let mut line = cell.borrow_mut();
        line.clear();
        let ok = record.write_json(&mut line, captured);
        f(ok.then_some(line.as_slice()))
    })
}

/// What the record says of the request and its client, whichever path served it.
pub struct Seen<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The answer's bytes sent to the client.
    pub bytes_out: u64,
    pub client: Option<std::net::IpAddr>,
    pub client_cert: Option<&'a str>,
    /// The key id the request presented, on a keyed route whose check did not get as far.
    pub presented_key: Option<&'a str>,
}

pub fn of<'a>(
    session: &'a Session,
    ctx: &'a RequestCtx,
    status: u16,
    took: Duration,
) -> Record<'a> {
    let req = session.req_header();
    let keyed =
        ctx.route.as_deref().map(|r| r.spec.api.auth) == Some(crate::config::AuthMode::ApiKey);
    let seen = Seen {
        method: req.method.as_str(),
        path: req.uri.path(),
        bytes_out: session.body_bytes_sent() as u64,
        client: upstream::client_ip(session),
        client_cert: super::tls::client_cert(session).map(|c| c.subject.as_str()),
        presented_key: if keyed {
            access::presented_id(req)
        } else {
            None
        },
    };
    of_seen(seen, ctx, status, took)
}

pub fn of_seen<'a>(seen: Seen<'a>, ctx: &'a RequestCtx, status: u16, took: Duration) -> Record<'a> {
    let target = match (ctx.group(), ctx.target) {
        (Some(g), Some(i)) => Some(g.targets[i].label.as_str().into()),
        _ => None,
    };
    let route = ctx.route.as_deref();
    let key = match &ctx.key_id {
        Some(id) => Some(Cow::Borrowed(&**id)),
        None => seen.presented_key.map(Cow::Borrowed),
    };
    Record {
        time: std::time::SystemTime::now()
            .checked_sub(took)
            .unwrap_or(std::time::UNIX_EPOCH),
        request_id: ctx.request_id.as_str().into(),
        route: route.map_or("", |r| &r.name).into(),
        api_version: route.and_then(|r| r.spec.api.version.as_deref().map(Cow::Borrowed)),
        upstream: target,
        method: seen.method.into(),
        path: seen.path.into(),
        status,
        bytes_in: ctx.body_bytes,
        bytes_out: seen.bytes_out,
        latency_ms: millis(took),
        upstream_latency_ms: ctx.upstream_latency.map(millis),
        ttfb_ms: ctx.first_byte.map(millis),
        attempts: ctx.attempts,
        client: seen.client,
        error: ctx.error.as_ref().map(|e| e.to_string().into()),
        error_code: ctx.error.as_ref().map(|e| e.record_code().into()),
        tenant: ctx.principal.as_ref().map(|p| (&*p.tenant).into()),
        app: ctx.principal.as_ref().map(|p| (&*p.app).into()),
        key,
        client_cert: seen.client_cert.map(Cow::Borrowed),
        grpc_status: ctx.grpc_status,
        llm: ctx.llm.as_deref().map(Cow::Borrowed),
    }
}
