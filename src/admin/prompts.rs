//! Handlers for prompt APIs managed through the admin API (`/admin/prompts`): list, show,
//! create (version 1), update (a new version beside the old ones) and delete. A definition is
//! checked before it is written by the compiler `tollgate validate` runs on `[[prompts]]`
//! (`config::compile_stored_prompt`), against the configuration and the versions stored, so it
//! is refused with the same message naming the field. Prompts the configuration declares are
//! read-only here, as declared tenants are.

use super::error::AdminError;
use super::request::{self, param};
use super::shared::{json, no_content, Answer, Call, Shared};
use crate::config::{compile_stored_prompt, stored_route_name, Config, LeftOut};
use crate::snapshot::stored::{merge, Stored};
use crate::store::{PromptRow, Store};
use serde_json::{json as j, Value};
use std::sync::Arc;

/// One stored version as answered: `served` is false, with the `problem`, for a version the
/// configuration in force no longer compiles (the workers leave it out).
fn view(r: &PromptRow, left_out: &[LeftOut]) -> Value {
    let problem = left_out
        .iter()
        .find(|l| l.name == r.name && l.version == r.version)
        .map(|l| l.problem.as_str());
    let mut v = j!({
        "name": r.name,
        "version": r.version,
        "route": stored_route_name(&r.name, r.version),
        "path": r.definition.get("path"),
        "created_at": r.created_at,
        "served": problem.is_none(),
        "definition": r.definition,
    });
    if let Some(p) = problem {
        v["problem"] = j!(p);
    }
    v
}

/// The stored versions the configuration in force (with the store's live entries: a prompt
/// may use a stored model) leaves out, as the workers do.
fn left_out(config: &Arc<Config>, stored: &Stored) -> Vec<LeftOut> {
    merge(config, stored).1.prompts
}

/// A prompt the configuration declares, as answered.
fn declared_view(p: &crate::config::PromptSpec) -> Value {
    j!({"name": p.name, "source": "config", "path": p.path, "model": p.model,
        "description": p.description})
}

/// Refuses to change a name the configuration declares (a prompt API or any route).
fn not_declared(config: &Config, name: &str) -> Result<(), AdminError> {
    if config.routes.iter().any(|r| r.name == name) {
        return Err(AdminError::Conflict(format!(
            "{name:?} is declared in the configuration, which is read-only here; change it there"
        )));
    }
    Ok(())
}

/// Checks version `version` of `name` against the configuration, the store's live entries and
/// every stored version.
fn check(
    s: &Store,
    config: &Arc<Config>,
    name: &str,
    version: u32,
    def: &Value,
) -> Result<(), AdminError> {
    let (merged, _) = merge(config, &Stored::read(s)?);
    compile_stored_prompt(&merged, name, version, def)
        .map(|_| ())
        .map_err(AdminError::BadRequest)
}

pub async fn list(shared: &Arc<Shared>) -> Answer {
    let config = shared.config.load_full();
    let stored = shared.store(|s| Ok(Stored::read(s)?)).await?;
    let rows = &stored.prompts;
    let mut out: Vec<Value> = config.prompts.iter().map(|p| declared_view(p)).collect();
    let left_out = left_out(&config, &stored);
    let mut names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    names.dedup();
    for n in names {
        let versions: Vec<Value> = rows
            .iter()
            .filter(|r| r.name == n)
            .map(|r| view(r, &left_out))
            .collect();
        out.push(j!({"name": n, "source": "admin", "versions": versions}));
    }
    json(200, &out)
}

pub async fn show(shared: &Arc<Shared>, call: Call, name: String) -> Answer {
    request::only_params(&call.query, &["version"])?;
    let version = version_param(&call)?;
    let config = shared.config.load_full();
    if let Some(p) = config.prompts.iter().find(|p| p.name == name) {
        return json(200, &declared_view(p));
    }
    let n = name.clone();
    let stored = shared.store(move |s| Ok(Stored::read(s)?)).await?;
    let rows = &stored.prompts;
    let left_out = left_out(&config, &stored);
    let versions: Vec<Value> = rows
        .iter()
        .filter(|r| r.name == n && version.is_none_or(|v| r.version == v))
        .map(|r| view(r, &left_out))
        .collect();
    if versions.is_empty() {
        return Err(AdminError::NotFound(match version {
            Some(v) => format!("prompt {name:?} has no version {v}"),
            None => format!("no prompt named {name:?}"),
        }));
    }
    json(
        200,
        &j!({"name": name, "source": "admin", "versions": versions}),
    )
}

pub async fn create(shared: &Arc<Shared>, call: Call) -> Answer {
    let (name, def) = request::named_object(&call.body, "prompt definition", None)?;
    let config = shared.config.load_full();
    not_declared(&config, &name)?;
    let row = shared
        .store(move |s| {
            if s.prompts()?.iter().any(|r| r.name == name) {
                return Err(AdminError::Conflict(format!(
                    "prompt {name:?} exists; PUT /admin/prompts/{name} adds a version"
                )));
            }
            check(s, &config, &name, 1, &def)?;
            Ok(s.create_prompt(&call.actor, &name, &def)?)
        })
        .await?;
    json(201, &view(&row, &[]))
}

pub async fn update(shared: &Arc<Shared>, call: Call, name: String) -> Answer {
    let (name, def) = request::named_object(&call.body, "prompt definition", Some(&name))?;
    let config = shared.config.load_full();
    not_declared(&config, &name)?;
    let row = shared
        .store(move |s| {
            let last = s
                .prompts()?
                .iter()
                .filter(|r| r.name == name)
                .map(|r| r.version)
                .max();
            let Some(last) = last else {
                return Err(AdminError::NotFound(format!("no prompt named {name:?}")));
            };
            check(s, &config, &name, last + 1, &def)?;
            Ok(s.add_prompt_version(&call.actor, &name, &def)?)
        })
        .await?;
    json(200, &view(&row, &[]))
}

pub async fn delete(shared: &Arc<Shared>, call: Call, name: String) -> Answer {
    request::only_params(&call.query, &["version"])?;
    let version = version_param(&call)?;
    not_declared(&shared.config.load_full(), &name)?;
    shared
        .store(move |s| Ok(s.delete_prompt(&call.actor, &name, version)?))
        .await?;
    no_content()
}

/// `?version=N`, a version number from 1.
fn version_param(call: &Call) -> Result<Option<u32>, AdminError> {
    param(&call.query, "version")
        .map(|v| {
            v.parse::<u32>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                AdminError::BadRequest(format!(
                    "version: {v:?} is not a version number (1, 2, ...)"
                ))
            })
        })
        .transpose()
}

/// The configuration with the store's entries and prompt APIs added, as the workers serve it
/// (`snapshot::stored::merge`): what the handlers of APIs (list, state, subscriptions,
/// catalog) work on, so a stored route or prompt API is an API like a declared route. What no
/// longer compiles is left out, as there.
pub async fn apis_config(shared: &Arc<Shared>) -> Result<Arc<Config>, AdminError> {
    let config = shared.config.load_full();
    if config.store.is_none() {
        return Ok(config);
    }
    let rows = shared
        .store(|s| Ok(crate::snapshot::stored::Stored::read(s)?))
        .await?;
    Ok(crate::snapshot::stored::merge(&config, &rows).0)
}
