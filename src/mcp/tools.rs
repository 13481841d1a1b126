//! Tools: what an agent may call, each one HTTP operation of an API. REST APIs get one tool
//! per operation of their OpenAPI document; other kinds of API (prompt APIs) make theirs with
//! `Tool::whole_body` and are called the same way.
//!
//! An operation's path is called as the document writes it when it starts with the route's
//! path, and appended to the route's path otherwise (a document written for the upstream of
//! a `strip_prefix` route). Path and query parameters become the tool's arguments, the JSON
//! request body the argument `body`; header and cookie parameters are not offered.

use http::Method;
use serde_json::{json, Map, Value};

/// Tool names as MCP allows them (SEP-986): 1 to 128 of `A-Z a-z 0-9 _ - .`.
pub const MAX_NAME: usize = 128;

/// `$ref`s followed into a schema at most this deep; deeper (or cyclic) ones become `{}`.
const MAX_REF_DEPTH: usize = 8;

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: String,
    /// A JSON Schema of type object: the arguments `tools/call` takes.
    pub input_schema: Value,
    pub op: Operation,
}

/// The HTTP request a tool makes.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    pub method: Method,
    /// The request path with `{name}` placeholders for the path parameters.
    pub path: String,
    pub path_params: Vec<String>,
    pub query_params: Vec<String>,
    pub body: BodyFrom,
}

/// Where a tool call's request body comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFrom {
    None,
    /// The argument `body`, as JSON.
    Argument,
    /// All the arguments, as one JSON object (a prompt API's input).
    Arguments,
}

impl Tool {
    /// A tool whose arguments are the whole JSON body of a `POST` to `path`, checked against
    /// `input_schema` by the API itself: how a prompt API is offered.
    pub fn whole_body(name: &str, description: &str, path: &str, input_schema: Value) -> Tool {
        Tool {
            name: sanitize(name),
            description: description.to_string(),
            input_schema,
            op: Operation {
                method: Method::POST,
                path: path.to_string(),
                path_params: Vec::new(),
                query_params: Vec::new(),
                body: BodyFrom::Arguments,
            },
        }
    }

    /// The tool as `tools/list` shows it.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema,
        })
    }
}

/// The tools of one REST API: one per operation of `doc` (an OpenAPI 3 document), named
/// `{api}.{operationId}` (or `{api}.{method}_{path}`), unique within the API.
pub fn from_openapi(api: &str, route_path: &str, doc: &Value) -> Vec<Tool> {
    let mut out: Vec<Tool> = Vec::new();
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return out;
    };
    for (path, item) in paths {
        let shared = params_of(doc, item);
        for (method, op) in item.as_object().into_iter().flatten() {
            let Ok(m) = method.to_ascii_uppercase().parse::<Method>() else {
                continue;
            };
            if !is_http_method(&m) || !op.is_object() {
                continue;
            }
            let mut tool = operation(doc, api, route_path, path, m, op, &shared);
            let base = tool.name.clone();
            let mut n = 2;
            while out.iter().any(|t| t.name == tool.name) {
                let suffix = format!("_{n}");
                tool.name = format!("{}{suffix}", truncate(&base, MAX_NAME - suffix.len()));
                n += 1;
            }
            out.push(tool);
        }
    }
    out
}

fn is_http_method(m: &Method) -> bool {
    [
        Method::GET,
        Method::PUT,
        Method::POST,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ]
    .contains(m)
}

/// One parameter as the document declares it, `$ref`s followed.
struct Param {
    name: String,
    place: String,
    required: bool,
    schema: Value,
}

fn params_of(doc: &Value, item: &Value) -> Vec<Param> {
    let list = item.get("parameters").and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .filter_map(|p| {
            let p = resolve(doc, p, 0);
            Some(Param {
                name: p.get("name")?.as_str()?.to_string(),
                place: p.get("in")?.as_str()?.to_string(),
                required: p.get("required").and_then(Value::as_bool) == Some(true),
                schema: {
                    let mut s = p.get("schema").cloned().unwrap_or_else(|| json!({}));
                    if let (Some(d), Some(o)) = (p.get("description"), s.as_object_mut()) {
                        o.entry("description").or_insert_with(|| d.clone());
                    }
                    s
                },
            })
        })
        .collect()
}

fn operation(
    doc: &Value,
    api: &str,
    route_path: &str,
    path: &str,
    method: Method,
    op: &Value,
    shared: &[Param],
) -> Tool {
    // An operation's own parameter wins over the path item's of the same name and place.
    let mut params = params_of(doc, op);
    for s in shared {
        if !params
            .iter()
            .any(|p| p.name == s.name && p.place == s.place)
        {
            params.push(Param {
                name: s.name.clone(),
                place: s.place.clone(),
                required: s.required,
                schema: s.schema.clone(),
            });
        }
    }
    params.retain(|p| p.place == "path" || p.place == "query");
    let mut properties = Map::new();
    let mut required = Vec::new();
    for p in &params {
        properties.insert(p.name.clone(), p.schema.clone());
        if p.required || p.place == "path" {
            required.push(Value::from(p.name.clone()));
        }
    }
    let body = op
        .get("requestBody")
        .map(|b| resolve(doc, b, 0))
        .and_then(|b| {
            let required = b.get("required").and_then(Value::as_bool) == Some(true);
            let content = b.get("content")?.as_object()?;
            let (_, media) = content
                .iter()
                .find(|(k, _)| k.starts_with("application/json") || k.ends_with("+json"))?;
            Some((
                media.get("schema").cloned().unwrap_or_else(|| json!({})),
                required,
            ))
        });
    if let Some((schema, req)) = &body {
        properties.insert("body".into(), schema.clone());
        if *req {
            required.push("body".into());
        }
    }
    let mut schema = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    let schema = resolve(doc, &schema, 0);
    let text = |k: &str| op.get(k).and_then(Value::as_str).unwrap_or("").trim();
    let description = match (text("summary"), text("description")) {
        ("", "") => format!("{method} {path}"),
        (s, "") => s.to_string(),
        ("", d) => d.to_string(),
        (s, d) => format!("{s}\n\n{d}"),
    };
    let id = match op.get("operationId").and_then(Value::as_str) {
        Some(id) if !id.trim().is_empty() => id.to_string(),
        _ => format!("{}_{}", method.as_str().to_ascii_lowercase(), path),
    };
    Tool {
        name: sanitize(&format!("{api}.{id}")),
        description,
        input_schema: schema,
        op: Operation {
            method,
            path: join(route_path, path),
            path_params: params
                .iter()
                .filter(|p| p.place == "path")
                .map(|p| p.name.clone())
                .collect(),
            query_params: params
                .iter()
                .filter(|p| p.place == "query")
                .map(|p| p.name.clone())
                .collect(),
            body: if body.is_some() {
                BodyFrom::Argument
            } else {
                BodyFrom::None
            },
        },
    }
}

/// The path a call goes to: the document's when it is under the route's, else appended.
fn join(route_path: &str, path: &str) -> String {
    let base = route_path.trim_end_matches('/');
    if path == base || path.starts_with(&format!("{base}/")) {
        return path.to_string();
    }
    format!("{base}/{}", path.trim_start_matches('/'))
}

/// Follows local `$ref`s (`#/components/...`) so a tool's schema stands alone.
fn resolve(doc: &Value, v: &Value, depth: usize) -> Value {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                if depth >= MAX_REF_DEPTH {
                    return json!({});
                }
                let target = r
                    .strip_prefix('#')
                    .and_then(|p| doc.pointer(p))
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                return resolve(doc, &target, depth + 1);
            }
            Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), resolve(doc, v, depth)))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| resolve(doc, v, depth)).collect()),
        _ => v.clone(),
    }
}

/// A name MCP accepts: other characters become `_`, at most `MAX_NAME` long.
pub fn sanitize(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let clean = truncate(&clean, MAX_NAME).to_string();
    if clean.is_empty() {
        "tool".into()
    } else {
        clean
    }
}

fn truncate(s: &str, n: usize) -> &str {
    // ASCII only by now, so any byte index is a character boundary.
    &s[..s.len().min(n)]
}

#[cfg(test)]
mod tests;
