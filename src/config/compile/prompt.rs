//! `[[prompts]]` compiled: each prompt API's schemas and template, checked against each other
//! and against the models, and the route it is published on. The route goes into the one
//! route table, so auth, visibility, approval, lifecycle, limits, plans and call records apply
//! to a prompt API exactly as to any route.

use super::api::compile_api;
use super::routes::{checked_path, HeaderTransform, PathMatch, RouteSpec, RouteTarget};
use super::Checker;
use crate::base::json_schema::Schema;
use crate::base::template::{self, Segment};
use crate::config::problem::{did_you_mean, key, Seg};
use crate::config::schema::{self, OutputKind, PromptRole, PromptSection};
use serde_json::Value;

/// One message of a prompt's template.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateMessage {
    pub role: PromptRole,
    pub segments: Vec<Segment>,
}

/// What a prompt asks of its model, beside the messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PromptParams {
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
}

/// A prompt API, ready for its requests.
#[derive(Debug, Clone)]
pub struct PromptSpec {
    /// Its route's name.
    pub name: String,
    /// The exact path it answers on.
    pub path: String,
    pub description: String,
    /// The public model it calls.
    pub model: String,
    pub params: PromptParams,
    /// The input schema as written (for catalogs and tool lists)...
    pub input_schema: Value,
    /// ...and compiled.
    pub input: Schema,
    pub messages: Vec<TemplateMessage>,
    pub output: PromptOutput,
    /// Callers may ask for a stream (text output only).
    pub stream: bool,
}

#[derive(Debug, Clone)]
pub enum PromptOutput {
    Text,
    /// A JSON value that must satisfy `schema` (`raw` as written, sent to the provider).
    Json {
        schema: Box<Schema>,
        raw: Value,
    },
}

/// What a prompt without `input` takes: any object (its template then has no slots).
fn any_object() -> Value {
    serde_json::json!({"type": "object"})
}

/// Compiles prompt `index`; `models` are the public model names (aliases included).
pub(super) fn compile_prompt(
    p: &PromptSection,
    index: usize,
    models: &[&str],
    base: &[Seg],
    ck: &mut Checker,
) -> Option<(PromptSpec, RouteSpec)> {
    let before = ck.issues.len();
    let path = checked_path(&p.path, base, "path", ck);
    if !models.contains(&p.model.as_str()) {
        ck.at(
            base,
            &["model"],
            format!(
                "no model named {:?}{}",
                p.model,
                did_you_mean(&p.model, models.iter().copied())
            ),
        );
    }
    let params = params(p, base, ck);
    let input_schema = schema_source(p.input.as_ref(), p.input_file.as_deref(), "input", base, ck)
        .unwrap_or_else(any_object);
    let input = compile_schema(&input_schema, base, "input", ck);
    if input.as_ref().is_some_and(|s| !s.is_object()) {
        ck.at(
            base,
            &["input"],
            "the input schema must have type = \"object\": the request body is a JSON object",
        );
    }
    let messages = messages(p, input.as_ref(), base, ck);
    let output = output(p, base, ck);
    if p.stream && matches!(output, Some(PromptOutput::Json { .. })) {
        ck.at(
            base,
            &["stream"],
            "a JSON answer is checked whole before it is sent: stream needs output = \"text\"",
        );
    }
    let mut api = compile_api(&p.api, base, ck);
    if api.description.is_empty() {
        api.description = p.description.clone();
    }
    if ck.issues.len() > before {
        return None;
    }
    let route = RouteSpec {
        name: p.name.clone(),
        host: None,
        path: PathMatch::Exact(path.clone()),
        // Any method reaches the prompt, which answers 405 for all but POST.
        methods: Vec::new(),
        headers: Vec::new(),
        target: RouteTarget::Prompt(index),
        strip_prefix: false,
        upstream_host: None,
        request_headers: HeaderTransform::default(),
        response_headers: HeaderTransform::default(),
        api,
        limits: Vec::new(),
        usage_limits: Vec::new(),
        concurrency_limits: Vec::new(),
        capture: None,
    };
    let spec = PromptSpec {
        name: p.name.clone(),
        path,
        description: p.description.clone(),
        model: p.model.clone(),
        params,
        input_schema,
        input: input?,
        messages,
        output: output?,
        stream: p.stream,
    };
    Some((spec, route))
}

fn params(p: &PromptSection, base: &[Seg], ck: &mut Checker) -> PromptParams {
    if p.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
        ck.at(base, &["temperature"], "must be between 0 and 2");
    }
    if p.max_tokens == Some(0) {
        ck.at(base, &["max_tokens"], "must be at least 1");
    }
    PromptParams {
        temperature: p.temperature,
        max_tokens: p.max_tokens,
        stop: p.stop.clone(),
    }
}

/// The schema written inline or in a file: exactly one of the two (none: `None`).
// Configuration files are read at start and on reload (in `spawn_blocking`), never on a
// thread that serves requests.
#[allow(clippy::disallowed_methods)]
fn schema_source(
    inline: Option<&Value>,
    file: Option<&str>,
    field: &str,
    base: &[Seg],
    ck: &mut Checker,
) -> Option<Value> {
    let file_field = format!("{field}_file");
    match (inline, file) {
        (Some(_), Some(_)) => {
            ck.at(
                base,
                &[&file_field],
                format!("set either {field} or {file_field}, not both"),
            );
            None
        }
        (Some(v), None) => Some(v.clone()),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ck.at(base, &[&file_field], format!("cannot read {path}: {e}")))
                .ok()?;
            serde_json::from_str(&text)
                .map_err(|e| ck.at(base, &[&file_field], format!("{path} is not JSON: {e}")))
                .ok()
        }
        (None, None) => None,
    }
}

fn compile_schema(v: &Value, base: &[Seg], field: &str, ck: &mut Checker) -> Option<Schema> {
    Schema::compile(v)
        .map_err(|e| ck.at(base, &[field], format!("unsupported JSON Schema: {e}")))
        .ok()
}

fn messages(
    p: &PromptSection,
    input: Option<&Schema>,
    base: &[Seg],
    ck: &mut Checker,
) -> Vec<TemplateMessage> {
    if p.messages.is_empty() {
        ck.at(base, &["messages"], "a prompt needs at least one message");
    }
    let names: Vec<&str> = input
        .map(|s| s.property_names().collect())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (j, m) in p.messages.iter().enumerate() {
        let mut at = base.to_vec();
        at.extend([key("messages"), Seg::Index(j)]);
        let segments = match template::parse(&m.content) {
            Ok(s) => s,
            Err(e) => {
                ck.at(&at, &["content"], e);
                continue;
            }
        };
        for var in template::variables(&segments) {
            if input.is_some() && !names.contains(&var) {
                ck.at(
                    &at,
                    &["content"],
                    format!(
                        "{{{{{var}}}}} is not a property of the input schema{}",
                        did_you_mean(var, names.iter().copied())
                    ),
                );
            }
        }
        out.push(TemplateMessage {
            role: m.role,
            segments,
        });
    }
    out
}

fn output(p: &PromptSection, base: &[Seg], ck: &mut Checker) -> Option<PromptOutput> {
    let raw = schema_source(
        p.output_schema.as_ref(),
        p.output_schema_file.as_deref(),
        "output_schema",
        base,
        ck,
    );
    match (p.output, raw) {
        (OutputKind::Text, None) => Some(PromptOutput::Text),
        (OutputKind::Text, Some(_)) => {
            ck.at(
                base,
                &["output_schema"],
                "an output schema needs output = \"json\"",
            );
            None
        }
        (OutputKind::Json, None) => {
            ck.at(
                base,
                &["output"],
                "output = \"json\" needs output_schema (or output_schema_file)",
            );
            None
        }
        (OutputKind::Json, Some(raw)) => {
            let schema = compile_schema(&raw, base, "output_schema", ck)?;
            Some(PromptOutput::Json {
                schema: Box::new(schema),
                raw,
            })
        }
    }
}

/// The public names of `file`'s models, aliases included.
pub(super) fn model_names(file: &schema::FileConfig) -> Vec<&str> {
    file.models
        .iter()
        .flat_map(|m| std::iter::once(m.name.as_str()).chain(m.aliases.iter().map(|a| a.as_str())))
        .collect()
}

#[cfg(test)]
mod tests;
