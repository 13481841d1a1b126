//! The request path of prompt APIs (`[[prompts]]`), run from `request_filter` like the LLM
//! handler: `POST {path}` with the input as a JSON object, checked against the input schema,
//! rendered into a chat request (`llm::prompt`), and sent through the LLM handler's own call
//! machinery (`llm::call`: deployments, retries, fallbacks, usage, cost, the call record and
//! the limits' settlement). The answer is `{"output": ..., "usage": {...}, "model": "..."}`.
//!
//! A JSON output is parsed and checked against the output schema; an answer that fails gets
//! one repair attempt (the bad answer and what was wrong sent back to the model), then a 502
//! that names the problem. `?stream=true` asks a text prompt for Server-Sent Events: `delta`
//! events (`{"text": ...}`), then `done` (`{"usage": ..., "model": ...}`), or `error`.
//! Errors are the gateway's JSON error shape, with `param` naming the field at fault.

mod stream;

use super::ctx::RequestCtx;
use super::llm::call::{self, Reply, Success};
use super::llm::{self, respond, Inbound};
use crate::base::json_schema::Schema;
use crate::config::{PromptOutput, PromptSpec};
use crate::error::GatewayError;
use crate::llm::ir::{ApiError, ErrorKind, Usage};
use crate::llm::models::Models;
use crate::llm::prompt;
use crate::llm::provider::Format;
use crate::telemetry::call::CallRecord;
use bytes::Bytes;
use pingora::proxy::Session;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Errors are written in the OpenAI shape the gateway's other errors share (with `param`).
const ERRORS: Format = Format::OpenAi;

/// Serves one request of a prompt API. Always answers the client itself.
pub async fn serve(
    session: &mut Session,
    ctx: &mut RequestCtx,
    models: Arc<Models>,
    prompt: Arc<PromptSpec>,
) -> pingora::Result<bool> {
    let served = run(session, ctx, &models, &prompt).await;
    llm::settle(ctx);
    served
}

async fn run(
    session: &mut Session,
    ctx: &mut RequestCtx,
    models: &Models,
    prompt: &PromptSpec,
) -> pingora::Result<bool> {
    let (input, body_len, stream) = match admit(session, ctx, models, prompt).await {
        Ok(v) => v,
        Err(e) => return respond::error(session, ctx, ERRORS, e, None).await,
    };
    let Some(model) = models.find(&prompt.model) else {
        let e = ApiError::new(ErrorKind::NotFound, "the prompt's model is gone");
        return respond::error(session, ctx, ERRORS, e, None).await;
    };
    let json = match &prompt.output {
        PromptOutput::Json { raw, .. } => Some((prompt::schema_name(&prompt.name), raw)),
        PromptOutput::Text => None,
    };
    let messages = prompt::render(&prompt.messages, &input);
    let json_ref = json.as_ref().map(|(n, raw)| (n.as_str(), *raw));
    let request = prompt::request(&prompt.model, messages, &prompt.params, json_ref, stream);
    let mut inbound = Inbound::rendered(request);
    if let Err(limited) = llm::reserve(ctx, models, model, &inbound.peek, body_len).await {
        let e = llm::limit_error(&limited);
        return respond::error(session, ctx, ERRORS, e, None).await;
    }
    ctx.llm = Some(Box::new(CallRecord {
        requested_model: prompt.model.clone(),
        stream,
        ..CallRecord::default()
    }));
    let first = match attempt(session, ctx, models, model, &mut inbound).await {
        Ok(s) => s,
        Err(answered) => return answered,
    };
    if stream {
        return stream::answer(session, ctx, models, first, body_len).await;
    }
    match &prompt.output {
        PromptOutput::Text => {
            let text = Value::String(reply_text(&first.0));
            answer(session, ctx, models, first, text).await
        }
        PromptOutput::Json { schema, raw } => {
            let call = (model, &mut inbound);
            checked(session, ctx, models, call, first, (schema, raw)).await
        }
    }
}

/// Answers with the JSON a model gave, checked against the output schema: after one repair
/// attempt when the first answer fails, and a 502 naming the problem when the second does.
async fn checked(
    session: &mut Session,
    ctx: &mut RequestCtx,
    models: &Models,
    (model, inbound): (usize, &mut Inbound),
    first: (Success, Usage),
    (schema, raw): (&Schema, &Value),
) -> pingora::Result<bool> {
    let problem = match prompt::check_output(&reply_text(&first.0), schema) {
        Ok(value) => return answer(session, ctx, models, first, value).await,
        Err(problem) => problem,
    };
    // The first call's usage is recorded (and charged) even if the repair attempt fails.
    respond::record_success(ctx, models, &first.0, &first.1);
    // One repair attempt: the model sees its answer and what was wrong with it.
    inbound.push_messages(prompt::repair(&reply_text(&first.0), &problem, raw));
    let mut second = match attempt(session, ctx, models, model, inbound).await {
        Ok(s) => s,
        Err(answered) => return answered,
    };
    second.0.attempts += first.0.attempts;
    second.1 = sum(&first.1, &second.1);
    match prompt::check_output(&reply_text(&second.0), schema) {
        Ok(value) => answer(session, ctx, models, second, value).await,
        Err(problem) => {
            respond::record_success(ctx, models, &second.0, &second.1);
            let e = ApiError::new(
                ErrorKind::BadResponse,
                format!(
                    "the model's answer does not match the output schema, after a repair attempt: {problem}"
                ),
            )
            .with_code("invalid_output");
            respond::error(session, ctx, ERRORS, e, None).await
        }
    }
}

/// Checks the method, the media type and the body against the input schema; gives the input,
/// the body's size and whether the caller asked for a stream.
async fn admit(
    session: &mut Session,
    ctx: &mut RequestCtx,
    models: &Models,
    prompt: &PromptSpec,
) -> Result<(Map<String, Value>, usize, bool), ApiError> {
    let req = session.req_header();
    if req.method != http::Method::POST {
        let e = ApiError::new(
            ErrorKind::MethodNotAllowed,
            format!("{} takes POST, not {}", prompt.path, req.method),
        )
        .with_code("method_not_allowed");
        if !super::drain_body(session).await {
            session.set_keepalive(None);
        }
        return Err(e);
    }
    let stream = wants_stream(req.uri.query(), prompt)?;
    let json_type = req
        .headers
        .get(http::header::CONTENT_TYPE)
        .map(|v| is_json(v.as_bytes()));
    if json_type == Some(false) {
        if !super::drain_body(session).await {
            session.set_keepalive(None);
        }
        return Err(ApiError::new(
            ErrorKind::UnsupportedMediaType,
            "a prompt API takes its input as JSON: send Content-Type: application/json",
        )
        .with_code("unsupported_media_type"));
    }
    let body = match llm::read_body(session, models.policy.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => {
            session.set_keepalive(None);
            return Err(e);
        }
    };
    ctx.body_bytes = body.len() as u64;
    if let Some(c) = ctx.capture.as_mut() {
        c.request_body(&body);
    }
    Ok((input(&body, prompt)?, body.len(), stream))
}

/// The body as the prompt's input: a JSON object its schema admits.
fn input(body: &[u8], prompt: &PromptSpec) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid("body", format!("invalid JSON body: {e}")))?;
    if let Err(v) = prompt.input.validate(&value, "input") {
        return Err(ApiError::invalid(v.path.clone(), v.to_string()).with_code("invalid_input"));
    }
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::invalid("input", "input: expected a JSON object")),
    }
}

fn is_json(content_type: &[u8]) -> bool {
    let text = String::from_utf8_lossy(content_type).to_ascii_lowercase();
    let essence = text.split(';').next().unwrap_or("").trim();
    essence == "application/json" || essence.ends_with("+json")
}

/// `?stream=true` (or `1`); refused where the prompt does not stream.
fn wants_stream(query: Option<&str>, prompt: &PromptSpec) -> Result<bool, ApiError> {
    let value = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|pair| pair.strip_prefix("stream="));
    let stream = match value {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(other) => {
            return Err(ApiError::invalid(
                "stream",
                format!("stream={other}: write stream=true or stream=false"),
            ))
        }
    };
    if stream && !prompt.stream {
        let why = match prompt.output {
            PromptOutput::Json { .. } => "its JSON answer is checked whole before it is sent",
            PromptOutput::Text => "it has stream = false",
        };
        return Err(ApiError::invalid(
            "stream",
            format!("prompt API {} does not stream: {why}", prompt.name),
        )
        .with_code("stream_not_supported"));
    }
    Ok(stream)
}

/// One call of the model through the LLM handler's plan; a failure is answered here.
async fn attempt(
    session: &mut Session,
    ctx: &mut RequestCtx,
    models: &Models,
    model: usize,
    inbound: &mut Inbound,
) -> Result<(Success, Usage), pingora::Result<bool>> {
    match call::run_chat(session, ctx, models, model, inbound).await {
        Ok(s) => {
            let usage = match &s.reply {
                Reply::Chat(resp) => resp.usage,
                Reply::Raw { usage, .. } => *usage,
                _ => Usage::default(),
            };
            Ok((s, usage))
        }
        Err(f) => {
            respond::record_failure(ctx, &f);
            if f.cancelled {
                ctx.error = Some(Box::new(GatewayError::Llm(f.err)));
                return Err(Ok(true));
            }
            Err(respond::error(session, ctx, ERRORS, f.err, f.retry_after).await)
        }
    }
}

/// The text of the first choice of a whole answer.
fn reply_text(s: &Success) -> String {
    match &s.reply {
        Reply::Chat(resp) => resp
            .choices
            .first()
            .map(|c| c.message.joined_text())
            .unwrap_or_default(),
        // A rendered request is never spliced, so no other reply comes back whole.
        _ => String::new(),
    }
}

fn sum(a: &Usage, b: &Usage) -> Usage {
    Usage {
        prompt_tokens: a.prompt_tokens + b.prompt_tokens,
        completion_tokens: a.completion_tokens + b.completion_tokens,
        cached_tokens: a.cached_tokens + b.cached_tokens,
        cache_creation_tokens: a.cache_creation_tokens + b.cache_creation_tokens,
        reasoning_tokens: a.reasoning_tokens + b.reasoning_tokens,
    }
}

fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.total(),
    })
}

async fn answer(
    session: &mut Session,
    ctx: &mut RequestCtx,
    models: &Models,
    (s, usage): (Success, Usage),
    output: Value,
) -> pingora::Result<bool> {
    respond::record_success(ctx, models, &s, &usage);
    let model = &models.models[s.model].spec.name;
    let body = json!({"output": output, "usage": usage_json(&usage), "model": model});
    let mut resp = respond::header(200, "application/json", ctx)?;
    respond::served(&mut resp, models, &s)?;
    respond::first_byte(ctx);
    respond::write_whole(session, ctx, resp, Bytes::from(body.to_string())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_are_recognised() {
        assert!(is_json(b"application/json"));
        assert!(is_json(b"Application/JSON; charset=utf-8"));
        assert!(is_json(b"application/vnd.api+json"));
        assert!(!is_json(b"text/plain"));
        assert!(!is_json(b"application/x-www-form-urlencoded"));
    }
}
