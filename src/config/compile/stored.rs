//! Prompt APIs from the store (made through the admin API), compiled by the same code as
//! `[[prompts]]` against a compiled configuration: the same checks, the same located messages,
//! and a route in the same table. Each version is its own route, named `{name}.v{version}`, at
//! the path its definition gives; a path or route name another route has is refused (the
//! configuration's routes come first), so what the configuration declares always wins.

use super::{prompt, Checker, Config, PromptSpec, RouteSpec, Routes};
use crate::config::problem::{render_path, Seg};
use crate::config::schema::PromptSection;
use serde_json::Value;
use std::sync::Arc;

/// The route name of one stored version.
pub fn stored_route_name(name: &str, version: u32) -> String {
    format!("{name}.v{version}")
}

/// A stored version that no longer compiles, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftOut {
    pub name: String,
    pub version: u32,
    pub problem: String,
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (name, version, problem) = (&self.name, self.version, &self.problem);
        write!(f, "prompt {name:?} version {version} left out: {problem}")
    }
}

/// `config` with the stored prompts added (`(name, version, definition)`), and each one that
/// no longer compiles (a reload removed its model, a route took its path): the rest still
/// serve.
pub fn with_stored_prompts<'a>(
    config: &Config,
    stored: impl IntoIterator<Item = (&'a str, u32, &'a Value)>,
) -> (Config, Vec<LeftOut>) {
    let mut out = config.clone();
    let mut skipped = Vec::new();
    for (name, version, definition) in stored {
        match compile_stored_prompt(&out, name, version, definition) {
            Ok((spec, route)) => {
                out.prompts.push(Arc::new(spec));
                out.routes.push(route);
            }
            Err(problem) => skipped.push(LeftOut {
                name: name.to_string(),
                version,
                problem,
            }),
        }
    }
    (out, skipped)
}

/// Compiles one stored version against `config` (which holds the prompts before it), or says
/// what is wrong with it, each problem at its field (`model: no model named ...`).
pub fn compile_stored_prompt(
    config: &Config,
    name: &str,
    version: u32,
    definition: &Value,
) -> Result<(PromptSpec, RouteSpec), String> {
    let mut section: PromptSection = serde_path_to_error::deserialize(with_name(definition, name))
        .map_err(|e| match e.path().to_string() {
            p if p == "." => e.into_inner().to_string(),
            p => format!("{p}: {}", e.into_inner()),
        })?;
    section.name = stored_route_name(name, version);
    let base: Vec<Seg> = Vec::new();
    let mut ck = Checker::default();
    // A file on the gateway's host is no business of an admin API client.
    for (set, field) in [
        (section.input_file.is_some(), "input_file"),
        (section.output_schema_file.is_some(), "output_schema_file"),
    ] {
        if set {
            ck.at(
                &base,
                &[field],
                "not accepted through the admin API: give the schema inline",
            );
        }
    }
    let mut routes = Routes {
        specs: config.routes.clone(),
        bases: vec![Vec::new(); config.routes.len()],
        names: config.routes.iter().map(|r| r.name.as_str()).collect(),
    };
    routes.name(&section.name, &base, &mut ck);
    let models: Vec<&str> = config
        .llm
        .models
        .iter()
        .flat_map(|m| std::iter::once(m.name.as_str()).chain(m.aliases.iter().map(|a| a.as_str())))
        .collect();
    let index = config.prompts.len();
    let compiled = prompt::compile_prompt(&section, index, &models, &base, &mut ck);
    if let Some((_, route)) = &compiled {
        let limits = (&section.limits[..], section.capture.as_ref());
        let ctx = (&config.limits[..], &config.log);
        routes.add(route.clone(), limits, true, base.clone(), ctx, &mut ck);
        let apis: Vec<&str> = (routes.specs.iter().map(|r| r.name.as_str()))
            .chain(config.mcp_servers.iter().map(|s| s.name.as_str()))
            .collect();
        let has_store = config.store.is_some();
        super::api::check_routes(&routes.specs, &routes.bases, &apis, has_store, &mut ck);
    }
    match compiled {
        Some((spec, _)) if ck.issues.is_empty() => {
            let route = routes.specs.pop().ok_or("no route was compiled")?;
            Ok((spec, route))
        }
        _ => Err(ck
            .issues
            .iter()
            .map(|i| match render_path(&i.at) {
                p if p.is_empty() => i.message.clone(),
                p => format!("{p}: {}", i.message),
            })
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

/// The definition with `name` set, as `PromptSection` needs it.
fn with_name(definition: &Value, name: &str) -> Value {
    let mut v = definition.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.insert("name".into(), Value::String(name.into()));
    }
    v
}
