//! The TLS handshake of a data-plane listener, made here rather than in Pingora's listener:
//! a connection is then counted in `max_connections` from its accept, and its handshake must
//! end within `header_timeout` (Pingora's own bound is a fixed 60 s). A handshake that fails
//! (plain HTTP on a TLS port, an old version, a name no certificate serves, a missing client
//! certificate) or times out closes that connection alone and is counted.

use crate::telemetry::metrics::ConnectionMetrics;
use pingora::listeners::tls::Acceptor;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::Stream;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

/// The TLS listeners of one service, each with its acceptor (certificates by SNI, client
/// check, ALPN).
#[derive(Default)]
pub struct TlsListeners(Vec<(SocketAddr, Arc<Acceptor>)>);

impl TlsListeners {
    pub fn add(&mut self, addr: SocketAddr, acceptor: Acceptor) {
        self.0.push((addr, Arc::new(acceptor)));
    }

    /// The acceptor of the listener `stream` was accepted on; none for a plain listener.
    fn of(&self, stream: &Stream) -> Option<&Acceptor> {
        if self.0.is_empty() {
            return None;
        }
        let digest = stream.get_socket_digest()?;
        let local = *digest.local_addr()?.as_inet()?;
        self.0
            .iter()
            .find(|(l, _)| {
                l.port() == local.port() && (l.ip().is_unspecified() || l.ip() == local.ip())
            })
            .map(|(_, a)| &**a)
    }

    /// `stream` as the application reads it: over TLS when its listener has TLS; `None` when
    /// the handshake failed or took longer than `wait` (the connection is then closed).
    pub async fn accept(
        &self,
        stream: Stream,
        wait: Duration,
        metrics: &ConnectionMetrics,
    ) -> Option<Stream> {
        let Some(acceptor) = self.of(&stream) else {
            return Some(stream);
        };
        let failed = || {
            metrics.tls_handshake_failures.fetch_add(1, Relaxed);
            None
        };
        // Listeners hand over the TCP stream they accepted, which the handshake takes whole.
        let Ok(tcp) = stream.into_any().downcast::<L4Stream>() else {
            return failed();
        };
        // Boxed: inline, the handshake's large future would size every connection's, plain
        // and idle keep-alive ones included (issue 17: memory per idle connection).
        match tokio::time::timeout(wait, Box::pin(acceptor.tls_handshake(*tcp))).await {
            Ok(Ok(tls)) => Some(Box::new(tls)),
            _ => failed(),
        }
    }
}
