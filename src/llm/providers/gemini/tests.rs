//! Table tests for the Gemini codec: ir requests encoded and compared with the JSON Gemini
//! expects, recorded responses, streams and error bodies decoded to the ir. The tests sit in
//! `tests/` by subject; this file holds the helpers they share.

mod embeddings;
mod errors;
mod request;
mod response;
mod stream;

use serde_json::Value;

use super::request::encode_chat;
use super::response::decode_chat;
use crate::llm::ir::{ApiError, ChatRequest, ChatResponse, Message, Part, Role, ToolResult};

fn user(text: &str) -> Message {
    Message::text(Role::User, text)
}

fn result(call_id: &str, name: Option<&str>, text: &str, is_error: bool) -> Part {
    Part::ToolResult(ToolResult {
        call_id: call_id.into(),
        name: name.map(Into::into),
        content: vec![Part::Text(text.into())],
        is_error,
    })
}

fn encode(req: &ChatRequest) -> Result<Value, ApiError> {
    let bytes = encode_chat(req, "gemini-2.5-flash")?;
    Ok(serde_json::from_slice(&bytes).expect("encoder wrote JSON"))
}

/// `created` is the arrival time: checked, then zeroed so the rest compares exactly.
fn decode(body: &str) -> ChatResponse {
    let mut resp = decode_chat(body.as_bytes()).unwrap();
    assert!(resp.created > 1_700_000_000);
    resp.created = 0;
    resp
}
