//! What users write for HTTP/2 client connections: `[server.http2]`, the limits each
//! connection is held to (streams, header list, flow-control windows).

use super::ByteSize;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http2Section {
    /// Requests one connection may have open at once.
    #[serde(default = "default_streams")]
    pub max_concurrent_streams: u32,
    /// The decoded size of one request's header list (HPACK-expanded); larger is refused.
    #[serde(default = "default_header_list")]
    pub max_header_list_size: ByteSize,
    /// How much of one request's body a client may send before the gateway reads it.
    #[serde(default = "default_stream_window")]
    pub initial_stream_window: ByteSize,
    /// How much of all its requests' bodies a client may send before the gateway reads them:
    /// the most one connection can make a worker hold.
    #[serde(default = "default_connection_window")]
    pub initial_connection_window: ByteSize,
}

impl Default for Http2Section {
    fn default() -> Self {
        Http2Section {
            max_concurrent_streams: default_streams(),
            max_header_list_size: default_header_list(),
            initial_stream_window: default_stream_window(),
            initial_connection_window: default_connection_window(),
        }
    }
}

// nginx's `http2_max_concurrent_streams`.
fn default_streams() -> u32 {
    128
}
// `[server] max_header_bytes`'s default, uncompressed.
fn default_header_list() -> ByteSize {
    ByteSize(32 << 10)
}
fn default_stream_window() -> ByteSize {
    ByteSize(256 << 10)
}
fn default_connection_window() -> ByteSize {
    ByteSize(1 << 20)
}
