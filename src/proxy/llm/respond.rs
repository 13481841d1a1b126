//! Writing LLM answers: whole bodies, streams, errors in the client's format, and the model
//! list; and completing the call record.

use super::call::{Failure, Outcome, Reply, Success};
use super::downstream::Downstream;
use super::stream::{Encode, Source, Writer};
use super::Inbound;
use crate::error::GatewayError;
use crate::llm::codec;
use crate::llm::ir::{ApiError, Usage};
use crate::llm::models::{cost, Models};
use crate::llm::provider::Format;
use crate::llm::providers::openai;
use crate::proxy::ctx::RequestCtx;
use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue};
use pingora::http::ResponseHeader;

pub(crate) fn header(
    status: u16,
    content_type: &'static str,
    ctx: &RequestCtx,
) -> pingora::Result<ResponseHeader> {
    let mut resp = ResponseHeader::build(status, Some(8))?;
    let content_type = HeaderValue::from_static(content_type);
    resp.insert_titled_header(http::header::CONTENT_TYPE, content_type);
    resp.insert_titled_header(
        crate::proxy::headers::REQUEST_ID,
        ctx.request_id.header().clone(),
    );
    for (name, value) in &ctx.response_headers {
        resp.insert_header(name.clone(), value.clone())?;
    }
    if let (Some(budget), Some(caller)) = (&ctx.budget, &ctx.caller) {
        for (name, value) in budget.openai_headers(caller, crate::base::clock::now_ns()) {
            resp.insert_header(name, value)?;
        }
    }
    Ok(resp)
}

const MODEL: HeaderName = HeaderName::from_static("x-tollgate-model");
const DEPLOYMENT: HeaderName = HeaderName::from_static("x-tollgate-deployment");
const ATTEMPTS: HeaderName = HeaderName::from_static("x-tollgate-attempts");

/// Names what served the call: the public model, the deployment and the attempts it took.
pub(crate) fn served(
    resp: &mut ResponseHeader,
    models: &Models,
    s: &Success,
) -> pingora::Result<()> {
    let model = &models.models[s.model];
    let unfit = || pingora::Error::explain(pingora::ErrorType::InvalidHTTPHeader, "model name");
    let name = model.name_value.clone().ok_or_else(unfit)?;
    let label = model.deployments[s.deployment].label_value.clone();
    let _ = resp.reserve_headers(3);
    resp.insert_titled_header(MODEL, name);
    resp.insert_titled_header(DEPLOYMENT, label.ok_or_else(unfit)?);
    resp.insert_titled_header(ATTEMPTS, HeaderValue::from(s.attempts));
    Ok(())
}

/// Writes a whole answer (and keeps its body, on a route that captures). The call's budget
/// reservation is settled first: a client that sends its next call as soon as this answer
/// arrives finds this one charged at what it used, not at its estimate.
pub(crate) async fn write_whole(
    session: &mut impl Downstream,
    ctx: &mut RequestCtx,
    mut resp: ResponseHeader,
    body: Bytes,
) -> pingora::Result<bool> {
    super::settle(ctx);
    if let Some(c) = ctx.capture.as_mut() {
        c.response_body(&body);
    }
    resp.insert_titled_header(http::header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    session.write_head(resp).await?;
    session.write_body(Some(body), true).await?;
    Ok(true)
}

/// Answers with an error in the client's format, passing a 429's `Retry-After` through.
pub async fn error(
    session: &mut impl Downstream,
    ctx: &mut RequestCtx,
    client: Format,
    err: ApiError,
    retry_after: Option<u64>,
) -> pingora::Result<bool> {
    let mut resp = header(err.kind.status(), "application/json", ctx)?;
    if let Some(after) = retry_after {
        resp.insert_header(http::header::RETRY_AFTER, after)?;
    }
    let body = Bytes::from(codec::encode_error(client, &err));
    if let Some(rec) = ctx.llm.as_mut() {
        rec.outcome = "error".into();
    }
    ctx.error = Some(Box::new(GatewayError::Llm(err)));
    write_whole(session, ctx, resp, body).await
}

pub(crate) fn record_success(ctx: &mut RequestCtx, models: &Models, s: &Success, usage: &Usage) {
    ctx.attempts = s.attempts;
    ctx.upstream_latency = Some(s.upstream_latency);
    let model = &models.models[s.model];
    let d = &model.deployments[s.deployment];
    if let Some(rec) = ctx.llm.as_mut() {
        rec.model = model.spec.name.clone();
        rec.deployment = d.label.clone();
        rec.provider = models.providers[d.spec.provider].spec.name.clone();
        // The record is telemetry's, which sits below the LLM library: copied field by field.
        rec.prompt_tokens = usage.prompt_tokens;
        rec.completion_tokens = usage.completion_tokens;
        rec.cached_tokens = usage.cached_tokens;
        rec.cache_creation_tokens = usage.cache_creation_tokens;
        rec.reasoning_tokens = usage.reasoning_tokens;
        rec.cost_usd = cost(&model.spec.prices, usage);
        rec.attempts = s.attempts;
        rec.fallbacks = s.fallbacks;
        if rec.outcome.is_empty() {
            rec.outcome = "ok".into();
        }
    }
}

pub(crate) fn first_byte(ctx: &mut RequestCtx) {
    let elapsed = ctx.start.elapsed();
    ctx.first_byte.get_or_insert(elapsed);
    let ttft = elapsed.as_secs_f64() * 1e3;
    if let Some(rec) = ctx.llm.as_mut() {
        rec.ttft_ms.get_or_insert(ttft);
    }
}

pub(crate) fn record_failure(ctx: &mut RequestCtx, f: &Failure) {
    ctx.attempts = f.attempts;
    if let Some(rec) = ctx.llm.as_mut() {
        rec.attempts = f.attempts;
        rec.fallbacks = f.fallbacks;
        rec.outcome = if f.cancelled { "cancelled" } else { "error" }.into();
    }
}

/// Answers a chat or embeddings call (`base64`: the embeddings client asked for base64).
pub async fn outcome(
    session: &mut impl Downstream,
    ctx: &mut RequestCtx,
    models: &Models,
    inbound: &Inbound,
    outcome: Outcome,
    base64: bool,
) -> pingora::Result<bool> {
    let s = match outcome {
        Ok(s) => s,
        Err(f) => {
            record_failure(ctx, &f);
            if f.cancelled {
                ctx.error = Some(Box::new(GatewayError::Llm(f.err)));
                return Ok(true);
            }
            return error(session, ctx, inbound.client, f.err, f.retry_after).await;
        }
    };
    let (body, usage) = match &s.reply {
        Reply::Raw { body, usage } => (body.clone(), *usage),
        Reply::Chat(resp) => (
            Bytes::from(codec::encode_response(inbound.client, resp)),
            resp.usage,
        ),
        Reply::Embeddings(r) => (
            Bytes::from(openai::response::encode_embeddings(r, base64)),
            r.usage,
        ),
        Reply::Stream(_) => return stream(session, ctx, models, inbound, s).await,
    };
    record_success(ctx, models, &s, &usage);
    let mut resp = header(200, "application/json", ctx)?;
    served(&mut resp, models, &s)?;
    first_byte(ctx);
    write_whole(session, ctx, resp, body).await
}

async fn stream(
    session: &mut impl Downstream,
    ctx: &mut RequestCtx,
    models: &Models,
    inbound: &Inbound,
    mut s: Success,
) -> pingora::Result<bool> {
    let Some(source) = take_stream(&mut s) else {
        return Ok(true);
    };
    let mut writer = Writer::new(inbound.client, &source, inbound.include_usage());
    pump(
        session,
        ctx,
        models,
        s,
        source,
        &mut writer,
        inbound.body.len(),
    )
    .await
}

/// The provider's stream of a successful call, when it answered with one.
pub(crate) fn take_stream(s: &mut Success) -> Option<Source> {
    let placeholder = Reply::Raw {
        body: Bytes::new(),
        usage: Usage::default(),
    };
    match std::mem::replace(&mut s.reply, placeholder) {
        Reply::Stream(source) => Some(*source),
        other => {
            s.reply = other;
            None
        }
    }
}

/// Writes `source` to the client as `enc` encodes it, event by event, until it ends, breaks or
/// the client leaves (which abandons the provider's call); then completes the call record:
/// the outcome, and the usage (estimated from `prompt_bytes` and what was delivered when the
/// stream was cut). Serves the chat APIs' streams and prompt APIs' alike.
pub(crate) async fn pump(
    session: &mut impl Downstream,
    ctx: &mut RequestCtx,
    models: &Models,
    s: Success,
    mut source: Source,
    enc: &mut impl Encode,
    prompt_bytes: usize,
) -> pingora::Result<bool> {
    let mut resp = header(200, "text/event-stream", ctx)?;
    resp.insert_header(http::header::CACHE_CONTROL, "no-cache")?;
    // Chunked for an HTTP/1.1 client: with neither a length nor chunked, Pingora sends the
    // stream close-delimited (under `Connection: keep-alive`), so the connection closes after
    // each stream and a stream cut short cannot be told from a whole one. An HTTP/1.0 client
    // cannot take chunked and reads to the close; HTTP/2 frames the stream itself.
    if session.chunked_answers() {
        resp.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
    }
    served(&mut resp, models, &s)?;
    session.write_head(resp).await?;
    let mut out = BytesMut::with_capacity(4096);
    let mut outcome = "ok";
    loop {
        let next = tokio::select! {
            biased;
            _ = session.gone() => None,
            n = source.next() => Some(n),
        };
        let done = match next {
            None => {
                outcome = "cancelled";
                source.abandon().await;
                break;
            }
            Some(Ok(Some(item))) => {
                enc.item(&item, &mut out);
                false
            }
            Some(Ok(None)) => {
                enc.finish(&mut out);
                true
            }
            Some(Err(e)) => {
                enc.error(&e, &mut out);
                outcome = "truncated";
                ctx.error = Some(Box::new(GatewayError::Llm(e)));
                true
            }
        };
        if done && outcome == "ok" {
            // Charged before the stream's last bytes leave, as `write_whole` does.
            record_success(ctx, models, &s, &enc.usage());
            super::settle(ctx);
        }
        if !out.is_empty() {
            if enc.content_seen() {
                first_byte(ctx);
            }
            let chunk = out.split().freeze();
            if let Some(c) = ctx.capture.as_mut() {
                c.response_body(&chunk);
            }
            if session.write_body(Some(chunk), false).await.is_err() {
                outcome = "cancelled";
                source.abandon().await;
                break;
            }
            enc.sent();
        }
        if done {
            source.abandon().await;
            let _ = session.write_body(None, true).await;
            break;
        }
    }
    let (usage, estimated) = match outcome {
        "ok" => (enc.usage(), false),
        _ => cut_usage(enc.usage(), prompt_bytes, enc.delivered()),
    };
    if let Some(rec) = ctx.llm.as_mut() {
        rec.outcome = outcome.into();
        rec.usage_estimated = estimated;
    }
    record_success(ctx, models, &s, &usage);
    Ok(true)
}

/// The usage a stream cut short is charged: what the provider reported, where it falls short
/// of the estimate (the prompt's bytes, the content bytes sent) the estimate; and whether any
/// of it is estimated.
pub(crate) fn cut_usage(reported: Usage, prompt_bytes: usize, sent_bytes: u64) -> (Usage, bool) {
    use crate::limits::budget::tokens_of_bytes;
    let mut usage = reported;
    let mut estimated = false;
    if usage.prompt_tokens == 0 {
        usage.prompt_tokens = tokens_of_bytes(prompt_bytes as u64);
        estimated = true;
    }
    let output = tokens_of_bytes(sent_bytes);
    if output > usage.completion_tokens {
        usage.completion_tokens = output;
        estimated = true;
    }
    (usage, estimated)
}

/// `GET /v1/models` and `/v1/models/{id}`, in the `client`'s shape (`super::client_format`:
/// Anthropic's for a client that sends `anthropic-version`).
pub async fn models(
    session: &mut impl Downstream,
    ctx: &mut RequestCtx,
    models: &Models,
    id: Option<&str>,
    client: Format,
) -> pingora::Result<bool> {
    let anthropic = client == Format::Anthropic;
    let entry = |name: &str| {
        if anthropic {
            serde_json::json!({"type": "model", "id": name, "display_name": name,
                "created_at": "1970-01-01T00:00:00Z"})
        } else {
            serde_json::json!({"id": name, "object": "model", "created": 0, "owned_by": "tollgate"})
        }
    };
    let tenant = ctx.principal.as_deref();
    let body = match id {
        Some(id) => match models.find(id).filter(|&m| permitted(models, m, tenant)) {
            Some(_) => entry(id),
            None => {
                let e = ApiError::new(
                    crate::llm::ir::ErrorKind::NotFound,
                    format!("The model `{id}` does not exist"),
                )
                .with_code("model_not_found");
                return error(session, ctx, client, e, None).await;
            }
        },
        None => {
            let names: Vec<&str> = (0..models.models.len())
                .filter(|&m| permitted(models, m, tenant))
                .map(|m| models.models[m].spec.name.as_str())
                .collect();
            let data: Vec<_> = names.iter().map(|n| entry(n)).collect();
            if anthropic {
                serde_json::json!({"data": data, "has_more": false,
                    "first_id": names.first(), "last_id": names.last()})
            } else {
                serde_json::json!({"object": "list", "data": data})
            }
        }
    };
    let resp = header(200, "application/json", ctx)?;
    write_whole(session, ctx, resp, Bytes::from(body.to_string())).await
}

/// Whether `tenant` (or an anonymous caller, when `None`) may use public model `m`: the model
/// must be visible to its tenant and on the app's list, if the app has one.
pub fn permitted(models: &Models, m: usize, tenant: Option<&crate::auth::Principal>) -> bool {
    let spec = &models.models[m].spec;
    match tenant {
        Some(p) => spec.visibility.admits(&p.tenant) && p.may_use_model(&spec.name),
        None => spec.visibility == crate::config::Visibility::Public,
    }
}
