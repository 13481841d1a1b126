//! HTTP calls to providers: over HTTP/1.1 by the gateway's own reader (`h1`) on Pingora's
//! transport connector and pool, over HTTP/2 through Pingora's HTTP connector and session.
//!
//! DESIGN: provider hosts are names whose addresses change, so they are not resolved when the
//! configuration loads (as upstream targets are) but here, through a cache that the request path
//! reads without locking. A miss or a stale entry is resolved with `tokio::net::lookup_host`,
//! which runs `getaddrinfo` on Tokio's blocking pool, never on a worker thread; a stale entry is
//! still used while it refreshes.

mod h1;

use crate::base::body::Gathered;
use crate::config::{ProviderEndpoint, ProviderSpec};
use crate::llm::ir::{ApiError, ErrorKind};
use arc_swap::ArcSwap;
use bytes::Bytes;
use bytes::BytesMut;
use once_cell::sync::Lazy;
use pingora::connectors::http::Connector;
use pingora::connectors::TransportConnector;
use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use pingora::protocols::http::client::HttpSession;
use pingora::protocols::http::v1::client::http_req_header_write_to;
use pingora::upstreams::peer::Peer;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// How long a resolved address is used before it is looked up again.
const DNS_TTL: Duration = Duration::from_secs(60);
/// How long an idle provider connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One connector per worker process, shared by every provider call of it.
static CLIENT: Lazy<Client> = Lazy::new(Client::new);

pub fn client() -> &'static Client {
    &CLIENT
}

pub struct Client {
    /// HTTP/2 providers' sessions.
    connector: Connector,
    /// HTTP/1.1 providers' connections.
    transport: TransportConnector,
    dns: ArcSwap<HashMap<String, (SocketAddr, Instant)>>,
}

/// A provider's answer whose headers have arrived; the body is read from it.
pub struct Exchange {
    pub status: u16,
    via: Via,
}

enum Via {
    /// `key`: the pool's key of the connection's peer.
    H1 { answer: h1::Answer, key: u64 },
    /// Boxed: Pingora's session and peer are a kilobyte, and this is the rarer way.
    H2(Box<(HttpSession, HttpPeer)>),
}

/// A failure to reach a provider. The client is told the provider's name and the kind of
/// failure; the address, internal to the operator's network, goes to the process log only.
fn io_error(spec: &ProviderSpec, ep: &ProviderEndpoint, e: &pingora::Error) -> ApiError {
    use pingora::ErrorType::*;
    let kind = match e.etype() {
        ConnectTimedout | ReadTimedout | WriteTimedout | TLSHandshakeTimedout => ErrorKind::Timeout,
        ConnectRefused | ConnectNoRoute | ConnectError | TLSHandshakeFailure => {
            ErrorKind::Unavailable
        }
        _ => ErrorKind::BadResponse,
    };
    call_failed(spec, ep, kind, e, e.etype().as_str())
}

/// A call that failed before its answer's head arrived.
fn fault_error(spec: &ProviderSpec, ep: &ProviderEndpoint, fault: h1::Fault) -> ApiError {
    let kind = match fault {
        h1::Fault::Timeout => ErrorKind::Timeout,
        _ => ErrorKind::BadResponse,
    };
    call_failed(spec, ep, kind, fault.describe(), fault.describe())
}

fn call_failed(
    spec: &ProviderSpec,
    ep: &ProviderEndpoint,
    kind: ErrorKind,
    logged: impl std::fmt::Display,
    told: &str,
) -> ApiError {
    tracing::warn!(
        provider = %spec.name,
        address = %ep.authority,
        "provider call failed: {logged}"
    );
    ApiError::new(kind, format!("provider {}: {told}", spec.name)).with_code("provider_unreachable")
}

/// A provider's answer that broke off mid-body.
fn mid_response(timed_out: bool, what: &str) -> ApiError {
    let kind = match timed_out {
        true => ErrorKind::Timeout,
        false => ErrorKind::BadResponse,
    };
    ApiError::new(
        kind,
        format!("provider connection failed mid-response: {what}"),
    )
}

impl Client {
    fn new() -> Client {
        let mut options = pingora::connectors::ConnectorOptions::new(256);
        options.keepalive_pool_size = 256;
        Client {
            connector: Connector::new(Some(options.clone())),
            transport: TransportConnector::new(Some(options)),
            dns: ArcSwap::from_pointee(HashMap::new()),
        }
    }

    async fn resolve(
        &self,
        spec: &ProviderSpec,
        ep: &ProviderEndpoint,
    ) -> Result<SocketAddr, ApiError> {
        if let Ok(ip) = ep.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, ep.port));
        }
        let key = format!("{}:{}", ep.host, ep.port);
        if let Some((addr, at)) = self.dns.load().get(&key).copied() {
            if at.elapsed() > DNS_TTL {
                let host = (ep.host.clone(), ep.port);
                tokio::spawn(async move {
                    let _ = client().lookup(host).await;
                });
            }
            return Ok(addr);
        }
        self.lookup((ep.host.clone(), ep.port))
            .await
            .map_err(|msg| {
                tracing::warn!(provider = %spec.name, "provider host: {msg}");
                let msg = format!("provider {}: its host name cannot be resolved", spec.name);
                ApiError::new(ErrorKind::Unavailable, msg).with_code("provider_unresolvable")
            })
    }

    /// Resolves a provider's host ahead of its first call; a failure is only logged here, and
    /// the call will try again.
    pub async fn warm(&self, ep: &ProviderEndpoint) {
        if ep.host.parse::<IpAddr>().is_ok() {
            return;
        }
        if let Err(e) = self.lookup((ep.host.clone(), ep.port)).await {
            tracing::warn!("provider host: {e}");
        }
    }

    async fn lookup(&self, (host, port): (String, u16)) -> Result<SocketAddr, String> {
        let addr = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host} resolves to no address"))?;
        self.dns.rcu(|map| {
            let mut map = HashMap::clone(map);
            map.insert(format!("{host}:{port}"), (addr, Instant::now()));
            map
        });
        Ok(addr)
    }

    /// Sends one request, its head made by `head`, and waits for the response headers. A
    /// pooled connection that turns out to be closed is retried once on a new one: the provider
    /// never saw that request.
    pub async fn send(
        &self,
        spec: &ProviderSpec,
        ep: &ProviderEndpoint,
        head: impl Fn() -> Result<RequestHeader, ApiError>,
        body: Bytes,
        read_timeout: Duration,
    ) -> Result<Exchange, ApiError> {
        let first = head()?;
        let addr = self.resolve(spec, ep).await?;
        let mut peer = HttpPeer::new(addr, ep.tls, ep.host.clone());
        peer.options.connection_timeout = Some(spec.connect_timeout);
        peer.options.total_connection_timeout = Some(spec.connect_timeout);
        peer.options.idle_timeout = Some(IDLE_TIMEOUT);
        if spec.http2 {
            crate::base::http2::use_http2(&mut peer);
            let h2 = self.send_h2(spec, ep, peer, first, head, body, read_timeout);
            return Box::pin(h2).await;
        }
        let mut wire = BytesMut::with_capacity(512);
        if !http_req_header_write_to(&first, &mut wire) {
            return Err(ApiError::new(
                ErrorKind::ProviderFailure,
                format!("provider {}: request head cannot be written", spec.name),
            ));
        }
        let timeouts = h1::Timeouts {
            write: spec.write_timeout,
            read: read_timeout,
        };
        let key = peer.reuse_hash();
        for fresh_only in [false, true] {
            let pooled = match fresh_only {
                false => self.transport.reused_stream(&peer).await,
                true => None,
            };
            let reused = pooled.is_some();
            let stream = match pooled {
                Some(stream) => stream,
                None => Box::pin(self.transport.new_stream(&peer))
                    .await
                    .map_err(|e| io_error(spec, ep, &e))?,
            };
            match h1::call(stream, &wire, &body, timeouts).await {
                Ok(answer) => {
                    let status = answer.status;
                    let via = Via::H1 { answer, key };
                    return Ok(Exchange { status, via });
                }
                Err(h1::Fault::Stale) if reused => continue,
                Err(fault) => return Err(fault_error(spec, ep, fault)),
            }
        }
        Err(fault_error(spec, ep, h1::Fault::Closed))
    }

    /// [`Client::send`] over HTTP/2; the head is made again for a retry rather than cloned
    /// for every call, since the session takes it.
    #[allow(clippy::too_many_arguments)]
    async fn send_h2(
        &self,
        spec: &ProviderSpec,
        ep: &ProviderEndpoint,
        peer: HttpPeer,
        first: RequestHeader,
        head: impl Fn() -> Result<RequestHeader, ApiError>,
        body: Bytes,
        read_timeout: Duration,
    ) -> Result<Exchange, ApiError> {
        let mut first = Some(first);
        for fresh_only in [false, true] {
            let (mut session, reused) = self
                .connector
                .get_http_session(&peer)
                .await
                .map_err(|e| io_error(spec, ep, &e))?;
            if fresh_only && reused {
                session.shutdown().await;
                continue;
            }
            session.set_read_timeout(Some(read_timeout));
            session.set_write_timeout(Some(spec.write_timeout));
            let req = match first.take() {
                Some(req) => req,
                None => head()?,
            };
            match exchange(&mut session, req, body.clone()).await {
                Ok(status) => {
                    let via = Via::H2(Box::new((session, peer)));
                    return Ok(Exchange { status, via });
                }
                Err(_) if reused => continue,
                Err(e) => return Err(io_error(spec, ep, &e)),
            }
        }
        Err(ApiError::new(
            ErrorKind::Unavailable,
            format!("provider {}: connection closed", spec.name),
        ))
    }
}

/// Writes a request with its whole body and waits for the response header; the status.
pub(crate) async fn exchange(
    session: &mut HttpSession,
    req: RequestHeader,
    body: Bytes,
) -> pingora::Result<u16> {
    session.write_request_header(Box::new(req)).await?;
    session.write_request_body(body, true).await?;
    session.finish_request_body().await?;
    session.read_response_header().await?;
    Ok(session
        .response_header()
        .map(|h| h.status.as_u16())
        .unwrap_or(0))
}

impl Exchange {
    pub fn header(&self, name: &str) -> Option<&str> {
        match &self.via {
            Via::H1 { answer, .. } => answer.header(name),
            Via::H2(h2) => {
                h2.0.response_header()
                    .and_then(|h| h.headers.get(name))
                    .and_then(|v| v.to_str().ok())
            }
        }
    }

    /// The next piece of the body; `None` at its end.
    pub async fn read(&mut self) -> Result<Option<Bytes>, ApiError> {
        match &mut self.via {
            Via::H1 { answer, .. } => answer
                .read()
                .await
                .map_err(|f| mid_response(f == h1::Fault::Timeout, f.describe())),
            Via::H2(h2) => h2.0.read_response_body().await.map_err(|e| {
                let timed_out = e.etype() == &pingora::ErrorType::ReadTimedout;
                mid_response(timed_out, e.etype().as_str())
            }),
        }
    }

    /// The whole body, refused past `cap` bytes.
    pub async fn read_all(&mut self, cap: usize) -> Result<Bytes, ApiError> {
        let mut out = Gathered::default();
        while let Some(chunk) = self.read().await? {
            if out.len() + chunk.len() > cap {
                return Err(ApiError::new(
                    ErrorKind::BadResponse,
                    format!("provider response is larger than {cap} bytes"),
                ));
            }
            out.push(chunk);
        }
        Ok(out.finish())
    }

    /// Returns the connection to the pool when the response was read to its end, and closes
    /// it otherwise (which is how an abandoned call is cancelled at the provider).
    pub async fn finish(self) {
        match self.via {
            Via::H1 { answer, key } => {
                if let Some(stream) = answer.into_reusable() {
                    client()
                        .transport
                        .release_stream(stream, key, Some(IDLE_TIMEOUT));
                }
            }
            // Boxed: Pingora's release future is 3 kB, and every call's future would carry it.
            Via::H2(h2) => Box::pin(finish_h2(*h2)).await,
        }
    }
}

async fn finish_h2((mut session, peer): (HttpSession, HttpPeer)) {
    if session.response_done() {
        client()
            .connector
            .release_http_session(session, &peer, Some(IDLE_TIMEOUT))
            .await;
    } else {
        session.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::provider::tests::spec;
    use crate::llm::providers::openai::descriptor::OPENAI;

    /// Every call's future holds this one; Pingora's connect path (8 kB) and the HTTP/2 call
    /// are boxed so that it does not carry them. A larger future is moved and touched per call.
    #[tokio::test]
    async fn a_provider_call_future_is_small() {
        let spec = spec(&OPENAI);
        let ep = spec.endpoint.clone().unwrap();
        let head = || Err(ApiError::new(ErrorKind::ProviderFailure, "unused"));
        let send = client().send(&spec, &ep, head, Bytes::new(), Duration::from_secs(1));
        let size = std::mem::size_of_val(&send);
        assert!(size <= 2048, "{size} bytes");
    }
}
