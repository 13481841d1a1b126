//! A raw HTTP/1.1 client for hostile-client tests: bytes exactly as written, one response read
//! at a time, and whether the server closed the connection after it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Conn {
    stream: TcpStream,
    /// Bytes read past the end of the last response.
    buf: Vec<u8>,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The `error.code` of a gateway JSON error body.
    pub fn code(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"]["code"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

impl Conn {
    pub fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the gateway");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) -> &mut Self {
        self.stream.write_all(bytes).expect("write to the gateway");
        self
    }

    /// Reads until `buf` holds `n` bytes or more; false when the peer closed first.
    fn fill(&mut self, n: usize) -> bool {
        let mut chunk = [0u8; 8192];
        while self.buf.len() < n {
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return false,
                Ok(k) => self.buf.extend_from_slice(&chunk[..k]),
            }
        }
        true
    }

    /// The next response (head and Content-Length body); `None` when the connection ended.
    /// Interim `1xx` responses are returned like any other.
    pub fn response(&mut self) -> Option<Response> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let have = self.buf.len();
            if !self.fill(have + 1) {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        if !self.fill(end + len) {
            return None;
        }
        let body = String::from_utf8_lossy(&self.buf[end..end + len]).into_owned();
        self.buf.drain(..end + len);
        Some(Response { status, head, body })
    }

    /// Whether the server closes the connection (EOF or reset) without sending anything more;
    /// false when it sends more or keeps the connection open for 10s.
    pub fn closed(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ),
        }
    }

    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }
}

/// One request on a fresh connection: its response and whether the connection closed after it.
pub fn exchange(port: u16, bytes: &[u8]) -> (Option<Response>, bool) {
    let mut c = Conn::open(port);
    c.send(bytes);
    let r = c.response();
    let closed = c.closed();
    (r, closed)
}

/// Reads from `s` until what was read ends with `end`; panics when the gateway closes first.
pub fn read_until_end(s: &mut std::net::TcpStream, end: &[u8]) -> String {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while !got.ends_with(end) {
        match s.read(&mut buf) {
            Ok(0) => panic!(
                "the connection closed before the end: {}",
                String::from_utf8_lossy(&got)
            ),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("{e} after: {}", String::from_utf8_lossy(&got)),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}
