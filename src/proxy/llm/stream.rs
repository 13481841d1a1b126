//! Streams: reading a provider's SSE stream event by event and writing it to the client as
//! each event completes.
//!
//! A same-format stream is forwarded event for event (each re-framed as it was received), and
//! also decoded, for the usage; the one thing removed is the usage chunk the gateway asked an
//! OpenAI provider for when the client did not. A translated stream goes through `ir`. A
//! stream that ends before the provider's end marker, or breaks, ends the client's stream
//! with an explicit error event, never a clean end.

use crate::llm::client::Exchange;
use crate::llm::codec::{StreamDecoder, StreamEncoder};
use crate::llm::ir::{ApiError, ErrorKind, StreamEvent, Usage};
use crate::llm::mock::MockStream;
use crate::llm::provider::Format;
use crate::llm::sse;
use bytes::BytesMut;
use std::collections::VecDeque;

/// One provider event and what it means.
pub struct Item {
    /// The SSE event as received; `None` from the mock.
    pub raw: Option<sse::Event>,
    pub events: Vec<StreamEvent>,
}

enum Inner {
    Remote(Box<Remote>),
    Mock(MockStream),
}

struct Remote {
    exchange: Option<Exchange>,
    sse: sse::Decoder,
    decoder: StreamDecoder,
    pending: VecDeque<sse::Event>,
    ended: bool,
}

pub struct Source {
    inner: Inner,
    /// Items read ahead by `prime`.
    primed: VecDeque<Item>,
    /// The provider's format; `None` for the mock.
    pub format: Option<Format>,
}

fn truncated(detail: &str) -> ApiError {
    ApiError::new(
        ErrorKind::BadResponse,
        format!("the provider's stream broke off: {detail}"),
    )
    .with_code("stream_truncated")
}

impl Source {
    pub fn remote(exchange: Exchange, format: Format) -> Source {
        Source {
            inner: Inner::Remote(Box::new(Remote {
                exchange: Some(exchange),
                sse: sse::Decoder::new(),
                decoder: StreamDecoder::new(format),
                pending: VecDeque::new(),
                ended: false,
            })),
            primed: VecDeque::new(),
            format: Some(format),
        }
    }

    pub fn mock(stream: MockStream) -> Source {
        Source {
            inner: Inner::Mock(stream),
            primed: VecDeque::new(),
            format: None,
        }
    }

    /// Reads ahead until the first event that means something, so that a stream failing at
    /// once is an attempt that failed rather than a broken answer.
    pub async fn prime(&mut self) -> Result<(), ApiError> {
        while let Some(item) = self.read().await? {
            let meaningful = !item.events.is_empty();
            self.primed.push_back(item);
            if meaningful {
                break;
            }
        }
        Ok(())
    }

    /// The next item; `None` after the provider's end marker.
    pub async fn next(&mut self) -> Result<Option<Item>, ApiError> {
        if let Some(item) = self.primed.pop_front() {
            return Ok(Some(item));
        }
        self.read().await
    }

    async fn read(&mut self) -> Result<Option<Item>, ApiError> {
        match &mut self.inner {
            Inner::Mock(m) => Ok(m.next().await.map(|ev| Item {
                raw: None,
                events: vec![ev],
            })),
            Inner::Remote(r) => loop {
                let Remote {
                    exchange,
                    sse,
                    decoder,
                    pending,
                    ended,
                } = &mut **r;
                if let Some(raw) = pending.pop_front() {
                    let mut events = Vec::new();
                    decoder.decode(&raw, &mut events)?;
                    return Ok(Some(Item {
                        raw: Some(raw),
                        events,
                    }));
                }
                if *ended {
                    return Ok(None);
                }
                let Some(ex) = exchange.as_mut() else {
                    return Ok(None);
                };
                let mut events = Vec::new();
                match ex.read().await {
                    Ok(Some(chunk)) => sse
                        .push(&chunk, &mut events)
                        .map_err(|e| truncated(&e.to_string()))?,
                    Ok(None) => {
                        sse.finish().map_err(|e| truncated(&e.to_string()))?;
                        *ended = true;
                        if let Some(ex) = exchange.take() {
                            ex.finish().await;
                        }
                        if !decoder.is_done() {
                            return Err(truncated("it ended before its end marker"));
                        }
                    }
                    Err(e) => return Err(truncated(&e.message)),
                }
                pending.extend(events);
            },
        }
    }

    /// Ends the provider side early: closes its connection, which cancels the call.
    pub async fn abandon(&mut self) {
        if let Inner::Remote(r) = &mut self.inner {
            if let Some(ex) = r.exchange.take() {
                ex.finish().await;
            }
        }
    }
}

/// What the stream pump (`respond::pump`) needs from the encoder of the client's events: the
/// chat APIs' (`Writer`) or a prompt API's.
pub trait Encode {
    fn item(&mut self, item: &Item, out: &mut BytesMut);
    /// The clean end.
    fn finish(&mut self, out: &mut BytesMut);
    /// The provider's stream broke.
    fn error(&mut self, err: &ApiError, out: &mut BytesMut);
    /// Generated content (not only framing) has been encoded: the answer's first byte.
    fn content_seen(&self) -> bool;
    /// The output so far has reached the client.
    fn sent(&mut self);
    /// The usage the provider reported.
    fn usage(&self) -> Usage;
    /// Bytes of generated content written to the client: what a cut stream is charged for.
    fn delivered(&self) -> u64;
}

/// Turns items into the bytes the client gets.
pub struct Writer {
    client: Format,
    same_format: bool,
    include_usage: bool,
    encoder: StreamEncoder,
    usage: Usage,
    content_seen: bool,
    /// Bytes of generated content (text, thinking, tool arguments) in output not yet written.
    pending_bytes: u64,
    /// Bytes of generated content written to the client: what a cut stream is charged for.
    delivered_bytes: u64,
}

impl Writer {
    pub fn new(client: Format, source: &Source, include_usage: bool) -> Writer {
        Writer {
            client,
            same_format: source.format == Some(client),
            include_usage,
            encoder: StreamEncoder::new(client, include_usage),
            usage: Usage::default(),
            content_seen: false,
            pending_bytes: 0,
            delivered_bytes: 0,
        }
    }
}

impl Encode for Writer {
    fn item(&mut self, item: &Item, out: &mut BytesMut) {
        let mut only_usage = !item.events.is_empty();
        for ev in &item.events {
            match ev {
                StreamEvent::Usage(u) => self.usage.merge(u),
                StreamEvent::Start { .. } => only_usage = false,
                _ => {
                    only_usage = false;
                    self.content_seen = true;
                    self.pending_bytes += content_bytes(ev);
                }
            }
        }
        match (&item.raw, self.same_format) {
            (Some(raw), true) => {
                // The gateway asked for this usage chunk; the client did not.
                let hide = only_usage && self.client == Format::OpenAi && !self.include_usage;
                if !hide {
                    sse::encode(raw.event.as_deref(), &raw.data, out);
                }
            }
            _ => {
                for ev in &item.events {
                    self.encoder.encode(ev, out);
                }
            }
        }
    }

    /// The output so far has reached the client.
    fn sent(&mut self) {
        self.delivered_bytes += std::mem::take(&mut self.pending_bytes);
    }

    /// The clean end: a translated stream gets its closing events (a same-format one already
    /// carried the provider's).
    fn finish(&mut self, out: &mut BytesMut) {
        if !self.same_format {
            self.encoder.finish(out);
        }
    }

    fn error(&mut self, err: &ApiError, out: &mut BytesMut) {
        self.encoder.error(err, out);
    }

    fn content_seen(&self) -> bool {
        self.content_seen
    }

    fn usage(&self) -> Usage {
        self.usage
    }

    fn delivered(&self) -> u64 {
        self.delivered_bytes
    }
}

/// Bytes of generated content an event carries.
fn content_bytes(ev: &StreamEvent) -> u64 {
    let n = match ev {
        StreamEvent::Text { text, .. } | StreamEvent::Thinking { text, .. } => text.len(),
        StreamEvent::ToolCallStart { name, .. } => name.len(),
        StreamEvent::ToolCallArguments { fragment, .. } => fragment.len(),
        _ => 0,
    };
    n as u64
}
