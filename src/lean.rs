//! The lean HTTP/1 path (issue 17, point 3): plain requests proxied in their connection's own
//! future, on Pingora's listeners, TLS and HTTP/2 left as they are.
//!
//! Pingora's HTTP/1 proxy builds, per request, a session with its own buffers, two header maps
//! (the request's and its upstream copy, each with `http::HeaderMap`'s hashing), the proxy's
//! state machine and its filters' futures, and a pooled upstream session. The lean path reads
//! a request head in place (`httparse`, borrowed), writes the upstream's head straight from it
//! into one buffer with the body behind it, sends it in one write over a connection kept in
//! the thread's own pool, and forwards the answer's head and body as they come, rewriting only
//! its hop-by-hop fields.
//!
//! It takes only what it can serve simply (`head::parse`): HTTP/1.1, an origin-form target,
//! one `Host`, no body or a `Content-Length` one of at most 16 KiB, no `Transfer-Encoding`,
//! `Upgrade` or `Expect`, and a request its [`Policy`] sends somewhere. Anything else is handed,
//! with every byte read so far, to Pingora's HTTP/1 path ([`pingora::apps::serve_http1`]),
//! which then serves the rest of the connection: malformed and ambiguous requests meet the
//! same checks as without the lean path. TLS and h2c connections go to Pingora's path whole.

mod chunked;
mod exchange;
mod head;
mod pool;
#[cfg(test)]
mod tests;

pub use head::Head;

use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use pingora::apps::{serve_http1, HttpServerApp, ServerApp};
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// Where the lean path sends a request.
pub trait Policy: Send + Sync + 'static {
    /// The upstream for `head`, or `None` for Pingora's path to serve it.
    fn upstream(&self, head: &Head<'_>) -> Option<SocketAddr>;
}

/// The lean path's timeouts and pool.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a client connection may sit idle between requests.
    pub keepalive: Duration,
    /// How long a request's head and body may take to arrive, from its first byte.
    pub request: Duration,
    pub connect: Duration,
    /// Each read from, and write to, the upstream and the client.
    pub io: Duration,
    /// Idle upstream connections kept per thread, and for how long.
    pub pool_size: usize,
    pub pool_idle: Duration,
}

/// A listening service's app: the lean path in front of Pingora's (`fallback`).
pub struct LeanApp<P, A> {
    pub policy: P,
    pub fallback: Arc<A>,
    pub settings: Settings,
}

/// The first read's room; a head rarely needs more.
const READ_SIZE: usize = 4096;

#[async_trait]
impl<P, A> ServerApp for LeanApp<P, A>
where
    P: Policy,
    A: HttpServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let h2c = self.fallback.server_options().is_some_and(|o| o.h2c);
        if h2c || stream.get_ssl_digest().is_some() {
            return self.fallback.process_new(stream, shutdown).await;
        }
        self.serve(stream, shutdown).await;
        None
    }
}

/// How the wait for a request's head ended.
enum Waited {
    /// A head is in the buffer (it may still be one for Pingora's path).
    Head,
    /// The client closed, went quiet past a timeout, or the service is shutting down.
    Gone,
    /// The bytes are not a head the lean path reads: Pingora's path takes them.
    Other,
}

impl<P: Policy, A: HttpServerApp + Send + Sync + 'static> LeanApp<P, A> {
    /// Serves a plain HTTP/1 connection's requests until it ends or one is not for this path.
    async fn serve(&self, mut stream: Stream, shutdown: &ShutdownWatch) {
        let mut buf = BytesMut::new();
        loop {
            match self.wait(&mut stream, &mut buf, shutdown).await {
                Waited::Gone => return,
                Waited::Other => {
                    return serve_http1(&self.fallback, stream, Some(buf), shutdown).await;
                }
                Waited::Head => {}
            }
            let mut slots = [httparse::EMPTY_HEADER; head::MAX_HEADERS];
            let (head, peer) = match head::parse(&buf, &mut slots) {
                head::Parsed::Plain(h) => match self.policy.upstream(&h) {
                    Some(peer) => (h, peer),
                    None => break,
                },
                head::Parsed::Partial | head::Parsed::Other => break,
            };
            let mut request = Vec::with_capacity(head.len + head.body as usize + 256);
            head::write_upstream(&head, b"", &mut request);
            let (len, body, close) = (head.len, head.body as usize, head.close);
            let no_body = head.method == "HEAD";
            if !self.read_body(&mut stream, &mut buf, len + body).await {
                return;
            }
            request.extend_from_slice(&buf[len..len + body]);
            let ask = exchange::Ask {
                peer,
                request,
                no_body,
                close: close || *shutdown.borrow(),
            };
            if !exchange::run(&mut stream, ask, &self.settings).await {
                return;
            }
            buf.advance(len + body);
        }
        serve_http1(&self.fallback, stream, Some(buf), shutdown).await
    }

    /// Reads until the buffer holds a whole request head, or something else.
    async fn wait(&self, stream: &mut Stream, buf: &mut BytesMut, sd: &ShutdownWatch) -> Waited {
        if buf.is_empty() {
            // Nothing is kept for an idle connection.
            *buf = BytesMut::new();
            let mut sd = sd.clone();
            if *sd.borrow() {
                return Waited::Gone;
            }
            let first = pingora::time::timeout(self.settings.keepalive, read_more(stream, buf));
            tokio::select! {
                biased;
                read = first => if !matches!(read, Ok(true)) { return Waited::Gone },
                _ = sd.changed() => return Waited::Gone,
            }
        }
        let request = self.settings.request;
        let head = async {
            loop {
                if head::head_ends(buf) {
                    return Waited::Head;
                }
                if buf.len() > head::MAX_HEAD {
                    return Waited::Other;
                }
                if !read_more(stream, buf).await {
                    return Waited::Gone;
                }
            }
        };
        pingora::time::timeout(request, head)
            .await
            .unwrap_or(Waited::Gone)
    }

    /// Reads until the buffer holds `want` bytes; `false` when the client left or was too slow.
    async fn read_body(&self, stream: &mut Stream, buf: &mut BytesMut, want: usize) -> bool {
        let read = async {
            while buf.len() < want {
                if !read_more(stream, buf).await {
                    return false;
                }
            }
            true
        };
        pingora::time::timeout(self.settings.request, read)
            .await
            .unwrap_or(false)
    }
}

/// One read into the buffer's spare room; `false` at the end of the stream or on an error.
async fn read_more(stream: &mut Stream, buf: &mut BytesMut) -> bool {
    buf.reserve(READ_SIZE);
    matches!(stream.read_buf(buf).await, Ok(n) if n > 0)
}
