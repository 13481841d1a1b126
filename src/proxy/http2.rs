//! HTTP/2 from clients: the limits every HTTP/2 connection is held to, and how a connection
//! is known to speak it (ALPN `h2` on TLS, the client preface on an h2c listener).
//!
//! Floods are bounded by the `h2` crate, set here rather than left to its defaults, and by
//! [`ResetWatch`] where the crate's count falls short:
//! - rapid reset (CVE-2023-44487, HEADERS then RST_STREAM at once, over and over): streams
//!   reset before they are accepted are counted, and past `PENDING_ACCEPT_RESETS` the
//!   connection gets GOAWAY `ENHANCE_YOUR_CALM`; resets the gateway itself had to send for a
//!   client's protocol errors are capped the same way (`LOCAL_ERROR_RESETS`). A client that
//!   lets each stream be accepted before resetting it is caught by [`ResetWatch`] instead;
//! - CONTINUATION floods (a header block that never ends): the crate counts CONTINUATION
//!   frames against what `max_header_list_size` needs and ends the connection past it, and a
//!   block over the size is answered 431 or cut, never buffered whole;
//! - a client that reads no answers: at most `SEND_BUFFER_PER_STREAM` is queued per stream.
//!
//! An HTTP/2 connection counts once in the worker's `max_connections`, whatever its streams;
//! one with no request in flight for the keep-alive timeout is closed.

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

/// Response bytes queued per stream for a client that does not read them (the `h2` crate's
/// default is about 400 KiB): with `max_concurrent_streams` streams, what one slow reader can
/// make a worker hold.
const SEND_BUFFER_PER_STREAM: usize = 128 << 10;

/// The `h2` server settings of every client connection.
pub fn h2_options(s: &Http2Settings) -> H2Options {
    let mut o = H2Options::new();
    o.max_concurrent_streams(s.max_concurrent_streams)
        .max_header_list_size(s.max_header_list_size)
        .initial_window_size(s.initial_stream_window)
        .initial_connection_window_size(s.initial_connection_window)
        .max_pending_accept_reset_streams(PENDING_ACCEPT_RESETS)
        .max_local_error_reset_streams(Some(LOCAL_ERROR_RESETS))
        .max_concurrent_reset_streams(RESET_STREAMS_KEPT)
        .max_send_buffer_size(SEND_BUFFER_PER_STREAM);
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

/// Client resets a connection may make before the share of them is judged.
const RESETS_BEFORE_JUDGING: u32 = 100;

/// The streams a client resets, counted as its frames are read. The `h2` crate catches resets
/// of streams not yet accepted, but a client that waits for each stream to be accepted before
/// resetting it escapes that count, and each such stream has started a request (an upstream
/// call, say) that no longer counts against `max_concurrent_streams`. So past
/// `RESETS_BEFORE_JUDGING` resets, a connection that reset more than half the streams it
/// opened is cut (Envoy's "premature reset" rule; a browser or gRPC client cancelling now and
/// then stays far below).
#[derive(Debug)]
pub struct ResetWatch {
    /// Bytes of the client preface still to pass.
    preface: usize,
    head: [u8; 9],
    head_len: usize,
    /// Payload bytes of the current frame still to pass.
    payload: usize,
    last_stream: u32,
    opened: u32,
    resets: u32,
}

impl Default for ResetWatch {
    fn default() -> Self {
        ResetWatch {
            preface: PREFACE.len(),
            head: [0; 9],
            head_len: 0,
            payload: 0,
            last_stream: 0,
            opened: 0,
            resets: 0,
        }
    }
}

impl ResetWatch {
    /// Takes the next bytes the client sent; `false` once it has reset too many streams.
    pub fn observe(&mut self, mut data: &[u8]) -> bool {
        let skip = self.preface.min(data.len());
        self.preface -= skip;
        data = &data[skip..];
        while !data.is_empty() {
            if self.payload > 0 {
                let n = self.payload.min(data.len());
                self.payload -= n;
                data = &data[n..];
                continue;
            }
            let n = (9 - self.head_len).min(data.len());
            self.head[self.head_len..self.head_len + n].copy_from_slice(&data[..n]);
            self.head_len += n;
            data = &data[n..];
            if self.head_len == 9 {
                self.head_len = 0;
                if !self.frame() {
                    return false;
                }
            }
        }
        true
    }

    /// One frame header (RFC 9113 4.1) read.
    fn frame(&mut self) -> bool {
        let h = &self.head;
        self.payload = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
        let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
        match h[3] {
            // HEADERS on a new stream opens it (a later one carries trailers).
            0x1 if stream > self.last_stream => {
                self.last_stream = stream;
                self.opened += 1;
            }
            0x3 => self.resets += 1,
            _ => {}
        }
        self.resets < RESETS_BEFORE_JUDGING || self.resets * 2 <= self.opened
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, stream: u32, payload: usize) -> Vec<u8> {
        let len = (payload as u32).to_be_bytes();
        let mut f = vec![len[1], len[2], len[3], kind, 0];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend(std::iter::repeat_n(0u8, payload));
        f
    }

    /// The preface, then for each stream HEADERS, and RST_STREAM for those `reset` picks.
    fn traffic(streams: u32, reset: impl Fn(u32) -> bool) -> Vec<u8> {
        let mut out = PREFACE.to_vec();
        out.extend(frame(0x4, 0, 12));
        for i in 0..streams {
            let id = 2 * i + 1;
            out.extend(frame(0x1, id, 20));
            out.extend(frame(0x0, id, 100));
            if reset(i) {
                out.extend(frame(0x3, id, 4));
            }
        }
        out
    }

    /// Whether the watch lets `bytes` through, fed in pieces of `piece` bytes.
    fn passes(bytes: &[u8], piece: usize) -> bool {
        let mut w = ResetWatch::default();
        bytes.chunks(piece).all(|c| w.observe(c))
    }

    #[test]
    fn a_client_resetting_most_of_its_streams_is_cut_however_its_bytes_arrive() {
        let attack = traffic(1000, |_| true);
        for piece in [1, 7, 9, 4096] {
            assert!(!passes(&attack, piece), "{piece}");
        }
    }

    #[test]
    fn clients_that_cancel_now_and_then_pass() {
        // Every third stream cancelled, and a few resets on a short connection.
        assert!(passes(&traffic(3000, |i| i % 3 == 0), 1000));
        assert!(passes(&traffic(99, |_| true), 333));
        // Trailers (a second HEADERS on a stream) do not count as new streams.
        let mut t = traffic(0, |_| false);
        for i in 0..300u32 {
            t.extend(frame(0x1, 2 * i + 1, 10));
            t.extend(frame(0x1, 2 * i + 1, 10));
            if i % 3 == 0 {
                t.extend(frame(0x3, 2 * i + 1, 4));
            }
        }
        assert!(passes(&t, 512));
    }
}
