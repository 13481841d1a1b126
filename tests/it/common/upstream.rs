//! An in-test HTTP/1.1 upstream: one thread per connection, keep-alive, a handler closure per
//! request, and a `stop` that closes the listener and every open connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering (for timeout tests).
    pub delay: Duration,
    /// Send the body as these chunks (chunked encoding), `chunk_delay` apart, instead of `body`.
    pub chunks: Option<Vec<Vec<u8>>>,
    pub chunk_delay: Duration,
    /// Close the connection after the chunks without the final empty chunk.
    pub cut: bool,
    /// Close the connection without answering (a kept-alive connection the server gives up
    /// on just as the client reuses it).
    pub unanswered: bool,
    /// Before chunk `n`, run the function (which may block: a stream held open by the test).
    pub pause: Option<(usize, Arc<dyn Fn() + Send + Sync>)>,
}

impl Reply {
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status: 200,
            headers: vec![],
            body: body.into(),
            delay: Duration::ZERO,
            chunks: None,
            chunk_delay: Duration::ZERO,
            cut: false,
            unanswered: false,
            pause: None,
        }
    }
    /// A chunked answer, e.g. an SSE stream split at arbitrary points.
    pub fn chunked(chunks: Vec<Vec<u8>>, chunk_delay: Duration) -> Reply {
        let mut r = Reply::ok(Vec::new());
        r.chunks = Some(chunks);
        r.chunk_delay = chunk_delay;
        r
    }
    /// Runs `wait` before sending chunk `n`.
    pub fn pause_before(mut self, n: usize, wait: impl Fn() + Send + Sync + 'static) -> Reply {
        self.pause = Some((n, Arc::new(wait)));
        self
    }
    pub fn cut(mut self) -> Reply {
        self.cut = true;
        self
    }
    pub fn unanswered(mut self) -> Reply {
        self.unanswered = true;
        self
    }
    pub fn status(mut self, s: u16) -> Reply {
        self.status = s;
        self
    }
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

/// A gate a handler waits at until the test opens it: an answer held for exactly as long as
/// the test needs, instead of a delay guessed long enough. Opened when the last copy the test
/// holds is dropped (`Gate::opener`), so a failed assertion does not leave handlers waiting; a
/// handler waits 60 s at most in any case.
#[derive(Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Blocks until the gate is open (or 60 s have passed).
    pub fn wait(&self) {
        let (open, cv) = &*self.0;
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut is_open = open.lock().unwrap();
        while !*is_open {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return;
            };
            is_open = cv.wait_timeout(is_open, left).unwrap().0;
        }
    }

    pub fn open(&self) {
        let (open, cv) = &*self.0;
        *open.lock().unwrap() = true;
        cv.notify_all();
    }

    /// A guard that opens the gate when dropped (at the end of the test, or on a panic).
    pub fn opener(&self) -> GateOpener {
        GateOpener(self.clone())
    }
}

pub struct GateOpener(Gate);

impl Drop for GateOpener {
    fn drop(&mut self) {
        self.0.open();
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

pub struct Upstream {
    pub port: u16,
    pub name: String,
    pub hits: Arc<AtomicUsize>,
    pub requests: Arc<Mutex<Vec<Request>>>,
    /// Chunked answers whose client went away before the last chunk.
    pub aborted: Arc<AtomicUsize>,
    stopped: Arc<AtomicBool>,
    healthy: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Upstream {
    /// A server that answers every request with its name, and `/health` with 200 while healthy.
    pub fn named(name: &str) -> Upstream {
        let n = name.to_string();
        Self::start(name, move |_| Reply::ok(n.clone()))
    }

    /// On a port the test process holds (`free_port`), so that no other test takes it while
    /// this server is stopped and before it starts again on it (`start_on`).
    pub fn start(
        name: &str,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        Self::start_on(super::free_port(), name, handler)
    }

    pub fn start_on(
        port: u16,
        name: &str,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> Upstream {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stopped = Arc::new(AtomicBool::new(false));
        let healthy = Arc::new(AtomicBool::new(true));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let aborted = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let (h, r, s, hl, c, ab) = (
            hits.clone(),
            requests.clone(),
            stopped.clone(),
            healthy.clone(),
            conns.clone(),
            aborted.clone(),
        );
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                if let Ok(clone) = stream.try_clone() {
                    c.lock().unwrap().push(clone);
                }
                let (h, r, hl, handler, s, ab) = (
                    h.clone(),
                    r.clone(),
                    hl.clone(),
                    handler.clone(),
                    s.clone(),
                    ab.clone(),
                );
                let counters = Counters {
                    hits: h,
                    requests: r,
                    healthy: hl,
                    stopped: s,
                    aborted: ab,
                };
                std::thread::spawn(move || serve(stream, &handler, &counters));
            }
        });
        Upstream {
            port,
            name: name.to_string(),
            hits,
            requests,
            aborted,
            stopped,
            healthy,
            conns,
            thread: Some(thread),
        }
    }

    /// A server that echoes each request's line, headers (names lower-cased) and body length
    /// back as JSON, with fields of its own on the answer: `X-Upstream-Secret` (which routes
    /// may remove), the hop-by-hop `Keep-Alive` and `Proxy-Authenticate`, and `X-Powered-By`.
    pub fn echo_head(name: &'static str) -> Upstream {
        Self::start(name, move |req| {
            let headers: serde_json::Map<String, serde_json::Value> = req
                .headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), serde_json::Value::String(v.clone())))
                .collect();
            let body = serde_json::json!({
                "name": name, "method": req.method, "path": req.path,
                "headers": headers, "body_len": req.body.len(),
            });
            Reply::ok(body.to_string())
                .header("x-upstream-secret", "s3cret")
                .header("keep-alive", "timeout=5")
                .header("proxy-authenticate", "Basic")
                .header("x-powered-by", "upstream")
        })
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::SeqCst);
    }

    pub fn aborted(&self) -> usize {
        self.aborted.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn last_request(&self) -> Option<Request> {
        self.requests.lock().unwrap().last().cloned()
    }

    /// Closes the listener and all connections: the port refuses from now on.
    pub fn stop(&mut self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Counters {
    hits: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Request>>>,
    healthy: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    aborted: Arc<AtomicUsize>,
}

fn serve(stream: TcpStream, handler: &Arc<Handler>, c: &Counters) {
    // The head and the body go out in two writes: without this, Nagle's algorithm holds the
    // body until the gateway's delayed ACK (40 ms), and every exchange takes that long.
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let Some(req) = read_request(&mut reader) else {
            return;
        };
        if c.stopped.load(Ordering::SeqCst) {
            return;
        }
        let reply = if req.path == "/health" {
            let ok = c.healthy.load(Ordering::SeqCst);
            Reply::ok(if ok { "ok" } else { "sick" }).status(if ok { 200 } else { 503 })
        } else {
            c.hits.fetch_add(1, Ordering::SeqCst);
            c.requests.lock().unwrap().push(req.clone());
            handler(&req)
        };
        if !reply.delay.is_zero() {
            std::thread::sleep(reply.delay);
        }
        if !write_reply(&mut writer, &reply, c) {
            return;
        }
    }
}

/// Writes one answer; false when the connection is finished.
fn write_reply(writer: &mut TcpStream, reply: &Reply, c: &Counters) -> bool {
    if reply.unanswered {
        let _ = writer.shutdown(Shutdown::Both);
        return false;
    }
    let mut head = format!("HTTP/1.1 {} X\r\n", reply.status);
    if reply.chunks.is_some() {
        head.push_str("transfer-encoding: chunked\r\n");
    } else {
        head.push_str(&format!("content-length: {}\r\n", reply.body.len()));
    }
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    if writer.write_all(head.as_bytes()).is_err() {
        return false;
    }
    let Some(chunks) = &reply.chunks else {
        return writer.write_all(&reply.body).is_ok();
    };
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 && !reply.chunk_delay.is_zero() {
            std::thread::sleep(reply.chunk_delay);
        }
        if let Some((_, wait)) = reply.pause.as_ref().filter(|(n, _)| *n == i) {
            wait();
        }
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(chunk);
        framed.extend_from_slice(b"\r\n");
        if chunk.is_empty() {
            continue;
        }
        if writer
            .write_all(&framed)
            .and_then(|_| writer.flush())
            .is_err()
        {
            c.aborted.fetch_add(1, Ordering::SeqCst);
            return false;
        }
    }
    if reply.cut {
        let _ = writer.shutdown(Shutdown::Both);
        return false;
    }
    writer.write_all(b"0\r\n\r\n").is_ok()
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = req
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut body = vec![0; len];
        reader.read_exact(&mut body).ok()?;
        req.body = body;
    } else if req
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        req.body = read_chunked(reader)?;
    }
    Some(req)
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).ok()?;
        let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
        if n == 0 {
            let mut end = String::new();
            reader.read_line(&mut end).ok()?;
            return Some(body);
        }
        let mut chunk = vec![0; n + 2];
        reader.read_exact(&mut chunk).ok()?;
        body.extend_from_slice(&chunk[..n]);
    }
}
