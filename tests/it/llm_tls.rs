//! A provider behind TLS, reached by host name: the name is resolved by the gateway and the
//! certificate checked against the trust store (`SSL_CERT_FILE` here, a test CA).

use crate::common;
use common::providers::*;
use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTPS server answering every POST with an OpenAI chat completion; returns its port.
fn https_server(dir: &std::path::Path) -> (Killed, u16) {
    let script = format!(
        r#"
import http.server, ssl, sys
BODY = {body:?}.encode()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain("leaf.pem", "leaf.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#,
        body = openai_chat("over TLS")
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 is installed");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the server printed its port");
    (Killed(child), port)
}

#[test]
fn providers_are_reached_over_tls_by_name() {
    let dir = tempfile::tempdir().unwrap();
    tls::make_certs(dir.path());
    let (_server, port) = https_server(dir.path());
    let ca = dir.path().join("ca.pem");
    let cfg = format!(
        "[[providers]]\nname = \"tls\"\nkind = \"openai\"\nbase_url = \"https://localhost:{port}/v1\"\napi_key = \"k\"\n\n\
         [[providers]]\nname = \"untrusted\"\nkind = \"openai\"\nbase_url = \"https://127.0.0.1:{port}/v1\"\napi_key = \"k\"\n\n{}{}{LLM_ROUTE}",
        model("secure", &[("tls", "gpt-4o")], ""),
        model("wrong-name", &[("untrusted", "gpt-4o")], "retries = 0"),
    );
    let gw = Gateway::start_env(1, &cfg, &[("SSL_CERT_FILE", ca.as_os_str())]);
    let ask = |m: &str| {
        client()
            .post(gw.url("/v1/chat/completions"))
            .json(&json!({"model": m, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .unwrap()
    };
    let r = ask("secure");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "over TLS");
    // The certificate names localhost, not 127.0.0.1: the handshake must fail, clearly, naming
    // the provider and the failure to the client and its address only in the log.
    let r = ask("wrong-name");
    assert!(r.status().is_server_error(), "{}", r.status());
    let text = r.text().unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("provider untrusted: TLS"), "{v}");
    assert!(!text.contains("127.0.0.1"), "{text}");
    wait_for("the address in the log", Duration::from_secs(10), || {
        gw.stderr()
            .contains(&format!("127.0.0.1:{port}"))
            .then_some(())
    });
}
