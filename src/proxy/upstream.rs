//! The upstream leg of a proxied request: which target of the route's group it goes to (and
//! how it is reached), and the request head the upstream receives.

use super::ctx::RequestCtx;
use super::headers;
use crate::config::{HashOn, PathMatch, RouteSpec};
use crate::error::GatewayError;
use crate::routing::upstream::UpstreamGroup;
use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use pingora::proxy::Session;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

pub fn client_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

/// The consistent-hash key: the header's value, or the client IP when it is absent. Fixed
/// seeds, so every worker maps a key to the same target.
pub fn hash_key(on: &HashOn, session: &Session) -> Option<u64> {
    use std::hash::{BuildHasher, Hash, Hasher};
    let mut h = ahash::RandomState::with_seeds(1, 2, 3, 4).build_hasher();
    let header = match on {
        HashOn::Header(name) => session.req_header().headers.get(name),
        HashOn::ClientIp => None,
    };
    match header {
        Some(v) => h.write(v.as_bytes()),
        None => client_ip(session)?.hash(&mut h),
    }
    Some(h.finish())
}

/// Picks this attempt's target (an untried one first) and says how to reach it, with the
/// read timeout cut to what the route's total timeout leaves. The target's in-flight count is
/// taken here and given back by `RequestCtx::release_target`.
pub fn choose_peer(
    ctx: &mut RequestCtx,
    group: &UpstreamGroup,
    key: Option<u64>,
) -> Result<HttpPeer, GatewayError> {
    let spec = &group.spec;
    // A stale pooled connection may be retried on the target that was already tried.
    let Some(i) = group
        .select(key, ctx.tried)
        .or_else(|| group.select(key, 0))
    else {
        return Err(GatewayError::UpstreamFailed {
            upstream: spec.name.clone(),
            detail: "no target".into(),
        });
    };
    if ctx.attempts > 0 {
        group.metrics.retries.fetch_add(1, Relaxed);
    }
    ctx.release_target();
    group.begin(i);
    ctx.target = Some(i);
    ctx.tried |= 1 << i;
    ctx.attempts += 1;
    let now = Instant::now();
    ctx.upstream_start = Some(now);
    let mut read_timeout = spec.read_timeout;
    if let Some(deadline) = ctx.deadline {
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            return Err(GatewayError::UpstreamTimeout {
                upstream: spec.name.clone(),
            });
        }
        read_timeout = read_timeout.min(left);
    }
    let mut peer = group.peer(i);
    peer.options.read_timeout = Some(read_timeout);
    Ok(peer)
}

/// The head the upstream receives: hop-by-hop fields gone (an upgrade keeps its own),
/// forwarding headers, the route's `Host`, prefix and header rewrites, the client's API key
/// and `Expect` removed (the gateway answered both), and the request id.
/// Over HTTP/2 to the upstream, a client's `TE: trailers` is passed on (RFC 9113 8.2.2): gRPC
/// servers refuse a call without it.
pub fn rewrite_request(
    route: &RouteSpec,
    session: &Session,
    upstream: &mut RequestHeader,
    request_id: &str,
    http2: bool,
) -> Result<(), GatewayError> {
    let upgrade = headers::is_upgrade(upstream);
    let te_trailers = http2 && headers::accepts_trailers(upstream);
    headers::strip_request_hop_by_hop(upstream, upgrade);
    if te_trailers {
        upstream
            .insert_header(http::header::TE, "trailers")
            .map_err(|_| GatewayError::Other("an upstream header cannot be set".into()))?;
    }
    let original_host = session
        .req_header()
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok());
    let ip = client_ip(session).map(|ip| ip.to_string());
    let tls = super::tls::is_tls(session);
    headers::set_forwarded(upstream, ip.as_deref(), original_host, tls);
    // Only the gateway says which client certificate verified.
    upstream.remove_header(super::tls::CLIENT_CERT_HEADER);
    if let Some(cert) = super::tls::client_cert(session) {
        upstream
            .insert_header(super::tls::CLIENT_CERT_HEADER, cert.subject.as_str())
            .map_err(|_| {
                GatewayError::Other("the client certificate header cannot be set".into())
            })?;
    }
    let header_error = |_| GatewayError::Other("an upstream header cannot be set".into());
    if let Some(host) = &route.upstream_host {
        upstream
            .insert_header(http::header::HOST, host.clone())
            .map_err(header_error)?;
    }
    if let (true, PathMatch::Prefix(prefix)) = (route.strip_prefix, &route.path) {
        let path = headers::strip_prefix(upstream.uri.path(), prefix);
        let uri = match upstream.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_string(),
        };
        let parsed = uri
            .parse::<http::Uri>()
            .map_err(|_| GatewayError::BadFraming("path cannot be rewritten"))?;
        upstream.set_uri(parsed);
    }
    if route.api.auth == crate::config::AuthMode::ApiKey {
        // The client's key is the gateway's business; the route may set the service's own.
        for h in crate::auth::directory::KEY_HEADERS {
            upstream.remove_header(h);
        }
    }
    upstream.remove_header(&http::header::EXPECT);
    headers::apply_request(&route.request_headers, upstream);
    upstream
        .insert_header(headers::REQUEST_ID, request_id)
        .map_err(header_error)?;
    Ok(())
}
