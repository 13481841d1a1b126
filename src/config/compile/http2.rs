//! Compiles `[server.http2]`: the limits of HTTP/2 client connections, checked against what
//! the protocol allows (RFC 9113 6.5.2, 6.9.1) and bounded so that one connection cannot make
//! a worker hold much.

use super::Checker;
use crate::config::problem::key;
use crate::config::schema::Http2Section;

/// `[server.http2]`, compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2Settings {
    pub max_concurrent_streams: u32,
    pub max_header_list_size: u32,
    pub initial_stream_window: u32,
    pub initial_connection_window: u32,
}

/// The smallest window HTTP/2 allows a peer to start with is its default, 65535 bytes; the
/// largest is 2^31-1, but 16 MiB already fills any link the gateway serves.
const WINDOW: std::ops::RangeInclusive<u64> = 65_535..=16 << 20;

pub(super) fn compile_http2(h: &Http2Section, ck: &mut Checker) -> Http2Settings {
    let base = [key("server"), key("http2")];
    let mut check = |field: &str, ok: bool, msg: &str| {
        if !ok {
            ck.at(&base, &[field], msg.to_string());
        }
    };
    check(
        "max_concurrent_streams",
        (1..=10_000).contains(&h.max_concurrent_streams),
        "must be between 1 and 10000",
    );
    check(
        "max_header_list_size",
        (1024..=1 << 20).contains(&h.max_header_list_size.0),
        "must be between 1KiB and 1MiB",
    );
    check(
        "initial_stream_window",
        WINDOW.contains(&h.initial_stream_window.0),
        "must be between 65535 bytes and 16MiB",
    );
    check(
        "initial_connection_window",
        WINDOW.contains(&h.initial_connection_window.0),
        "must be between 65535 bytes and 16MiB",
    );
    if h.initial_connection_window.0 < h.initial_stream_window.0 {
        check(
            "initial_connection_window",
            false,
            "must be at least initial_stream_window",
        );
    }
    // Out-of-range values were reported; these clamps only keep the compiled form usable.
    let clamp = |v: u64, lo: u64, hi: u64| v.clamp(lo, hi) as u32;
    Http2Settings {
        max_concurrent_streams: h.max_concurrent_streams.clamp(1, 10_000),
        max_header_list_size: clamp(h.max_header_list_size.0, 1024, 1 << 20),
        initial_stream_window: clamp(h.initial_stream_window.0, *WINDOW.start(), *WINDOW.end()),
        initial_connection_window: clamp(
            h.initial_connection_window.0,
            *WINDOW.start(),
            *WINDOW.end(),
        ),
    }
}
