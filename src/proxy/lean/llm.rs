//! LLM routes on the lean path: the LLM handler (`proxy::llm`) run over the lean path's client
//! connection instead of Pingora's session.
//!
//! The request's body came whole with its head; the answer's head is written from the
//! handler's `ResponseHeader` as bytes and sent with the body's first bytes, chunked when the
//! handler says so (a stream), with the fields Pingora's session adds to a handler's answer:
//! `Date`, and `Connection` saying whether the connection goes on.

use super::Call;
use crate::lean::{Answered, Client};
use crate::proxy::llm::downstream::Downstream;
use bytes::Bytes;
use http::Method;
use pingora::http::ResponseHeader;
use pingora::protocols::http::date::get_cached_date;

/// The client's side of an LLM call on the lean path.
struct LeanDownstream<'a> {
    client: Client<'a>,
    method: &'a Method,
    path: &'a str,
    anthropic_version: bool,
    /// The body, until the handler reads it.
    body: Option<Bytes>,
    /// The answer's head, held to go in one write with the body's first bytes; then the
    /// buffer each chunk of a stream is framed in.
    pending: Vec<u8>,
    chunked: bool,
    status: u16,
    bytes_out: u64,
    /// The handler asked for the connection to end after the answer.
    ending: bool,
    /// The client left, or a write to it failed.
    left: bool,
    /// The answer's last bytes were sent.
    whole: bool,
}

/// Serves one LLM request kept by `begin`.
pub(super) async fn answer(call: &mut Call, mut client: Client<'_>) -> Answered {
    let Some(models) = call.models.clone() else {
        return Answered::default();
    };
    let body = std::mem::take(&mut client.body);
    let mut down = LeanDownstream {
        client,
        method: &call.method,
        path: &call.path,
        anthropic_version: call.anthropic_version,
        body: (!body.is_empty()).then_some(body),
        pending: Vec::new(),
        chunked: false,
        status: 0,
        bytes_out: 0,
        ending: false,
        left: false,
        whole: false,
    };
    let served = crate::proxy::llm::serve(&mut down, &mut call.ctx, models).await;
    Answered {
        status: down.status,
        bytes_out: down.bytes_out,
        client_gone: down.left,
        keep: served.is_ok() && down.whole && !down.ending && !down.left,
    }
}

impl Downstream for LeanDownstream<'_> {
    fn method(&self) -> &Method {
        self.method
    }

    fn path(&self) -> &str {
        self.path
    }

    fn sends_anthropic_version(&self) -> bool {
        self.anthropic_version
    }

    fn chunked_answers(&self) -> bool {
        // The lean path takes HTTP/1.1 requests only.
        true
    }

    async fn read_body(&mut self) -> pingora::Result<Option<Bytes>> {
        Ok(self.body.take())
    }

    async fn drain_rest(&mut self) -> bool {
        // Nothing is left: the body came whole.
        true
    }

    fn end_connection(&mut self) {
        self.ending = true;
    }

    async fn write_head(&mut self, head: ResponseHeader) -> pingora::Result<()> {
        let close = self.ending || self.client.close;
        self.chunked = is_chunked(&head);
        self.status = head.status.as_u16();
        // One allocation for the head and a whole answer's body, which go in one write.
        self.pending.reserve(wire_size(&head));
        write_head(&head, close, &mut self.pending);
        Ok(())
    }

    async fn write_body(&mut self, body: Option<Bytes>, end: bool) -> pingora::Result<()> {
        let body = body.unwrap_or_default();
        let sent = if self.pending.is_empty() && !self.chunked {
            self.client.write(&body).await
        } else {
            frame(&body, self.chunked, end, &mut self.pending);
            let sent = self.client.write(&self.pending).await;
            // Kept for the next piece of a stream.
            self.pending.clear();
            sent
        };
        if !sent {
            self.left = true;
            return Err(pingora::Error::explain(
                pingora::ErrorType::WriteError,
                "the client did not take the answer",
            ));
        }
        self.bytes_out += body.len() as u64;
        self.whole |= end;
        Ok(())
    }

    async fn gone(&mut self) {
        self.client.gone().await;
        self.left = true;
    }
}

fn is_chunked(head: &ResponseHeader) -> bool {
    head.headers
        .get(http::header::TRANSFER_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"))
}

/// About the bytes of the head and, for an answer of known length, of its body (a stream's
/// first pieces are small).
fn wire_size(head: &ResponseHeader) -> usize {
    let fields: usize = head
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    let body = head
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .unwrap_or(0);
    // The status line, `Date` and `Connection`; a chunk's size line and the body's end.
    96 + fields + body.min(64 * 1024) + 16
}

/// The status line, the handler's fields as it named them, `Date` and `Connection`.
pub(super) fn write_head(head: &ResponseHeader, close: bool, out: &mut Vec<u8>) {
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(head.status.as_str().as_bytes());
    out.push(b' ');
    let reason = head.get_reason_phrase();
    let reason = reason.or(head.status.canonical_reason()).unwrap_or("");
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
    head.header_to_h1_wire(out);
    out.extend_from_slice(b"Date: ");
    out.extend_from_slice(get_cached_date().as_bytes());
    out.extend_from_slice(match close {
        true => b"\r\nConnection: close\r\n\r\n",
        false => b"\r\nConnection: keep-alive\r\n\r\n",
    });
}

/// Appends a piece of the body as the answer's framing has it, and the chunked body's end.
fn frame(body: &[u8], chunked: bool, end: bool, out: &mut Vec<u8>) {
    if !chunked {
        out.extend_from_slice(body);
        return;
    }
    if !body.is_empty() {
        // Upper case, as Pingora writes chunk sizes; into `out`, with no string of its own.
        let _ = std::io::Write::write_fmt(out, format_args!("{:X}\r\n", body.len()));
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    if end {
        out.extend_from_slice(b"0\r\n\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_carry_the_connection_field_and_bodies_their_framing() {
        let mut head = ResponseHeader::build(200, None).unwrap();
        head.insert_header("Content-Type", "text/event-stream")
            .unwrap();
        let mut out = Vec::new();
        write_head(&head, false, &mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nDate: "),
            "{text}"
        );
        assert!(
            text.ends_with(" GMT\r\nConnection: keep-alive\r\n\r\n"),
            "{text}"
        );
        out.clear();
        write_head(&head, true, &mut out);
        assert!(out.ends_with(b"Connection: close\r\n\r\n"));
        out.clear();
        frame(b"data: x\n\n", true, false, &mut out);
        frame(b"", true, true, &mut out);
        assert_eq!(out, b"9\r\ndata: x\n\n\r\n0\r\n\r\n");
        out.clear();
        frame(&[b'a'; 26], true, false, &mut out);
        assert!(out.starts_with(b"1A\r\n"), "upper case, as Pingora's");
        out.clear();
        frame(b"{}", false, true, &mut out);
        assert_eq!(out, b"{}");
    }

    #[test]
    fn a_whole_answer_is_framed_in_the_room_reserved_for_it() {
        let body = vec![b'x'; 700];
        let mut head = ResponseHeader::build(200, None).unwrap();
        head.insert_header("Content-Type", "application/json")
            .unwrap();
        head.insert_header("Content-Length", body.len()).unwrap();
        head.insert_header("X-Request-Id", "0123456789abcdef0123456789abcdef")
            .unwrap();
        let mut out = Vec::with_capacity(wire_size(&head));
        let room = out.capacity();
        write_head(&head, false, &mut out);
        frame(&body, false, true, &mut out);
        assert_eq!(out.capacity(), room, "{} bytes written", out.len());
    }
}
