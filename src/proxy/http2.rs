//! HTTP/2 from clients: the limits every HTTP/2 connection is held to, and how a connection
//! is known to speak it (ALPN `h2` on TLS, the client preface on an h2c listener).
//!
//! Floods are bounded by the `h2` crate, set here rather than left to its defaults:
//! - rapid reset (CVE-2023-44487, HEADERS then RST_STREAM at once, over and over): streams
//!   reset before they are accepted are counted, and past `PENDING_ACCEPT_RESETS` the
//!   connection gets GOAWAY `ENHANCE_YOUR_CALM`; resets the gateway itself had to send for a
//!   client's protocol errors are capped the same way (`LOCAL_ERROR_RESETS`);
//! - CONTINUATION floods (a header block that never ends): the crate counts CONTINUATION
//!   frames against what `max_header_list_size` needs and ends the connection past it, and a
//!   block over the size is answered 431 or cut, never buffered whole.
//!
//! Every stream of a connection and the connection itself count in the worker's
//! `max_connections` once; a connection with no request in flight for the keep-alive timeout
//! is closed.

use crate::config::Http2Settings;
use pingora::apps::HttpServerOptions;
use pingora::protocols::http::v2::server::H2Options;
use pingora::protocols::{Stream, ALPN};
use std::time::Duration;

/// Streams a client may reset before the gateway accepted them, per connection, before it is
/// told to go away. The `h2` crate's default; a browser cancelling page loads stays far below.
const PENDING_ACCEPT_RESETS: usize = 20;

/// Streams the gateway may have to reset for a client's protocol errors, per connection.
const LOCAL_ERROR_RESETS: usize = 256;

/// Reset streams whose late frames are still ignored (RFC 9113 5.4.2), per connection.
const RESET_STREAMS_KEPT: usize = 64;

/// The `h2` server settings of every client connection.
pub fn h2_options(s: &Http2Settings) -> H2Options {
    let mut o = H2Options::new();
    o.max_concurrent_streams(s.max_concurrent_streams)
        .max_header_list_size(s.max_header_list_size)
        .initial_window_size(s.initial_stream_window)
        .initial_connection_window_size(s.initial_connection_window)
        .max_pending_accept_reset_streams(PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(Some(LOCAL_ERROR_RESETS))
        .max_concurrent_reset_streams(RESET_STREAMS_KEPT);
    o
}

/// Pingora's options for a data-plane service: h2c with prior knowledge when `h2c`, and an
/// HTTP/2 connection with nothing in flight closed after `idle`.
pub fn server_options(h2c: bool, idle: Duration) -> HttpServerOptions {
    let mut o = HttpServerOptions::default();
    o.h2c = h2c;
    o.h2_idle_timeout = Some(idle);
    o
}

// RFC 9113 3.4.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether a new client connection speaks HTTP/2: chosen by ALPN on TLS; on an h2c listener
/// (`h2c`), when its first bytes are the HTTP/2 preface. `None` when the client sent too
/// little to tell within `wait` (it is then closed, as a slow request head would be).
pub async fn speaks_h2(stream: &mut Stream, h2c: bool, wait: Duration) -> Option<bool> {
    if matches!(stream.selected_alpn_proto(), Some(ALPN::H2)) {
        return Some(true);
    }
    if !h2c || stream.get_ssl_digest().is_some() {
        return Some(false);
    }
    let mut first = [0u8; PREFACE.len()];
    // Pingora reads the same bytes again (they are put back) to make the same choice.
    match tokio::time::timeout(wait, stream.try_peek(&mut first)).await {
        Ok(Ok(true)) => Some(first == PREFACE),
        Ok(Ok(false)) => Some(false),
        _ => None,
    }
}
