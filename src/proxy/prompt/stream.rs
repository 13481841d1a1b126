//! A prompt API's streamed answer: the provider's text as `delta` events (`{"text": ...}`),
//! then `done` (`{"usage": ..., "model": ...}`), or `error` when the provider's stream breaks.

use super::{usage_json, ERRORS};
use crate::error::GatewayError;
use crate::llm::ir::{ApiError, ErrorKind, StreamEvent, Usage};
use crate::llm::models::Models;
use crate::llm::sse;
use crate::proxy::ctx::RequestCtx;
use crate::proxy::llm::call::{client_gone, Reply, Success};
use crate::proxy::llm::{respond, stream::Source};
use bytes::{Bytes, BytesMut};
use pingora::proxy::Session;
use serde_json::json;

/// Streams a text answer as `delta` events, then `done` (or `error`).
pub(super) async fn answer(
    session: &mut Session,
    ctx: &mut RequestCtx,
    models: &Models,
    (mut s, _): (Success, Usage),
    body_len: usize,
) -> pingora::Result<bool> {
    let placeholder = Reply::Raw {
        body: Bytes::new(),
        usage: Usage::default(),
    };
    let Reply::Stream(source) = std::mem::replace(&mut s.reply, placeholder) else {
        // Never so: a streamed request is answered with a stream (`call::attempt_chat`).
        let e = ApiError::new(ErrorKind::BadResponse, "the provider did not stream");
        return respond::error(session, ctx, ERRORS, e, None).await;
    };
    let mut source: Source = *source;
    let mut resp = respond::header(200, "text/event-stream", ctx)?;
    resp.insert_header(http::header::CACHE_CONTROL, "no-cache")?;
    respond::served(&mut resp, models, &s)?;
    session.write_response_header(Box::new(resp), false).await?;
    let model = models.models[s.model].spec.name.clone();
    let mut usage = Usage::default();
    let mut sent: u64 = 0;
    let mut out = BytesMut::with_capacity(1024);
    let mut outcome = "ok";
    loop {
        let next = tokio::select! {
            biased;
            _ = client_gone(session) => None,
            n = source.next() => Some(n),
        };
        let done = match next {
            None => {
                outcome = "cancelled";
                true
            }
            Some(Ok(Some(item))) => {
                for ev in &item.events {
                    match ev {
                        StreamEvent::Text { index: 0, text } => {
                            sent += text.len() as u64;
                            let data = json!({ "text": text }).to_string();
                            sse::encode(Some("delta"), &data, &mut out);
                        }
                        StreamEvent::Usage(u) => usage.merge(u),
                        _ => {}
                    }
                }
                false
            }
            Some(Ok(None)) => {
                let data = json!({"usage": usage_json(&usage), "model": model}).to_string();
                sse::encode(Some("done"), &data, &mut out);
                true
            }
            Some(Err(e)) => {
                let data = json!({"error": {"message": e.message, "type": e.kind.openai_type(),
                    "code": e.code}});
                sse::encode(Some("error"), &data.to_string(), &mut out);
                outcome = "truncated";
                ctx.error = Some(GatewayError::Llm(e));
                true
            }
        };
        if !out.is_empty() {
            respond::first_byte(ctx);
            let chunk = out.split().freeze();
            if let Some(c) = ctx.capture.as_mut() {
                c.response_body(&chunk);
            }
            if session
                .write_response_body(Some(chunk), false)
                .await
                .is_err()
            {
                outcome = "cancelled";
            }
        }
        if done || outcome == "cancelled" {
            source.abandon().await;
            if outcome != "cancelled" {
                let _ = session.write_response_body(None, true).await;
            }
            break;
        }
    }
    let (usage, estimated) = match outcome {
        "ok" => (usage, false),
        _ => respond::cut_usage(usage, body_len, sent),
    };
    if let Some(rec) = ctx.llm.as_mut() {
        rec.outcome = outcome.into();
        rec.usage_estimated = estimated;
    }
    respond::record_success(ctx, models, &s, &usage);
    Ok(true)
}
