//! One request's trip to its upstream and its answer's way back to the client.

use super::chunked::Scanner;
use super::head::{digits, head_ends, MAX_HEAD};
use super::{pool, Settings};
use bytes::{Buf, BytesMut};
use pingora::protocols::Stream;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request ready to go: its whole head and body in `request`.
pub struct Ask {
    pub peer: SocketAddr,
    pub request: Vec<u8>,
    /// A `HEAD` request: its answer has no body, whatever its fields say.
    pub no_body: bool,
    /// The client connection ends after this answer.
    pub close: bool,
}

/// Why an exchange ended before its answer's head reached the client.
#[derive(Debug, PartialEq)]
enum Fail {
    /// No connection, or an answer that is not HTTP: 502.
    Broken,
    /// The upstream was too slow: 504.
    Timeout,
    /// A reused connection was closed before any answer: the request may go again.
    Stale,
    /// The client left.
    ClientGone,
}

/// How the answer's body is delimited (RFC 9112 6.3).
enum Framing {
    Empty,
    Length(u64),
    Chunked(Scanner),
    /// Until the upstream closes the connection.
    Close,
}

/// An answer's head as read, with what it means for both connections.
struct Answer {
    len: usize,
    framing: Framing,
    /// 1xx: forwarded, and the final answer follows.
    informational: bool,
    /// The upstream connection can serve another request once the body is read.
    reusable: bool,
    /// The client connection ends after this answer.
    close_client: bool,
}

/// The largest upstream answer head; a longer one is a bad gateway.
const MAX_ANSWER_HEADERS: usize = 100;
/// Room for each read of an answer.
const READ_SIZE: usize = 16 * 1024;

/// Proxies one request and its answer; `false` when the client connection must end now.
pub async fn run(client: &mut Stream, ask: Ask, s: &Settings) -> bool {
    let mut rbuf = BytesMut::with_capacity(READ_SIZE);
    let mut out = Vec::with_capacity(512);
    let (mut up, answer) = match call(client, &ask, &mut rbuf, &mut out, s).await {
        Ok(got) => got,
        Err(Fail::ClientGone) => return false,
        Err(fail) => {
            reply_error(client, &fail, s).await;
            return false;
        }
    };
    match forward_body(client, &mut up, &mut rbuf, out, answer.framing, s).await {
        Ok(clean) if clean && answer.reusable => pool::put(ask.peer, up, s.pool_size),
        Ok(_) => {}
        Err(Broke { head_sent: false }) => {
            reply_error(client, &Fail::Broken, s).await;
            return false;
        }
        Err(_) => return false,
    }
    !answer.close_client
}

/// Sends the request and reads its answer's head (forwarding any 1xx before it), on a pooled
/// connection or, when that turns out closed, a new one.
async fn call(
    client: &mut Stream,
    ask: &Ask,
    rbuf: &mut BytesMut,
    out: &mut Vec<u8>,
    s: &Settings,
) -> Result<(TcpStream, Answer), Fail> {
    let mut pooled = pool::take(ask.peer, s.pool_idle);
    loop {
        let reused = pooled.is_some();
        let mut up = match pooled.take() {
            Some(up) => up,
            None => connect(ask.peer, s).await?,
        };
        match answer_head(client, &mut up, ask, rbuf, out, s).await {
            Ok(answer) => return Ok((up, answer)),
            Err(Fail::Stale) if reused => rbuf.clear(),
            Err(Fail::Stale) => return Err(Fail::Broken),
            Err(fail) => return Err(fail),
        }
    }
}

async fn connect(peer: SocketAddr, s: &Settings) -> Result<TcpStream, Fail> {
    let up = match pingora::time::timeout(s.connect, TcpStream::connect(peer)).await {
        Ok(Ok(up)) => up,
        Ok(Err(_)) => return Err(Fail::Broken),
        Err(_) => return Err(Fail::Timeout),
    };
    // Heads and small bodies go in one write each: nothing to gain from Nagle's delay.
    let _ = up.set_nodelay(true);
    Ok(up)
}

/// Writes the request, then reads answer heads until the final one, whose head it leaves in
/// `out` for the client.
async fn answer_head(
    client: &mut Stream,
    up: &mut TcpStream,
    ask: &Ask,
    rbuf: &mut BytesMut,
    out: &mut Vec<u8>,
    s: &Settings,
) -> Result<Answer, Fail> {
    match pingora::time::timeout(s.io, up.write_all(&ask.request)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return Err(Fail::Stale),
        Err(_) => return Err(Fail::Timeout),
    }
    loop {
        while !head_ends(rbuf) {
            if rbuf.len() > MAX_HEAD {
                return Err(Fail::Broken);
            }
            rbuf.reserve(READ_SIZE);
            match pingora::time::timeout(s.io, up.read_buf(rbuf)).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) if rbuf.is_empty() => return Err(Fail::Stale),
                Ok(_) => return Err(Fail::Broken),
                Err(_) => return Err(Fail::Timeout),
            }
        }
        out.clear();
        let answer = read_answer(rbuf, ask, out)?;
        rbuf.advance(answer.len);
        if !answer.informational {
            return Ok(answer);
        }
        if !write_client(client, out, s).await {
            return Err(Fail::ClientGone);
        }
    }
}

/// The client connection must end at once: the client left, or the upstream's body broke off
/// or is not valid; `head_sent`: whether the client has the answer's head already.
struct Broke {
    head_sent: bool,
}

/// Sends the answer's head (in `out`) and its body as it comes; `Ok(true)` when the upstream
/// sent exactly the answer, so its connection can be reused.
async fn forward_body(
    client: &mut Stream,
    up: &mut TcpStream,
    rbuf: &mut BytesMut,
    mut out: Vec<u8>,
    mut framing: Framing,
    s: &Settings,
) -> Result<bool, Broke> {
    let mut head_sent = false;
    loop {
        let (take, done) = match &mut framing {
            Framing::Empty => (0, true),
            Framing::Length(left) => {
                let take = (*left).min(rbuf.len() as u64);
                *left -= take;
                (take as usize, *left == 0)
            }
            Framing::Chunked(scanner) => match scanner.feed(rbuf) {
                Ok(Some(end)) => (end, true),
                Ok(None) => (rbuf.len(), false),
                Err(_) => return Err(Broke { head_sent }),
            },
            Framing::Close => (rbuf.len(), false),
        };
        // The head goes with the body's first bytes, in one write.
        let piece = if head_sent {
            &rbuf[..take]
        } else {
            out.extend_from_slice(&rbuf[..take]);
            head_sent = true;
            &out[..]
        };
        if !piece.is_empty() && !write_client(client, piece, s).await {
            return Err(Broke { head_sent: true });
        }
        rbuf.advance(take);
        if done {
            return Ok(rbuf.is_empty());
        }
        rbuf.reserve(READ_SIZE);
        match pingora::time::timeout(s.io, up.read_buf(rbuf)).await {
            Ok(Ok(0)) if matches!(framing, Framing::Close) => return Ok(false),
            Ok(Ok(n)) if n > 0 => {}
            _ => return Err(Broke { head_sent: true }),
        }
    }
}

/// Reads an answer head at the start of `raw` and writes the client's version of it to `out`.
fn read_answer(raw: &[u8], ask: &Ask, out: &mut Vec<u8>) -> Result<Answer, Fail> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_ANSWER_HEADERS];
    let mut resp = httparse::Response::new(&mut slots);
    let Ok(httparse::Status::Complete(len)) = resp.parse(raw) else {
        return Err(Fail::Broken);
    };
    let (Some(version), Some(code)) = (resp.version, resp.code) else {
        return Err(Fail::Broken);
    };
    // No upgrade was asked for, so none may be answered.
    if code == 101 {
        return Err(Fail::Broken);
    }
    let fields = Fields::of(resp.headers)?;
    let informational = code < 200;
    let framing = if informational || ask.no_body || code == 204 || code == 304 {
        Framing::Empty
    } else if fields.coded {
        match fields.chunked {
            true => Framing::Chunked(Scanner::default()),
            false => Framing::Close,
        }
    } else {
        fields.length.map_or(Framing::Close, Framing::Length)
    };
    // RFC 9112 6.3: a message with both codings and a length is suspect; its connection ends.
    let suspect = fields.coded && fields.length.is_some();
    let until_close = matches!(framing, Framing::Close);
    let reusable = version == 1 && !fields.close && !until_close && !suspect;
    let close_client = ask.close || until_close;
    write_answer_head(out, code, resp.reason.unwrap_or(""), resp.headers, &fields);
    if close_client && !informational {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(Answer {
        len,
        framing,
        informational,
        reusable,
        close_client,
    })
}

/// What an answer's fields say about its framing and its connection.
struct Fields {
    length: Option<u64>,
    /// A `Transfer-Encoding` is present; `chunked`: its last coding is chunked.
    coded: bool,
    chunked: bool,
    /// `Connection: close`.
    close: bool,
    /// `Connection` names other fields as hop-by-hop.
    names: bool,
}

impl Fields {
    fn of(headers: &[httparse::Header<'_>]) -> Result<Fields, Fail> {
        let mut f = Fields {
            length: None,
            coded: false,
            chunked: false,
            close: false,
            names: false,
        };
        for h in headers {
            if h.name.eq_ignore_ascii_case("content-length") {
                // Repeated or listed lengths must all agree (RFC 9110 8.6).
                for part in h.value.split(|b| *b == b',') {
                    let n = digits(part.trim_ascii()).ok_or(Fail::Broken)?;
                    if f.length.is_some_and(|l| l != n) {
                        return Err(Fail::Broken);
                    }
                    f.length = Some(n);
                }
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                f.coded = true;
                let last = h.value.rsplit(|b| *b == b',').next().unwrap_or(b"");
                f.chunked = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
            } else if h.name.eq_ignore_ascii_case("connection") {
                for option in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                    if option.eq_ignore_ascii_case(b"close") {
                        f.close = true;
                    } else if !option.eq_ignore_ascii_case(b"keep-alive") && !option.is_empty() {
                        f.names = true;
                    }
                }
            }
        }
        Ok(f)
    }
}

/// The status line and every end-to-end field of an answer.
fn write_answer_head(
    out: &mut Vec<u8>,
    code: u16,
    reason: &str,
    headers: &[httparse::Header<'_>],
    fields: &Fields,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(code).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in headers {
        let hop = [
            "connection",
            "keep-alive",
            "proxy-connection",
            "te",
            "upgrade",
        ]
        .iter()
        .any(|n| h.name.eq_ignore_ascii_case(n));
        let superseded = fields.coded && h.name.eq_ignore_ascii_case("content-length");
        if hop || superseded || (fields.names && named_in_connection(headers, h.name)) {
            continue;
        }
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value);
        out.extend_from_slice(b"\r\n");
    }
}

/// Whether a `Connection` field lists `name`.
fn named_in_connection(headers: &[httparse::Header<'_>], name: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| h.value.split(|b| *b == b','))
        .any(|option| option.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
}

/// Writes to the client within the I/O timeout; `false` when it could not.
async fn write_client(client: &mut Stream, bytes: &[u8], s: &Settings) -> bool {
    let write = async {
        client.write_all(bytes).await?;
        client.flush().await
    };
    matches!(pingora::time::timeout(s.io, write).await, Ok(Ok(())))
}

/// The answer to a request the upstream did not answer; the connection then closes.
async fn reply_error(client: &mut Stream, fail: &Fail, s: &Settings) {
    let (status, body) = match fail {
        Fail::Timeout => ("504 Gateway Timeout", "the upstream timed out\n"),
        _ => ("502 Bad Gateway", "the upstream gave no valid answer\n"),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    write_client(client, reply.as_bytes(), s).await;
}
