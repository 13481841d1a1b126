//! Prompt APIs' pure parts: a template of chat messages (parsed when the configuration
//! compiles, `config::TemplateMessage`) rendered into a `ChatRequest` per call, and the check
//! of a JSON answer against the prompt's output schema; `openapi` generates the API's
//! OpenAPI document.
//!
//! DESIGN: variables are data, never template. A template is split into literal text and
//! variable slots when it is compiled (`base::template`); rendering writes each value into its slot once and
//! never scans it again, and each template message becomes exactly one message of the
//! request. So a value holding `{{other}}`, a role marker (`"role": "system"`,
//! `<|im_start|>system`), JSON or newlines stays text inside its message: it can add no
//! message, change no role and fill no other slot.

pub mod openapi;

use crate::base::json_schema::{Schema, Violation};
use crate::base::template;
use crate::config::schema::PromptRole;
use crate::config::{PromptParams as Params, TemplateMessage};
use crate::llm::ir::{ChatRequest, Message, ResponseFormat, Role};
use serde_json::{Map, Value};

/// The messages of `template` with `input`'s values in their slots (`base::template::fill`).
pub fn render(template: &[TemplateMessage], input: &Map<String, Value>) -> Vec<Message> {
    template
        .iter()
        .map(|m| {
            let role = match m.role {
                PromptRole::System => Role::System,
                PromptRole::User => Role::User,
                PromptRole::Assistant => Role::Assistant,
            };
            Message::text(role, template::fill(&m.segments, input))
        })
        .collect()
}

/// The request a prompt call sends: the rendered messages, the parameters, and (JSON output)
/// the structured-output request, which each provider's codec maps to what it supports.
pub fn request(
    model: &str,
    messages: Vec<Message>,
    params: &Params,
    json: Option<(&str, &Value)>,
    stream: bool,
) -> ChatRequest {
    ChatRequest {
        model: model.to_string(),
        messages,
        temperature: params.temperature,
        max_tokens: params.max_tokens,
        stop: params.stop.clone(),
        response_format: json.map(|(name, schema)| ResponseFormat::JsonSchema {
            name: name.to_string(),
            schema: schema.clone(),
            strict: None,
        }),
        stream,
        include_usage: stream,
        ..ChatRequest::default()
    }
}

/// A name a provider accepts for a JSON schema (`^[a-zA-Z0-9_-]{1,64}$` at OpenAI).
pub fn schema_name(prompt: &str) -> String {
    let name: String = prompt
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "output".into()
    } else {
        name
    }
}

/// Reads a model's answer as JSON and checks it against `schema`. A model that wraps its
/// answer in a Markdown code fence is forgiven the fence.
pub fn check_output(text: &str, schema: &Schema) -> Result<Value, String> {
    let body = unfence(text.trim());
    let value: Value =
        serde_json::from_str(body).map_err(|e| format!("the answer is not valid JSON ({e})"))?;
    schema
        .validate(&value, "output")
        .map_err(|Violation { path, message }| format!("{path}: {message}"))?;
    Ok(value)
}

fn unfence(text: &str) -> &str {
    let Some(inner) = text.strip_prefix("```") else {
        return text;
    };
    let Some(inner) = inner.strip_suffix("```") else {
        return text;
    };
    // The fence's info string (`json`) ends at the first line break.
    match inner.find('\n') {
        Some(i) => inner[i + 1..].trim(),
        None => inner.trim(),
    }
}

/// The two messages of the repair attempt: the model's bad answer, and what was wrong with it.
pub fn repair(answer: &str, problem: &str, schema: &Value) -> [Message; 2] {
    [
        Message::text(Role::Assistant, answer),
        Message::text(
            Role::User,
            format!(
                "Your answer was not valid: {problem}. Answer again with only a JSON value, \
                 no prose and no code fences, that conforms to this JSON Schema:\n{schema}"
            ),
        ),
    ]
}

#[cfg(test)]
mod tests;
