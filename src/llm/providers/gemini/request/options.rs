//! What a `generateContent` body asks besides the conversation: the tools, the tool choice,
//! the generation options (sampling, limits, response schema) and the thinking budget.

use serde::Serialize;
use serde_json::Value;

use crate::llm::ir::{self, ApiError, ChatRequest, ResponseFormat, ToolChoice};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ToolGroup<'a> {
    function_declarations: Vec<FunctionDeclaration<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionDeclaration<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters_json_schema: Option<Schema<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ToolConfig<'a> {
    function_calling_config: FunctionCallingConfig<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FunctionCallingConfig<'a> {
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_function_names: Option<[&'a str; 1]>,
}

#[derive(Serialize, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerationConfig<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_output_tokens: Option<u32>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    presence_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    frequency_penalty: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_mime_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_json_schema: Option<Schema<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking_config: Option<ThinkingConfig>,
}

impl GenerationConfig<'_> {
    pub(super) fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

#[derive(Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct ThinkingConfig {
    thinking_budget: u32,
    include_thoughts: bool,
}

/// A JSON Schema written without its root `$schema` key (see the module doc).
#[derive(PartialEq)]
struct Schema<'a>(&'a Value);

impl Serialize for Schema<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => s.collect_map(map.iter().filter(|(k, _)| *k != "$schema")),
            other => other.serialize(s),
        }
    }
}

pub(super) fn tools(req: &ChatRequest) -> Vec<ToolGroup<'_>> {
    if req.tools.is_empty() {
        return Vec::new();
    }
    let function_declarations = req
        .tools
        .iter()
        .map(|t| FunctionDeclaration {
            name: &t.name,
            description: t.description.as_deref(),
            parameters_json_schema: t.parameters.as_ref().map(Schema),
        })
        .collect();
    vec![ToolGroup {
        function_declarations,
    }]
}

pub(super) fn tool_config(choice: &ToolChoice) -> ToolConfig<'_> {
    let (mode, allowed_function_names) = match choice {
        ToolChoice::Auto => ("AUTO", None),
        ToolChoice::None => ("NONE", None),
        ToolChoice::Required => ("ANY", None),
        ToolChoice::Tool(name) => ("ANY", Some([name.as_str()])),
    };
    ToolConfig {
        function_calling_config: FunctionCallingConfig {
            mode,
            allowed_function_names,
        },
    }
}

pub(super) fn generation_config(req: &ChatRequest) -> Result<GenerationConfig<'_>, ApiError> {
    let seed = req
        .seed
        .map(|s| {
            i32::try_from(s).map_err(|_| {
                ApiError::invalid(
                    "seed",
                    format!("Gemini takes a 32-bit seed; {s} is not one"),
                )
            })
        })
        .transpose()?;
    // JSON Schema's `name` and `strict` have no Gemini field: Gemini always constrains its
    // output to the schema, which is what `strict: true` asks.
    let (response_mime_type, response_json_schema) = match &req.response_format {
        None | Some(ResponseFormat::Text) => (None, None),
        Some(ResponseFormat::JsonObject) => (Some("application/json"), None),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            (Some("application/json"), Some(Schema(schema)))
        }
    };
    Ok(GenerationConfig {
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        max_output_tokens: req.max_tokens,
        stop_sequences: &req.stop,
        candidate_count: req.n,
        seed,
        presence_penalty: req.presence_penalty,
        frequency_penalty: req.frequency_penalty,
        response_mime_type,
        response_json_schema,
        thinking_config: req.thinking.as_ref().map(thinking_config).transpose()?,
    })
}

/// Gemini 2.5 takes a token budget (Gemini 3 still accepts it); an effort level becomes a
/// budget on Gemini's scale (its dynamic default sits near "medium"; 24576 is Flash's maximum).
fn thinking_config(thinking: &ir::Thinking) -> Result<ThinkingConfig, ApiError> {
    let budget = match (thinking.budget_tokens, thinking.effort.as_deref()) {
        (Some(budget), _) => budget,
        (None, None) => {
            return Err(ApiError::invalid(
                "thinking",
                "thinking needs a token budget or an effort level for Gemini",
            ))
        }
        (None, Some(effort)) => match effort {
            "none" => 0,
            "minimal" => 512,
            "low" => 1024,
            "medium" => 8192,
            "high" => 24576,
            other => {
                return Err(ApiError::invalid(
                    "reasoning_effort",
                    format!(
                        "unknown reasoning effort `{other}` (none, minimal, low, medium, high)"
                    ),
                ))
            }
        },
    };
    Ok(ThinkingConfig {
        thinking_budget: budget,
        include_thoughts: true,
    })
}
