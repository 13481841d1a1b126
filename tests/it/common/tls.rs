//! Test certificates made with the `openssl` command: a CA, and a certificate for `localhost`
//! (or other names) signed by it (`ca.pem`, `leaf.pem`, `leaf.key` in the given directory).

use std::process::{Command, Stdio};

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed")
        .success();
    assert!(ok, "openssl {args:?}");
}

/// A CA, and a certificate for `localhost` (only) signed by it.
pub fn make_certs(dir: &std::path::Path) {
    make_certs_for(dir, "DNS:localhost");
}

/// A CA, and a certificate for the names of `san` (`subjectAltName` syntax) signed by it.
pub fn make_certs_for(dir: &std::path::Path, san: &str) {
    std::fs::write(
        dir.join("san.ext"),
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=tollgate test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
}

/// An HTTPS upstream (Python's `ssl`, serving `leaf.pem` from `certs`): a GET of `/health`
/// answers 200, or 503 while `set_healthy(false)`; any other GET answers its name. It writes
/// each request's path and `Host` to a file, so a test sees what arrived over TLS (a
/// plain-text request fails the handshake and is never logged).
pub struct TlsUpstream {
    _server: super::Running,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl TlsUpstream {
    pub fn start(certs: &std::path::Path, name: &str) -> TlsUpstream {
        use std::io::BufRead;
        let dir = tempfile::tempdir().unwrap();
        let script = r#"
import http.server, os, ssl, sys
certs, name, state = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        with open(os.path.join(state, "requests.log"), "a") as log:
            log.write("%s %s\n" % (self.path, self.headers.get("host")))
        down = os.path.exists(os.path.join(state, "down"))
        status, body = (503 if down else 200, b"ok") if self.path == "/health" else (200, name)
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(certs, "leaf.pem"), os.path.join(certs, "leaf.key"))
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(certs)
            .arg(name)
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 is installed");
        let out = child.stdout.take().unwrap();
        let server = super::Running(Some(child));
        let mut line = String::new();
        std::io::BufReader::new(out).read_line(&mut line).unwrap();
        let port = line.trim().parse().expect("the server printed its port");
        TlsUpstream {
            _server: server,
            port,
            dir,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Whether `/health` answers 200 (else 503).
    pub fn set_healthy(&self, healthy: bool) {
        let down = self.dir.path().join("down");
        if healthy {
            let _ = std::fs::remove_file(down);
        } else {
            std::fs::write(down, "").unwrap();
        }
    }

    /// The requests received so far: (path, Host header).
    pub fn requests(&self) -> Vec<(String, String)> {
        let log = std::fs::read_to_string(self.dir.path().join("requests.log")).unwrap_or_default();
        log.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(p, h)| (p.to_string(), h.to_string()))
            .collect()
    }
}
