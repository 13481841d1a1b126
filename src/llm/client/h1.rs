//! A provider call over HTTP/1.1, written and read by the gateway itself on a connection from
//! Pingora's transport pool (which makes the TCP and TLS connections and keeps the idle ones).
//!
//! DESIGN: a provider call is a request whose head and body are whole before it is sent, and
//! an answer read to its end by one reader, so Pingora's HTTP/1 client session (its header
//! maps, body state machine and per-call allocations) buys nothing here: the head and body go
//! in one write, the answer's head is read in place with `httparse`, and its body is cut from
//! the read buffer by the framing rules the lean path uses (`lean::answer`, `lean::chunked`).

use crate::lean::answer::{Fields, Framing};
use bytes::{Buf, Bytes, BytesMut};
use pingora::protocols::Stream;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Room for each read of an answer.
const READ_SIZE: usize = 16 * 1024;
/// The largest answer head read; a longer one is a bad answer.
const MAX_HEAD: usize = 64 * 1024;
/// The most fields an answer head may have.
const MAX_FIELDS: usize = 128;

/// Why a call or its answer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A pooled connection turned out closed before any answer: the provider never saw the
    /// request, which may go again on a new connection.
    Stale,
    /// A write or a read did not finish within its timeout.
    Timeout,
    /// The connection closed or failed before the answer was whole.
    Closed,
    /// The answer is not valid HTTP/1.
    Bad(&'static str),
}

impl Fault {
    pub fn describe(self) -> &'static str {
        match self {
            Fault::Stale | Fault::Closed => "connection closed",
            Fault::Timeout => "timed out",
            Fault::Bad(what) => what,
        }
    }
}

/// The timeouts of one call: each write, and each read.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub write: Duration,
    pub read: Duration,
}

/// An answer whose head has arrived; its body is read from it.
pub struct Answer {
    stream: Stream,
    /// What was read past the head and not handed out yet.
    buf: BytesMut,
    /// The answer's head, parsed again when one of its fields is asked for (a provider's
    /// error, rarely).
    head: Bytes,
    pub status: u16,
    framing: Framing,
    /// The connection can carry another call once the body is read to its end.
    reusable: bool,
    read_timeout: Duration,
}

/// Sends `head` and `body` (one write when they fit the connection's write buffer) and reads
/// the answer's head, past any 1xx.
pub async fn call(
    mut stream: Stream,
    head: &[u8],
    body: &[u8],
    timeouts: Timeouts,
) -> Result<Answer, Fault> {
    let write = async {
        stream.write_all(head).await?;
        stream.write_all(body).await?;
        stream.flush().await
    };
    match pingora::time::timeout(timeouts.write, write).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Err(Fault::Stale),
        Err(_) => return Err(Fault::Timeout),
    }
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    loop {
        let (len, status, fields, version) = loop {
            let parsed = parse(&buf)?;
            if parsed.as_ref().map_or(buf.len(), |p| p.0) > MAX_HEAD {
                return Err(Fault::Bad("answer head too large"));
            }
            if let Some(parsed) = parsed {
                break parsed;
            }
            match fill(&mut stream, &mut buf, timeouts.read).await {
                Ok(true) => {}
                Ok(false) if buf.is_empty() => return Err(Fault::Stale),
                Ok(false) => return Err(Fault::Closed),
                Err(fault) => return Err(fault),
            }
        };
        if status < 200 {
            buf.advance(len);
            continue;
        }
        let framing = fields.framing(status, false);
        let reusable = fields.reusable(version, &framing);
        let head = buf.split_to(len).freeze();
        return Ok(Answer {
            stream,
            buf,
            head,
            status,
            framing,
            reusable,
            read_timeout: timeouts.read,
        });
    }
}

/// The answer head at the start of `buf` once it is whole: its length, status, framing fields
/// and minor version.
fn parse(buf: &[u8]) -> Result<Option<(usize, u16, Fields, u8)>, Fault> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_FIELDS];
    let mut resp = httparse::Response::new(&mut slots);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Fault::Bad("too many answer fields")),
        Err(_) => return Err(Fault::Bad("answer is not HTTP/1")),
    };
    let (Some(version), Some(status)) = (resp.version, resp.code) else {
        return Err(Fault::Bad("answer is not HTTP/1"));
    };
    // No upgrade was asked for, so none may be answered.
    if status == 101 {
        return Err(Fault::Bad("unasked protocol switch"));
    }
    let fields = Fields::of(resp.headers).ok_or(Fault::Bad("bad Content-Length"))?;
    Ok(Some((len, status, fields, version)))
}

/// One read into `buf` within `limit`: `false` at the end of the stream.
async fn fill(stream: &mut Stream, buf: &mut BytesMut, limit: Duration) -> Result<bool, Fault> {
    buf.reserve(READ_SIZE);
    match pingora::time::timeout(limit, stream.read_buf(buf)).await {
        Ok(Ok(0)) => Ok(false),
        Ok(Ok(_)) => Ok(true),
        Ok(Err(_)) => Err(Fault::Closed),
        Err(_) => Err(Fault::Timeout),
    }
}

impl Answer {
    /// The value of the answer's field `name`, if it has one and it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut slots = [httparse::EMPTY_HEADER; MAX_FIELDS];
        let mut resp = httparse::Response::new(&mut slots);
        resp.parse(&self.head).ok()?;
        let value = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))?
            .value;
        std::str::from_utf8(value).ok()
    }

    /// The next piece of the body; `None` at its end.
    pub async fn read(&mut self) -> Result<Option<Bytes>, Fault> {
        loop {
            match &mut self.framing {
                Framing::Empty => return Ok(None),
                Framing::Length(0) => {
                    self.framing = Framing::Empty;
                    return Ok(None);
                }
                Framing::Length(left) if !self.buf.is_empty() => {
                    let take = (*left).min(self.buf.len() as u64);
                    *left -= take;
                    return Ok(Some(self.buf.split_to(take as usize).freeze()));
                }
                Framing::Chunked(scanner) if !self.buf.is_empty() => {
                    let decoded = scanner
                        .decode(&self.buf)
                        .map_err(|_| Fault::Bad("broken chunked body"))?;
                    let used = self.buf.split_to(decoded.used);
                    if decoded.done {
                        self.framing = Framing::Empty;
                    }
                    if !decoded.data.is_empty() {
                        return Ok(Some(used.freeze().slice(decoded.data)));
                    }
                }
                Framing::Close if !self.buf.is_empty() => {
                    return Ok(Some(self.buf.split().freeze()));
                }
                Framing::Length(_) | Framing::Chunked(_) | Framing::Close => {
                    let until_close = matches!(self.framing, Framing::Close);
                    match fill(&mut self.stream, &mut self.buf, self.read_timeout).await? {
                        true => {}
                        false if until_close => self.framing = Framing::Empty,
                        false => return Err(Fault::Closed),
                    }
                }
            }
        }
    }

    /// The connection, when the answer was read to its end and it can carry another call.
    pub fn into_reusable(self) -> Option<Stream> {
        let whole = matches!(self.framing, Framing::Empty) && self.buf.is_empty();
        (whole && self.reusable).then_some(self.stream)
    }
}
