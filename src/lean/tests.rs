//! The lean path over real sockets: a client, the `LeanApp` serving each accepted connection as
//! a listening service would, an upstream that answers what each test scripts, and Pingora's
//! path behind it as a small `HttpServerApp` that names itself in its answers.

use super::{
    Answered, Client, End, Failure, FixedPeer, Head, LeanApp, Policy, Settings, Upstream, Way,
};
use async_trait::async_trait;
use bytes::Bytes;
use pingora::apps::{HttpServerApp, ReusedHttpStream, ServerApp};
use pingora::http::ResponseHeader;
use pingora::protocols::http::ServerSession;
use pingora::server::ShutdownWatch;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// `FixedPeer`, but a target under `/pingora` is left to Pingora's path, and one under
/// `/answer` answered by the policy (`answer <body>`, or `answer of <n> bytes` for a long
/// one; `/answer/wait`: nothing, until the client leaves); each request's end is reported. A
/// call is whether it waits.
struct To(FixedPeer, mpsc::UnboundedSender<End>);

impl Policy for To {
    type Conn = ();
    type Call = bool;

    fn open(&self, _stream: &pingora::protocols::Stream) {}

    fn begin(&self, _: &(), head: &Head<'_>, request: &mut Vec<u8>) -> Option<(bool, Way)> {
        if head.target.starts_with("/pingora") {
            return None;
        }
        if head.target.starts_with("/answer") {
            return Some((head.target == "/answer/wait", Way::Answer));
        }
        self.0
            .begin(&(), head, request)
            .map(|((), way)| (false, way))
    }

    async fn answer<'a>(&'a self, wait: &'a mut bool, mut client: Client<'a>) -> Answered {
        if *wait {
            client.gone().await;
            return Answered {
                client_gone: true,
                ..Answered::default()
            };
        }
        let body = &client.body;
        let text = match body.len() {
            0..=64 => format!("answer {}", String::from_utf8_lossy(body)),
            n => format!("answer of {n} bytes"),
        };
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        let sent = client.write(reply.as_bytes()).await;
        Answered {
            status: 200,
            bytes_out: text.len() as u64,
            client_gone: !sent,
            keep: sent,
        }
    }

    fn retry(&self, _: &mut bool, _: Failure) -> Option<Upstream> {
        None
    }

    fn drops(&self, _: &bool, name: &str) -> bool {
        name.eq_ignore_ascii_case("x-secret")
    }

    fn add_fields(&self, _: &mut bool, status: u16, out: &mut Vec<u8>) {
        out.extend_from_slice(format!("X-Seen: {status}\r\n").as_bytes());
    }

    fn error_answer(&self, _: &mut bool, failure: Failure, out: &mut Vec<u8>) -> (u16, usize) {
        self.0.error_answer(&mut (), failure, out)
    }

    fn end(&self, _: bool, end: End) {
        let _ = self.1.send(end);
    }
}

/// Pingora's path: answers `pingora METHOD TARGET BODY` and closes.
struct Fallback;

#[async_trait]
impl HttpServerApp for Fallback {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        _shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        if !session.read_request().await.ok()? {
            return None;
        }
        let mut body = Vec::new();
        while let Ok(Some(piece)) = session.read_request_body().await {
            body.extend_from_slice(&piece);
        }
        let req = session.req_header();
        let text = format!(
            "pingora {} {} {}",
            req.method,
            req.uri,
            String::from_utf8_lossy(&body)
        );
        let mut resp = ResponseHeader::build(200, None).ok()?;
        resp.insert_header("Content-Length", text.len()).ok()?;
        resp.insert_header("Connection", "close").ok()?;
        session.write_response_header(Box::new(resp)).await.ok()?;
        session
            .write_response_body(Bytes::from(text), true)
            .await
            .ok()?;
        let _ = session.finish().await;
        None
    }
}

/// An upstream: each accepted connection reads requests and sends, for each, the next scripted
/// answer (`CLOSE`: none, the connection closes; one ending in `<close>` closes it after); it reports each request's head and body as text, and counts its connections.
struct Server {
    addr: SocketAddr,
    seen: mpsc::UnboundedReceiver<String>,
    accepted: Arc<AtomicUsize>,
}

async fn upstream(answers: Vec<&'static str>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, seen) = mpsc::unbounded_channel();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let answers = Arc::new(std::sync::Mutex::new(answers.into_iter()));
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let (tx, answers) = (tx.clone(), answers.clone());
            tokio::spawn(async move {
                while let Some(request) = read_request(&mut conn).await {
                    let _ = tx.send(request);
                    let answer = answers.lock().unwrap().next();
                    match answer {
                        Some("CLOSE") | None => return,
                        Some(a) => {
                            let (a, close) = match a.strip_suffix("<close>") {
                                Some(a) => (a, true),
                                None => (a, false),
                            };
                            if conn.write_all(a.as_bytes()).await.is_err() || close {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    Server {
        addr,
        seen,
        accepted,
    }
}

/// One request (head, and a Content-Length body) from a connection, as text.
async fn read_request(conn: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        (conn.read(&mut byte).await.ok()? == 1).then_some(())?;
        buf.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&buf).to_lowercase();
    let len = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).await.ok()?;
    buf.extend_from_slice(&body);
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// The lean path on a loopback port, in front of `Fallback`, proxying to `peer`.
async fn gateway(peer: SocketAddr, io: Duration) -> SocketAddr {
    gateway_reporting(peer, io).await.0
}

/// `gateway`, with each request's end.
async fn gateway_reporting(
    peer: SocketAddr,
    io: Duration,
) -> (SocketAddr, mpsc::UnboundedReceiver<End>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = Upstream {
        addr: peer,
        connect: Duration::from_secs(5),
        io,
    };
    let (tx, ends) = mpsc::unbounded_channel();
    let app = Arc::new(LeanApp {
        policy: To(FixedPeer(upstream), tx),
        fallback: Arc::new(Fallback),
        settings: Settings {
            keepalive: Some(Duration::from_secs(5)),
            head: Some(Duration::from_secs(5)),
            client_io: Duration::from_secs(5),
            pool_size: 8,
            pool_idle: Duration::from_secs(60),
        },
    });
    let (_keep, shutdown) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let _keep = _keep;
        while let Ok((conn, _)) = listener.accept().await {
            let (app, shutdown) = (app.clone(), shutdown.clone());
            tokio::spawn(async move {
                let stream: pingora::protocols::Stream =
                    Box::new(pingora::protocols::l4::stream::Stream::from(conn));
                app.process_new(stream, &shutdown).await;
            });
        }
    });
    (addr, ends)
}

/// Sends `raw` and reads until the gateway closes the connection.
async fn exchange_to_close(gw: SocketAddr, raw: &str) -> String {
    let mut c = TcpStream::connect(gw).await.unwrap();
    c.write_all(raw.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads from `c` until `out` holds `n` answers that end in `end`.
async fn read_until(c: &mut TcpStream, end: &str, n: usize) -> String {
    let mut out = Vec::new();
    let mut piece = [0u8; 4096];
    while String::from_utf8_lossy(&out).matches(end).count() < n {
        let got = c.read(&mut piece).await.unwrap();
        assert!(got > 0, "closed early: {}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&piece[..got]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

const OK: &str =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nX-Secret: s\r\n\r\nhello";

/// `text` with each `Date` value replaced by `(date)`: the gateway's clock.
fn undated(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("Date: ") {
        out.push_str(&rest[..at + 6]);
        out.push_str("(date)");
        rest = &rest[at + 6..];
        rest = &rest[rest.find("\r\n").unwrap_or(rest.len())..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn plain_requests_go_through_on_one_pooled_connection_without_hop_by_hop_fields() {
    let mut up = upstream(vec![OK, OK, OK]).await;
    let gw = gateway(up.addr, Duration::from_secs(5)).await;
    let mut c = TcpStream::connect(gw).await.unwrap();
    c.write_all(b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nProxy-Authorization: k\r\nX-Mixed-Case: V\r\n\r\n")
        .await
        .unwrap();
    let first = read_until(&mut c, "hello", 1).await;
    assert_eq!(
        undated(&first),
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: (date)\r\nConnection: keep-alive\r\nX-Seen: 200\r\n\r\nhello",
        "hop-by-hop and dropped fields gone, the gateway's date and the policy's fields added"
    );
    assert!(
        !first.contains("1970"),
        "the upstream's date replaced: {first}"
    );
    let seen = up.seen.recv().await.unwrap();
    assert_eq!(
        seen,
        "GET /a?x=1 HTTP/1.1\r\nHost: h\r\nX-Mixed-Case: V\r\n\r\n"
    );
    // Two more, pipelined in one write, the second with a body.
    c.write_all(b"GET /b HTTP/1.1\r\nHost: h\r\n\r\nPOST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc")
        .await
        .unwrap();
    read_until(&mut c, "hello", 2).await;
    assert!(up.seen.recv().await.unwrap().starts_with("GET /b "));
    assert!(up
        .seen
        .recv()
        .await
        .unwrap()
        .ends_with("Content-Length: 3\r\n\r\nabc"));
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn answers_end_where_their_framing_says() {
    let chunked =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n";
    let head = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
    let empty = "HTTP/1.1 204 No Content\r\n\r\n";
    let early = "HTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let mut up = upstream(vec![chunked, head, empty, early]).await;
    let gw = gateway(up.addr, Duration::from_secs(5)).await;
    let mut c = TcpStream::connect(gw).await.unwrap();
    c.write_all(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    let got = read_until(&mut c, "X-T: 1\r\n\r\n", 1).await;
    assert!(got.ends_with("5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"), "{got}");
    c.write_all(b"HEAD /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\n\r\nGET /4 HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    let got = read_until(&mut c, "\r\n\r\nok", 1).await;
    let kept = "Date: (date)\r\nConnection: keep-alive\r\n";
    assert_eq!(
        undated(&got),
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n{kept}X-Seen: 200\r\n\r\n\
             HTTP/1.1 204 No Content\r\n{kept}X-Seen: 204\r\n\r\n\
             HTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n\
             HTTP/1.1 200 OK\r\nContent-Length: 2\r\n{kept}X-Seen: 200\r\n\r\nok"
        )
    );
    for _ in 0..4 {
        up.seen.recv().await.unwrap();
    }
    assert_eq!(
        up.accepted.load(Ordering::SeqCst),
        1,
        "every answer kept the connection"
    );
}

#[tokio::test]
async fn an_answer_until_close_closes_the_client_connection_too() {
    let up = upstream(vec!["HTTP/1.1 200 OK\r\n\r\nto the end<close>"]).await;
    let gw = gateway(up.addr, Duration::from_secs(5)).await;
    let got = exchange_to_close(gw, "GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert_eq!(
        undated(&got),
        "HTTP/1.1 200 OK\r\nDate: (date)\r\nConnection: close\r\nX-Seen: 200\r\n\r\nto the end"
    );
}

#[tokio::test]
async fn every_other_request_goes_to_pingoras_path_with_its_bytes() {
    let up = upstream(vec![OK]).await;
    let gw = gateway(up.addr, Duration::from_secs(5)).await;
    for (raw, want) in [
        ("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "pingora POST /x abc"),
        ("GET /pingora HTTP/1.1\r\nHost: h\r\n\r\n", "pingora GET /pingora "),
        ("GET /x HTTP/1.0\r\nHost: h\r\n\r\n", "pingora GET /x "),
        ("POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", "pingora POST /x hi"),
    ] {
        let got = exchange_to_close(gw, raw).await;
        assert!(got.ends_with(want), "{raw:?}: {got}");
    }
    // Ambiguous framing (a smuggling attempt) is Pingora's path's to judge, as without the
    // lean path: here it reads the chunked body, as RFC 9112 6.3 says.
    let got = exchange_to_close(
        gw,
        "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert!(got.ends_with("pingora POST /x "), "{got}");
    // A plain request, then one for Pingora's path: the connection changes hands mid-way.
    let mut c = TcpStream::connect(gw).await.unwrap();
    c.write_all(b"GET /lean HTTP/1.1\r\nHost: h\r\n\r\nGET /pingora/2 HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    c.read_to_string(&mut out).await.unwrap();
    assert!(
        out.contains("\r\n\r\nhello") && out.ends_with("pingora GET /pingora/2 "),
        "{out}"
    );
}

#[tokio::test]
async fn a_pooled_connection_the_upstream_closed_is_replaced() {
    let mut up = upstream(vec![OK, "CLOSE", OK]).await;
    let gw = gateway(up.addr, Duration::from_secs(5)).await;
    let mut c = TcpStream::connect(gw).await.unwrap();
    c.write_all(b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut c, "hello", 1).await;
    up.seen.recv().await.unwrap();
    // The next request finds the pooled connection open, and the upstream closes it unanswered.
    c.write_all(b"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut c, "hello", 1).await;
    assert_eq!(up.accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_upstream_that_fails_gets_a_gateway_error() {
    // Nothing listens: 502.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = closed.local_addr().unwrap();
    drop(closed);
    let (gw, mut ends) = gateway_reporting(nowhere, Duration::from_secs(5)).await;
    let got = exchange_to_close(gw, "GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert!(got.starts_with("HTTP/1.1 502 "), "{got}");
    let end = ends.recv().await.unwrap();
    assert_eq!((end.status, end.failure), (502, Some(Failure::Connect)));
    let body = got.split_once("\r\n\r\n").unwrap().1;
    assert_eq!(end.bytes_out, body.len() as u64);
    // Bad answers: 502, and the connection ends.
    for bad in [
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
        "not http at all\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
    ] {
        let up = upstream(vec![bad]).await;
        let gw = gateway(up.addr, Duration::from_secs(5)).await;
        let got = exchange_to_close(gw, "GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
        assert!(got.starts_with("HTTP/1.1 502 "), "{bad:?}: {got}");
    }
    // A broken chunked body, seen with the head: 502. Seen later, the connection just ends.
    let up = upstream(vec![
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ])
    .await;
    let gw = gateway(up.addr, Duration::from_secs(5)).await;
    let got = exchange_to_close(gw, "GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert!(got.starts_with("HTTP/1.1 502 "), "{got}");
    // No answer within the I/O timeout: 504.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw = gateway(silent.local_addr().unwrap(), Duration::from_millis(200)).await;
    let got = exchange_to_close(gw, "GET / HTTP/1.1\r\nHost: h\r\n\r\n").await;
    assert!(got.starts_with("HTTP/1.1 504 "), "{got}");
}

/// An idle keep-alive connection holds its `serve` future: the wait for a head, with the
/// exchange and Pingora's path boxed out of it (3.5 kB with them inline).
#[tokio::test]
async fn a_connection_future_is_small() {
    let upstream = Upstream {
        addr: "127.0.0.1:1".parse().unwrap(),
        connect: Duration::from_secs(1),
        io: Duration::from_secs(1),
    };
    let app = LeanApp {
        policy: FixedPeer(upstream),
        fallback: Arc::new(Fallback),
        settings: Settings {
            keepalive: None,
            head: None,
            client_io: Duration::from_secs(1),
            pool_size: 1,
            pool_idle: Duration::from_secs(1),
        },
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let stream: pingora::protocols::Stream =
        Box::new(pingora::protocols::l4::stream::Stream::from(c));
    let (_keep, shutdown) = tokio::sync::watch::channel(false);
    let serving = app.serve(stream, &shutdown);
    let size = std::mem::size_of_val(&serving);
    assert!(size <= 640, "{size} bytes");
}

#[tokio::test]
async fn a_client_that_leaves_while_its_answer_is_awaited_ends_the_request() {
    // An upstream that takes the request and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (gw, mut ends) =
        gateway_reporting(silent.local_addr().unwrap(), Duration::from_secs(5)).await;
    let held = tokio::spawn(async move {
        let (conn, _) = silent.accept().await.unwrap();
        std::future::pending::<()>().await;
        drop(conn);
    });
    // A request whose own bytes are more than a head's worth: the watch still reads past them.
    let body = "b".repeat(16 * 1024);
    let mut c = TcpStream::connect(gw).await.unwrap();
    let post = format!(
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    c.write_all(post.as_bytes()).await.unwrap();
    // Gone without reading: the gateway reads the request, then the end of the stream.
    drop(c);
    let end = ends.recv().await.unwrap();
    assert!(end.client_gone, "{end:?}");
    assert_eq!(
        (end.status, end.failure),
        (0, None),
        "not the upstream's 5 s timeout"
    );
    held.abort();
}

#[tokio::test]
async fn a_policy_answers_requests_itself_between_proxied_ones_and_sees_its_client_leave() {
    let up = upstream(vec![OK]).await;
    let (gw, mut ends) = gateway_reporting(up.addr, Duration::from_secs(5)).await;
    let mut c = TcpStream::connect(gw).await.unwrap();
    // Three pipelined in one write: answered, proxied, answered.
    c.write_all(b"POST /answer HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /p HTTP/1.1\r\nHost: h\r\n\r\nGET /answer HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    let text = read_until(&mut c, "answer ", 2).await;
    let first = text.find("answer abc").unwrap();
    let proxied = text.find("hello").unwrap();
    assert!(first < proxied, "{text}");
    assert!(text.ends_with("Content-Length: 7\r\n\r\nanswer "), "{text}");
    for _ in 0..3 {
        let end = ends.recv().await.unwrap();
        assert_eq!((end.status, end.client_gone), (200, false));
    }
    let mut c = TcpStream::connect(gw).await.unwrap();
    c.write_all(b"GET /answer/wait HTTP/1.1\r\nHost: h\r\n\r\n")
        .await
        .unwrap();
    drop(c);
    let end = ends.recv().await.unwrap();
    assert_eq!((end.status, end.client_gone), (0, true));
}

#[tokio::test]
async fn a_policy_answer_waits_for_its_whole_body_and_a_body_that_stops_goes_to_pingoras_path() {
    let up = upstream(vec![]).await;
    let (gw, mut ends) = gateway_reporting(up.addr, Duration::from_secs(5)).await;
    // A body far larger than a proxied one may be, and than one read: it is read whole.
    let body = vec![b'x'; 1 << 20];
    let mut c = TcpStream::connect(gw).await.unwrap();
    let head = format!(
        "POST /answer HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).await.unwrap();
    c.write_all(&body).await.unwrap();
    let text = read_until(&mut c, "bytes", 1).await;
    assert!(text.ends_with("answer of 1048576 bytes"), "{text}");
    assert_eq!(ends.recv().await.unwrap().status, 200);
    // One that stops short (the client closes its side): Pingora's path gets what came.
    let mut c = TcpStream::connect(gw).await.unwrap();
    c.write_all(b"POST /answer HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
        .await
        .unwrap();
    c.shutdown().await.unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.ends_with("pingora POST /answer abc"), "{text}");
}
