//! The OpenAPI 3.1 document of a prompt API, generated from its input and output schemas, for
//! the catalog (`/admin/catalog`) when the API names no document of its own.

use crate::config::{AuthMode, PromptOutput, PromptSpec, RouteSpec};
use serde_json::{json, Value};

/// The error shape every refusal of a prompt API has.
fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": {"type": ["string", "null"]},
                "param": {"type": ["string", "null"], "description": "the field at fault, e.g. input.text"}
            }
        }}
    })
}

fn error(description: &str) -> Value {
    json!({"description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// The document of `prompt`, published by `route`.
pub fn document(prompt: &PromptSpec, route: &RouteSpec) -> Value {
    let output = match &prompt.output {
        PromptOutput::Text => json!({"type": "string"}),
        PromptOutput::Json { raw, .. } => raw.clone(),
    };
    let answer = json!({
        "type": "object",
        "required": ["output", "usage", "model"],
        "properties": {
            "output": output,
            "usage": {"type": "object", "properties": {
                "prompt_tokens": {"type": "integer"},
                "completion_tokens": {"type": "integer"},
                "total_tokens": {"type": "integer"}
            }},
            "model": {"type": "string", "description": "the public model that answered"}
        }
    });
    let mut content = json!({"application/json": {"schema": answer}});
    let mut operation = json!({
        "operationId": crate::llm::prompt::schema_name(&prompt.name),
        "summary": route.api.description,
        "requestBody": {"required": true,
            "content": {"application/json": {"schema": prompt.input_schema}}},
        "responses": {
            "400": error("the body is not JSON or breaks the input schema"),
            "405": error("a method other than POST"),
            "415": error("a Content-Type other than JSON"),
            "429": error("a limit refused the call"),
            "502": error("the model's answer did not match the output schema, or the provider failed")
        }
    });
    if prompt.stream {
        content["text/event-stream"] = json!({"schema": {"type": "string",
            "description": "`delta` events ({\"text\"}), then `done` ({\"usage\", \"model\"}) or `error`"}});
        operation["parameters"] = json!([{"name": "stream", "in": "query", "required": false,
            "schema": {"type": "boolean"}, "description": "answer as Server-Sent Events"}]);
    }
    operation["responses"]["200"] =
        json!({"description": "the model's answer", "content": content});
    let mut components = json!({"schemas": {"Error": error_schema()}});
    if route.api.auth == AuthMode::ApiKey {
        operation["security"] = json!([{"apiKey": []}]);
        operation["responses"]["401"] = error("no key, or a bad one");
        operation["responses"]["403"] = error("the key's app may not call this API");
        components["securitySchemes"] = json!({"apiKey": {"type": "http", "scheme": "bearer"}});
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": prompt.name,
            "version": route.api.version.as_deref().unwrap_or("1"),
            "description": route.api.description,
        },
        "paths": {prompt.path.as_str(): {"post": operation}},
        "components": components,
    })
}
