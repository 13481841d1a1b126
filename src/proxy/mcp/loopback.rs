//! A tool call made as an HTTP request to the gateway's own data-plane listener, carrying the
//! caller's key: the API gate, the limits, the upstream call and the call record apply to it
//! exactly as to any client's request, with nothing re-implemented here. The console's model
//! playground (`admin/playground.rs`) sends its chats the same way.

use crate::auth::directory::KEY_HEADERS;
use crate::config::Listener;
use crate::mcp::call::HttpCall;
use bytes::{Bytes, BytesMut};
use once_cell::sync::Lazy;
use pingora::connectors::http::Connector;
use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use pingora::OrErr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The largest answer a tool call returns as content.
pub const MAX_ANSWER: usize = 4 << 20;

/// One connector per worker, its connections to the listener kept alive between calls.
static CONNECTOR: Lazy<Connector> = Lazy::new(|| Connector::new(None));

/// What the call got back.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// The listener a tool call is sent to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    pub addr: SocketAddr,
    pub tls: bool,
}

/// Where the data plane listens, as a loopback address when it listens on every address: a
/// plain listener if there is one, else a TLS listener that does not require a client
/// certificate (the gateway has none to show).
pub fn listener(listen: &[Listener]) -> Option<Target> {
    let plain = listen.iter().find(|l| l.tls.is_none() && l.serves());
    let open_tls = || {
        listen.iter().find(|l| {
            l.tls
                .as_ref()
                .is_some_and(|t| t.client_ca.as_ref().is_none_or(|ca| !ca.required))
        })
    };
    let l = plain.or_else(open_tls)?;
    let ip = match l.addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Some(Target {
        addr: SocketAddr::new(ip, l.addr.port()),
        tls: l.tls.is_some(),
    })
}

/// Makes `call` as the client of `incoming` (its `Host`, and its key headers when `with_key`),
/// with the MCP request's id so the two records can be matched; fails with a message for the
/// tool error.
pub async fn send(
    to: Target,
    call: &HttpCall,
    incoming: &RequestHeader,
    with_key: bool,
    request_id: &str,
    timeout: Duration,
) -> Result<Answer, String> {
    let req =
        request(call, incoming, with_key, request_id).map_err(|e| format!("bad request: {e}"))?;
    let body = Bytes::from(call.body.clone().unwrap_or_default());
    let peer = peer(to, &req);
    match tokio::time::timeout(timeout, exchange(&peer, req, body, timeout)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer within {}",
            humantime::format_duration(timeout)
        )),
    }
}

fn request(
    call: &HttpCall,
    incoming: &RequestHeader,
    with_key: bool,
    request_id: &str,
) -> pingora::Result<RequestHeader> {
    let mut req = RequestHeader::build(call.method.clone(), call.path_and_query.as_bytes(), None)?;
    let host = incoming
        .headers
        .get(http::header::HOST)
        .cloned()
        .unwrap_or_else(|| http::HeaderValue::from_static("localhost"));
    req.insert_header(http::header::HOST, host)?;
    for name in KEY_HEADERS.iter().filter(|_| with_key) {
        if let Some(v) = incoming.headers.get(name) {
            req.insert_header(name.clone(), v.clone())?;
        }
    }
    let id = http::HeaderValue::from_str(request_id)
        .or_err(pingora::ErrorType::InvalidHTTPHeader, "invalid request id")?;
    req.insert_titled_header(crate::proxy::headers::REQUEST_ID, id);
    let len = call.body.as_ref().map_or(0, Vec::len);
    if call.body.is_some() {
        req.insert_header(http::header::CONTENT_TYPE, "application/json")?;
    }
    req.insert_header(http::header::CONTENT_LENGTH, len)?;
    Ok(req)
}

/// The gateway's own listener as a peer: over TLS, with the caller's host name as SNI (so the
/// certificate the caller was served is chosen) and no check of a certificate the gateway
/// itself serves on a loopback address.
fn peer(to: Target, req: &RequestHeader) -> HttpPeer {
    let host = req
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok())
        .map(|a| a.host().to_string())
        .unwrap_or_default();
    let mut peer = HttpPeer::new(to.addr, to.tls, host);
    if to.tls {
        peer.options.verify_cert = false;
        peer.options.verify_hostname = false;
    }
    peer
}

async fn exchange(
    peer: &HttpPeer,
    req: RequestHeader,
    body: Bytes,
    timeout: Duration,
) -> Result<Answer, String> {
    // A pooled connection the listener closed in between is retried once on a new one.
    for fresh_only in [false, true] {
        let (mut session, reused) = CONNECTOR.get_http_session(peer).await.map_err(|e| {
            format!(
                "cannot reach the gateway's listener: {}",
                e.etype().as_str()
            )
        })?;
        if fresh_only && reused {
            session.shutdown().await;
            continue;
        }
        session.set_read_timeout(Some(timeout));
        session.set_write_timeout(Some(timeout));
        let status =
            match crate::llm::client::exchange(&mut session, req.clone(), body.clone()).await {
                Ok(s) => s,
                Err(_) if reused => continue,
                Err(e) => return Err(format!("the call failed: {}", e.etype().as_str())),
            };
        let mut out = BytesMut::new();
        loop {
            match session.read_response_body().await {
                Ok(Some(chunk)) => {
                    if out.len() + chunk.len() > MAX_ANSWER {
                        session.shutdown().await;
                        return Err(format!("the answer is larger than {MAX_ANSWER} bytes"));
                    }
                    out.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(format!("the answer broke off: {}", e.etype().as_str())),
            }
        }
        CONNECTOR
            .release_http_session(session, peer, Some(Duration::from_secs(60)))
            .await;
        return Ok(Answer {
            status,
            body: out.freeze(),
        });
    }
    Err("the gateway's listener closed the connection".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(a: &str) -> Listener {
        Listener {
            addr: a.parse().unwrap(),
            tls: None,
            h2c: false,
            redirect_https: None,
        }
    }

    fn tls(a: &str, required: Option<bool>) -> Listener {
        let client_ca = required.map(|required| crate::config::ClientCa {
            path: String::new(),
            required,
            roots: std::sync::Arc::new(rustls::RootCertStore::empty()),
        });
        Listener {
            addr: a.parse().unwrap(),
            tls: Some(crate::config::ListenerTls { client_ca }),
            h2c: false,
            redirect_https: None,
        }
    }

    #[test]
    fn unspecified_listeners_are_reached_on_loopback() {
        let l = |s: &str| listener(&[plain(s)]).unwrap().addr.to_string();
        assert_eq!(l("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(l("[::]:8080"), "[::1]:8080");
        assert_eq!(l("10.0.0.2:80"), "10.0.0.2:80");
        assert!(listener(&[]).is_none());
    }

    #[test]
    fn a_plain_listener_is_preferred_and_one_requiring_client_certificates_never_used() {
        let at = |ls: &[Listener]| listener(ls).map(|t| (t.addr.port(), t.tls));
        let (a, b) = (tls("127.0.0.1:1", None), plain("127.0.0.1:2"));
        assert_eq!(at(&[a.clone(), b]), Some((2, false)));
        assert_eq!(at(&[a]), Some((1, true)));
        assert_eq!(at(&[tls("127.0.0.1:3", Some(false))]), Some((3, true)));
        assert_eq!(at(&[tls("127.0.0.1:4", Some(true))]), None);
        // A listener that only redirects to HTTPS serves no tool call.
        let redirect = Listener {
            redirect_https: Some(443),
            ..plain("127.0.0.1:5")
        };
        assert_eq!(
            at(&[redirect.clone(), tls("127.0.0.1:6", None)]),
            Some((6, true))
        );
        assert_eq!(at(&[redirect]), None);
    }
}
