//! The call record of one tool call to an upstream MCP server, written to the access log and
//! the call store as the data plane's records are: its route is the server's name, its path
//! `{mcp.path}/{server}/{tool}`, its status 200 for an answer (even a tool's own error), the
//! gateway's status for a refusal (403, 429...) and 502 for an upstream that failed.

use crate::auth::directory::KeyEntry;
use crate::config::{Config, McpServerSpec};
use crate::proxy::GatewayState;
use crate::telemetry::record::{millis, Record};
use std::borrow::Cow;
use std::time::{Duration, SystemTime};

pub(super) struct ToolCall<'a> {
    pub server: &'a McpServerSpec,
    pub tool: &'a str,
    pub key: Option<&'a KeyEntry>,
    pub request_id: &'a str,
    pub time: SystemTime,
    pub took: Duration,
    /// The status, error code and message of a failed call.
    pub outcome: Result<(), (u16, &'static str, &'a str)>,
    /// The arguments' and the result's JSON sizes.
    pub bytes: (u64, u64),
}

pub(super) fn write(state: &GatewayState, config: &Config, call: &ToolCall) {
    if !state.access_log.enabled() && state.call_store.is_none() {
        return;
    }
    let mcp_path = config.mcp.as_ref().map_or("/mcp", |m| m.path.as_str());
    let spec = call.server;
    let principal = call.key.map(|k| &k.principal);
    let (status, error_code, error) = match call.outcome {
        Ok(()) => (200, None, None),
        Err((s, c, m)) => (s, Some(Cow::Borrowed(c)), Some(Cow::Borrowed(m))),
    };
    let record = Record {
        time: call.time,
        request_id: Cow::Borrowed(call.request_id),
        route: Cow::Borrowed(&spec.name),
        api_version: spec.api.version.as_deref().map(Cow::Borrowed),
        upstream: spec.transport.upstream(),
        method: Cow::Borrowed("POST"),
        path: Cow::Owned(format!("{mcp_path}/{}/{}", spec.name, call.tool)),
        status,
        bytes_in: call.bytes.0,
        bytes_out: call.bytes.1,
        latency_ms: millis(call.took),
        upstream_latency_ms: None,
        ttfb_ms: None,
        attempts: 1,
        client: None,
        error,
        error_code,
        tenant: principal.map(|p| Cow::Borrowed(&*p.tenant)),
        app: principal.map(|p| Cow::Borrowed(&*p.app)),
        key: call.key.map(|k| Cow::Borrowed(&*k.id)),
        client_cert: None,
        grpc_status: None,
        llm: None,
    };
    super::super::record::with_line(&record, None, |line| {
        let copy = |out: &mut Vec<u8>| line.map(|l| out.extend_from_slice(l)).is_some();
        state.access_log.write(copy);
        if let Some(calls) = &state.call_store {
            calls.push(copy);
        }
    });
}
