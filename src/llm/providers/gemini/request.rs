//! Gemini request bodies, provider side: `ir::ChatRequest` -> `generateContent` and
//! `ir::EmbeddingRequest` -> `batchEmbedContents` (REST v1beta). Gemini names the model in the
//! path rather than the body: the paths are in `descriptor.rs`.
//!
//! Choices where Gemini has no exact equivalent (each also noted where it happens):
//! - Tool parameters go in `parametersJsonSchema` and response schemas in `responseJsonSchema`:
//!   both take JSON Schema as clients write it (`additionalProperties`, `anyOf`, `$ref`, ...),
//!   while the older `parameters` / `responseSchema` take an OpenAPI subset that rejects many
//!   keys and would need a lossy rewrite. Only a root `$schema` is removed: it names the
//!   dialect, means nothing to the model, and Gemini rejects it with a 400.
//! - Thinking text of earlier turns is not sent back: Gemini documents returning the
//!   `thoughtSignature` (which carries the reasoning context), not the thought summaries. The
//!   signature goes on the part that follows the thinking block, which is where Gemini put it
//!   (`response.rs` decodes a signed part as an empty signed `Thinking` before it).
//! - `user` has no Gemini field and is not sent; `parallel_tool_calls` has none either (Gemini
//!   decides itself whether to call functions in parallel).
//!
//! The conversation (`contents`) is encoded here; the tools, tool choice and generation options
//! in `request/options.rs`, the embeddings body in `request/embeddings.rs`.

mod embeddings;
mod options;

pub use embeddings::encode_embeddings;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::llm::ir::{ApiError, ChatRequest, Image, Message, Part, Role};
use crate::llm::providers::json;
use options::{generation_config, tool_config, tools, GenerationConfig, ToolConfig, ToolGroup};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerateContent<'a> {
    contents: Vec<Content<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system_instruction: Option<SystemInstruction<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolGroup<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_config: Option<ToolConfig<'a>>,
    #[serde(skip_serializing_if = "GenerationConfig::is_default")]
    generation_config: GenerationConfig<'a>,
}

#[derive(Serialize)]
struct Content<'a> {
    role: &'static str,
    parts: Vec<OutPart<'a>>,
}

#[derive(Serialize)]
struct SystemInstruction<'a> {
    parts: Vec<OutPart<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OutPart<'a> {
    #[serde(flatten)]
    data: PartData<'a>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "json::opt_text"
    )]
    thought_signature: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum PartData<'a> {
    Text(#[serde(serialize_with = "json::text")] &'a str),
    InlineData(InlineData<'a>),
    FileData(FileData<'a>),
    FunctionCall(FunctionCall<'a>),
    FunctionResponse(FunctionResponse<'a>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InlineData<'a> {
    mime_type: &'a str,
    #[serde(serialize_with = "json::text")]
    data: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FileData<'a> {
    #[serde(serialize_with = "json::text")]
    file_uri: &'a str,
    mime_type: &'static str,
}

/// No `id`: Gemini matches results to calls by name, and ids minted by other providers (or
/// by `response.rs`) would mean nothing to it.
#[derive(Serialize)]
struct FunctionCall<'a> {
    name: &'a str,
    // NOTE: parsed rather than embedded as-is because serde_json's `raw_value` feature is not
    // enabled in this crate; Gemini parses `args` into a Struct either way.
    args: Map<String, Value>,
}

#[derive(Serialize)]
struct FunctionResponse<'a> {
    name: &'a str,
    response: Map<String, Value>,
}

impl<'a> OutPart<'a> {
    fn new(data: PartData<'a>) -> Self {
        OutPart {
            data,
            thought_signature: None,
        }
    }
}

/// A `generateContent` body. `model` is not used: it goes in the URL (`descriptor.rs`).
pub fn encode_chat(req: &ChatRequest, _model: &str) -> Result<Vec<u8>, ApiError> {
    let mut system = Vec::new();
    let mut contents: Vec<Content> = Vec::new();
    // Whether the last content holds tool results, so consecutive tool messages share it.
    let mut last_is_results = false;
    for (i, msg) in req.messages.iter().enumerate() {
        match msg.role {
            // Gemini has one system instruction: every system message adds to it, wherever
            // it stood in the conversation.
            Role::System => {
                for part in &msg.parts {
                    match part {
                        Part::Text(t) => system.push(OutPart::new(PartData::Text(t))),
                        _ => return Err(unsupported(i, "system", part)),
                    }
                }
                continue;
            }
            Role::User => contents.push(Content {
                role: "user",
                parts: user_parts(i, msg)?,
            }),
            Role::Assistant => {
                let parts = model_parts(i, msg)?;
                // A turn that was only unsigned thinking has nothing Gemini accepts.
                if parts.is_empty() {
                    continue;
                }
                contents.push(Content {
                    role: "model",
                    parts,
                });
            }
            Role::Tool => {
                let parts = result_parts(i, msg, &req.messages[..i])?;
                match contents.last_mut() {
                    Some(last) if last_is_results => last.parts.extend(parts),
                    _ => contents.push(Content {
                        role: "user",
                        parts,
                    }),
                }
                last_is_results = true;
                continue;
            }
        }
        last_is_results = false;
    }
    if contents.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "Gemini needs at least one user or assistant message besides system messages",
        ));
    }

    let body = GenerateContent {
        contents,
        system_instruction: (!system.is_empty()).then_some(SystemInstruction { parts: system }),
        tools: tools(req),
        tool_config: req.tool_choice.as_ref().map(tool_config),
        generation_config: generation_config(req)?,
    };
    json::to_vec(&body).map_err(|e| ApiError::invalid("body", e.to_string()))
}

fn user_parts(i: usize, msg: &Message) -> Result<Vec<OutPart<'_>>, ApiError> {
    msg.parts
        .iter()
        .map(|part| match part {
            Part::Text(t) => Ok(OutPart::new(PartData::Text(t))),
            Part::Image(img) => Ok(OutPart::new(image(img))),
            _ => Err(unsupported(i, "user", part)),
        })
        .collect()
}

fn model_parts(i: usize, msg: &Message) -> Result<Vec<OutPart<'_>>, ApiError> {
    let mut out = Vec::with_capacity(msg.parts.len());
    let mut signature: Option<&str> = None;
    for (j, part) in msg.parts.iter().enumerate() {
        let data = match part {
            Part::Thinking { signature: sig, .. } => {
                // Two signatures in a row: the first had no part of its own, so it travels
                // as Gemini sends such a signature, on an empty text part.
                if let Some(prev) = std::mem::replace(&mut signature, sig.as_deref()) {
                    out.push(signature_part(prev));
                }
                continue;
            }
            // Anthropic's encrypted reasoning is opaque to Gemini and cannot be replayed.
            Part::RedactedThinking(_) => continue,
            Part::Text(t) => PartData::Text(t),
            Part::Image(img) => image(img),
            Part::ToolCall(call) => PartData::FunctionCall(FunctionCall {
                name: &call.name,
                args: call_args(i, j, &call.arguments)?,
            }),
            Part::ToolResult(_) => return Err(unsupported(i, "assistant", part)),
        };
        out.push(OutPart {
            data,
            thought_signature: signature.take(),
        });
    }
    if let Some(sig) = signature {
        out.push(signature_part(sig));
    }
    Ok(out)
}

fn signature_part(sig: &str) -> OutPart<'_> {
    OutPart {
        data: PartData::Text(""),
        thought_signature: Some(sig),
    }
}

fn call_args(i: usize, j: usize, arguments: &str) -> Result<Map<String, Value>, ApiError> {
    if arguments.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid(
            format!("messages[{i}].tool_calls[{j}].arguments"),
            format!("messages[{i}]: tool call arguments must be a JSON object for Gemini"),
        )),
        Err(e) => Err(ApiError::invalid(
            format!("messages[{i}].tool_calls[{j}].arguments"),
            format!("messages[{i}]: tool call arguments are not valid JSON: {e}"),
        )),
    }
}

/// The parts of one tool message: a `functionResponse` per result, named after the call
/// (Gemini matches by name), then any images the results carried, as plain parts beside it.
fn result_parts<'a>(
    i: usize,
    msg: &'a Message,
    earlier: &'a [Message],
) -> Result<Vec<OutPart<'a>>, ApiError> {
    let mut out = Vec::new();
    let mut images = Vec::new();
    for part in &msg.parts {
        let Part::ToolResult(result) = part else {
            return Err(unsupported(i, "tool", part));
        };
        let name = match &result.name {
            Some(name) => name.as_str(),
            None => call_name(earlier, &result.call_id).ok_or_else(|| {
                ApiError::invalid(
                    format!("messages[{i}].tool_call_id"),
                    format!(
                        "messages[{i}]: no earlier assistant tool call has id `{}`, and Gemini \
                         needs its function name",
                        result.call_id
                    ),
                )
            })?,
        };
        let mut text = String::new();
        for p in &result.content {
            match p {
                Part::Text(t) => text.push_str(t),
                Part::Image(img) => images.push(OutPart::new(image(img))),
                other => return Err(unsupported(i, "tool result", other)),
            }
        }
        out.push(OutPart::new(PartData::FunctionResponse(FunctionResponse {
            name,
            response: result_object(text, result.is_error),
        })));
    }
    out.extend(images);
    Ok(out)
}

/// Gemini's `response` must be an object. Its docs name two keys: `output` for a result and
/// `error` for a failure. A result that is itself a JSON object goes as it is (a failure is
/// wrapped in `error`); any other text goes under `output` or `error`.
fn result_object(text: String, is_error: bool) -> Map<String, Value> {
    let value = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) if !is_error => return map,
        Ok(obj @ Value::Object(_)) => obj,
        _ => Value::String(text),
    };
    let mut map = Map::new();
    map.insert(
        (if is_error { "error" } else { "output" }).to_owned(),
        value,
    );
    map
}

fn call_name<'a>(earlier: &'a [Message], call_id: &str) -> Option<&'a str> {
    earlier
        .iter()
        .rev()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| &m.parts)
        .find_map(|p| match p {
            Part::ToolCall(c) if c.id == call_id => Some(c.name.as_str()),
            _ => None,
        })
}

fn image(img: &Image) -> PartData<'_> {
    match img {
        Image::Base64 { media_type, data } => PartData::InlineData(InlineData {
            mime_type: media_type,
            data,
        }),
        Image::Url(url) => PartData::FileData(FileData {
            file_uri: url,
            mime_type: guess_mime(url),
        }),
    }
}

/// `fileData` requires a MIME type and an ir URL carries none: it is guessed from the
/// extension, and JPEG (the commonest photo format) when the extension says nothing.
fn guess_mime(url: &str) -> &'static str {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        _ => "image/jpeg",
    }
}

fn unsupported(i: usize, role: &str, part: &Part) -> ApiError {
    let kind = match part {
        Part::Text(_) => "text",
        Part::Image(_) => "image",
        Part::Thinking { .. } => "thinking",
        Part::RedactedThinking(_) => "redacted thinking",
        Part::ToolCall(_) => "tool call",
        Part::ToolResult(_) => "tool result",
    };
    ApiError::invalid(
        format!("messages[{i}].content"),
        format!("messages[{i}]: a {role} message cannot carry a {kind} part for Gemini"),
    )
}
