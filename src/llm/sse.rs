//! Server-Sent Events: an incremental decoder for provider streams and an encoder for the
//! streams the gateway sends to clients.
//!
//! DESIGN: `Decoder::push` takes body chunks as they arrive, whose boundaries fall anywhere
//! (inside a line, a CRLF pair or a UTF-8 character), and appends each event to the caller's
//! `Vec` as soon as its blank line arrives. Parsing follows the WHATWG rules
//! (<https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>)
//! with three departures a gateway needs: bytes that are not UTF-8 are an error rather than
//! replaced, an event larger than a limit is an error rather than unbounded growth, and
//! `finish` reports a stream that ends inside an event, so the caller can tell an upstream
//! that died mid-event from a clean end. Lines wholly inside a chunk are parsed in place;
//! only a line cut by a chunk boundary and the event's own fields are copied.

use bytes::BytesMut;
use memchr::{memchr, memchr2};

/// The default for `Decoder::with_limit`: 1 MiB.
pub const DEFAULT_EVENT_LIMIT: usize = 1 << 20;

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field; `None` when absent or empty (a browser calls that "message").
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last event ID in effect when the event was dispatched. As the spec says, an `id:`
    /// field carries over to later events until another `id:` replaces it; `None` while it is
    /// empty.
    pub id: Option<String>,
    /// A valid `retry:` field inside this event's lines, if any. The decoder also keeps the
    /// latest one across events (`Decoder::retry`).
    pub retry: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("SSE stream ended in the middle of an event")]
    TruncatedEvent,
    #[error("SSE event is larger than the limit of {limit} bytes")]
    EventTooLarge { limit: usize },
    #[error("SSE event is not valid UTF-8")]
    InvalidUtf8,
}

/// An incremental SSE decoder for one stream. After an error it returns that error for every
/// later call until `finish`, which also readies it for a new stream.
#[derive(Debug)]
pub struct Decoder {
    limit: usize,
    /// Bytes of the BOM matched so far at the start of the stream; `None` once past it.
    bom_matched: Option<usize>,
    /// The previous chunk ended with CR: an LF starting the next chunk ends no further line.
    pending_cr: bool,
    /// The start of a line cut by a chunk boundary.
    line: Vec<u8>,
    data: Vec<u8>,
    /// At least one `data` line since the last dispatch (`data:` alone still dispatches "").
    has_data: bool,
    event_type: Vec<u8>,
    last_event_id: Vec<u8>,
    event_retry: Option<u64>,
    retry: Option<u64>,
    failed: Option<SseError>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_EVENT_LIMIT)
    }

    /// A decoder that holds at most `limit` bytes for one event: its data and event type so
    /// far, plus the line being read (field names and comments included), whether or not a
    /// chunk boundary cuts it, so the outcome never depends on how the stream was split.
    pub fn with_limit(limit: usize) -> Self {
        Decoder {
            limit,
            bom_matched: Some(0),
            pending_cr: false,
            line: Vec::new(),
            data: Vec::new(),
            has_data: false,
            event_type: Vec::new(),
            last_event_id: Vec::new(),
            event_retry: None,
            retry: None,
            failed: None,
        }
    }

    /// The latest valid `retry:` value of the stream, dispatched or not.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }

    /// Decodes `chunk` and appends every event it completes to `out`. On error, the events
    /// completed before the bad one are already in `out`.
    pub fn push(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), SseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.push_inner(chunk, out);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Ends the stream. An event without its closing blank line is not dispatched (as the
    /// spec says) and is reported as `TruncatedEvent`; so is a line without its line end.
    /// The decoder is then ready for a new stream.
    pub fn finish(&mut self) -> Result<(), SseError> {
        let result = match self.failed.take() {
            Some(e) => Err(e),
            None if self.has_data
                || !self.event_type.is_empty()
                || !self.line.is_empty()
                || matches!(self.bom_matched, Some(n) if n > 0) =>
            {
                Err(SseError::TruncatedEvent)
            }
            None => Ok(()),
        };
        self.bom_matched = Some(0);
        self.pending_cr = false;
        self.line.clear();
        self.data.clear();
        self.has_data = false;
        self.event_type.clear();
        self.last_event_id.clear();
        self.event_retry = None;
        self.retry = None;
        result
    }

    fn push_inner(&mut self, mut chunk: &[u8], out: &mut Vec<Event>) -> Result<(), SseError> {
        // A BOM may itself be split over chunks: match it a byte at a time.
        while let (Some(n), Some(&b)) = (self.bom_matched, chunk.first()) {
            if b == BOM[n] {
                chunk = &chunk[1..];
                self.bom_matched = (n + 1 < BOM.len()).then_some(n + 1);
            } else {
                // Not a BOM after all: the bytes matched so far are the start of a line.
                self.bom_matched = None;
                self.feed(&BOM[..n], out)?;
            }
        }
        self.feed(chunk, out)
    }

    fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<Event>) -> Result<(), SseError> {
        if self.pending_cr && !chunk.is_empty() {
            self.pending_cr = false;
            if chunk[0] == b'\n' {
                chunk = &chunk[1..];
            }
        }
        while let Some(pos) = memchr2(b'\n', b'\r', chunk) {
            let mut end = pos + 1;
            if chunk[pos] == b'\r' {
                match chunk.get(end) {
                    Some(b'\n') => end += 1,
                    Some(_) => {}
                    None => self.pending_cr = true,
                }
            }
            // A line counts whole however it arrived: were only a line cut by a chunk boundary
            // held to the limit, where the network split a stream would decide whether it fails.
            self.check_room(pos)?;
            if self.line.is_empty() {
                self.process_line(&chunk[..pos], out)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&chunk[..pos]);
                let result = self.process_line(&line, out);
                line.clear();
                self.line = line;
                result?;
            }
            chunk = &chunk[end..];
        }
        if !chunk.is_empty() {
            self.check_room(chunk.len())?;
            self.line.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// Fails if holding `extra` more bytes would pass the limit for one event.
    fn check_room(&self, extra: usize) -> Result<(), SseError> {
        let held = self.line.len() + self.data.len() + self.event_type.len();
        if held.saturating_add(extra) > self.limit {
            return Err(SseError::EventTooLarge { limit: self.limit });
        }
        Ok(())
    }

    fn process_line(&mut self, line: &[u8], out: &mut Vec<Event>) -> Result<(), SseError> {
        if line.is_empty() {
            return self.dispatch(out);
        }
        if line[0] == b':' {
            return Ok(());
        }
        let (name, value) = match memchr(b':', line) {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match name {
            b"data" => {
                self.check_room(value.len() + 1)?;
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
            }
            b"event" => {
                self.check_room(value.len())?;
                self.event_type.clear();
                self.event_type.extend_from_slice(value);
            }
            // An id with NUL is ignored, as is a retry that is not all digits.
            b"id" if memchr(0, value).is_none() => {
                self.check_room(value.len())?;
                self.last_event_id.clear();
                self.last_event_id.extend_from_slice(value);
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // Only an overflow fails now; the spec ignores the field then.
                let ms = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
                if ms.is_some() {
                    self.retry = ms;
                    self.event_retry = ms;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) -> Result<(), SseError> {
        let retry = self.event_retry.take();
        if !self.has_data {
            self.event_type.clear();
            return Ok(());
        }
        self.has_data = false;
        let event = Event {
            event: optional_string(&self.event_type)?,
            data: utf8(&self.data)?.to_owned(),
            id: optional_string(&self.last_event_id)?,
            retry,
        };
        self.data.clear();
        self.event_type.clear();
        out.push(event);
        Ok(())
    }
}

fn utf8(bytes: &[u8]) -> Result<&str, SseError> {
    std::str::from_utf8(bytes).map_err(|_| SseError::InvalidUtf8)
}

fn optional_string(bytes: &[u8]) -> Result<Option<String>, SseError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    utf8(bytes).map(|s| Some(s.to_owned()))
}

/// Writes one event: `event: <name>` when `event` is set and not empty, one `data: ` line per
/// line of `data`, then the blank line. The decoder gives back `data` with its line ends
/// (CRLF, CR or LF) as LF, and `event` with any line ends removed (they cannot be framed).
pub fn encode(event: Option<&str>, data: &str, out: &mut BytesMut) {
    out.reserve(data.len() + event.map_or(0, |e| e.len() + 8) + 8);
    if let Some(name) = event.filter(|e| !e.is_empty()) {
        out.extend_from_slice(b"event: ");
        for piece in name.split(['\r', '\n']) {
            out.extend_from_slice(piece.as_bytes());
        }
        out.extend_from_slice(b"\n");
    }
    let mut rest = data.as_bytes();
    loop {
        out.extend_from_slice(b"data: ");
        match memchr2(b'\n', b'\r', rest) {
            Some(pos) => {
                out.extend_from_slice(&rest[..pos]);
                out.extend_from_slice(b"\n");
                let crlf = rest[pos] == b'\r' && rest.get(pos + 1) == Some(&b'\n');
                rest = &rest[pos + if crlf { 2 } else { 1 }..];
            }
            None => {
                out.extend_from_slice(rest);
                out.extend_from_slice(b"\n\n");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
