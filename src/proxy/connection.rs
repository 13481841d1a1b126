//! The connection layer under the HTTP proxy: a cap on each worker's open client connections
//! and a deadline on reading each request's head.
//!
//! Pingora bounds each single read of a request head (by the keep-alive timeout) but not the
//! whole head, so a client sending one byte a second holds its connection, and its file
//! descriptor, forever; a thousand such clients exhaust a worker. Here every accepted stream is
//! wrapped in [`Guarded`]: a read of a request head that is still going on
//! `header_timeout` after the head's first byte (after the accept, for the first request) fails
//! with `TimedOut`, and Pingora closes the connection. The proxy phases tell the stream where
//! the request is ([`mark_head_read`] once the head is parsed, [`mark_request_done`] at the
//! end); bodies are bounded by Pingora's own per-read timeout (`body_timeout`).
//!
//! The client keep-alive timeout is kept here too ([`keep_alive`]): the time a connection may
//! sit idle between requests. Pingora would arm a timer around each read of each next request
//! head; here one timer serves the connection's whole life, moved only when it fires early (a
//! busy connection costs no timer work per request), and the same timer bounds a head's reads.
//!
//! A connection accepted while the worker already holds `max_connections` is closed at once
//! and counted, so descriptors stay available for the clients being served. A TLS listener's
//! handshake is made here too (`handshake`), under the cap and within `header_timeout`.
//!
//! An HTTP/2 connection (see `http2`) has no head deadline: its requests are streams read side
//! by side, so there is no one request head to time; the `h2` crate bounds each header block,
//! and Pingora closes a connection that has nothing in flight for the keep-alive timeout.
//! Instead its frames are watched for streams the client resets ([`http2::ResetWatch`]). On
//! an h2c listener the first bytes must arrive within `header_timeout` for the protocol to be
//! told, or the connection is closed.

mod handshake;

pub use handshake::TlsListeners;

use super::http2;
use crate::telemetry::metrics::ConnectionMetrics;
use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, Ssl, Stream, UniqueID,
    UniqueIDType,
};
use pingora::proxy::Session;
use pingora::server::ShutdownWatch;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Per-worker connection settings, from `[server]`.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// The listeners take HTTP/2 with prior knowledge (h2c).
    pub h2c: bool,
}

/// Wraps a server app (the HTTP proxy) with the cap, the TLS handshake of its TLS listeners
/// and the head deadline.
pub struct GuardedApp<A> {
    app: Arc<A>,
    limits: ConnectionLimits,
    metrics: Arc<ConnectionMetrics>,
    tls: TlsListeners,
}

impl<A> GuardedApp<A> {
    pub fn new(app: A, limits: ConnectionLimits, metrics: Arc<ConnectionMetrics>) -> Self {
        GuardedApp {
            app: Arc::new(app),
            limits,
            metrics,
            tls: TlsListeners::default(),
        }
    }

    /// The listeners among the service's whose connections start with a TLS handshake.
    pub fn with_tls(mut self, tls: TlsListeners) -> Self {
        self.tls = tls;
        self
    }
}

/// One open connection counted in `ConnectionMetrics::open`, for as long as it lives.
struct Slot(Arc<ConnectionMetrics>);

impl Slot {
    fn take(metrics: &Arc<ConnectionMetrics>, max: usize) -> Option<Slot> {
        let before = metrics.open.fetch_add(1, Relaxed);
        if before >= max as i64 {
            metrics.open.fetch_sub(1, Relaxed);
            metrics.refused.fetch_add(1, Relaxed);
            return None;
        }
        Some(Slot(metrics.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Relaxed);
    }
}

#[async_trait]
impl<A: ServerApp + Send + Sync + 'static> ServerApp for GuardedApp<A> {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        // Dropping the stream closes it: over the cap, the client sees the connection end.
        let _slot = Slot::take(&self.metrics, self.limits.max_connections)?;
        let (h2c, wait) = (self.limits.h2c, self.limits.header_timeout);
        let mut stream = self.tls.accept(stream, wait, &self.metrics).await?;
        let h2 = http2::speaks_h2(&mut stream, h2c, wait).await?;
        let guarded: Stream = Box::new(Guarded::new(stream, wait, h2, self.metrics.clone()));
        // The HTTP app serves every request of the connection itself; one that hands the
        // stream back is given it again, so the slot is held until the connection ends.
        let mut next = self.app.process_new(guarded, shutdown).await;
        while let Some(stream) = next {
            next = self.app.process_new(stream, shutdown).await;
        }
        None
    }

    async fn cleanup(&self) {
        self.app.cleanup().await;
    }
}

const READING_HEAD: u8 = 0;
const IN_REQUEST: u8 = 1;
const IDLE: u8 = 2;

/// A client stream under the connection layer: on HTTP/1 its request-head reads must end by a
/// deadline; on HTTP/2 the streams its client resets are counted.
pub struct Guarded {
    inner: Stream,
    timeout: Duration,
    /// Where the connection is: set by the proxy phases, read by `poll_read` (HTTP/1).
    phase: AtomicU8,
    /// Set on an HTTP/2 connection, which has no head deadline.
    resets: Option<Box<http2::ResetWatch>>,
    deadline: Option<Instant>,
    /// The keep-alive timeout in milliseconds, set by the proxy for each request; 0: not kept
    /// here (Pingora's own, or none).
    keepalive_ms: AtomicU64,
    /// When the connection, idle, is closed: set on the first idle read that has to wait.
    idle_deadline: Option<Instant>,
    /// The client address as the forwarding headers carry it, made on the first request.
    ip_value: std::sync::OnceLock<Option<http::HeaderValue>>,
    /// The connection's one timer, for the head deadline and the idle deadline: armed only
    /// when a read has to wait (a head that arrives whole costs no timer), then kept.
    sleep: Option<Pin<Box<Sleep>>>,
    metrics: Arc<ConnectionMetrics>,
}

impl Guarded {
    fn new(inner: Stream, timeout: Duration, h2: bool, metrics: Arc<ConnectionMetrics>) -> Self {
        Guarded {
            inner,
            timeout,
            phase: AtomicU8::new(READING_HEAD),
            resets: h2.then(Box::default),
            deadline: (!h2).then(|| Instant::now() + timeout),
            keepalive_ms: AtomicU64::new(0),
            idle_deadline: None,
            ip_value: std::sync::OnceLock::new(),
            sleep: None,
            metrics,
        }
    }

    /// An HTTP/2 read: the frames read are watched; a client past the reset rule is cut.
    fn read_h2(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(watch)) = (&read, self.resets.as_mut()) {
            if !watch.observe(&buf.filled()[before..]) {
                self.metrics.h2_reset_floods.fetch_add(1, Relaxed);
                return Poll::Ready(Err(std::io::Error::other(
                    "HTTP/2 client reset most of its streams",
                )));
            }
        }
        read
    }

    /// Whether `until` has passed; if not, the connection's timer wakes the task by then. The
    /// timer is moved earlier at once but never later: one that fires before a later deadline
    /// is moved on when it fires, so deadlines that move forward with every request (the
    /// idle one) cost no timer work per request.
    fn expired(&mut self, cx: &mut Context<'_>, until: Instant) -> bool {
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        if sleep.deadline() > until {
            sleep.as_mut().reset(until);
        }
        while sleep.as_mut().poll(cx).is_ready() {
            if Instant::now() >= until {
                return true;
            }
            sleep.as_mut().reset(until);
        }
        false
    }

    /// The idle connection's deadline, when the keep-alive timeout is kept here.
    fn idle_deadline(&mut self) -> Option<Instant> {
        let ms = self.keepalive_ms.load(Relaxed);
        if ms == 0 {
            return None;
        }
        Some(
            *self
                .idle_deadline
                .get_or_insert_with(|| Instant::now() + Duration::from_millis(ms)),
        )
    }

    /// Keeps the connection idle for up to `idle` (0: not kept here) between requests.
    fn keep_idle(&self, idle: Duration) {
        let ms = match idle.is_zero() {
            true => 0,
            false => u64::try_from(idle.as_millis()).unwrap_or(u64::MAX).max(1),
        };
        self.keepalive_ms.store(ms, Relaxed);
    }

    fn timed_out(&self) -> Poll<std::io::Result<()>> {
        self.metrics.head_timeouts.fetch_add(1, Relaxed);
        Poll::Ready(Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "request head not received within the header timeout",
        )))
    }
}

/// The guarded stream under a session, when there is one (HTTP/1 on a guarded listener).
fn guarded(session: &Session) -> Option<&Guarded> {
    session.as_downstream().stream().and_then(guarded_stream)
}

fn guarded_stream(stream: &Stream) -> Option<&Guarded> {
    stream.as_any().downcast_ref::<Guarded>()
}

/// `mark_head_read`, for a request the lean path (`crate::lean`) serves on `stream`.
pub fn lean_head_read(stream: &Stream) {
    if let Some(s) = guarded_stream(stream) {
        s.phase.store(IN_REQUEST, Relaxed);
    }
}

/// `keep_alive` and `mark_request_done`, for a request the lean path served on `stream`.
pub fn lean_idle(stream: &Stream, idle: Duration) {
    if let Some(s) = guarded_stream(stream) {
        s.keep_idle(idle);
        s.phase.store(IDLE, Relaxed);
    }
}

/// The request head has been read: the head deadline no longer applies.
pub fn mark_head_read(session: &Session) {
    if let Some(s) = guarded(session) {
        s.phase.store(IN_REQUEST, Relaxed);
    }
}

/// Keeps the connection open after this request, for the next one, for up to `idle` without a
/// byte. On a guarded HTTP/1 connection the connection layer keeps that deadline and Pingora
/// is told to wait for the next request without a timer of its own; elsewhere Pingora's
/// timer does it (whole seconds).
pub fn keep_alive(session: &mut Session, idle: Duration) {
    let kept = match guarded(session) {
        Some(s) if !idle.is_zero() => {
            s.keep_idle(idle);
            true
        }
        _ => false,
    };
    // `Some(0)`: keep the connection, no timeout.
    session.set_keepalive(Some(if kept { 0 } else { idle.as_secs() }));
}

/// The client address's header value: made by `make` once per connection and shared by its
/// requests (made each time off a guarded stream).
pub fn client_ip_value(
    session: &Session,
    make: impl FnOnce() -> Option<http::HeaderValue>,
) -> Option<http::HeaderValue> {
    match guarded(session) {
        Some(s) => s.ip_value.get_or_init(make).clone(),
        None => make(),
    }
}

/// The request is over: the next byte read starts the next head, and its deadline.
pub fn mark_request_done(session: &Session) {
    if let Some(s) = guarded(session) {
        s.phase.store(IDLE, Relaxed);
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.resets.is_some() {
            return this.read_h2(cx, buf);
        }
        match this.phase.load(Relaxed) {
            IN_REQUEST => {
                this.deadline = None;
                Pin::new(&mut this.inner).poll_read(cx, buf)
            }
            IDLE => {
                let before = buf.filled().len();
                let read = Pin::new(&mut this.inner).poll_read(cx, buf);
                match read {
                    Poll::Ready(Ok(())) if buf.filled().len() > before => {
                        this.phase.store(READING_HEAD, Relaxed);
                        this.idle_deadline = None;
                        this.deadline = Some(Instant::now() + this.timeout);
                    }
                    Poll::Pending => {
                        if let Some(until) = this.idle_deadline() {
                            if this.expired(cx, until) {
                                // Idle too long: an end of stream before any byte of a head,
                                // which Pingora takes as the client's leaving and closes.
                                this.idle_deadline = None;
                                return Poll::Ready(Ok(()));
                            }
                        }
                    }
                    _ => {}
                }
                read
            }
            _ => {
                let deadline = *this
                    .deadline
                    .get_or_insert_with(|| Instant::now() + this.timeout);
                if Instant::now() >= deadline {
                    return this.timed_out();
                }
                let read = Pin::new(&mut this.inner).poll_read(cx, buf);
                if read.is_pending() && this.expired(cx, deadline) {
                    return this.timed_out();
                }
                read
            }
        }
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

impl std::fmt::Debug for Guarded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("inner", &self.inner)
            .finish()
    }
}

#[async_trait]
impl Shutdown for Guarded {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await;
    }
}

impl UniqueID for Guarded {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Guarded {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<pingora::protocols::tls::SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<pingora::protocols::ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for Guarded {
    fn get_timing_digest(&self) -> Vec<Option<pingora::protocols::TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Guarded {
    fn get_proxy_digest(&self) -> Option<Arc<pingora::protocols::raw_connect::ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: pingora::protocols::raw_connect::ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for Guarded {
    fn get_socket_digest(&self) -> Option<Arc<pingora::protocols::SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: pingora::protocols::SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}

#[async_trait]
impl Peek for Guarded {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}
