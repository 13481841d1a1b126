//! HTTP/2 to an upstream, as Pingora's connector makes it: which protocol a peer is offered,
//! and how many requests share one connection.

use pingora::upstreams::peer::HttpPeer;

/// Requests one upstream HTTP/2 connection carries at once before the pool opens another; a
/// server that allows fewer (its SETTINGS) is held to its own number.
pub const STREAMS_PER_CONNECTION: usize = 100;

/// Makes `peer` speak HTTP/2: over TLS, `h2` is offered first by ALPN, and HTTP/1.1 is used if
/// the server does not take it; in clear there is nothing to negotiate with, so HTTP/2 is
/// spoken from the first byte (h2c with prior knowledge).
pub fn use_http2(peer: &mut HttpPeer) {
    let min = if peer.is_tls() { 1 } else { 2 };
    peer.options.set_http_version(2, min);
    peer.options.max_h2_streams = STREAMS_PER_CONNECTION;
}
