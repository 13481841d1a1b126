//! Upstreams, routes, providers and models made through the admin API ("live" entries): each
//! is kept in the store as the JSON of its TOML table, read with the same serde types as
//! `[[upstreams]]`, `[[routes]]`, `[[providers]]` and `[[models]]` (so an unknown field or a bad
//! type reads as `tollgate validate` says it), added after the files' entries and compiled
//! with them by `compile`, once. What the files declare comes first and wins.
//!
//! An entry that does not compile with the rest (a reload removed its upstream, a route took
//! its path) is left out and reported, and the rest is compiled again without it: a stored
//! entry never takes the gateway down. A problem is named as the entry's, by name:
//! `routes[orders].upstream: no upstream named "nope"`.

use super::compile::{compile, Config};
use super::load::{error_path, expand_env, explain_schema_error};
use super::problem::{render_path, Issue, Seg};
use super::schema::{FileConfig, ModelSection, ProviderSection, RouteSection, UpstreamSection};
use serde_json::Value;

/// The sections the admin API manages, as named in the configuration and in its paths.
pub const SECTIONS: [&str; 4] = ["upstreams", "routes", "providers", "models"];

/// One stored entry, as the compiler takes it.
#[derive(Debug, Clone)]
pub struct StoredEntry {
    /// One of `SECTIONS`.
    pub section: &'static str,
    pub name: String,
    /// The table in JSON, its secrets opened; or why it cannot be read (a secret that does
    /// not decrypt).
    pub definition: Result<Value, String>,
}

/// A stored entry the configuration in force leaves out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLeftOut {
    pub section: &'static str,
    pub name: String,
    pub problem: String,
}

impl std::fmt::Display for EntryLeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}[{}] left out: {}",
            self.section, self.name, self.problem
        )
    }
}

/// The section name of `word` (`"routes"`), if the admin API manages it.
pub fn section(word: &str) -> Option<&'static str> {
    SECTIONS.iter().copied().find(|s| *s == word)
}

/// One entry read into its schema type (boxed: the sections differ much in size).
enum Parsed {
    Upstream(Box<UpstreamSection>),
    Route(Box<RouteSection>),
    Provider(Box<ProviderSection>),
    Model(Box<ModelSection>),
}

/// `config` (compiled from the files) with the stored entries added, and each entry left
/// out, with why. Without entries it is `config` itself.
pub fn with_stored_entries(
    config: &Config,
    entries: &[StoredEntry],
) -> (Config, Vec<EntryLeftOut>) {
    let mut left_out = Vec::new();
    let mut parsed: Vec<(&StoredEntry, Parsed)> = Vec::new();
    for e in entries {
        match parse(e) {
            Ok(p) => parsed.push((e, p)),
            Err(problem) => left_out.push(leave(e, problem)),
        }
    }
    // Each round leaves out at least one entry, so this ends.
    while !parsed.is_empty() {
        let file = merged(&config.source, &parsed);
        let issues = match compile(&file) {
            Ok(compiled) => return (compiled, left_out),
            Err(issues) => issues,
        };
        let mut blamed: Vec<(usize, String)> = Vec::new();
        let mut other = Vec::new();
        for issue in &issues {
            match blame(&config.source, &parsed, issue) {
                Some(found) => blamed.push(found),
                None => other.push(render_path_message(&issue.at, &issue.message)),
            }
        }
        if blamed.is_empty() {
            // Nothing points at one entry: none of them can be served with the files.
            let problem = other.join("; ");
            left_out.extend(parsed.iter().map(|(e, _)| leave(e, problem.clone())));
            break;
        }
        let mut bad: Vec<usize> = blamed.iter().map(|(i, _)| *i).collect();
        bad.sort_unstable();
        bad.dedup();
        for &i in bad.iter().rev() {
            let (e, _) = parsed.remove(i);
            let problem: Vec<&str> = (blamed.iter())
                .filter(|(j, _)| *j == i)
                .map(|(_, m)| m.as_str())
                .collect();
            left_out.push(leave(e, problem.join("; ")));
        }
    }
    (config.clone(), left_out)
}

fn leave(e: &StoredEntry, problem: String) -> EntryLeftOut {
    EntryLeftOut {
        section: e.section,
        name: e.name.clone(),
        problem,
    }
}

/// The files' configuration with the parsed entries appended to their sections.
fn merged(source: &FileConfig, parsed: &[(&StoredEntry, Parsed)]) -> FileConfig {
    let mut file = source.clone();
    for (_, p) in parsed {
        match p {
            Parsed::Upstream(s) => file.upstreams.push((**s).clone()),
            Parsed::Route(s) => file.routes.push((**s).clone()),
            Parsed::Provider(s) => file.providers.push((**s).clone()),
            Parsed::Model(s) => file.models.push((**s).clone()),
        }
    }
    file
}

/// The parsed entry an issue is about (its index in `parsed`), with the issue named by it.
fn blame(
    source: &FileConfig,
    parsed: &[(&StoredEntry, Parsed)],
    issue: &Issue,
) -> Option<(usize, String)> {
    let (Some(Seg::Key(section)), Some(Seg::Index(i))) = (issue.at.first(), issue.at.get(1)) else {
        return None;
    };
    let declared = match section.as_str() {
        "upstreams" => source.upstreams.len(),
        "routes" => source.routes.len(),
        "providers" => source.providers.len(),
        "models" => source.models.len(),
        _ => return None,
    };
    let nth = i.checked_sub(declared)?;
    let index = (parsed.iter().enumerate())
        .filter(|(_, (e, _))| e.section == section)
        .nth(nth)
        .map(|(j, _)| j)?;
    let name = &parsed[index].0.name;
    let at = named(section, name, &issue.at[2..]);
    Some((index, with_path(&at, &issue.message)))
}

/// `section[name]` followed by the rest of a key path: `routes[orders].upstream`.
pub fn named(section: &str, name: &str, rest: &[Seg]) -> String {
    let tail = render_path(rest);
    match tail.chars().next() {
        None => format!("{section}[{name}]"),
        Some('[') => format!("{section}[{name}]{tail}"),
        Some(_) => format!("{section}[{name}].{tail}"),
    }
}

fn with_path(at: &str, message: &str) -> String {
    format!("{at}: {message}")
}

fn render_path_message(at: &[Seg], message: &str) -> String {
    match render_path(at) {
        p if p.is_empty() => message.to_string(),
        p => with_path(&p, message),
    }
}

/// Reads one entry into its schema type, `${VAR}` replaced as in the files.
fn parse(e: &StoredEntry) -> Result<Parsed, String> {
    let mut v = e.definition.clone()?;
    let Some(obj) = v.as_object_mut() else {
        return Err(format!(
            "{}: a table (JSON object) is needed",
            named(e.section, &e.name, &[])
        ));
    };
    obj.insert("name".into(), Value::String(e.name.clone()));
    let mut problems = Vec::new();
    interpolate(&mut v, &mut Vec::new(), e, &mut problems);
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let fail = |err: serde_path_to_error::Error<serde_json::Error>| {
        let at = named(e.section, &e.name, &error_path(err.path()));
        with_path(&at, &explain_schema_error(&err.inner().to_string()))
    };
    Ok(match e.section {
        "upstreams" => Parsed::Upstream(serde_path_to_error::deserialize(v).map_err(fail)?),
        "routes" => Parsed::Route(serde_path_to_error::deserialize(v).map_err(fail)?),
        "providers" => Parsed::Provider(serde_path_to_error::deserialize(v).map_err(fail)?),
        _ => Parsed::Model(serde_path_to_error::deserialize(v).map_err(fail)?),
    })
}

/// Replaces `${VAR}` and `${VAR:-default}` in every string, as the loader does in a file.
fn interpolate(v: &mut Value, at: &mut Vec<Seg>, e: &StoredEntry, problems: &mut Vec<String>) {
    match v {
        Value::String(s) if s.contains("${") => match expand_env(s) {
            Ok(new) => *s = new,
            Err(msg) => problems.push(with_path(&named(e.section, &e.name, at), &msg)),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                at.push(Seg::Index(i));
                interpolate(item, at, e, problems);
                at.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                at.push(Seg::Key(k.clone()));
                interpolate(item, at, e, problems);
                at.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests;
