//! Drops Pingora's error lines for a client that stopped while sending its request head, or
//! failed its TLS handshake (a plain-text request on a TLS port, an old TLS version, a name
//! no certificate serves, a missing client certificate), and rustls's warning for a client
//! that sends an IP address as its server name (wrk does, on every connection to
//! `https://127.0.0.1`; the handshake goes on without the name, as it should).
//!
//! Pingora logs every broken request head at error level ("Fail to proxy: Downstream ...
//! while reading request headers"), whether the client went away or was cut off by
//! `server.header_timeout`. Those are the client's doing, a slow-client attack makes one per
//! connection, and they are counted in `tollgate_client_header_timeouts_total`; so they are
//! kept out of the process log, which is for the gateway's own faults.

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Filter};

pub struct ClientNoise;

impl<S> Filter<S> for ClientNoise {
    fn enabled(&self, _meta: &tracing::Metadata<'_>, _cx: &Context<'_, S>) -> bool {
        true
    }

    /// Pingora logs through the `log` crate, whose events all come under one bridged target,
    /// so the message is what tells them apart. Events are rare (none per request).
    fn event_enabled(&self, event: &tracing::Event<'_>, _cx: &Context<'_, S>) -> bool {
        if event.metadata().level() > &tracing::Level::WARN {
            return true;
        }
        let mut message = Message(false);
        event.record(&mut message);
        !message.0
    }
}

/// Whether the event's message is a failure of the client's making.
struct Message(bool);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = is_client_failure(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = is_client_failure(&format!("{value:?}"));
        }
    }
}

fn is_client_failure(message: &str) -> bool {
    (message.starts_with("Fail to proxy: Downstream")
        && message.contains("while reading request headers"))
        || message.starts_with("Downstream handshake error")
        || message.starts_with("Downstream handshake timeout")
        || message.starts_with("Illegal SNI extension")
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_head_read_failure_is_dropped() {
        assert!(super::is_client_failure("Fail to proxy: Downstream ReadError context: while reading request headers cause: request head not received within the header timeout, downstream session type: h1"));
        assert!(!super::is_client_failure(
            "Fail to proxy: Upstream ConnectRefused context: peer 127.0.0.1:1"
        ));
        assert!(super::is_client_failure(
            "Downstream handshake error from 127.0.0.1:5: TLSHandshakeFailure"
        ));
        assert!(super::is_client_failure(
            "Illegal SNI extension: ignoring IP address presented as hostname (3132372e302e302e31)"
        ));
    }
}
