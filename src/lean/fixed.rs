//! The simplest policy: every plain request to one upstream, its head passed on as it came,
//! nothing added and nothing recorded. The lean floor (`examples/pingora_floor.rs --lean`)
//! runs it, to measure the lean path's own cost.

use super::{write_upstream, End, Failure, Head, Policy, Upstream, Way};
use pingora::protocols::Stream;

pub struct FixedPeer(pub Upstream);

impl Policy for FixedPeer {
    type Conn = ();
    type Call = ();

    fn open(&self, _stream: &Stream) {}

    fn begin(&self, _conn: &(), head: &Head<'_>, request: &mut Vec<u8>) -> Option<((), Way)> {
        write_upstream(head, b"", request);
        Some(((), Way::Upstream(self.0)))
    }

    fn retry(&self, _call: &mut (), _failure: Failure) -> Option<Upstream> {
        None
    }

    fn drops(&self, _call: &(), _name: &str) -> bool {
        false
    }

    fn add_fields(&self, _call: &mut (), _status: u16, _out: &mut Vec<u8>) {}

    fn error_answer(&self, _call: &mut (), failure: Failure, out: &mut Vec<u8>) -> (u16, usize) {
        let (code, status, body) = match failure {
            Failure::Timeout => (504, "504 Gateway Timeout", "the upstream timed out\n"),
            _ => (
                502,
                "502 Bad Gateway",
                "the upstream gave no valid answer\n",
            ),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(body.as_bytes());
        (code, body.len())
    }

    fn end(&self, _call: (), _end: End) {}
}
