//! Attempts, retries and fallbacks of one LLM call, before any byte reaches the client.
//!
//! `Plan` walks the requested model and then its fallbacks (see `Models::fallback_chain`). On each it makes up to
//! `retries + 1` attempts, spreading them over deployments by weight and skipping those whose
//! breaker is open. Only connect errors, timeouts, 429 and 5xx move on; any other error is the
//! answer. Between attempts it waits the backoff, or the provider's `Retry-After` when that is
//! at most `max_retry_after`; a longer one excludes that deployment from this call at once.

use super::downstream::Downstream;
use super::stream::Source;
use super::Inbound;
use crate::auth::Principal;
use crate::llm::client::client;
use crate::llm::ir::*;
use crate::llm::models::{DeploymentState, Models};
use crate::llm::provider::{Operation, Provider};
use crate::llm::{codec, mock};
use crate::proxy::ctx::RequestCtx;
use crate::proxy::trace;
use bytes::Bytes;
use std::time::{Duration, Instant};

/// Largest provider answer read whole (a non-streamed reply or an error body).
const MAX_RESPONSE_BYTES: usize = 64 << 20;
const MAX_ERROR_BYTES: usize = 1 << 20;

pub enum Reply {
    /// A same-format answer, forwarded as it came, with the usage read from it.
    Raw {
        body: Bytes,
        usage: Usage,
    },
    Chat(ChatResponse),
    Embeddings(EmbeddingResponse),
    Stream(Box<Source>),
}

pub struct Success {
    pub model: usize,
    pub deployment: usize,
    pub attempts: u32,
    /// Moves to a fallback model on the way.
    pub fallbacks: u32,
    /// From the start of the attempt that succeeded to the provider's answer.
    pub upstream_latency: Duration,
    pub reply: Reply,
}

pub struct Failure {
    pub err: ApiError,
    /// Seconds, from the last provider's 429.
    pub retry_after: Option<u64>,
    pub attempts: u32,
    pub fallbacks: u32,
    /// Set when this failure is the client's own disconnect.
    pub cancelled: bool,
}

pub type Outcome = Result<Success, Failure>;

struct AttemptError {
    err: ApiError,
    retry_after: Option<u64>,
}

impl From<ApiError> for AttemptError {
    fn from(err: ApiError) -> Self {
        AttemptError {
            err,
            retry_after: None,
        }
    }
}

struct Step {
    model: usize,
    deployment: usize,
    read_timeout: Duration,
    /// Trace context for the provider (`traceparent`, `tracestate`), when there is a trace.
    headers: Vec<(&'static str, String)>,
}

struct Plan<'a> {
    models: &'a Models,
    chain: Vec<usize>,
    pos: usize,
    tries_here: u32,
    /// Deployments of the current model tried in this round, and excluded for the call.
    tried: u64,
    excluded: u64,
    attempts: u32,
    fallbacks: u32,
    /// When the current attempt began.
    started: Instant,
    wait: Duration,
    deadline: Option<Instant>,
    last: Option<AttemptError>,
    current: Option<(usize, usize)>,
}

impl<'a> Plan<'a> {
    fn new(models: &'a Models, model: usize, start: Instant) -> Plan<'a> {
        let chain = models.fallback_chain(model);
        Plan {
            models,
            chain,
            pos: 0,
            tries_here: 0,
            tried: 0,
            excluded: 0,
            attempts: 0,
            fallbacks: 0,
            started: start,
            wait: Duration::ZERO,
            deadline: models.policy.total_timeout.map(|t| start + t),
            last: None,
            current: None,
        }
    }

    fn move_on(&mut self) {
        self.pos += 1;
        self.tries_here = 0;
        self.tried = 0;
        self.excluded = 0;
        self.wait = Duration::ZERO;
    }

    /// The next attempt, after its wait; `None` when nothing is left to try.
    async fn next(&mut self) -> Option<Step> {
        loop {
            let &model = self.chain.get(self.pos)?;
            if self.tries_here > self.models.models[model].spec.retries {
                self.move_on();
                continue;
            }
            let pick = self
                .models
                .pick(model, self.tried | self.excluded)
                .or_else(|| {
                    self.tried = 0;
                    self.models.pick(model, self.excluded)
                });
            let Some(deployment) = pick else {
                self.move_on();
                continue;
            };
            let now = Instant::now();
            if let Some(d) = self.deadline {
                if now + self.wait >= d {
                    self.last = Some(
                        ApiError::new(
                            ErrorKind::Timeout,
                            "the call's total timeout passed before a deployment answered",
                        )
                        .into(),
                    );
                    return None;
                }
            }
            if !self.wait.is_zero() {
                tokio::time::sleep(self.wait).await;
            }
            let provider = &self.models.providers[self.models.models[model].deployments
                [deployment]
                .spec
                .provider];
            let mut read_timeout = provider.spec.read_timeout;
            if let Some(d) = self.deadline {
                read_timeout = read_timeout.min(d.saturating_duration_since(Instant::now()));
            }
            self.tries_here += 1;
            self.attempts += 1;
            self.tried |= 1 << deployment;
            if self.current.is_some_and(|(m, _)| m != model) {
                self.fallbacks += 1;
            }
            self.current = Some((model, deployment));
            self.started = Instant::now();
            return Some(Step {
                model,
                deployment,
                read_timeout,
                headers: Vec::new(),
            });
        }
    }

    fn failed(&mut self, e: AttemptError) {
        let Some((model, deployment)) = self.current else {
            return;
        };
        if !e.err.kind.retryable() {
            self.pos = self.chain.len();
            self.last = Some(e);
            return;
        }
        self.models.report_failure(model, deployment);
        let policy = &self.models.policy;
        let backoff = policy
            .backoff
            .saturating_mul(1 << self.tries_here.saturating_sub(1).min(16))
            .min(policy.max_backoff);
        self.wait = match e.retry_after.map(Duration::from_secs) {
            Some(after) if after > policy.max_retry_after => {
                self.excluded |= 1 << deployment;
                Duration::ZERO
            }
            Some(after) => after.max(backoff),
            None => backoff,
        };
        tracing::debug!(
            deployment = %self.models.models[model].deployments[deployment].label,
            "attempt failed: {}",
            e.err
        );
        self.last = Some(e);
    }

    fn succeeded(&self, reply: Reply) -> Outcome {
        let (model, deployment) = self.current.unwrap_or_default();
        self.models.report_success(model, deployment);
        Ok(Success {
            model,
            deployment,
            attempts: self.attempts,
            fallbacks: self.fallbacks,
            upstream_latency: self.started.elapsed(),
            reply,
        })
    }

    fn give_up(self) -> Outcome {
        let last = self.last.unwrap_or_else(|| {
            ApiError::new(ErrorKind::Unavailable, "no deployment could take the call").into()
        });
        Err(Failure {
            err: last.err,
            retry_after: last.retry_after,
            attempts: self.attempts,
            fallbacks: self.fallbacks,
            cancelled: false,
        })
    }
}

fn cancelled(attempts: u32) -> Failure {
    Failure {
        err: ApiError::new(
            ErrorKind::RequestTimeout,
            "the client closed the connection",
        ),
        retry_after: None,
        attempts,
        fallbacks: 0,
        cancelled: true,
    }
}

/// What a call asks of each deployment it tries.
enum Job<'a> {
    Chat(&'a mut Inbound),
    Embeddings(&'a Inbound, &'a EmbeddingRequest),
}

/// Runs the plan, one attempt per step, until one succeeds, nothing is left to try, or the
/// client leaves.
async fn run(
    session: &mut impl Downstream,
    ctx: &mut RequestCtx,
    models: &Models,
    model: usize,
    mut job: Job<'_>,
) -> Outcome {
    let mut plan = Plan::new(models, model, ctx.start);
    let tenant = ctx.principal.as_deref();
    // Each attempt is a span of the request's trace, and sends its context to the provider.
    let trace = &mut ctx.trace;
    let stream = match &job {
        Job::Chat(inbound) => Some(inbound.peek.stream),
        Job::Embeddings(..) => None,
    };
    // Pinned where it is made: `select!` would otherwise take it by value, a copy of its whole
    // size (the provider call's), and the client watch with it.
    let work = std::pin::pin!(async {
        while let Some(mut step) = plan.next().await {
            let (m, d) = (step.model, step.deployment);
            step.headers = trace::llm_attempt(trace.as_deref_mut(), models, m, d, stream);
            let result = match &mut job {
                Job::Chat(inbound) => attempt_chat(models, &step, inbound, tenant).await,
                Job::Embeddings(inbound, request) => {
                    attempt_embeddings(models, &step, inbound, request, tenant).await
                }
            };
            let ended = match &result {
                Ok(_) => Ok(200),
                Err(e) => Err((e.err.kind.status(), e.err.kind.openai_type())),
            };
            trace::llm_attempt_done(trace.as_deref_mut(), ended);
            match result {
                Ok(reply) => return plan.succeeded(reply),
                Err(e) => plan.failed(e),
            }
        }
        plan.give_up()
    });
    let gone = std::pin::pin!(session.gone());
    tokio::select! {
        out = work => out,
        _ = gone => Err(cancelled(0)),
    }
}

pub async fn run_chat(
    session: &mut impl Downstream,
    ctx: &mut RequestCtx,
    models: &Models,
    model: usize,
    inbound: &mut Inbound,
) -> Outcome {
    run(session, ctx, models, model, Job::Chat(inbound)).await
}

pub async fn run_embeddings(
    session: &mut impl Downstream,
    ctx: &mut RequestCtx,
    models: &Models,
    model: usize,
    inbound: &Inbound,
    request: &EmbeddingRequest,
) -> Outcome {
    run(
        session,
        ctx,
        models,
        model,
        Job::Embeddings(inbound, request),
    )
    .await
}

fn parts<'m>(models: &'m Models, step: &Step) -> (&'m Provider, &'m DeploymentState) {
    let d = &models.models[step.model].deployments[step.deployment];
    (&models.providers[d.spec.provider], d)
}

/// Sends a body; a provider error status comes back as the provider's error, translated.
/// A tenant that brought its own key for the provider is served with that key.
async fn send(
    provider: &Provider,
    d: &DeploymentState,
    op: Operation,
    body: Vec<u8>,
    step: &Step,
    tenant: Option<&Principal>,
) -> Result<crate::llm::client::Exchange, AttemptError> {
    let read_timeout = step.read_timeout;
    let key = match tenant.and_then(|t| t.credential(&provider.spec.name)) {
        Some(own) => Some(own.expose()),
        None => provider.key(d.spec.api_key.as_ref()),
    };
    let body_len = body.len();
    let head = || {
        let mut req = provider.request(op, &d.spec.model, key, body_len)?;
        for (name, value) in &step.headers {
            req.insert_header(*name, value.as_str()).map_err(|_| {
                ApiError::new(
                    ErrorKind::ProviderFailure,
                    format!("bad {name} header value"),
                )
            })?;
        }
        Ok(req)
    };
    let Some(ep) = &provider.spec.endpoint else {
        return Err(ApiError::new(ErrorKind::ProviderFailure, "provider has no endpoint").into());
    };
    let mut ex = client()
        .send(&provider.spec, ep, head, Bytes::from(body), read_timeout)
        .await?;
    if ex.status < 400 {
        return Ok(ex);
    }
    let status = ex.status;
    let retry_after = ex.header("retry-after").and_then(|v| v.trim().parse().ok());
    let body = ex.read_all(MAX_ERROR_BYTES).await.unwrap_or_default();
    ex.finish().await;
    let format = provider
        .format
        .unwrap_or(crate::llm::provider::Format::OpenAi);
    let mut err = codec::decode_error(format, status, &body);
    // Whether to try again follows the status: an error body may name a type that says
    // otherwise (`server_error` on a 429, say), and a 429 is always a 429 to the client.
    let by_status = ErrorKind::from_status(status);
    if status == 429 || by_status.retryable() != err.kind.retryable() {
        err.kind = by_status;
    }
    err.message = format!("provider {}: {}", provider.spec.name, err.message);
    Err(AttemptError { err, retry_after })
}

async fn attempt_chat(
    models: &Models,
    step: &Step,
    inbound: &mut Inbound,
    tenant: Option<&Principal>,
) -> Result<Reply, AttemptError> {
    let (provider, d) = parts(models, step);
    let stream = inbound.peek.stream;
    let Some(format) = provider.format else {
        let spec = &provider.spec.mock;
        if !spec.latency.is_zero() {
            tokio::time::sleep(spec.latency).await;
        }
        if let Some(e) = mock::failure(spec) {
            return Err(e.into());
        }
        let req = inbound.ir()?;
        return Ok(if stream {
            Reply::Stream(Box::new(Source::mock(mock::MockStream::new(
                req,
                &d.spec.model,
                spec,
            ))))
        } else {
            Reply::Chat(mock::chat(req, &d.spec.model))
        });
    };
    let same = inbound.splice && format == inbound.client;
    let body = if same {
        inbound.peek.splice(&inbound.body, &d.spec.model, true)
    } else {
        codec::encode_chat(format, inbound.ir()?, &d.spec.model)?
    };
    let mut ex = send(provider, d, Operation::Chat { stream }, body, step, tenant).await?;
    if stream {
        let mut source = Source::remote(ex, format);
        // Only the first event shows whether the stream really started: a provider may open it
        // with an error event, which is still worth another attempt.
        source.prime().await?;
        return Ok(Reply::Stream(Box::new(source)));
    }
    let body = ex.read_all(MAX_RESPONSE_BYTES).await?;
    ex.finish().await;
    Ok(if same {
        let usage = codec::response_usage(format, &body)?;
        Reply::Raw { body, usage }
    } else {
        Reply::Chat(codec::decode_response(format, &body)?)
    })
}

async fn attempt_embeddings(
    models: &Models,
    step: &Step,
    inbound: &Inbound,
    request: &EmbeddingRequest,
    tenant: Option<&Principal>,
) -> Result<Reply, AttemptError> {
    let (provider, d) = parts(models, step);
    let Some(format) = provider.format else {
        if let Some(e) = mock::failure(&provider.spec.mock) {
            return Err(e.into());
        }
        return Ok(Reply::Embeddings(mock::embeddings(request, &d.spec.model)));
    };
    let same = format == inbound.client;
    let body = if same {
        inbound.peek.splice(&inbound.body, &d.spec.model, false)
    } else {
        codec::encode_embeddings(format, request, &d.spec.model)?
    };
    let mut ex = send(provider, d, Operation::Embeddings, body, step, tenant).await?;
    let body = ex.read_all(MAX_RESPONSE_BYTES).await?;
    ex.finish().await;
    let resp = codec::decode_embeddings(format, &body)?;
    Ok(if same {
        Reply::Raw {
            body,
            usage: resp.usage,
        }
    } else {
        Reply::Embeddings(resp)
    })
}
