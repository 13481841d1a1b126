//! OpenAPI operations as tools: names, schemas, `$ref`s and paths.

use super::*;

fn doc() -> Value {
    json!({
        "openapi": "3.0.3",
        "paths": {
            "/items/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "get": {
                    "operationId": "getItem",
                    "summary": "One item",
                    "parameters": [
                        {"name": "fields", "in": "query", "schema": {"type": "string"}, "description": "which"},
                        {"name": "x-trace", "in": "header", "schema": {"type": "string"}}
                    ]
                },
                "put": {
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}
                    }
                }
            },
            "/orders/v1/ping": {"get": {"operationId": "ping"}}
        },
        "components": {"schemas": {"Item": {"type": "object", "properties": {"n": {"type": "integer"}}}}}
    })
}

#[test]
fn one_tool_per_operation() {
    let tools = from_openapi("orders-v1", "/orders/v1", &doc());
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "orders-v1.getItem",
            "orders-v1.put__items__id_",
            "orders-v1.ping"
        ]
    );
    let get = &tools[0];
    assert_eq!(get.description, "One item");
    assert_eq!(get.op.path, "/orders/v1/items/{id}");
    assert_eq!(get.op.path_params, ["id"]);
    assert_eq!(get.op.query_params, ["fields"]);
    assert_eq!(get.op.body, BodyFrom::None);
    assert_eq!(
        get.input_schema,
        json!({
            "type": "object",
            "properties": {
                "fields": {"type": "string", "description": "which"},
                "id": {"type": "string"}
            },
            "required": ["id"]
        })
    );
    let put = &tools[1];
    assert_eq!(put.op.method, Method::PUT);
    assert_eq!(put.op.body, BodyFrom::Argument);
    assert_eq!(
        put.input_schema["properties"]["body"],
        json!({"type": "object", "properties": {"n": {"type": "integer"}}})
    );
    assert_eq!(put.input_schema["required"], json!(["id", "body"]));
    // A path already under the route's is called as written.
    assert_eq!(tools[2].op.path, "/orders/v1/ping");
}

#[test]
fn names_follow_the_mcp_rules() {
    assert_eq!(sanitize("a b/c{d}"), "a_b_c_d_");
    assert_eq!(sanitize(&"x".repeat(300)).len(), MAX_NAME);
    assert_eq!(sanitize(""), "tool");
}

#[test]
fn cyclic_refs_end() {
    let doc = json!({
        "paths": {"/a": {"post": {"operationId": "a", "requestBody": {"content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/N"}}}}}}},
        "components": {"schemas": {"N": {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/N"}}}}}
    });
    let tools = from_openapi("n", "/", &doc);
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0].op.path, "/a");
}

#[test]
fn documents_without_paths_have_no_tools() {
    assert!(from_openapi("x", "/x", &json!({"openapi": "3.0.0"})).is_empty());
    assert!(from_openapi("x", "/x", &json!("text")).is_empty());
}

/// How another kind of API (a prompt API) offers itself: its input schema as the tool's, the
/// arguments as the body of a POST to its path.
#[test]
fn a_whole_body_tool_posts_its_arguments() {
    let schema = json!({"type": "object", "properties": {"text": {"type": "string"}}});
    let t = Tool::whole_body(
        "translate v1",
        "Translates",
        "/prompts/translate/v1",
        schema.clone(),
    );
    assert_eq!(t.name, "translate_v1");
    assert_eq!(t.to_json()["inputSchema"], schema);
    let args = json!({"text": "hi"}).as_object().unwrap().clone();
    let call = crate::mcp::call::build(&t.op, &args).unwrap();
    assert_eq!(call.method, Method::POST);
    assert_eq!(call.path_and_query, "/prompts/translate/v1");
    assert_eq!(call.body.unwrap(), br#"{"text":"hi"}"#);
}
