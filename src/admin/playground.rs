//! `POST /admin/playground`: the console's model playground. The console may talk to its own
//! origin only (its CSP says `connect-src 'self'`), and the data plane is another origin that
//! answers no CORS preflight. Rather than open the data plane to browsers, the admin process
//! sends the chat itself to the gateway's own listener (`proxy::mcp::loopback`, as MCP tool
//! calls do) with the key the user pasted. So the call is authenticated, limited, routed and
//! recorded by the data plane exactly like an application's, and the console needs no other
//! origin. The key is used for this one request: never stored, logged or echoed.

use super::error::AdminError;
use super::request;
use super::shared::{json, Answer, Call, Shared};
use crate::config::{ApiKind, ApiRef, Config, PathMatch};
use crate::mcp::call::HttpCall;
use crate::proxy::ctx::RequestIds;
use crate::proxy::mcp::loopback;
use once_cell::sync::Lazy;
use pingora::http::RequestHeader;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A model's answer may take a while, but not forever: the console waits this long.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The playground's calls get ids of their own, returned so the console can find the call.
static IDS: Lazy<RequestIds> = Lazy::new(RequestIds::new);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Ask {
    /// The LLM API (a route's name) to call.
    api: String,
    model: String,
    /// The caller's API key, sent as `Authorization: Bearer`.
    key: String,
    /// OpenAI chat messages, sent as they are.
    messages: Vec<Value>,
    max_tokens: Option<u32>,
}

/// Sends the chat and answers `{status, latency_ms, request_id, path, response}`: the data
/// plane's status and answer (JSON, or its text), whatever the status, so a refused key or an
/// unknown model shows as the data plane says it.
pub async fn chat(shared: &Arc<Shared>, call: Call) -> Answer {
    request::only_params(&call.query, &[])?;
    let ask: Ask = request::json(&call.body)?;
    check(&ask)?;
    let config = shared.config.load_full();
    let path = chat_path(&config, &ask.api)?;
    let to = loopback::listener(&config.server.listen).ok_or_else(|| {
        AdminError::Conflict(
            "the playground sends through a listener of [server] listen, and this gateway has \
             none it can reach (each TLS listener requires a client certificate)"
                .into(),
        )
    })?;
    let mut body = serde_json::json!({ "model": ask.model, "messages": ask.messages });
    if let Some(n) = ask.max_tokens {
        body["max_tokens"] = n.into();
    }
    let http_call = HttpCall {
        method: http::Method::POST,
        path_and_query: path.clone(),
        body: Some(body.to_string().into_bytes()),
    };
    let incoming = client(&ask.key)?;
    let request_id = IDS.next(None);
    let started = Instant::now();
    let answer = loopback::send(to, &http_call, &incoming, true, &request_id, TIMEOUT)
        .await
        .map_err(|e| AdminError::Unavailable(format!("the gateway's data plane: {e}")))?;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let response = serde_json::from_slice::<Value>(&answer.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&answer.body).into_owned()));
    json(
        200,
        &serde_json::json!({
            "status": answer.status,
            "latency_ms": latency_ms,
            "request_id": request_id,
            "path": path,
            "response": response,
        }),
    )
}

/// Refuses what cannot be sent: an empty key or model, a key that would break its header.
fn check(ask: &Ask) -> Result<(), AdminError> {
    let bad = |m: &str| Err(AdminError::BadRequest(m.to_string()));
    if ask.key.is_empty() {
        return bad("body.key: paste one of your app's keys");
    }
    if !ask.key.bytes().all(|b| b.is_ascii_graphic()) {
        return bad("body.key: a key is printable ASCII without spaces");
    }
    if ask.model.trim().is_empty() {
        return bad("body.model: choose a model");
    }
    if ask.messages.is_empty() {
        return bad("body.messages: give at least one message");
    }
    Ok(())
}

/// The request the loopback call copies its `Host` and key header from.
fn client(key: &str) -> Result<RequestHeader, AdminError> {
    let internal =
        |e: Box<pingora::Error>| AdminError::Internal(format!("playground request: {e}"));
    let mut req = RequestHeader::build("POST", b"/", None).map_err(internal)?;
    req.insert_header(http::header::HOST, "localhost")
        .map_err(internal)?;
    req.insert_header(http::header::AUTHORIZATION, format!("Bearer {key}"))
        .map_err(internal)?;
    Ok(req)
}

/// The chat endpoint of the LLM API named `api`.
fn chat_path(config: &Config, api: &str) -> Result<String, AdminError> {
    match config.api(api) {
        Some(a @ ApiRef::Route(r)) if a.kind() == ApiKind::Llm => Ok(match &r.path {
            PathMatch::Prefix(p) => format!("{}/chat/completions", p.trim_end_matches('/')),
            PathMatch::Exact(p) => p.clone(),
        }),
        Some(_) => Err(AdminError::BadRequest(format!(
            "body.api: {api} is not an LLM API"
        ))),
        None => Err(AdminError::NotFound(format!(
            "body.api: no API named {api}"
        ))),
    }
}
