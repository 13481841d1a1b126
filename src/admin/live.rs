//! Upstreams, routes, providers and models managed through the admin API (`/admin/upstreams`,
//! `/admin/routes`, `/admin/providers`, `/admin/models`): list, show, create, replace and
//! delete. An entry is the JSON of its TOML table. A change is checked before it is written
//! by compiling the configuration with every stored entry and the change (`snapshot::stored::
//! merge`, what the workers run): one that leaves any entry out (its own bad field, a route
//! whose upstream it deletes) is refused with the compiler's message, naming the field.
//! What the configuration files declare is read-only here, as declared tenants are. The check
//! and the write run under the admin process's one store connection (`Shared::store`), so two
//! changes cannot both pass against the same rows.

mod secrets;

use super::error::AdminError;
use super::request;
use super::shared::{json, no_content, Answer, Call, Shared};
use crate::base::cipher::Cipher;
use crate::config::live::EntryLeftOut;
use crate::config::Config;
use crate::snapshot::stored::{merge, Stored};
use crate::store::{EntryRow, NewEntry};
use serde_json::{json as j, Value};
use std::sync::Arc;

/// A stored entry as answered: `served` is false, with the `problem`, for one the
/// configuration in force leaves out (`left`).
fn stored_view(r: &EntryRow, left: &[EntryLeftOut]) -> Value {
    let problem = (left.iter()).find(|l| l.section == r.section && l.name == r.name);
    let mut v = item(&r.section, &r.name, &r.definition);
    v["source"] = j!("store");
    v["read_only"] = j!(false);
    v["updated_at"] = j!(r.updated_at);
    v["updated_by"] = j!(r.updated_by);
    v["served"] = j!(problem.is_none());
    if let Some(p) = problem {
        v["problem"] = j!(p.problem);
    }
    v
}

/// The stored entries the configuration in force leaves out, as the workers do.
fn left_out(config: &Arc<Config>, all: &[EntryRow]) -> Vec<EntryLeftOut> {
    let stored = Stored {
        entries: all.to_vec(),
        prompts: Vec::new(),
    };
    merge(config, &stored).1.entries
}

/// The table with its name, its secrets masked.
fn item(section: &str, name: &str, definition: &Value) -> Value {
    let mut v = secrets::shown(section, definition);
    if let Some(obj) = v.as_object_mut() {
        obj.insert("name".into(), j!(name));
    }
    v
}

/// The entries of `section` the configuration files declare, as written.
fn declared<'c>(config: &'c Config, section: &str) -> impl Iterator<Item = (&'c str, &'c Value)> {
    (config.source.written.of(section).iter()).filter_map(|v| Some((v.get("name")?.as_str()?, v)))
}

fn declared_view(section: &str, name: &str, v: &Value) -> Value {
    let mut out = item(section, name, v);
    out["source"] = j!("config");
    out["read_only"] = j!(true);
    out
}

/// Refuses to change a name the configuration declares (for routes, prompt APIs' too).
fn not_declared(config: &Config, section: &str, name: &str) -> Result<(), AdminError> {
    let route = section == "routes" && config.routes.iter().any(|r| r.name == name);
    if route || declared(config, section).any(|(n, _)| n == name) {
        return Err(AdminError::Conflict(format!(
            "{section}[{name}] is declared in the configuration file, which is read-only here; \
             change it there"
        )));
    }
    Ok(())
}

/// The stored rows, none without a `[store]` (the files' entries are still listed).
async fn rows(shared: &Arc<Shared>, config: &Config) -> Result<Vec<EntryRow>, AdminError> {
    if config.store.is_none() {
        return Ok(Vec::new());
    }
    shared.store(|s| Ok(s.entries()?)).await
}

pub async fn list(shared: &Arc<Shared>, section: &'static str) -> Answer {
    let config = shared.config.load_full();
    let all = rows(shared, &config).await?;
    let left = left_out(&config, &all);
    let mut items: Vec<Value> = declared(&config, section)
        .map(|(n, v)| declared_view(section, n, v))
        .collect();
    let stored = all.iter().filter(|r| r.section == section);
    items.extend(stored.map(|r| stored_view(r, &left)));
    json(200, &j!({ section: items }))
}

pub async fn show(shared: &Arc<Shared>, section: &'static str, name: String) -> Answer {
    let config = shared.config.load_full();
    if let Some((n, v)) = declared(&config, section).find(|(n, _)| *n == name) {
        return json(200, &declared_view(section, n, v));
    }
    let all = rows(shared, &config).await?;
    let Some(r) = all.iter().find(|r| r.section == section && r.name == name) else {
        return Err(missing(section, &name));
    };
    json(200, &stored_view(r, &left_out(&config, &all)))
}

fn missing(section: &str, name: &str) -> AdminError {
    AdminError::NotFound(format!(
        "no {} named {name:?}",
        section.trim_end_matches('s')
    ))
}

pub async fn create(shared: &Arc<Shared>, call: Call, section: &'static str) -> Answer {
    let (name, def) = table(&call.body, section, None)?;
    put(shared, call, section, name, def, true).await
}

pub async fn replace(
    shared: &Arc<Shared>,
    call: Call,
    section: &'static str,
    name: String,
) -> Answer {
    let (name, def) = table(&call.body, section, Some(&name))?;
    put(shared, call, section, name, def, false).await
}

async fn put(
    shared: &Arc<Shared>,
    call: Call,
    section: &'static str,
    name: String,
    mut def: Value,
    create: bool,
) -> Answer {
    let config = shared.config.load_full();
    not_declared(&config, section, &name)?;
    let cipher = cipher(&config);
    let row = shared
        .store(move |s| {
            let before = Stored::read(s)?;
            let old = (before.entries.iter()).find(|r| r.section == section && r.name == name);
            match (create, old) {
                (true, Some(_)) => {
                    return Err(AdminError::Conflict(format!(
                        "{section}[{name}] exists; PUT /admin/{section}/{name} replaces it"
                    )))
                }
                (false, None) => return Err(missing(section, &name)),
                _ => {}
            }
            let sealed = match section {
                "providers" => {
                    let previous = old.and_then(|r| r.sealed.as_deref());
                    secrets::seal(&name, &mut def, previous, cipher.as_ref())?
                }
                _ => None,
            };
            let candidate = EntryRow {
                section: section.to_string(),
                name: name.clone(),
                definition: def.clone(),
                sealed: sealed.clone(),
                updated_at: 0,
                updated_by: String::new(),
            };
            check(&config, &before, Some(candidate), (section, &name))?;
            let entry = NewEntry {
                section,
                name: &name,
                definition: &def,
                sealed: sealed.as_deref(),
            };
            let row = s.put_entry(&call.actor, entry, create)?;
            let all = s.entries()?;
            Ok(stored_view(&row, &left_out(&config, &all)))
        })
        .await?;
    json(if create { 201 } else { 200 }, &row)
}

pub async fn delete(
    shared: &Arc<Shared>,
    call: Call,
    section: &'static str,
    name: String,
) -> Answer {
    let config = shared.config.load_full();
    not_declared(&config, section, &name)?;
    shared
        .store(move |s| {
            let before = Stored::read(s)?;
            if !(before.entries.iter()).any(|r| r.section == section && r.name == name) {
                return Err(missing(section, &name));
            }
            check(&config, &before, None, (section, &name))?;
            Ok(s.delete_entry(&call.actor, section, &name)?)
        })
        .await?;
    no_content()
}

fn cipher(config: &Config) -> Option<Cipher> {
    let key = config.store.as_ref()?.secret_key.as_ref()?;
    Cipher::from_text(key.expose()).ok()
}

/// Refuses a change (`candidate` in place of the entry `at`, or its deletion) that leaves out
/// an entry or a prompt API the configuration in force serves, or leaves the candidate out.
fn check(
    config: &Arc<Config>,
    before: &Stored,
    candidate: Option<EntryRow>,
    (section, name): (&str, &str),
) -> Result<(), AdminError> {
    let mut after = before.clone();
    after
        .entries
        .retain(|r| !(r.section == section && r.name == name));
    after.entries.extend(candidate);
    // The order the workers read them in.
    after
        .entries
        .sort_by(|a, b| (&a.section, &a.name).cmp(&(&b.section, &b.name)));
    let (_, old) = merge(config, before);
    let (_, new) = merge(config, &after);
    // Only what the change brings: an entry left out before is not its doing (a reload broke
    // it), except the changed one, which must compile.
    let mut problems: Vec<String> = (new.entries.iter())
        .filter(|l| {
            let was = |o: &EntryLeftOut| o.section == l.section && o.name == l.name;
            (l.section == section && l.name == name) || !old.entries.iter().any(was)
        })
        .map(|l| l.problem.clone())
        .collect();
    problems.extend(
        (new.prompts.iter())
            .filter(|l| {
                !old.prompts
                    .iter()
                    .any(|o| o.name == l.name && o.version == l.version)
            })
            .map(|l| l.to_string()),
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(AdminError::BadRequest(problems.join("; ")))
    }
}

/// The body as a table, as `request::named_object` reads it, without what a GET adds.
fn table(body: &[u8], section: &str, name: Option<&str>) -> Result<(String, Value), AdminError> {
    let (name, mut v) = request::named_object(body, &format!("{section} entry"), name)?;
    let Some(obj) = v.as_object_mut() else {
        return Ok((name, v));
    };
    // What a GET adds to the table: a console may send back what it was shown.
    for k in [
        "source",
        "read_only",
        "updated_at",
        "updated_by",
        "served",
        "problem",
    ] {
        obj.remove(k);
    }
    Ok((name, v))
}
