//! A one-connection HTTP server for the client's tests: it answers with canned bytes.

use super::http::Url;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;

/// Accepts one connection, reads the request (head and a `Content-Length` body), sends it back
/// through the returned channel, writes each of `parts` (flushed separately, so an answer can
/// arrive in pieces) and closes.
pub fn serve<P: AsRef<[u8]> + Send + 'static>(parts: Vec<P>) -> (Url, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let request = read_request(&mut s);
        let _ = tx.send(request);
        for p in parts {
            s.write_all(p.as_ref()).unwrap();
            s.flush().unwrap();
        }
    });
    (Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(), rx)
}

/// A complete answer with a JSON body and its `Content-Length`.
pub fn json_answer(status: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn read_request(s: &mut TcpStream) -> String {
    let mut r = BufReader::new(s);
    let mut head = String::new();
    let mut len = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
        head.push_str(&line);
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    head + &String::from_utf8(body).unwrap()
}
