//! A prompt API's streamed answer: the provider's text as `delta` events (`{"text": ...}`),
//! then `done` (`{"usage": ..., "model": ...}`), or `error` when the provider's stream breaks.
//! The pump (reading, writing, the client leaving, the call record) is the chat APIs'
//! (`respond::pump`); this file is only the events.

use super::{usage_json, ERRORS};
use crate::llm::ir::{ApiError, ErrorKind, StreamEvent, Usage};
use crate::llm::models::Models;
use crate::llm::sse;
use crate::proxy::ctx::RequestCtx;
use crate::proxy::llm::call::Success;
use crate::proxy::llm::respond;
use crate::proxy::llm::stream::{Encode, Item};
use bytes::BytesMut;
use pingora::proxy::Session;
use serde_json::json;

/// Streams a text answer as `delta` events, then `done` (or `error`).
pub(super) async fn answer(
    session: &mut Session,
    ctx: &mut RequestCtx,
    models: &Models,
    (mut s, _): (Success, Usage),
    body_len: usize,
) -> pingora::Result<bool> {
    let Some(source) = respond::take_stream(&mut s) else {
        // Never so: a streamed request is answered with a stream (`call::attempt_chat`).
        let e = ApiError::new(ErrorKind::BadResponse, "the provider did not stream");
        return respond::error(session, ctx, ERRORS, e, None).await;
    };
    let mut events = Events {
        model: models.models[s.model].spec.name.clone(),
        usage: Usage::default(),
        pending: 0,
        delivered: 0,
    };
    respond::pump(session, ctx, models, s, source, &mut events, body_len).await
}

/// A prompt API's events.
struct Events {
    /// The public model, named in `done`.
    model: String,
    usage: Usage,
    /// Text bytes encoded and not yet written, and written.
    pending: u64,
    delivered: u64,
}

impl Encode for Events {
    fn item(&mut self, item: &Item, out: &mut BytesMut) {
        for ev in &item.events {
            match ev {
                StreamEvent::Text { index: 0, text } => {
                    self.pending += text.len() as u64;
                    let data = json!({ "text": text }).to_string();
                    sse::encode(Some("delta"), &data, out);
                }
                StreamEvent::Usage(u) => self.usage.merge(u),
                _ => {}
            }
        }
    }

    fn finish(&mut self, out: &mut BytesMut) {
        let data = json!({"usage": usage_json(&self.usage), "model": self.model}).to_string();
        sse::encode(Some("done"), &data, out);
    }

    fn error(&mut self, e: &ApiError, out: &mut BytesMut) {
        let data = json!({"error": {"message": e.message, "type": e.kind.openai_type(),
            "code": e.code}});
        sse::encode(Some("error"), &data.to_string(), out);
    }

    fn content_seen(&self) -> bool {
        self.pending + self.delivered > 0
    }

    fn sent(&mut self) {
        self.delivered += std::mem::take(&mut self.pending);
    }

    fn usage(&self) -> Usage {
        self.usage
    }

    fn delivered(&self) -> u64 {
        self.delivered
    }
}
