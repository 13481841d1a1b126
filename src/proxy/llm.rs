//! The LLM request path, run from `request_filter` on routes with `handler = "llm"`.
//!
//! DESIGN: the target of an LLM call depends on the `model` field of the body, and Pingora
//! replays at most 64 KiB of a body read in `request_filter`, so this handler reads the body
//! itself (capped), calls the provider itself (`call`), writes the answer itself (`respond`,
//! `stream`) and returns `Ok(true)`. Nothing reaches the client before an attempt has
//! succeeded, which is what lets `call` retry and fall back.

pub(crate) mod call;
pub(crate) mod downstream;
pub(crate) mod respond;
pub(crate) mod stream;

use crate::auth::Denied;
use crate::base::body::Gathered;
use crate::base::clock::now_ns;
use crate::limits::budget::{self, Spend};
use crate::llm::ir::{ApiError, ChatRequest, ErrorKind};
use crate::llm::models::Models;
use crate::llm::passthrough::Peek;
use crate::llm::provider::Format;
use crate::llm::validate::Api;
use crate::llm::{codec, providers::openai};
use crate::proxy::ctx::RequestCtx;
use crate::telemetry::call::CallRecord;
use bytes::Bytes;
use downstream::Downstream;
use pingora::proxy::Session;
use std::sync::Arc;

/// The API a request addresses, from the end of its path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Surface {
    /// `/chat/completions` (OpenAI) or `/messages` (Anthropic).
    Chat(Format),
    Embeddings,
    Models,
    Model(String),
}

/// The chat API a path addresses, by its end.
fn chat_format(path: &str) -> Option<Format> {
    if path.ends_with("/chat/completions") {
        Some(Format::OpenAi)
    } else if path.ends_with("/messages") {
        Some(Format::Anthropic)
    } else {
        None
    }
}

/// The one rule for the format a client is answered in, errors and refusals included (the
/// proxy's refusals on an LLM route come here too): the API its path addresses (`/messages`
/// Anthropic's, `/chat/completions` and `/embeddings` OpenAI's), else (the model list, an
/// unknown path) Anthropic's for a client that sends `anthropic-version`, else OpenAI's.
/// Read from the head alone, before any body.
pub fn client_format(req: &pingora::http::RequestHeader) -> Format {
    format_of(req.uri.path(), || {
        req.headers.contains_key(ANTHROPIC_VERSION)
    })
}

const ANTHROPIC_VERSION: &str = "anthropic-version";

/// [`client_format`] of a request to `path`; `anthropic`: whether it sends `anthropic-version`.
fn format_of(path: &str, anthropic: impl FnOnce() -> bool) -> Format {
    match chat_format(path) {
        Some(format) => format,
        None if path.ends_with("/embeddings") => Format::OpenAi,
        None if anthropic() => Format::Anthropic,
        None => Format::OpenAi,
    }
}

fn surface(method: &http::Method, path: &str) -> Result<Surface, ApiError> {
    let (want, surface) = if let Some(format) = chat_format(path) {
        (http::Method::POST, Surface::Chat(format))
    } else if path.ends_with("/embeddings") {
        (http::Method::POST, Surface::Embeddings)
    } else if path.ends_with("/models") {
        (http::Method::GET, Surface::Models)
    } else if let Some((_, id)) = path
        .rsplit_once("/models/")
        .filter(|(_, id)| !id.is_empty())
    {
        (http::Method::GET, Surface::Model(id.to_owned()))
    } else {
        return Err(ApiError::new(
            ErrorKind::NotFound,
            format!("no LLM API at {path}; try /v1/chat/completions, /v1/messages, /v1/embeddings or /v1/models"),
        )
        .with_code("unknown_url"));
    };
    if method != want {
        return Err(ApiError::new(
            ErrorKind::InvalidRequest,
            format!("{path} takes {want}, not {method}"),
        )
        .with_code("method_not_allowed"));
    }
    Ok(surface)
}

/// A client's request, read whole; decoded to the canonical form only when a deployment
/// needs it (same-format calls never do).
pub struct Inbound {
    pub client: Format,
    pub body: Bytes,
    pub peek: Peek,
    ir: Option<ChatRequest>,
    /// The body may go as it came to a provider of the client's format; false for a request
    /// the gateway made itself (a prompt API's), which is always encoded from `ir`.
    pub splice: bool,
}

impl Inbound {
    /// A request the gateway made (a prompt API's), sent to any provider encoded from `ir`.
    pub fn rendered(request: ChatRequest) -> Inbound {
        let mut peek = Peek::default();
        peek.model = request.model.clone();
        peek.stream = request.stream;
        peek.include_usage = request.include_usage;
        peek.max_output = request.max_tokens.map(u64::from);
        Inbound {
            client: Format::OpenAi,
            body: Bytes::new(),
            peek,
            ir: Some(request),
            splice: false,
        }
    }

    /// Appends messages to a rendered request (a prompt API's repair attempt).
    pub fn push_messages(&mut self, messages: impl IntoIterator<Item = crate::llm::ir::Message>) {
        if let Some(ir) = self.ir.as_mut() {
            ir.messages.extend(messages);
        }
    }

    pub fn ir(&mut self) -> Result<&ChatRequest, ApiError> {
        if self.ir.is_none() {
            self.ir = Some(codec::decode_chat(self.client, &self.body)?);
        }
        self.ir
            .as_ref()
            .ok_or_else(|| ApiError::new(ErrorKind::ProviderFailure, "request not decoded"))
    }

    /// What the client asked for `include_usage`; Anthropic clients always get usage.
    fn include_usage(&self) -> bool {
        self.client == Format::Anthropic || self.peek.include_usage
    }
}

/// Serves one request of an LLM route. Always answers the client itself.
pub(crate) async fn serve(
    session: &mut impl Downstream,
    ctx: &mut RequestCtx,
    models: Arc<Models>,
) -> pingora::Result<bool> {
    let client = format_of(session.path(), || session.sends_anthropic_version());
    let surface = match surface(session.method(), session.path()) {
        Ok(s) => s,
        Err(e) => return respond::error(session, ctx, client, e, None).await,
    };
    let served = match surface {
        Surface::Models => respond::models(session, ctx, &models, None, client).await,
        Surface::Model(id) => respond::models(session, ctx, &models, Some(&id), client).await,
        // The path's format, which is `client`.
        Surface::Chat(format) => chat(session, ctx, &models, format).await,
        Surface::Embeddings => embeddings(session, ctx, &models).await,
    };
    settle(ctx);
    served
}

fn denial(d: &Denied) -> ApiError {
    let kind = if d.status() == 401 {
        ErrorKind::Authentication
    } else {
        ErrorKind::PermissionDenied
    };
    ApiError::new(kind, d.to_string()).with_code(d.code())
}

/// Answers a request the API gate refused, in the client's error format.
pub async fn deny(session: &mut Session, ctx: &mut RequestCtx, d: Denied) -> pingora::Result<bool> {
    let client = client_format(session.req_header());
    if !super::drain_body(session).await {
        session.set_keepalive(None);
    }
    respond::error(session, ctx, client, denial(&d), None).await
}

/// The error a refusal by a limit answers with, in the OpenAI shape (or the client's).
pub(crate) fn limit_error(l: &crate::limits::vocab::Limited) -> ApiError {
    let (kind, code) = match (l.unavailable, l.kind.status()) {
        (true, _) => (ErrorKind::Unavailable, "rate_limiter_unavailable"),
        (false, 402) => (ErrorKind::BudgetExhausted, l.kind.code()),
        (false, _) => (ErrorKind::RateLimited, l.kind.code()),
    };
    ApiError::new(kind, l.to_string()).with_code(code)
}

/// Answers a request a request limit or concurrency cap refused, in the client's error
/// format; `Retry-After` is among the rate-limit headers already.
pub async fn limited(
    session: &mut Session,
    ctx: &mut RequestCtx,
    l: crate::limits::vocab::Limited,
) -> pingora::Result<bool> {
    let client = client_format(session.req_header());
    if !super::drain_body(session).await {
        session.set_keepalive(None);
    }
    respond::error(session, ctx, client, limit_error(&l), None).await
}

/// Reads the request body, refusing it past `cap` bytes.
pub(crate) async fn read_body(session: &mut impl Downstream, cap: u64) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorKind::PayloadTooLarge,
            format!("request body is larger than the limit of {cap} bytes"),
        )
        .with_code("body_too_large")
    };
    let mut body = Gathered::default();
    let mut seen: u64 = 0;
    loop {
        match session.read_body().await {
            Ok(Some(chunk)) => {
                seen += chunk.len() as u64;
                if seen > cap {
                    // Refused: the rest is drained under the one policy (`super::drain_rest`),
                    // so the client, still sending, gets the 413 rather than a reset. The
                    // connection closes either way (`admit`).
                    session.drain_rest().await;
                    return Err(too_large());
                }
                body.push(chunk);
            }
            Ok(None) => return Ok(body.finish()),
            Err(e) => {
                return Err(ApiError::new(
                    ErrorKind::InvalidRequest,
                    format!("could not read the request body: {}", e.etype().as_str()),
                ))
            }
        }
    }
}

/// Reserves the call's estimated usage from the route's token and cost limits.
pub(crate) async fn reserve(
    ctx: &mut RequestCtx,
    models: &Models,
    model: usize,
    peek: &Peek,
    body_len: usize,
) -> Result<(), crate::limits::vocab::Limited> {
    let (Some(budget), Some(caller)) = (ctx.budget.as_mut(), ctx.caller.as_mut()) else {
        return Ok(());
    };
    let spec = &models.models[model].spec;
    // Limits keyed on the model count the public model the request resolved to.
    caller.model = Some(Arc::from(spec.name.as_str()));
    let prompt = budget::tokens_of_bytes(body_len as u64);
    let output = peek
        .max_output
        .or(spec.max_output_tokens.map(u64::from))
        .unwrap_or(budget::DEFAULT_OUTPUT);
    let estimate = Spend {
        tokens: prompt + output,
        micro_usd: (prompt as f64 * spec.prices.input + output as f64 * spec.prices.output) as u64,
    };
    let headers = &mut ctx.response_headers;
    budget
        .reserve(caller, &spec.limits, estimate, now_ns(), headers)
        .await
}

/// Settles the reservation with the usage the call record holds (none after a failure).
pub(crate) fn settle(ctx: &mut RequestCtx) {
    let Some(budget) = ctx.budget.take() else {
        return;
    };
    let used = ctx.llm.as_ref().map_or(Spend::default(), |r| Spend {
        tokens: r.prompt_tokens + r.completion_tokens,
        micro_usd: (r.cost_usd * 1e6).round() as u64,
    });
    budget.settle(used, now_ns());
}

/// Reads the body, validates its parameters for `api` and finds its model; on failure the
/// client has been answered.
async fn admit(
    session: &mut impl Downstream,
    ctx: &mut RequestCtx,
    models: &Models,
    client: Format,
    api: Api,
) -> Result<(Inbound, usize), pingora::Result<bool>> {
    let body = match read_body(session, models.policy.max_body_bytes).await {
        Ok(b) => {
            ctx.body_bytes = b.len() as u64;
            b
        }
        Err(e) => {
            // The body may not have been read to its end: the connection cannot be reused.
            session.end_connection();
            return Err(respond::error(session, ctx, client, e, None).await);
        }
    };
    if let Some(c) = ctx.capture.as_mut() {
        c.request_body(&body);
    }
    let peek = match Peek::read(&body, api) {
        Ok(p) => p,
        Err(e) => return Err(respond::error(session, ctx, client, e, None).await),
    };
    let Some(model) = models.find(&peek.model) else {
        let e = ApiError::new(
            ErrorKind::NotFound,
            format!("The model `{}` does not exist", peek.model),
        )
        .with_code("model_not_found");
        return Err(respond::error(session, ctx, client, e, None).await);
    };
    if !respond::permitted(models, model, ctx.principal.as_deref()) {
        let denied = Denied::Model {
            model: peek.model.clone(),
            app: ctx.principal.as_ref().map_or_else(
                || "(no API key)".to_string(),
                |p| format!("{}/{}", p.tenant, p.app),
            ),
        };
        return Err(respond::error(session, ctx, client, denial(&denied), None).await);
    }
    if let Err(limited) = reserve(ctx, models, model, &peek, body.len()).await {
        // Retry-After is among the rate-limit headers already.
        let e = limit_error(&limited);
        return Err(respond::error(session, ctx, client, e, None).await);
    }
    ctx.llm = Some(Box::new(CallRecord {
        requested_model: peek.model.clone(),
        stream: peek.stream,
        ..CallRecord::default()
    }));
    let inbound = Inbound {
        client,
        body,
        peek,
        ir: None,
        splice: true,
    };
    Ok((inbound, model))
}

async fn chat(
    session: &mut impl Downstream,
    ctx: &mut RequestCtx,
    models: &Models,
    client: Format,
) -> pingora::Result<bool> {
    let (mut inbound, model) = match admit(session, ctx, models, client, Api::Chat(client)).await {
        Ok(v) => v,
        Err(answered) => return answered,
    };
    let outcome = call::run_chat(session, ctx, models, model, &mut inbound).await;
    respond::outcome(session, ctx, models, &inbound, outcome, false).await
}

async fn embeddings(
    session: &mut impl Downstream,
    ctx: &mut RequestCtx,
    models: &Models,
) -> pingora::Result<bool> {
    let (inbound, model) = match admit(session, ctx, models, Format::OpenAi, Api::Embeddings).await
    {
        Ok(v) => v,
        Err(answered) => return answered,
    };
    let request = match openai::request::decode_embeddings(&inbound.body) {
        Ok(r) => r,
        Err(e) => return respond::error(session, ctx, Format::OpenAi, e, None).await,
    };
    let outcome = call::run_embeddings(session, ctx, models, model, &inbound, &request).await;
    respond::outcome(session, ctx, models, &inbound, outcome, request.base64).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surfaces_are_found_by_the_end_of_the_path() {
        let post = http::Method::POST;
        let get = http::Method::GET;
        assert_eq!(
            surface(&post, "/v1/chat/completions").unwrap(),
            Surface::Chat(Format::OpenAi)
        );
        assert_eq!(
            surface(&post, "/llm/v1/messages").unwrap(),
            Surface::Chat(Format::Anthropic)
        );
        assert_eq!(
            surface(&post, "/v1/embeddings").unwrap(),
            Surface::Embeddings
        );
        assert_eq!(surface(&get, "/v1/models").unwrap(), Surface::Models);
        assert_eq!(
            surface(&get, "/v1/models/demo").unwrap(),
            Surface::Model("demo".into())
        );
        assert_eq!(
            surface(&get, "/v1/chat/completions").unwrap_err().kind,
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            surface(&post, "/v1/nothing").unwrap_err().kind,
            ErrorKind::NotFound
        );
    }

    #[test]
    fn the_client_format_is_the_paths_api_else_the_anthropic_version_header() {
        let format = |method: &str, path: &str, anthropic: bool| {
            let mut req =
                pingora::http::RequestHeader::build(method, path.as_bytes(), None).unwrap();
            if anthropic {
                req.insert_header("anthropic-version", "2023-06-01")
                    .unwrap();
            }
            client_format(&req)
        };
        assert_eq!(format("POST", "/v1/messages", false), Format::Anthropic);
        assert_eq!(format("POST", "/v1/chat/completions", true), Format::OpenAi);
        assert_eq!(format("POST", "/v1/embeddings", true), Format::OpenAi);
        assert_eq!(format("GET", "/v1/models", true), Format::Anthropic);
        assert_eq!(format("GET", "/v1/models/x", false), Format::OpenAi);
        assert_eq!(format("GET", "/v1/nothing", true), Format::Anthropic);
    }
}
