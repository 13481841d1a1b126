//! A small blocking HTTP/1.1 client for `tollgate admin`: one request per connection
//! (`Connection: close`) over plain TCP, or over TLS for an `https://` admin listener (rustls,
//! trusting `--ca-file` or the platform's roots), with connect and read timeouts. A command line
//! sends one request and exits, so a blocking socket is all it needs; the answer may come with
//! `Content-Length`, chunked, or delimited by the close.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The largest answer read; the audit log and the catalog (with its documents) are the big ones.
pub const MAX_BODY: usize = 64 << 20;
/// The largest status line plus headers read.
const MAX_HEAD: usize = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    BadUrl(String),
    #[error(
        "cannot connect to {url}: connection refused; the gateway's admin listener must be up \
         there (`[admin] listen` in its configuration; or point --url or TOLLGATE_ADMIN_URL at it)"
    )]
    Refused { url: String },
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("{url}: no answer within {}s", timeout.as_secs_f32())]
    Timeout { url: String, timeout: Duration },
    #[error("{url}: {reason}")]
    Io { url: String, reason: String },
    #[error(
        "{url}: TLS failed: {reason} (an https URL needs an admin listener with tls = true, \
         whose certificate chains to --ca-file, TOLLGATE_ADMIN_CA_FILE or the system's roots \
         and names the URL's host)"
    )]
    Tls { url: String, reason: String },
    #[error("{url}: not a valid HTTP answer: {reason}")]
    BadResponse { url: String, reason: String },
}

/// Where the admin API is: `http[s]://host[:port][/base]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https`: over TLS.
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// A path prefix put before every request path, without a trailing `/` (usually empty).
    pub base: String,
}

impl Url {
    /// Reads `http[s]://host:port[/base]`; the scheme may be left out (`http`).
    pub fn parse(text: &str) -> Result<Url, HttpError> {
        let bad = |why: &str| HttpError::BadUrl(format!("{text:?} is not an admin URL: {why}"));
        let t = text.trim();
        let (tls, rest) = match t.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => (true, rest),
            Some(_) => return Err(bad("write http://HOST:PORT or https://HOST:PORT")),
            None => (false, t),
        };
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad("user names in the URL are not supported; use --token"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| bad("the port is not a number"))?,
            None if tls => 443,
            None => 80,
        };
        Ok(Url {
            tls,
            host: host.to_string(),
            port,
            base: base.to_string(),
        })
    }

    /// `host:port` as the `Host` header writes it.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.base)
    }
}

#[derive(Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path and query, starting with `/`.
    pub path: &'a str,
    pub headers: &'a [(&'a str, String)],
    pub body: Option<&'a [u8]>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct AdminClient {
    pub url: Url,
    pub connect_timeout: Duration,
    /// For each read and write, not the whole exchange.
    pub io_timeout: Duration,
    /// The PEM file of CAs an `https` admin listener's certificate must chain to; the
    /// platform's roots (and `SSL_CERT_FILE`) when `None`.
    pub ca_file: Option<PathBuf>,
}

/// A connection, plain or TLS.
trait Conn: Read + Write {}
impl<T: Read + Write> Conn for T {}

impl AdminClient {
    pub fn new(url: Url, timeout: Duration) -> AdminClient {
        AdminClient {
            url,
            connect_timeout: timeout,
            io_timeout: timeout,
            ca_file: None,
        }
    }

    /// The rustls client for an `https` URL: TLS 1.2 and 1.3, the CAs trusted, the URL's host
    /// as the name the certificate must have (and the SNI, for a name).
    fn tls(&self, tcp: TcpStream) -> Result<impl Conn, HttpError> {
        let url = self.url.to_string();
        let failed = |reason: String| HttpError::Tls {
            url: url.clone(),
            reason,
        };
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                let pem = std::fs::read(path)
                    .map_err(|e| failed(format!("cannot read {}: {e}", path.display())))?;
                for cert in rustls_pemfile::certs(&mut &pem[..]) {
                    let cert = cert.map_err(|e| failed(format!("{}: {e}", path.display())))?;
                    roots
                        .add(cert)
                        .map_err(|e| failed(format!("{}: {e}", path.display())))?;
                }
                if roots.is_empty() {
                    return Err(failed(format!("{}: no certificate in it", path.display())));
                }
            }
            None => pingora::tls::load_platform_certs_incl_env_into_store(&mut roots)
                .map_err(|e| failed(format!("cannot load the system's roots: {e}")))?,
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| failed(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(self.url.host.clone())
            .map_err(|e| failed(format!("{:?}: {e}", self.url.host)))?;
        let conn = rustls::ClientConnection::new(Arc::new(config), name)
            .map_err(|e| failed(e.to_string()))?;
        Ok(rustls::StreamOwned::new(conn, tcp))
    }

    /// Sends one request on a new connection and reads the whole answer.
    pub fn send(&self, req: &Request) -> Result<Response, HttpError> {
        let stream = self.connect()?;
        let io = |e: std::io::Error| self.io_error(e);
        stream.set_read_timeout(Some(self.io_timeout)).map_err(io)?;
        stream
            .set_write_timeout(Some(self.io_timeout))
            .map_err(io)?;
        let mut stream: Box<dyn Conn> = match self.url.tls {
            true => Box::new(self.tls(stream)?),
            false => Box::new(stream),
        };
        let mut head = format!(
            "{} {}{} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: tollgate/{}\r\n\
             Accept: application/json\r\n",
            req.method,
            self.url.base,
            req.path,
            self.url.authority(),
            env!("CARGO_PKG_VERSION"),
        );
        for (name, value) in req.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(body) = req.body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        // The TLS handshake happens on this first write.
        stream.write_all(head.as_bytes()).map_err(io)?;
        if let Some(body) = req.body {
            stream.write_all(body).map_err(io)?;
        }
        stream.flush().map_err(io)?;
        let mut reader = BufReader::new(stream);
        read_response(&mut reader, req.method == "HEAD").map_err(|e| match e {
            ReadError::Io(e) => self.io_error(e),
            // A TLS listener answers a request in plain text with an alert, or closes.
            ReadError::Bad(reason) if !self.url.tls && [CLOSED, TLS_ANSWER].contains(&&*reason) => {
                HttpError::BadResponse {
                    url: self.url.to_string(),
                    reason: format!("{reason} (is the admin listener over TLS? then use https://)"),
                }
            }
            ReadError::Bad(reason) => HttpError::BadResponse {
                url: self.url.to_string(),
                reason,
            },
        })
    }

    fn connect(&self) -> Result<TcpStream, HttpError> {
        let url = self.url.to_string();
        let addrs: Vec<SocketAddr> = (self.url.host.as_str(), self.url.port)
            .to_socket_addrs()
            .map_err(|e| HttpError::Connect {
                url: url.clone(),
                reason: format!("cannot resolve {}: {e}", self.url.host),
            })?
            .collect();
        let mut last = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, self.connect_timeout) {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                HttpError::Refused { url }
            }
            Some(e) if is_timeout(&e) => HttpError::Timeout {
                url,
                timeout: self.connect_timeout,
            },
            Some(e) => HttpError::Connect {
                url,
                reason: e.to_string(),
            },
            None => HttpError::Connect {
                url,
                reason: format!("{} has no address", self.url.host),
            },
        })
    }

    fn io_error(&self, e: std::io::Error) -> HttpError {
        let url = self.url.to_string();
        // rustls reports a failed handshake (an unknown CA, a wrong name) as an I/O error.
        if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return HttpError::Tls {
                url,
                reason: tls.to_string(),
            };
        }
        if is_timeout(&e) {
            HttpError::Timeout {
                url,
                timeout: self.io_timeout,
            }
        } else {
            HttpError::Io {
                url,
                reason: e.to_string(),
            }
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    // A socket read timeout shows as WouldBlock on Unix.
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

#[derive(Debug)]
enum ReadError {
    Io(std::io::Error),
    Bad(String),
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        ReadError::Io(e)
    }
}

/// Why reading failed when the server closed without a byte.
const CLOSED: &str = "the connection closed before an answer";
/// Why reading failed when the answer is a TLS record (an alert), not HTTP.
const TLS_ANSWER: &str = "the server answered in TLS";

fn bad<T>(reason: impl Into<String>) -> Result<T, ReadError> {
    Err(ReadError::Bad(reason.into()))
}

/// Reads one answer: interim `1xx` answers are skipped; the body is delimited by
/// `Transfer-Encoding: chunked`, else `Content-Length`, else the end of the connection.
fn read_response(r: &mut impl BufRead, head_only: bool) -> Result<Response, ReadError> {
    let mut budget = MAX_HEAD;
    // A TLS record's first byte: 0x15 an alert, 0x16 a handshake.
    if matches!(r.fill_buf()?.first(), Some(0x15 | 0x16)) {
        return bad(TLS_ANSWER);
    }
    let (status, headers) = loop {
        let line = read_line(r, &mut budget)?;
        if line.is_empty() {
            return bad(CLOSED);
        }
        let line = line.trim_end_matches(['\r', '\n']);
        let mut parts = line.splitn(3, ' ');
        let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
            return bad(format!("status line {line:?}"));
        };
        if !version.starts_with("HTTP/1.") {
            return bad(format!("status line {line:?}"));
        }
        let Ok(status) = code.parse::<u16>() else {
            return bad(format!("status line {line:?}"));
        };
        let mut headers = Vec::new();
        loop {
            let h = read_line(r, &mut budget)?;
            if h.is_empty() {
                return bad("the connection closed in the headers");
            }
            let h = h.trim_end_matches(['\r', '\n']);
            if h.is_empty() {
                break;
            }
            let Some((name, value)) = h.split_once(':') else {
                return bad(format!("header line {h:?}"));
            };
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        if !(100..200).contains(&status) {
            break (status, headers);
        }
    };
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    if head_only || status == 204 || status == 304 {
        return Ok(resp);
    }
    let chunked = resp
        .header("transfer-encoding")
        .and_then(|te| te.rsplit(',').next())
        .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
    resp.body = if chunked {
        read_chunked(r)?
    } else if let Some(len) = resp.header("content-length") {
        let Ok(len) = len.parse::<usize>() else {
            return bad(format!("Content-Length {len:?}"));
        };
        if len > MAX_BODY {
            return bad(format!("an answer of {len} bytes is over {MAX_BODY}"));
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                ReadError::Bad(format!("the connection closed before {len} bytes of body"))
            }
            _ => ReadError::Io(e),
        })?;
        body
    } else {
        let mut body = Vec::new();
        r.by_ref()
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut body)?;
        if body.len() > MAX_BODY {
            return bad(format!("an answer over {MAX_BODY} bytes"));
        }
        body
    };
    Ok(resp)
}

fn read_chunked(r: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let mut budget = 4096;
        let line = read_line(r, &mut budget)?;
        let size_text = line
            .split(';')
            .next()
            .unwrap_or_default()
            .trim_end_matches(['\r', '\n'])
            .trim();
        let Ok(size) = usize::from_str_radix(size_text, 16) else {
            return bad(format!("chunk size {:?}", line.trim_end()));
        };
        if size == 0 {
            // Trailers, up to the empty line (a server that just closes is forgiven).
            let mut budget = MAX_HEAD;
            loop {
                let t = read_line(r, &mut budget)?;
                if t.trim_end_matches(['\r', '\n']).is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return bad(format!("an answer over {MAX_BODY} bytes"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..])
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => {
                    ReadError::Bad("the connection closed inside a chunk".into())
                }
                _ => ReadError::Io(e),
            })?;
        let mut budget = 2;
        let end = read_line(r, &mut budget)?;
        if end != "\r\n" && end != "\n" {
            return bad("a chunk does not end with CRLF");
        }
    }
}

/// One line with its `\n` (empty at the end of the stream), within what is left of `budget`.
fn read_line(r: &mut impl BufRead, budget: &mut usize) -> Result<String, ReadError> {
    let mut buf = Vec::new();
    r.by_ref()
        .take(*budget as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    if buf.len() > *budget {
        return bad("a header or chunk line is too long");
    }
    *budget -= buf.len();
    String::from_utf8(buf).or_else(|_| bad("a header line is not UTF-8"))
}

#[cfg(test)]
mod tests;
