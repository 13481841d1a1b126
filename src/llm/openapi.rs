//! The OpenAPI 3.1 document of a prompt API, generated from its input and output schemas:
//! what the catalog shows for it, so a team can call it (or generate a client) without
//! knowing which model serves it. OpenAPI 3.1 takes JSON Schema as it is, so the prompt's
//! schemas go in unchanged.

use serde_json::{json, Map, Value};

/// What the document is made from.
pub struct PromptDoc<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub version: Option<&'a str>,
    /// The exact path it answers `POST` on.
    pub path: &'a str,
    /// The input's JSON Schema.
    pub input: &'a Value,
    /// The output's JSON Schema for JSON output; `None` for text.
    pub output: Option<&'a Value>,
    /// Whether `?stream=true` may ask for the answer as server-sent events.
    pub stream: bool,
    /// Whether calls need an API key.
    pub keyed: bool,
}

/// The whole document.
pub fn document(p: &PromptDoc<'_>) -> Value {
    let mut post = Map::new();
    post.insert("operationId".into(), operation_id(p.name).into());
    if !p.description.is_empty() {
        post.insert("summary".into(), p.description.into());
    }
    post.insert(
        "requestBody".into(),
        json!({"required": true, "content": {"application/json": {"schema": p.input}}}),
    );
    if p.stream {
        post.insert(
            "parameters".into(),
            json!([{
                "name": "stream",
                "in": "query",
                "required": false,
                "description": "true: the answer as server-sent events (`text`, then `done` with the usage and model)",
                "schema": {"type": "boolean"},
            }]),
        );
    }
    post.insert("responses".into(), responses(p));
    if p.keyed {
        post.insert("security".into(), json!([{"apiKey": []}]));
    }
    let mut components = json!({"schemas": {"Error": error_schema(), "Usage": usage_schema()}});
    if p.keyed {
        components["securitySchemes"] = json!({
            "apiKey": {"type": "http", "scheme": "bearer", "description": "The app's API key"}
        });
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": p.name,
            "version": p.version.unwrap_or("1"),
            "description": p.description,
        },
        "paths": {p.path: {"post": post}},
        "components": components,
    })
}

fn responses(p: &PromptDoc<'_>) -> Value {
    let output = p
        .output
        .cloned()
        .unwrap_or_else(|| json!({"type": "string", "description": "The model's answer"}));
    let mut ok = json!({
        "application/json": {"schema": {
            "type": "object",
            "required": ["output", "usage", "model"],
            "properties": {
                "output": output,
                "usage": {"$ref": "#/components/schemas/Usage"},
                "model": {"type": "string", "description": "The model that answered"},
            },
        }},
    });
    if p.stream {
        ok["text/event-stream"] = json!({"schema": {"type": "string"}});
    }
    let error = |what: &str| {
        json!({
            "description": what,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        })
    };
    let mut all = json!({
        "200": {"description": "The answer", "content": ok},
        "400": error("The input does not satisfy the schema (the message names the field)"),
        "429": error("A limit refused the call"),
        "502": error("The model's answer could not be used (for JSON output: it failed the schema twice)"),
    });
    if p.keyed {
        all["401"] = error("No key, or an unknown one");
        all["403"] = error("The key's app may not call this API");
    }
    all
}

fn usage_schema() -> Value {
    let count = json!({"type": "integer", "minimum": 0});
    json!({
        "type": "object",
        "properties": {
            "prompt_tokens": count,
            "completion_tokens": count,
            "total_tokens": count,
        },
    })
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["message", "type", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": {"type": "string"},
            },
        }},
    })
}

/// The API's name as an `operationId`: letters, digits and `_` (code generators make
/// function names of it).
pub fn operation_id(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(output: Option<&Value>, stream: bool, keyed: bool) -> Value {
        let input = json!({"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}});
        document(&PromptDoc {
            name: "translate-v1",
            description: "Translates a text",
            version: Some("v1"),
            path: "/prompts/translate/v1",
            input: &input,
            output,
            stream,
            keyed,
        })
    }

    #[test]
    fn the_schemas_go_in_unchanged() {
        let out = json!({"type": "object", "properties": {"label": {"enum": ["pos", "neg"]}}});
        let d = doc(Some(&out), false, true);
        let post = &d["paths"]["/prompts/translate/v1"]["post"];
        assert_eq!(post["operationId"], "translate_v1");
        assert_eq!(
            post["requestBody"]["content"]["application/json"]["schema"]["required"],
            json!(["text"])
        );
        let ok = &post["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(ok["properties"]["output"], out);
        assert_eq!(post["security"], json!([{"apiKey": []}]));
        assert!(post["responses"]["401"].is_object());
        assert!(post.get("parameters").is_none());
        assert_eq!(d["info"]["version"], "v1");
    }

    #[test]
    fn text_output_streams_only_when_allowed_and_open_apis_need_no_key() {
        let d = doc(None, true, false);
        let post = &d["paths"]["/prompts/translate/v1"]["post"];
        let ok = &post["responses"]["200"]["content"];
        assert_eq!(
            ok["application/json"]["schema"]["properties"]["output"]["type"],
            "string"
        );
        assert!(ok["text/event-stream"].is_object());
        assert_eq!(post["parameters"][0]["name"], "stream");
        assert!(post.get("security").is_none());
        assert!(d["components"].get("securitySchemes").is_none());
    }
}
