//! The proxy's side of OpenTelemetry: the trace a request starts at admission, its attempts
//! (REST targets here; LLM deployments in `llm/call.rs` through `llm_attempt`), the
//! `traceparent` each attempt sends upstream, and the server span described at the end. What
//! is exported, and how, is `telemetry::otel`'s business.

use super::ctx::RequestCtx;
use super::upstream::client_ip;
use crate::base::clock::now_unix_ns;
use crate::config::PathMatch;
use crate::llm::models::Models;
use crate::routing::upstream::UpstreamGroup;
use crate::telemetry::call::CallRecord;
use crate::telemetry::otel::{Attr, Mode, Otel, RequestSpan, Trace, Value};
use pingora::http::RequestHeader;
use pingora::proxy::Session;

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";
/// The same names for lookups, which a `&str` would make parse on every request.
const TRACEPARENT_NAME: http::HeaderName = http::HeaderName::from_static(TRACEPARENT);
const TRACESTATE_NAME: http::HeaderName = http::HeaderName::from_static(TRACESTATE);

/// The request's trace, from its `traceparent` and `tracestate` (a repeated `traceparent`
/// counts as none; repeated `tracestate` lines are one list).
pub fn begin(otel: &Otel, session: &Session, ctx: &RequestCtx) -> Option<Box<Trace>> {
    let headers = &session.req_header().headers;
    let mut parents = headers.get_all(TRACEPARENT_NAME).iter();
    let parent = match (parents.next(), parents.next()) {
        (Some(v), None) => Some(v.as_bytes()),
        _ => None,
    };
    if parent.is_none() && !otel.enabled() {
        return None;
    }
    let states: Vec<&[u8]> = headers
        .get_all(TRACESTATE_NAME)
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    let state = match states.len() {
        0 => None,
        1 => Some(states[0].to_vec()),
        _ => Some(states.join(&b","[..])),
    };
    let elapsed = ctx.start.elapsed().as_nanos() as u64;
    let start = now_unix_ns().saturating_sub(elapsed);
    otel.begin(parent, state.as_deref(), start)
}

/// A proxied request goes to the target just chosen (`ctx.target`): a new CLIENT span.
pub fn upstream_attempt(session: &Session, ctx: &mut RequestCtx, group: &UpstreamGroup) {
    let (Some(trace), Some(i)) = (ctx.trace.as_mut(), ctx.target) else {
        return;
    };
    let method = session.req_header().method.as_str();
    let target = &group.targets[i];
    let n = ctx.attempts;
    trace.begin_attempt(now_unix_ns(), || {
        let attrs: Vec<Attr> = vec![
            ("http.request.method", method.into()),
            ("server.address", target.addr.ip().to_string().into()),
            ("server.port", Value::Int(target.addr.port().into())),
            ("tollgate.upstream", group.spec.name.as_str().into()),
            ("tollgate.target", target.label.as_str().into()),
            ("http.request.resend_count", Value::Int(i64::from(n) - 1)),
        ];
        (format!("{method} {}", group.spec.name), attrs)
    });
}

/// The attempt under way failed (`what`: Pingora's error type, e.g. `ConnectRefused`).
pub fn attempt_failed(ctx: &mut RequestCtx, what: &str) {
    if let Some(t) = ctx.trace.as_mut() {
        t.end_attempt(now_unix_ns(), None, Some(what.to_string()));
    }
}

/// The upstream answered the attempt under way with `status`.
pub fn answered(ctx: &mut RequestCtx, status: u16) {
    if let Some(t) = ctx.trace.as_mut() {
        t.answered(status);
    }
}

/// Sets `traceparent` (the attempt's span as parent) and `tracestate` on the upstream
/// request. With export off the client's headers go on as they came.
pub fn propagate(ctx: &RequestCtx, upstream: &mut RequestHeader) {
    let Some(t) = ctx.trace.as_deref() else {
        return;
    };
    if matches!(t.mode, Mode::PassThrough(_)) {
        return;
    }
    if let Some(tp) = t.current_traceparent() {
        let _ = upstream.insert_header(TRACEPARENT, tp);
    }
    match &t.tracestate {
        Some(ts) => {
            let _ = upstream.insert_header(TRACESTATE, ts.as_str());
        }
        // The client's, if it sent one with an invalid traceparent, no longer applies.
        None => {
            upstream.remove_header(TRACESTATE);
        }
    }
}

/// The headers an LLM attempt sends its provider, and its CLIENT span begun (`stream`: a chat
/// call's, `None` for embeddings). The
/// `traceparent` goes with every attempt once there is a trace (export on, or a client's
/// passed through).
pub fn llm_attempt(
    trace: Option<&mut Trace>,
    models: &Models,
    model: usize,
    deployment: usize,
    stream: Option<bool>,
) -> Vec<(&'static str, String)> {
    let Some(trace) = trace else {
        return Vec::new();
    };
    let d = &models.models[model].deployments[deployment];
    let provider = &models.providers[d.spec.provider].spec;
    let operation = if stream.is_none() {
        "embeddings"
    } else {
        "chat"
    };
    let traceparent = trace.begin_attempt(now_unix_ns(), || {
        let mut attrs: Vec<Attr> = vec![
            ("gen_ai.operation.name", operation.into()),
            (
                "gen_ai.provider.name",
                provider_name(provider.descriptor.kind).into(),
            ),
            ("gen_ai.request.model", d.spec.model.as_str().into()),
            ("tollgate.provider", provider.name.as_str().into()),
            ("tollgate.deployment", d.label.as_str().into()),
            (
                "tollgate.model",
                models.models[model].spec.name.as_str().into(),
            ),
        ];
        if let Some(ep) = &provider.endpoint {
            attrs.push(("server.address", ep.host.as_str().into()));
            attrs.push(("server.port", Value::Int(ep.port.into())));
        }
        if let Some(s) = stream {
            attrs.push(("gen_ai.request.stream", s.into()));
        }
        (format!("{operation} {}", d.spec.model), attrs)
    });
    let mut headers = vec![(TRACEPARENT, traceparent)];
    if let Some(ts) = &trace.tracestate {
        headers.push((TRACESTATE, ts.clone()));
    }
    headers
}

/// Semantic conventions' `gen_ai.provider.name` for a provider kind.
fn provider_name(kind: &str) -> &str {
    match kind {
        "azure_openai" => "azure.ai.openai",
        "gemini" => "gcp.gemini",
        "openai_compatible" => "openai",
        other => other,
    }
}

/// The LLM attempt under way ended: answered (`Ok(status)`) or failed.
pub fn llm_attempt_done(trace: Option<&mut Trace>, result: Result<u16, (u16, &str)>) {
    let Some(t) = trace else { return };
    match result {
        // It ends with the answer, in the logging phase: a stream lasts beyond this.
        Ok(status) => t.answered(status),
        Err((status, what)) => t.end_attempt(now_unix_ns(), Some(status), Some(what.into())),
    }
}

/// Hands the request's trace to the exporter, with its server span.
pub fn finish(otel: &Otel, session: &Session, ctx: &mut RequestCtx, status: u16) {
    let Some(mut trace) = ctx.trace.take() else {
        return;
    };
    if !otel.wants(&trace) {
        return;
    }
    let now = now_unix_ns();
    let error = error_message(ctx, status);
    let ended_well = status > 0 && status < 500;
    trace.end_attempt(now, None, (!ended_well).then(|| error_type(ctx, status)));
    if let (Some(rec), Some(last)) = (ctx.llm.as_deref(), trace.attempts.last_mut()) {
        if matches!(rec.outcome.as_ref(), "ok" | "truncated") {
            last.attrs.extend(usage(rec, true));
        }
        // The provider died mid-stream: the attempt that served failed after all.
        if rec.outcome == "truncated" && last.error.is_none() {
            last.error = Some("stream_truncated".into());
        }
    }
    otel.finish(trace, |t| RequestSpan {
        name: span_name(session, ctx),
        end_unix_ns: now,
        attrs: server_attrs(session, ctx, status, t),
        error,
    });
}

fn span_name(session: &Session, ctx: &RequestCtx) -> String {
    let method = session.req_header().method.as_str();
    match &ctx.route {
        Some(r) => format!("{method} {}", r.name),
        None => method.to_string(),
    }
}

/// `error.type`: the gateway's error code, else the status.
fn error_type(ctx: &RequestCtx, status: u16) -> String {
    match &ctx.error {
        Some(e) => e.code().to_string(),
        None if status == 0 => "no_response".into(),
        None => status.to_string(),
    }
}

/// The server span's status message: a 5xx, or no answer at all.
fn error_message(ctx: &RequestCtx, status: u16) -> Option<String> {
    if status > 0 && status < 500 {
        return None;
    }
    Some(match &ctx.error {
        Some(e) => e.to_string(),
        None if status == 0 => "no response was sent".into(),
        None => format!("HTTP {status}"),
    })
}

fn server_attrs(session: &Session, ctx: &RequestCtx, status: u16, t: &Trace) -> Vec<Attr> {
    let req = session.req_header();
    let mut a: Vec<Attr> = Vec::with_capacity(24);
    a.push(("http.request.method", req.method.as_str().into()));
    a.push(("url.path", req.uri.path().into()));
    if status > 0 {
        a.push(("http.response.status_code", status.into()));
    }
    let host = crate::routing::table::request_host(req.uri.host(), &req.headers);
    if !host.is_empty() {
        a.push(("server.address", host.into_owned().into()));
    }
    if let Some(ip) = client_ip(session) {
        a.push(("client.address", ip.to_string().into()));
    }
    if let Some(r) = &ctx.route {
        a.push(("tollgate.route", (*r.name).into()));
        let template = match &r.spec.path {
            PathMatch::Exact(p) => p.clone(),
            PathMatch::Prefix(p) => format!("{p}*"),
        };
        a.push(("http.route", template.into()));
    }
    a.push(("tollgate.request_id", ctx.request_id.as_str().into()));
    if let Some(p) = &ctx.principal {
        a.push(("tollgate.tenant", (*p.tenant).into()));
        a.push(("tollgate.app", (*p.app).into()));
    }
    if status == 0 || status >= 400 {
        a.push(("error.type", error_type(ctx, status).into()));
    }
    // Proxy attempts are counted on the context, LLM ones on the call record; spans only
    // when sampled.
    let llm_attempts = ctx.llm.as_ref().map_or(0, |r| r.attempts);
    let attempts = ctx.attempts.max(llm_attempts).max(t.attempts.len() as u32);
    a.push(("tollgate.attempts", attempts.into()));
    if let Some(rec) = ctx.llm.as_deref() {
        let op = match req.uri.path().ends_with("/embeddings") {
            true => "embeddings",
            false => "chat",
        };
        a.push(("gen_ai.operation.name", op.into()));
        a.extend(usage(rec, false));
        if let Some(provider) = t.attempts.last().and_then(|l| {
            l.attrs
                .iter()
                .find(|(k, _)| *k == "gen_ai.provider.name")
                .map(|(_, v)| v.clone())
        }) {
            a.push(("gen_ai.provider.name", provider));
        }
    }
    a
}

/// GenAI attributes of a call: on the server span the public model asked and served; on the
/// attempt that served it, the usage.
fn usage(rec: &CallRecord, attempt: bool) -> Vec<Attr> {
    let mut a: Vec<Attr> = Vec::with_capacity(12);
    if !attempt {
        a.push(("gen_ai.request.model", rec.requested_model.as_str().into()));
        if !rec.model.is_empty() {
            a.push(("gen_ai.response.model", rec.model.as_str().into()));
            a.push(("tollgate.provider", rec.provider.as_str().into()));
            a.push(("tollgate.deployment", rec.deployment.as_str().into()));
        }
        a.push(("tollgate.stream", rec.stream.into()));
        a.push(("tollgate.outcome", rec.outcome.as_ref().into()));
    } else if let Some((_, model)) = rec.deployment.split_once('/') {
        a.push(("gen_ai.response.model", model.into()));
    }
    a.push(("gen_ai.usage.input_tokens", rec.prompt_tokens.into()));
    a.push(("gen_ai.usage.output_tokens", rec.completion_tokens.into()));
    if rec.cached_tokens > 0 {
        a.push((
            "gen_ai.usage.cache_read.input_tokens",
            rec.cached_tokens.into(),
        ));
    }
    if rec.reasoning_tokens > 0 {
        a.push((
            "tollgate.usage.reasoning_tokens",
            rec.reasoning_tokens.into(),
        ));
    }
    a.push(("tollgate.cost_usd", rec.cost_usd.into()));
    if rec.usage_estimated {
        a.push(("tollgate.usage_estimated", true.into()));
    }
    a
}
