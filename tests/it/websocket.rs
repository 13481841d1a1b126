//! WebSocket pass-through: an upgrade through the gateway reaches an in-test WebSocket echo
//! server over raw TCP, the `101` comes back with its headers, and frames flow both ways on
//! the upgraded connection.

use crate::common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

/// RFC 6455's example handshake: this key's accept value is the one below.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;

/// One frame (FIN set), masked as a client must, unmasked as a server does.
fn frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    assert!(payload.len() < 126, "short frames only");
    let mut out = vec![0x80 | opcode];
    match mask {
        Some(m) => {
            out.push(0x80 | payload.len() as u8);
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => {
            out.push(payload.len() as u8);
            out.extend_from_slice(payload);
        }
    }
    out
}

/// Reads one short frame: (opcode, unmasked payload).
fn read_frame(r: &mut impl Read) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head)?;
    assert_eq!(head[0] & 0x80, 0x80, "fragmented frame");
    let len = (head[1] & 0x7f) as usize;
    assert!(len < 126, "short frames only");
    let mut mask = [0u8; 4];
    if head[1] & 0x80 != 0 {
        r.read_exact(&mut mask)?;
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    Ok((head[0] & 0x0f, payload))
}

/// Reads an HTTP head (up to the blank line) from `r`.
fn read_head(r: &mut impl BufRead) -> String {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            return head;
        }
        head.push_str(&line);
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A WebSocket echo server for one connection; sends the upgrade request's head on `heads`.
fn echo_server(heads: mpsc::Sender<String>) -> (u16, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let thread = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let head = read_head(&mut reader);
        let _ = heads.send(head);
        writer
            .write_all(
                format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
                )
                .as_bytes(),
            )
            .unwrap();
        // Echo every frame back, unmasked, until the close (echoed too).
        while let Ok((opcode, payload)) = read_frame(&mut reader) {
            writer.write_all(&frame(opcode, &payload, None)).unwrap();
            if opcode == CLOSE {
                return;
            }
        }
    });
    (port, thread)
}

#[test]
fn a_websocket_upgrade_passes_through_and_frames_echo_both_ways() {
    let (heads, upgrade) = mpsc::channel();
    let (ws_port, server) = echo_server(heads);
    let gw = Gateway::start(
        1,
        &format!(
            "[[upstreams]]\nname = \"ws\"\ntargets = [\"127.0.0.1:{ws_port}\"]\n\n\
             [[routes]]\nname = \"ws\"\npath_prefix = \"/ws\"\nupstream = \"ws\"\n"
        ),
    );
    let stream = TcpStream::connect(("127.0.0.1", gw.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    writer
        .write_all(
            format!(
                "GET /ws/chat HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n",
                gw.port
            )
            .as_bytes(),
        )
        .unwrap();

    // The upstream got the upgrade: its hop-by-hop headers were kept for it.
    let sent = upgrade.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(sent.starts_with("GET /ws/chat HTTP/1.1\r\n"), "{sent}");
    assert_eq!(header(&sent, "upgrade"), Some("websocket"), "{sent}");
    assert!(
        header(&sent, "connection").is_some_and(|v| v.to_ascii_lowercase().contains("upgrade")),
        "{sent}"
    );
    assert_eq!(header(&sent, "sec-websocket-key"), Some(KEY), "{sent}");
    assert_eq!(header(&sent, "sec-websocket-version"), Some("13"), "{sent}");

    // The client gets the 101 with the server's handshake headers.
    let head = read_head(&mut reader);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert_eq!(header(&head, "upgrade"), Some("websocket"), "{head}");
    assert_eq!(
        header(&head, "sec-websocket-accept"),
        Some(ACCEPT),
        "{head}"
    );

    // Frames go through in both directions, several on the same connection.
    let mask = Some([0x12, 0x34, 0x56, 0x78]);
    for (opcode, payload) in [
        (TEXT, &b"hello through the gateway"[..]),
        (BINARY, &[0u8, 1, 2, 254, 255][..]),
        (TEXT, &b"and again"[..]),
    ] {
        writer.write_all(&frame(opcode, payload, mask)).unwrap();
        let (got, echoed) = read_frame(&mut reader).unwrap();
        assert_eq!((got, echoed.as_slice()), (opcode, payload));
    }
    writer
        .write_all(&frame(CLOSE, &[0x03, 0xe8], mask))
        .unwrap();
    assert_eq!(read_frame(&mut reader).unwrap(), (CLOSE, vec![0x03, 0xe8]));
    server.join().unwrap();
}
