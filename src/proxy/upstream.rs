//! The upstream leg of a proxied request: which target of the route's group it goes to (and
//! how it is reached), and the request head the upstream receives.

use super::ctx::RequestCtx;
use super::headers;
use crate::config::{HashOn, PathMatch, RouteSpec};
use crate::error::GatewayError;
use crate::routing::upstream::UpstreamGroup;
use http::HeaderValue;
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
) -> Result<Box<HttpPeer>, GatewayError> {
    let (i, read_timeout) = choose_target(ctx, group, key)?;
    let mut peer = group.peer(i);
    peer.options.read_timeout = Some(read_timeout);
    Ok(peer)
}

/// `choose_peer`'s choice: the target's index and the read timeout.
pub fn choose_target(
    ctx: &mut RequestCtx,
    group: &UpstreamGroup,
    key: Option<u64>,
) -> Result<(usize, std::time::Duration), GatewayError> {
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
    Ok((i, read_timeout))
}

/// What the head sent upstream says of the client and its connection.
pub struct Client<'a> {
    /// The address, as `headers::ip_value` makes it (once per connection).
    pub ip: Option<HeaderValue>,
    /// The client's own `Host`, passed on as `X-Forwarded-Host`.
    pub host: Option<&'a HeaderValue>,
    pub tls: bool,
    /// The subject of the client certificate that verified, on mutual-TLS listeners.
    pub cert_subject: Option<&'a str>,
}

impl<'a> Client<'a> {
    pub fn of(session: &'a Session) -> Self {
        Client {
            ip: super::connection::client_ip_value(session, || {
                client_ip(session).and_then(headers::ip_value)
            }),
            host: session.req_header().headers.get(http::header::HOST),
            tls: super::tls::is_tls(session),
            cert_subject: super::tls::client_cert(session).map(|c| c.subject.as_str()),
        }
    }
}

/// The head the upstream receives: hop-by-hop fields gone (an upgrade keeps its own),
/// forwarding headers, the route's `Host`, prefix and header rewrites, the client's API key
/// and `Expect` removed (the gateway answered both), and the request id.
/// Over HTTP/2 to the upstream, a client's `TE: trailers` is passed on (RFC 9113 8.2.2): gRPC
/// servers refuse a call without it.
pub fn rewrite_request(
    route: &RouteSpec,
    client: &Client,
    upstream: &mut RequestHeader,
    request_id: &HeaderValue,
    http2: bool,
) -> Result<(), GatewayError> {
    let header_error = |_| GatewayError::Other("an upstream header cannot be set".into());
    let upgrade = headers::is_upgrade(upstream);
    let te_trailers = http2 && headers::accepts_trailers(upstream);
    headers::strip_request_hop_by_hop(upstream, upgrade);
    if te_trailers {
        upstream
            .insert_header(http::header::TE, HeaderValue::from_static("trailers"))
            .map_err(header_error)?;
    }
    headers::set_forwarded(upstream, client.ip.as_ref(), client.host, client.tls);
    // Only the gateway says which client certificate verified.
    upstream.remove_header(&super::tls::CLIENT_CERT_HEADER);
    if let Some(subject) = client.cert_subject {
        upstream
            .insert_header(super::tls::CLIENT_CERT_HEADER, subject)
            .map_err(|_| {
                GatewayError::Other("the client certificate header cannot be set".into())
            })?;
    }
    if let Some(host) = &route.upstream_host {
        upstream
            .insert_header(http::header::HOST, host.clone())
            .map_err(header_error)?;
    }
    if let (true, PathMatch::Prefix(prefix)) = (route.strip_prefix, &route.path) {
        let uri = stripped_uri(&upstream.uri, prefix)?;
        upstream.set_uri(uri);
    }
    if route.api.auth == crate::config::AuthMode::ApiKey {
        // The client's key is the gateway's business; the route may set the service's own.
        for h in &crate::auth::directory::KEY_HEADERS {
            upstream.remove_header(h);
        }
    }
    upstream.remove_header(&http::header::EXPECT);
    headers::apply_request(&route.request_headers, upstream);
    upstream.insert_titled_header(headers::REQUEST_ID, request_id.clone());
    Ok(())
}

/// The target with the route's prefix taken off the path, the query kept: written once into
/// a buffer of its final size, which the new `Uri` then owns (no copy on parsing).
fn stripped_uri(uri: &http::Uri, prefix: &str) -> Result<http::Uri, GatewayError> {
    let path = headers::strip_prefix(uri.path(), prefix);
    let query = uri.query();
    let mut target = String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1));
    target.push_str(path);
    if let Some(q) = query {
        target.push('?');
        target.push_str(q);
    }
    http::Uri::try_from(target).map_err(|_| GatewayError::BadFraming("path cannot be rewritten"))
}
