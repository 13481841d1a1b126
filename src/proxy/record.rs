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

pub fn of<'a>(
    session: &'a Session,
    ctx: &'a RequestCtx,
    status: u16,
    took: Duration,
) -> Record<'a> {
    let req = session.req_header();
    let target = match (ctx.group(), ctx.target) {
        (Some(g), Some(i)) => Some(g.targets[i].label.as_str().into()),
        _ => None,
    };
    let route = ctx.route.as_deref();
    let key = match &ctx.key_id {
        Some(id) => Some(Cow::Borrowed(&**id)),
        None if route.is_some_and(|r| r.spec.api.auth == crate::config::AuthMode::ApiKey) => {
            access::presented_id(req).map(Cow::Borrowed)
        }
        None => None,
    };
    Record {
        time: std::time::SystemTime::now()
            .checked_sub(took)
            .unwrap_or(std::time::UNIX_EPOCH),
        request_id: ctx.request_id.as_str().into(),
        route: route.map_or("", |r| &r.name).into(),
        api_version: route.and_then(|r| r.spec.api.version.as_deref().map(Cow::Borrowed)),
        upstream: target,
        method: req.method.as_str().into(),
        path: req.uri.path().into(),
        status,
        bytes_in: ctx.body_bytes,
        bytes_out: session.body_bytes_sent() as u64,
        latency_ms: millis(took),
        upstream_latency_ms: ctx.upstream_latency.map(millis),
        ttfb_ms: ctx.first_byte.map(millis),
        attempts: ctx.attempts,
        client: upstream::client_ip(session),
        error: ctx.error.as_ref().map(|e| e.to_string().into()),
        error_code: ctx.error.as_ref().map(|e| e.record_code().into()),
        tenant: ctx.principal.as_ref().map(|p| (&*p.tenant).into()),
        app: ctx.principal.as_ref().map(|p| (&*p.app).into()),
        key,
        client_cert: super::tls::client_cert(session).map(|c| Cow::Borrowed(c.subject.as_str())),
        grpc_status: ctx.grpc_status,
        llm: ctx.llm.as_deref().map(Cow::Borrowed),
    }
}
