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
//! A policy may also answer a request itself (`Way::Answer`: the gateway's LLM routes, whose
//! bodies are read whole anyway): it is then given the body and the client's connection
//! ([`Client`]) to write its answer to, and the connection goes on as after a proxied one.
//!
//! It takes only what it can serve simply (`head::parse`): HTTP/1.1, an origin-form target,
//! one `Host`, no body or a `Content-Length` one (to proxy, of at most 16 KiB and come with its
//! head; to answer, any, read whole), no `Transfer-Encoding`, `Upgrade` or `Expect`, and a
//! request its [`Policy`] sends somewhere or answers. Anything else is handed,
//! with every byte read so far, to Pingora's HTTP/1 path ([`pingora::apps::serve_http1`]),
//! which then serves the rest of the connection: malformed and ambiguous requests meet the
//! same checks as without the lean path. HTTP/1 over TLS is served as plain HTTP/1 is (the
//! TLS layer is under the stream); HTTP/2, by ALPN or h2c, goes to Pingora's path whole.

pub mod answer;
pub mod chunked;
mod exchange;
mod fixed;
mod head;
mod pool;
#[cfg(test)]
mod tests;

pub use fixed::FixedPeer;
pub use head::{is_hop_by_hop, write_upstream, Head};

use crate::base::boxed::in_place;
use async_trait::async_trait;
use bytes::{Buf, Bytes, BytesMut};
use pingora::apps::{first_bytes, serve_http1, HttpServerApp, ServerApp};
use pingora::protocols::{Stream, ALPN};
use pingora::server::ShutdownWatch;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the gateway does with the lean path's requests: which it takes, where they go, what
/// their heads gain, and what is recorded of them.
pub trait Policy: Send + Sync + 'static {
    /// What the policy keeps of a connection (its client's address, say).
    type Conn: Send + Sync;
    /// What it keeps of a request, from `begin` to `end`.
    type Call: Send;

    /// Whether the lean path serves a new connection at all (else Pingora's path does).
    fn serves(&self) -> bool {
        true
    }

    fn open(&self, stream: &Stream) -> Self::Conn;

    /// Takes `head`, writing the upstream's head into `request` (see [`write_upstream`]) or
    /// choosing to answer it itself, or leaves it to Pingora's path (`None`; `request` is
    /// then dropped).
    fn begin(
        &self,
        conn: &Self::Conn,
        head: &Head<'_>,
        request: &mut Vec<u8>,
    ) -> Option<(Self::Call, Way)>;

    /// Answers a request `begin` kept for itself (`Way::Answer`), its body whole in `client`.
    /// A policy that never keeps one needs no answer: the connection just closes.
    fn answer<'a>(
        &'a self,
        _call: &'a mut Self::Call,
        _client: Client<'a>,
    ) -> impl Future<Output = Answered> + Send + 'a {
        async { Answered::default() }
    }

    /// The next upstream to try after `failure`, if any; nothing was sent to the client yet,
    /// and no answer came from the upstream (the request may have reached it, unless the
    /// failure is `Connect`).
    fn retry(&self, call: &mut Self::Call, failure: Failure) -> Option<Upstream>;

    /// Whether the upstream's answer field `name` is left out of the client's answer (the
    /// hop-by-hop ones are, always).
    fn drops(&self, call: &Self::Call, name: &str) -> bool;

    /// Writes the fields the gateway adds to an answer (whole `Name: value\r\n` lines).
    fn add_fields(&self, call: &mut Self::Call, status: u16, out: &mut Vec<u8>);

    /// Writes the whole answer to a request no upstream answered, its body last; the
    /// connection then closes, so the answer says `Connection: close`. Returns its status and
    /// its body's length.
    fn error_answer(
        &self,
        call: &mut Self::Call,
        failure: Failure,
        out: &mut Vec<u8>,
    ) -> (u16, usize);

    /// The request is over.
    fn end(&self, call: Self::Call, end: End);

    /// A request `begin` took goes to Pingora's path after all (its body was not all there).
    fn hand_back(&self, call: Self::Call) {
        drop(call);
    }

    /// The request stays on the lean path (its body is at hand, or is its policy's to read):
    /// what cannot be undone by a hand back, such as a limit's draw, is done here. Returns its
    /// way, which may now be `Answer` (a refusal), or `None` to hand it back after all.
    fn commit(&self, _call: &mut Self::Call, way: Way) -> Option<Way> {
        Some(way)
    }

    /// The head of a request the lean path takes has been read: called before `begin`'s upstream
    /// is called, for a stream that keeps its own head deadline.
    fn head_read(&self, _stream: &Stream) {}

    /// The request is over and the connection waits for the next one.
    fn idle(&self, _stream: &Stream) {}
}

/// What `begin` does with a request it takes.
#[derive(Debug, Clone, Copy)]
pub enum Way {
    /// Proxied to this upstream.
    Upstream(Upstream),
    /// Answered by the policy itself.
    Answer,
}

/// The client's connection, for a policy answering a request itself.
pub struct Client<'a> {
    stream: &'a mut Stream,
    /// The connection's buffer: what the client sends meanwhile (a pipelined request) is kept.
    cbuf: &'a mut BytesMut,
    cbuf_limit: usize,
    io: Duration,
    /// The request's body, whole.
    pub body: Bytes,
    /// The connection ends after this answer (the client asked, or the service is stopping).
    pub close: bool,
}

impl Client<'_> {
    /// Writes `bytes` within the client I/O timeout; `false` when they could not be.
    pub async fn write(&mut self, bytes: &[u8]) -> bool {
        write_within(self.stream, bytes, self.io).await
    }

    /// Resolves when the client closes its connection.
    pub async fn gone(&mut self) {
        exchange::client_gone(self.stream, self.cbuf, self.cbuf_limit).await
    }
}

/// How a policy's own answer went.
#[derive(Debug, Default, Clone, Copy)]
pub struct Answered {
    /// The status sent; 0 when nothing was.
    pub status: u16,
    pub bytes_out: u64,
    pub client_gone: bool,
    /// The answer was whole and framed, so the connection can serve another request.
    pub keep: bool,
}

/// Where a request goes, and how long each step may take.
#[derive(Debug, Clone, Copy)]
pub struct Upstream {
    pub addr: SocketAddr,
    pub connect: Duration,
    /// Each read from and write to the upstream.
    pub io: Duration,
}

/// Why no upstream answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No connection could be made.
    Connect,
    /// The upstream did not answer in time.
    Timeout,
    /// The answer was not valid HTTP, or broke off before its head's end.
    Broken,
}

/// How a request ended, for the record.
#[derive(Debug, Clone, Copy)]
pub struct End {
    /// The status the client was sent; 0 when nothing was.
    pub status: u16,
    /// The answer's body bytes sent to the client.
    pub bytes_out: u64,
    pub failure: Option<Failure>,
    /// The client closed its connection before its answer was whole.
    pub client_gone: bool,
}

/// The lean path's timeouts. `None`: the stream keeps that deadline itself (through
/// `Policy::head_read` and `Policy::idle`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a client connection may sit idle between requests.
    pub keepalive: Option<Duration>,
    /// How long a request's head may take to arrive, from its first byte.
    pub head: Option<Duration>,
    /// Each read of a request's body, and each write of its answer to the client.
    pub client_io: Duration,
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
        // HTTP/1 over TLS is served too; HTTP/2 (and any other protocol ALPN chose) is not.
        let h1 = matches!(stream.selected_alpn_proto(), None | Some(ALPN::H1));
        if h2c || !h1 || !self.policy.serves() {
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
        let conn = self.policy.open(&stream);
        let mut buf = BytesMut::new();
        loop {
            match self.wait(&mut stream, &mut buf, shutdown).await {
                Waited::Gone => return,
                Waited::Other => break,
                Waited::Head => {}
            }
            let close = *shutdown.borrow();
            let Some((mut call, way, ask, len)) = self.take(&conn, &buf, close) else {
                break;
            };
            // A proxied body is taken only within `MAX_BODY` and when it came with its head: a
            // larger one, or one still on its way, is streamed to the upstream by Pingora's
            // path as it arrives. A policy's own answer waits for its body (it is read whole
            // anyway); one that stops coming goes to Pingora's path with what came, and meets
            // its body timeout there.
            let proxied = matches!(way, Way::Upstream(_));
            let small = len - ask.head_len <= head::MAX_BODY as usize;
            if proxied && (!small || (buf.len() < len && !read_ready(&mut stream, &mut buf, len))) {
                self.policy.hand_back(call);
                break;
            }
            let Some(way) = self.policy.commit(&mut call, way) else {
                self.policy.hand_back(call);
                break;
            };
            self.policy.head_read(&stream);
            // Boxed, both: an idle connection's future then holds only the wait for its next
            // head.
            let keep = match way {
                Way::Upstream(upstream) => {
                    let mut ask = ask;
                    ask.request.extend_from_slice(&buf[ask.head_len..len]);
                    let lean = exchange::Lean {
                        policy: &self.policy,
                        settings: &self.settings,
                    };
                    let run = in_place(|| lean.run(&mut stream, &mut buf, call, upstream, ask));
                    let keep = run.await;
                    if keep {
                        buf.advance(len);
                    }
                    keep
                }
                Way::Answer => {
                    let answer = self.answer(&mut stream, &mut buf, call, len, &ask);
                    match in_place(|| answer).await {
                        Some(keep) => keep,
                        None => break,
                    }
                }
            };
            if !keep {
                return;
            }
            self.policy.idle(&stream);
        }
        // Boxed too: the rest of a connection on Pingora's path is rare, and its future large.
        in_place(|| serve_http1(&self.fallback, stream, Some(buf), shutdown)).await
    }

    /// Reads until the buffer holds `len` bytes, each read within the client I/O timeout;
    /// `false` when the client stopped sending or left first.
    async fn read_body(&self, stream: &mut Stream, buf: &mut BytesMut, len: usize) -> bool {
        buf.reserve(len.saturating_sub(buf.len()));
        while buf.len() < len {
            let limit = Some(self.settings.client_io);
            if !within(limit, read_more(stream, buf)).await.unwrap_or(false) {
                return false;
            }
        }
        true
    }

    /// Has the policy answer the request of `len` bytes at the start of `cbuf` (its body read
    /// whole first); whether the connection goes on, `None` when the body stopped coming and
    /// the request went back to Pingora's path.
    async fn answer(
        &self,
        stream: &mut Stream,
        cbuf: &mut BytesMut,
        mut call: P::Call,
        len: usize,
        ask: &exchange::Ask,
    ) -> Option<bool> {
        if !self.read_body(stream, cbuf, len).await {
            self.policy.hand_back(call);
            return None;
        }
        let body = Bytes::copy_from_slice(&cbuf[ask.head_len..len]);
        cbuf.advance(len);
        let client = Client {
            stream,
            cbuf_limit: cbuf.len() + head::MAX_HEAD,
            cbuf,
            io: self.settings.client_io,
            body,
            close: ask.close,
        };
        let answered = self.policy.answer(&mut call, client).await;
        let end = End {
            status: answered.status,
            bytes_out: answered.bytes_out,
            failure: None,
            client_gone: answered.client_gone,
        };
        self.policy.end(call, end);
        Some(answered.keep && !ask.close)
    }

    /// The request whose head starts `buf`, if the lean path takes it: its call, its way and
    /// upstream head, and the length of its head and body in `buf`. A function of its own so
    /// that the parsed head's field slots are not kept in the connection's future.
    fn take(
        &self,
        conn: &P::Conn,
        buf: &[u8],
        shutting_down: bool,
    ) -> Option<(P::Call, Way, exchange::Ask, usize)> {
        let mut slots = [httparse::EMPTY_HEADER; head::MAX_HEADERS];
        let head::Parsed::Plain(head) = head::parse(buf, &mut slots) else {
            return None;
        };
        let proxied_body = head.body.min(head::MAX_BODY) as usize;
        let mut request = Vec::with_capacity(head.len + proxied_body + 512);
        let (call, way) = self.policy.begin(conn, &head, &mut request)?;
        let ask = exchange::Ask {
            request,
            head_len: head.len,
            no_body: head.method == "HEAD",
            close: head.close || shutting_down,
        };
        Some((call, way, ask, head.len + head.body as usize))
    }

    /// Reads until the buffer holds a whole request head, or something else.
    async fn wait(&self, stream: &mut Stream, buf: &mut BytesMut, sd: &ShutdownWatch) -> Waited {
        if buf.is_empty() {
            // As Pingora's keep-alive loop: no buffer while the connection is idle.
            let mut sd = sd.clone();
            if *sd.borrow() {
                return Waited::Gone;
            }
            let first = within(self.settings.keepalive, first_bytes(stream));
            tokio::select! {
                biased;
                read = first => match read.flatten() {
                    Some(bytes) => *buf = bytes,
                    None => return Waited::Gone,
                },
                _ = sd.changed() => return Waited::Gone,
            }
        }
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
        within(self.settings.head, head)
            .await
            .unwrap_or(Waited::Gone)
    }
}

impl End {
    /// A request that ended before anything was sent upstream or to the client.
    fn unanswered() -> End {
        End {
            status: 0,
            bytes_out: 0,
            failure: None,
            client_gone: false,
        }
    }
}

/// `future` within `limit`, if there is one; `None` when the limit passed.
async fn within<T>(
    limit: Option<Duration>,
    future: impl std::future::Future<Output = T>,
) -> Option<T> {
    match limit {
        Some(limit) => pingora::time::timeout(limit, future).await.ok(),
        None => Some(future.await),
    }
}

/// Reads what the client has sent already, without waiting, until the buffer holds `want`
/// bytes; `false` when it does not.
fn read_ready(stream: &mut Stream, buf: &mut BytesMut, want: usize) -> bool {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let mut cx = Context::from_waker(Waker::noop());
    while buf.len() < want {
        buf.reserve(want - buf.len());
        let mut read = std::pin::pin!(stream.read_buf(buf));
        match read.as_mut().poll(&mut cx) {
            Poll::Ready(Ok(n)) if n > 0 => {}
            _ => return false,
        }
    }
    true
}

/// Writes `bytes` to the client within `limit`; `false` when they could not be.
async fn write_within(client: &mut Stream, bytes: &[u8], limit: Duration) -> bool {
    let write = async {
        client.write_all(bytes).await?;
        client.flush().await
    };
    matches!(pingora::time::timeout(limit, write).await, Ok(Ok(())))
}

/// One read into the buffer's spare room; `false` at the end of the stream or on an error.
async fn read_more(stream: &mut Stream, buf: &mut BytesMut) -> bool {
    buf.reserve(READ_SIZE);
    matches!(stream.read_buf(buf).await, Ok(n) if n > 0)
}
