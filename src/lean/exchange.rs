//! One request's trip to its upstream and its answer's way back to the client.

use super::answer::{Fields, Framing};
use super::head::{head_ends, is_hop_by_hop, MAX_HEAD};
use super::{pool, End, Failure, Policy, Settings, Upstream};
use bytes::{Buf, BytesMut};
use pingora::protocols::http::date::get_cached_date;
use pingora::protocols::Stream;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request ready to go: its whole head and body in `request`.
pub struct Ask {
    pub request: Vec<u8>,
    /// The client's request head's length (its body follows it in the client's buffer).
    pub head_len: usize,
    /// A `HEAD` request: its answer has no body, whatever its fields say.
    pub no_body: bool,
    /// The client connection ends after this answer.
    pub close: bool,
}

/// Why an exchange ended before its answer's head reached the client.
#[derive(Debug, PartialEq)]
enum Fail {
    /// The upstream failed: the client is answered with the gateway's error.
    Upstream(Failure),
    /// A reused connection was closed before any answer: the request may go again.
    Stale,
    /// The client left.
    ClientGone,
}

/// An answer's head as read, with what it means for both connections.
struct Answer {
    len: usize,
    status: u16,
    framing: Framing,
    /// 1xx: forwarded, and the final answer follows.
    informational: bool,
    /// The upstream connection can serve another request once the body is read.
    reusable: bool,
    /// The client connection ends after this answer.
    close_client: bool,
}

/// Why the client connection must end at once.
enum Broke {
    /// The upstream's body broke off or is not valid; `head_sent`: whether the client has the
    /// answer's head already.
    Upstream {
        head_sent: bool,
    },
    Client,
}

/// The client's side of an exchange: its stream, and its connection's buffer.
struct Io<'a> {
    client: &'a mut Stream,
    cbuf: &'a mut BytesMut,
    /// How far `cbuf` may fill while the answer is awaited: a head's worth past this request.
    cbuf_limit: usize,
}

/// How a read from the upstream ended.
enum Read {
    Some,
    /// The upstream closed the connection.
    End,
    /// The read failed.
    Failed,
    TimedOut,
    /// The client closed its connection meanwhile.
    ClientGone,
}

impl Io<'_> {
    /// One read from the upstream within `limit`, while the client is watched: a client that
    /// closes its connection ends the wait (what it sends meanwhile is kept in `cbuf`).
    async fn read_upstream(
        &mut self,
        conn: &mut TcpStream,
        rbuf: &mut BytesMut,
        limit: Duration,
    ) -> Read {
        rbuf.reserve(READ_SIZE);
        let read = pingora::time::timeout(limit, conn.read_buf(rbuf));
        tokio::select! {
            biased;
            read = read => match read {
                Ok(Ok(0)) => Read::End,
                Ok(Ok(_)) => Read::Some,
                Ok(Err(_)) => Read::Failed,
                Err(_) => Read::TimedOut,
            },
            () = client_gone(self.client, self.cbuf, self.cbuf_limit) => Read::ClientGone,
        }
    }
}

/// Reads what the client sends until it closes its connection (or the read fails); past
/// `limit` bytes in `cbuf` the client is no longer read.
pub(super) async fn client_gone(client: &mut Stream, cbuf: &mut BytesMut, limit: usize) {
    while cbuf.len() <= limit {
        cbuf.reserve(1024);
        match client.read_buf(cbuf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
    std::future::pending().await
}

/// The largest upstream answer head; a longer one is a bad gateway.
const MAX_ANSWER_HEADERS: usize = 100;
/// Room for each read of an answer.
const READ_SIZE: usize = 16 * 1024;

/// The lean path's exchanges under one policy.
pub struct Lean<'a, P> {
    pub policy: &'a P,
    pub settings: &'a Settings,
}

impl<P: Policy> Lean<'_, P> {
    /// Proxies one request and its answer; `false` when the client connection must end now.
    /// `cbuf` is the client connection's buffer: what the client sends meanwhile (a pipelined
    /// request) is kept there.
    pub async fn run(
        &self,
        client: &mut Stream,
        cbuf: &mut BytesMut,
        mut call: P::Call,
        up: Upstream,
        ask: Ask,
    ) -> bool {
        let mut rbuf = BytesMut::with_capacity(READ_SIZE);
        let mut out = Vec::with_capacity(512);
        let mut end = End::unanswered();
        let cbuf_limit = cbuf.len() + MAX_HEAD;
        let mut io = Io {
            client,
            cbuf,
            cbuf_limit,
        };
        let got = (self.call(&mut io, &mut call, up, &ask, &mut rbuf, &mut out)).await;
        let (mut conn, answer, addr) = match got {
            Ok(got) => got,
            Err(Fail::Upstream(failure)) => {
                end.failure = Some(failure);
                self.reply_error(io.client, &mut call, failure, &mut end)
                    .await;
                self.policy.end(call, end);
                return false;
            }
            Err(_) => {
                end.client_gone = true;
                self.policy.end(call, end);
                return false;
            }
        };
        end.status = answer.status;
        let (framing, limit) = (answer.framing, up.io);
        let forwarded =
            (self.forward_body(&mut io, &mut conn, &mut rbuf, out, framing, limit, &mut end)).await;
        let keep = match forwarded {
            Ok(clean) => {
                if clean && answer.reusable {
                    pool::put(addr, conn, self.settings.pool_size);
                }
                !answer.close_client
            }
            Err(Broke::Upstream { head_sent: false }) => {
                end.failure = Some(Failure::Broken);
                self.reply_error(io.client, &mut call, Failure::Broken, &mut end)
                    .await;
                false
            }
            Err(Broke::Upstream { .. }) => {
                end.failure = Some(Failure::Broken);
                false
            }
            Err(Broke::Client) => {
                end.client_gone = true;
                false
            }
        };
        self.policy.end(call, end);
        keep
    }

    /// Sends the request and reads its answer's head (forwarding any 1xx before it), on a
    /// pooled connection or, when that turns out closed, a new one; to another upstream when
    /// the policy gives one after a failure.
    async fn call(
        &self,
        io: &mut Io<'_>,
        call: &mut P::Call,
        mut up: Upstream,
        ask: &Ask,
        rbuf: &mut BytesMut,
        out: &mut Vec<u8>,
    ) -> Result<(TcpStream, Answer, SocketAddr), Fail> {
        let mut pooled = pool::take(up.addr, self.settings.pool_idle);
        loop {
            let reused = pooled.is_some();
            let conn = match pooled.take() {
                Some(conn) => Ok(conn),
                None => connect(&up).await,
            };
            let failure = match conn {
                Ok(mut conn) => match self
                    .answer_head(io, call, &mut conn, &up, ask, rbuf, out)
                    .await
                {
                    Ok(answer) => return Ok((conn, answer, up.addr)),
                    Err(Fail::Stale) if reused => {
                        rbuf.clear();
                        continue;
                    }
                    Err(Fail::Stale) => Failure::Broken,
                    Err(Fail::Upstream(f)) => f,
                    Err(fail) => return Err(fail),
                },
                Err(f) => f,
            };
            match self.policy.retry(call, failure) {
                Some(next) => {
                    up = next;
                    pooled = pool::take(up.addr, self.settings.pool_idle);
                    rbuf.clear();
                }
                None => return Err(Fail::Upstream(failure)),
            }
        }
    }

    /// Writes the request, then reads answer heads until the final one, whose head it leaves
    /// in `out` for the client.
    #[allow(clippy::too_many_arguments)]
    async fn answer_head(
        &self,
        io: &mut Io<'_>,
        call: &mut P::Call,
        conn: &mut TcpStream,
        up: &Upstream,
        ask: &Ask,
        rbuf: &mut BytesMut,
        out: &mut Vec<u8>,
    ) -> Result<Answer, Fail> {
        match pingora::time::timeout(up.io, conn.write_all(&ask.request)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(Fail::Stale),
            Err(_) => return Err(Fail::Upstream(Failure::Timeout)),
        }
        loop {
            while !head_ends(rbuf) {
                if rbuf.len() > MAX_HEAD {
                    return Err(Fail::Upstream(Failure::Broken));
                }
                match io.read_upstream(conn, rbuf, up.io).await {
                    Read::Some => {}
                    Read::End | Read::Failed if rbuf.is_empty() => return Err(Fail::Stale),
                    Read::End | Read::Failed => return Err(Fail::Upstream(Failure::Broken)),
                    Read::TimedOut => return Err(Fail::Upstream(Failure::Timeout)),
                    Read::ClientGone => return Err(Fail::ClientGone),
                }
            }
            out.clear();
            let answer = read_answer(rbuf, ask, out, |name| self.policy.drops(call, name))
                .map_err(|()| Fail::Upstream(Failure::Broken))?;
            if !answer.informational {
                self.policy.add_fields(call, answer.status, out);
            }
            out.extend_from_slice(b"\r\n");
            rbuf.advance(answer.len);
            if !answer.informational {
                return Ok(answer);
            }
            if !self.write_client(io.client, out).await {
                return Err(Fail::ClientGone);
            }
        }
    }

    /// Sends the answer's head (in `out`) and its body as it comes; `Ok(true)` when the
    /// upstream sent exactly the answer, so its connection can be reused.
    #[allow(clippy::too_many_arguments)]
    async fn forward_body(
        &self,
        io: &mut Io<'_>,
        conn: &mut TcpStream,
        rbuf: &mut BytesMut,
        mut out: Vec<u8>,
        mut framing: Framing,
        limit: Duration,
        end: &mut End,
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
                    Err(_) => return Err(Broke::Upstream { head_sent }),
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
            if !piece.is_empty() && !self.write_client(io.client, piece).await {
                return Err(Broke::Client);
            }
            end.bytes_out += take as u64;
            rbuf.advance(take);
            if done {
                return Ok(rbuf.is_empty());
            }
            match io.read_upstream(conn, rbuf, limit).await {
                Read::Some => {}
                Read::End if matches!(framing, Framing::Close) => return Ok(false),
                Read::ClientGone => return Err(Broke::Client),
                _ => return Err(Broke::Upstream { head_sent: true }),
            }
        }
    }

    /// Writes to the client within the I/O timeout; `false` when it could not.
    async fn write_client(&self, client: &mut Stream, bytes: &[u8]) -> bool {
        super::write_within(client, bytes, self.settings.client_io).await
    }

    /// Answers a request no upstream answered with the policy's error.
    async fn reply_error(
        &self,
        client: &mut Stream,
        call: &mut P::Call,
        f: Failure,
        end: &mut End,
    ) {
        let mut reply = Vec::new();
        let (status, body) = self.policy.error_answer(call, f, &mut reply);
        end.status = status;
        if self.write_client(client, &reply).await {
            end.bytes_out = body as u64;
        }
    }
}

async fn connect(up: &Upstream) -> Result<TcpStream, Failure> {
    let conn = match pingora::time::timeout(up.connect, TcpStream::connect(up.addr)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(_)) => return Err(Failure::Connect),
        Err(_) => return Err(Failure::Connect),
    };
    // Heads and small bodies go in one write each: nothing to gain from Nagle's delay.
    let _ = conn.set_nodelay(true);
    Ok(conn)
}

/// Reads an answer head at the start of `raw` and writes the client's version of it to `out`.
fn read_answer(
    raw: &[u8],
    ask: &Ask,
    out: &mut Vec<u8>,
    drops: impl Fn(&str) -> bool,
) -> Result<Answer, ()> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_ANSWER_HEADERS];
    let mut resp = httparse::Response::new(&mut slots);
    let Ok(httparse::Status::Complete(len)) = resp.parse(raw) else {
        return Err(());
    };
    let (Some(version), Some(code)) = (resp.version, resp.code) else {
        return Err(());
    };
    // No upgrade was asked for, so none may be answered.
    if code == 101 {
        return Err(());
    }
    let fields = Fields::of(resp.headers).ok_or(())?;
    let informational = code < 200;
    let framing = fields.framing(code, ask.no_body);
    let until_close = matches!(framing, Framing::Close);
    let reusable = fields.reusable(version, &framing);
    let close_client = ask.close || until_close;
    // A final answer gets the gateway's `Date` (the upstream's is replaced) and says whether
    // the connection goes on, as Pingora's session writes every answer.
    let replaced = |name: &str| !informational && name.eq_ignore_ascii_case("date");
    write_answer_head(
        out,
        code,
        resp.reason.unwrap_or(""),
        resp.headers,
        &fields,
        |name| drops(name) || replaced(name),
    );
    if !informational {
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(get_cached_date().as_bytes());
        out.extend_from_slice(match close_client {
            true => b"\r\nConnection: close\r\n",
            false => b"\r\nConnection: keep-alive\r\n",
        });
    }
    Ok(Answer {
        len,
        status: code,
        framing,
        informational,
        reusable,
        close_client,
    })
}

/// The status line and every end-to-end field of an answer.
fn write_answer_head(
    out: &mut Vec<u8>,
    code: u16,
    reason: &str,
    headers: &[httparse::Header<'_>],
    fields: &Fields,
    drops: impl Fn(&str) -> bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa::Buffer::new().format(code).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in headers {
        // The answer's own framing is passed on as it came, so its coding stays.
        let hop = is_hop_by_hop(h.name) && !h.name.eq_ignore_ascii_case("transfer-encoding");
        let superseded = fields.coded && h.name.eq_ignore_ascii_case("content-length");
        let listed = fields.names && named_in_connection(headers, h.name);
        if hop || superseded || listed || drops(h.name) {
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
