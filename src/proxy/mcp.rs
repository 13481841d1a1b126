//! The MCP endpoint over HTTP (Streamable HTTP transport): one path, `POST` for a message,
//! `DELETE` to end a session, `405` for `GET` (this server sends nothing of its own accord).
//! Every request is authenticated with an API key as the data plane's keyed APIs are; the
//! session `initialize` opens belongs to that key. Answers are `application/json`.
//!
//! The messages themselves are answered by `crate::mcp::server`; a tool call goes through the
//! data plane (`loopback`). Upstream MCP servers' tools (`[[mcp_servers]]`) are listed and
//! called by `servers`, each call recorded by `tool_record`; `{path}/{server}` is the same
//! endpoint with one server's tools alone.

pub(crate) mod loopback;
mod servers;
mod tool_record;

use super::{drain_rest, Gateway, RequestCtx};
use crate::auth::directory::{presented_key, Denied, KeyEntry};
use crate::base::clock::{now_ms, now_unix};
use crate::config::{AuthMode, Lifecycle};
use crate::error::GatewayError;
use crate::limits::check::Book;
use crate::limits::vocab::{Caller, Limited};
use crate::mcp::jsonrpc::{self, Incoming, RpcError, INVALID_REQUEST};
use crate::mcp::server::{self, Step, Visible};
use crate::mcp::{Catalog, Refusal};
use crate::snapshot::Snapshot;
use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use serde_json::Value;
use std::sync::Arc;

const SESSION_ID: &str = "mcp-session-id";
const PROTOCOL_VERSION: &str = "mcp-protocol-version";

/// Answers one request to the MCP endpoint.
pub(super) async fn serve(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    (snapshot, catalog): (Arc<Snapshot>, Arc<Catalog>),
    only: Option<usize>,
) -> pingora::Result<bool> {
    let method = session.req_header().method.clone();
    if method != Method::POST && method != Method::DELETE {
        ctx.response_headers.push((
            http::header::ALLOW,
            HeaderValue::from_static("POST, DELETE"),
        ));
        let err = Refusal::Method(method.to_string()).into();
        return Gateway::refuse_now(session, ctx, err).await;
    }
    // Against DNS rebinding: a browser page of another origin gets nothing (the spec's rule).
    if let Some(origin) = header(session, "origin") {
        if !catalog.spec.admits_origin(origin) {
            let err = Refusal::Origin(origin.to_string()).into();
            return Gateway::refuse_now(session, ctx, err).await;
        }
    }
    // An Arc, not a guard: it is kept across the awaits below.
    let directory = gw.state.directory.load_full();
    let key = match authenticate(session, &directory) {
        Ok(k) => k,
        Err(e) => return Gateway::refuse_now(session, ctx, e.into()).await,
    };
    ctx.principal = Some(key.principal.clone());
    ctx.key_id = Some(key.id.clone());
    if let Err(limited) = limit(gw, session, ctx, &snapshot, key).await {
        return Gateway::refuse_now(session, ctx, limited.into()).await;
    }
    let endpoint = Endpoint {
        gw,
        owner: crate::limits::local::key_hash(&[b"mcp", key.id.as_bytes()]),
        key,
        directory: &directory,
        snapshot: &snapshot,
        catalog: &catalog,
        only: only.and_then(|i| catalog.servers.get(i)).map(|s| &**s),
    };
    if method == Method::DELETE {
        return endpoint.end_session(session, ctx).await;
    }
    endpoint.post(session, ctx).await
}

/// Draws the request from `[mcp] limits`, keyed with `mcp` as the route; the concurrency
/// places it takes are held by `ctx` until the request ends.
async fn limit(
    gw: &Gateway,
    session: &Session,
    ctx: &mut RequestCtx,
    snapshot: &Snapshot,
    key: &KeyEntry,
) -> Result<(), Limited> {
    let Some(spec) = snapshot.config.mcp.as_ref() else {
        return Ok(());
    };
    if spec.limits.is_empty() && spec.concurrency_limits.is_empty() {
        return Ok(());
    }
    let caller = Caller {
        route: Arc::from("mcp"),
        tenant: Some(key.principal.tenant.clone()),
        app: Some(key.principal.app.clone()),
        key_id: Some(key.id.clone()),
        model: None,
        client_ip: super::upstream::client_ip(session),
    };
    let own = (&spec.limits[..], &spec.concurrency_limits[..]);
    let (headers, places) = (&mut ctx.response_headers, &mut ctx.concurrency);
    let book = Book::of(snapshot);
    gw.state
        .gate
        .admit_of(&book, own, &[], &caller, headers, places)
        .await
}

/// An authenticated request to the endpoint, with the world it is answered in.
struct Endpoint<'a> {
    gw: &'a Gateway,
    key: &'a KeyEntry,
    /// The hash of the key a session belongs to.
    owner: u64,
    directory: &'a crate::auth::Directory,
    snapshot: &'a Snapshot,
    catalog: &'a Catalog,
    /// At `{path}/{server}`: that upstream server alone, its tools unprefixed.
    only: Option<&'a crate::mcp::upstream::Upstream>,
}

impl Endpoint<'_> {
    async fn end_session(
        &self,
        session: &mut Session,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<bool> {
        // A body is not expected; one that is sent is read off the connection, not answered.
        if !super::drain_body(session).await {
            session.set_keepalive(None);
        }
        let sessions = &self.gw.state.sessions;
        let idle = self.catalog.spec.session_idle;
        let status = match header(session, SESSION_ID) {
            None => 400,
            Some(id) if sessions.close(id, self.owner, now_ms(), idle) => 204,
            Some(_) => 404,
        };
        empty(session, ctx, status).await
    }

    /// One message: `initialize` opens a session; anything else needs one.
    async fn post(&self, session: &mut Session, ctx: &mut RequestCtx) -> pingora::Result<bool> {
        if let Err(r) = check_media(session) {
            return Gateway::refuse_now(session, ctx, r.into()).await;
        }
        let cap = self.snapshot.config.server.max_body_bytes;
        let body = match read_body(session, cap).await {
            Ok(b) => b,
            Err(e) => return Gateway::refuse_now(session, ctx, e).await,
        };
        let message = match jsonrpc::parse(&body) {
            Ok(m) => m,
            Err(e) => return rpc(session, ctx, 400, &e.to_json(), None).await,
        };
        let sessions = &self.gw.state.sessions;
        let idle = self.catalog.spec.session_idle;
        let (id, method, params) = match message {
            Incoming::Request { id, method, params } if method == "initialize" => {
                let sid = match sessions.open(self.owner, now_ms(), idle) {
                    Ok(s) => s,
                    Err(e) => {
                        return Gateway::refuse_now(session, ctx, Refusal::from(e).into()).await
                    }
                };
                let answer = jsonrpc::result(&id, server::initialize(&params));
                return rpc(session, ctx, 200, &answer, Some(&sid)).await;
            }
            Incoming::Request { id, method, params } => (Some(id), method, params),
            _ => (None, String::new(), Value::Null),
        };
        let answer_to = id.clone().unwrap_or(Value::Null);
        if let Err((status, why)) = self.check_session(session) {
            let err = RpcError::new(INVALID_REQUEST, why).with_id(&answer_to);
            return rpc(session, ctx, status, &err.to_json(), None).await;
        }
        let Some(id) = id else {
            // Notifications and responses are acknowledged, with no body.
            return empty(session, ctx, 202).await;
        };
        let answer = self.answer(session, ctx, &id, &method, &params).await;
        rpc(session, ctx, 200, &answer, None).await
    }

    /// The session must be the key's and live, and the protocol version one this server has.
    fn check_session(&self, session: &Session) -> Result<(), (u16, String)> {
        let idle = self.catalog.spec.session_idle;
        match header(session, SESSION_ID) {
            None => {
                let why = "Mcp-Session-Id header required: send initialize first";
                return Err((400, why.into()));
            }
            Some(sid)
                if self
                    .gw
                    .state
                    .sessions
                    .touch(sid, self.owner, now_ms(), idle) => {}
            Some(_) => {
                return Err((
                    404,
                    "unknown or ended session: send initialize again".into(),
                ))
            }
        }
        match header(session, PROTOCOL_VERSION) {
            Some(v) if !server::VERSIONS.contains(&v) => Err((
                400,
                format!(
                    "unsupported MCP-Protocol-Version {v:?}; this server speaks {}",
                    server::VERSIONS.join(", ")
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The response to a request: from `server::dispatch`, or a tool call's answer.
    async fn answer(
        &self,
        session: &Session,
        ctx: &RequestCtx,
        id: &Value,
        method: &str,
        params: &Value,
    ) -> Value {
        let visible = visible(
            self.catalog,
            self.snapshot,
            self.directory,
            session,
            self.key,
        );
        let req = session.req_header();
        if let Some(server) = self.only {
            return self
                .answer_for(server, (req, &ctx.request_id), id, method, params)
                .await;
        }
        if method == "tools/call" {
            let (name, args) = tool_call(params);
            let upstream = servers::call(
                (&self.gw.state, &ctx.request_id),
                self.catalog,
                self.snapshot,
                self.directory,
                req,
                name,
                args,
            );
            if let Some(result) = upstream.await {
                return jsonrpc::result(id, result);
            }
        }
        let entries = match method.starts_with("resources/") {
            true => {
                let tenant = &self.key.principal.tenant;
                servers::entries(self.catalog, self.snapshot, self.directory, req, tenant)
            }
            false => Vec::new(),
        };
        let (api, call) = match server::dispatch(method, params, &visible, &entries) {
            Step::Reply(mut result) => {
                if method == "tools/list" {
                    let more =
                        servers::list(self.catalog, self.snapshot, self.directory, req).await;
                    if let Some(tools) = result.get_mut("tools").and_then(Value::as_array_mut) {
                        tools.extend(more);
                    }
                }
                return jsonrpc::result(id, result);
            }
            Step::Fail(e) => return e.with_id(id).to_json(),
            Step::Call(api, call) => (api, call),
        };
        // The caller's key goes to keyed APIs only: an open API's upstream never sees it.
        let keyed = api.route.spec.api.auth == AuthMode::ApiKey;
        let result = match loopback::listener(&self.snapshot.config.server.listen) {
            None => server::error_content("the gateway has no listener to call"),
            Some(to) => {
                let timeout = self.catalog.spec.call_timeout;
                match loopback::send(to, &call, req, keyed, &ctx.request_id, timeout).await {
                    Ok(a) => server::tool_result(a.status, &a.body),
                    Err(msg) => server::error_content(&msg),
                }
            }
        };
        jsonrpc::result(id, result)
    }
}

impl Endpoint<'_> {
    /// The response at one upstream server's endpoint: its tools unprefixed; the methods
    /// that are not about tools as at the gateway's, over no API of the catalog.
    async fn answer_for(
        &self,
        server: &crate::mcp::upstream::Upstream,
        (req, request_id): (&pingora::http::RequestHeader, &str),
        id: &Value,
        method: &str,
        params: &Value,
    ) -> Value {
        let (snapshot, dir) = (self.snapshot, self.directory);
        let result = match method {
            "tools/list" => {
                let tools = servers::list_one(server, false, snapshot, dir, req).await;
                serde_json::json!({ "tools": tools })
            }
            "tools/call" => {
                let (name, args) = tool_call(params);
                servers::call_one(
                    (&self.gw.state, request_id),
                    server,
                    name,
                    args,
                    snapshot,
                    dir,
                    req,
                )
                .await
            }
            _ => match server::dispatch(method, params, &[], &[]) {
                Step::Reply(result) => result,
                Step::Fail(e) => return e.with_id(id).to_json(),
                Step::Call(..) => {
                    return RpcError::new(INVALID_REQUEST, "no such call")
                        .with_id(id)
                        .to_json()
                }
            },
        };
        jsonrpc::result(id, result)
    }
}

fn authenticate<'d>(
    session: &Session,
    directory: &'d crate::auth::Directory,
) -> Result<&'d KeyEntry, Denied> {
    let presented = presented_key(&session.req_header().headers).ok_or(Denied::MissingKey)?;
    directory.authenticate(presented, now_unix())
}

/// The catalog entries the key's tenant may see (published or deprecated, visible to it),
/// each marked callable or not by the data plane's own API gate.
fn visible<'c>(
    catalog: &'c Catalog,
    snapshot: &Snapshot,
    directory: &crate::auth::Directory,
    session: &Session,
    key: &KeyEntry,
) -> Vec<Visible<'c>> {
    let req = session.req_header();
    let tenant = &key.principal.tenant;
    catalog
        .apis
        .iter()
        .filter(|api| api.route.spec.api.visibility.admits(tenant))
        .filter_map(|api| {
            let state = directory
                .state_override(&api.route.name)
                .map_or(api.route.spec.api.state, |o| o.state);
            if !matches!(state, Lifecycle::Published | Lifecycle::Deprecated) {
                return None;
            }
            let mut known = None;
            let callable =
                super::access::check(&api.route, snapshot, directory, req, &mut known).is_ok();
            Some(Visible {
                api,
                state,
                callable,
            })
        })
        .collect()
}

fn header<'s>(session: &'s Session, name: &str) -> Option<&'s str> {
    session.req_header().headers.get(name)?.to_str().ok()
}

/// A message must be JSON, and the client must take a JSON answer.
fn check_media(session: &Session) -> Result<(), Refusal> {
    let accept = header(session, "accept").unwrap_or("*/*");
    let takes = |t: &str| {
        accept
            .split(',')
            .map(|p| p.split(';').next().unwrap_or("").trim())
            .any(|p| p.eq_ignore_ascii_case(t))
    };
    if !(takes("application/json") || takes("application/*") || takes("*/*")) {
        return Err(Refusal::NotAcceptable);
    }
    let ct = header(session, "content-type").unwrap_or("");
    let ct = ct.split(';').next().unwrap_or("").trim();
    if !ct.eq_ignore_ascii_case("application/json") {
        return Err(Refusal::MediaType);
    }
    Ok(())
}

/// The message, refused past `cap` bytes.
async fn read_body(session: &mut Session, cap: u64) -> Result<Bytes, GatewayError> {
    let mut body = BytesMut::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if (body.len() + chunk.len()) as u64 > cap {
                    drain_rest(session).await;
                    return Err(GatewayError::BodyTooLarge { limit: cap });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body.freeze()),
            Err(e) => return Err(GatewayError::from_pingora(&e, None)),
        }
    }
}

/// Writes a JSON-RPC message as the answer.
async fn rpc(
    session: &mut Session,
    ctx: &mut RequestCtx,
    status: u16,
    message: &Value,
    new_session: Option<&str>,
) -> pingora::Result<bool> {
    let body = Bytes::from(message.to_string());
    let mut resp = ResponseHeader::build(status, Some(4))?;
    resp.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    resp.insert_header(http::header::CONTENT_LENGTH, body.len())?;
    if let Some(sid) = new_session {
        resp.insert_header(HeaderName::from_static(SESSION_ID), sid)?;
    }
    write(session, ctx, resp, Some(body)).await
}

/// An answer with no body (202 for a notification, 204 for a session ended, 400/404).
async fn empty(session: &mut Session, ctx: &mut RequestCtx, status: u16) -> pingora::Result<bool> {
    let mut resp = ResponseHeader::build(status, Some(2))?;
    resp.insert_header(http::header::CONTENT_LENGTH, 0)?;
    write(session, ctx, resp, None).await
}

async fn write(
    session: &mut Session,
    ctx: &mut RequestCtx,
    mut resp: ResponseHeader,
    body: Option<Bytes>,
) -> pingora::Result<bool> {
    resp.insert_titled_header(super::headers::REQUEST_ID, ctx.request_id.header().clone());
    // The limits' `RateLimit` headers.
    for (name, value) in &ctx.response_headers {
        resp.append_header(name.clone(), value.clone())?;
    }
    let end = body.is_none();
    session.write_response_header(Box::new(resp), end).await?;
    if let Some(b) = body {
        session.write_response_body(Some(b), true).await?;
    }
    Ok(true)
}

/// A `tools/call`'s tool name and arguments (an empty object when it gives none).
fn tool_call(params: &Value) -> (&str, Value) {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let args = params
        .get("arguments")
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    (name, args)
}
