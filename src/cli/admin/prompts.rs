//! `tollgate admin prompts ...`: prompt APIs managed through the admin API. `create` and
//! `update` send a definition read from a file: JSON, or TOML (by the `.toml` extension) with
//! the fields of a `[[prompts]]` entry at the top level.

use super::request::{seg, ApiCall};
use crate::cli::CliError;
use clap::Subcommand;
use serde_json::Value;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum PromptsCommand {
    /// The prompt APIs: the declared ones, and the stored ones with their versions.
    List,
    /// One prompt API: every stored version, or one.
    Show {
        name: String,
        #[arg(long)]
        version: Option<u32>,
    },
    /// Store version 1 of a new prompt API.
    Create {
        name: String,
        /// The definition: a JSON file, or a TOML one (`.toml`), shaped as a `[[prompts]]` entry.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Store the next version; the earlier ones keep serving at their own paths.
    Update {
        name: String,
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Delete every version, or one.
    Delete {
        name: String,
        #[arg(long)]
        version: Option<u32>,
    },
}

/// The request for `c`; `create` and `update` read their file here.
pub fn call(c: &PromptsCommand) -> Result<ApiCall, CliError> {
    let path = |name: &str, version: &Option<u32>| {
        let q = version.map(|v| format!("?version={v}")).unwrap_or_default();
        format!("/admin/prompts/{}{q}", seg(name))
    };
    Ok(match c {
        PromptsCommand::List => ApiCall::get("/admin/prompts".into()),
        PromptsCommand::Show { name, version } => ApiCall::get(path(name, version)),
        PromptsCommand::Create { name, file } => {
            let mut def = read(file)?;
            if let Some(obj) = def.as_object_mut() {
                obj.insert("name".into(), Value::String(name.clone()));
            }
            ApiCall::with("POST", "/admin/prompts".into(), def)
        }
        PromptsCommand::Update { name, file } => {
            ApiCall::with("PUT", path(name, &None), read(file)?)
        }
        PromptsCommand::Delete { name, version } => {
            let what = match version {
                Some(v) => format!("prompt {name} version {v} deleted"),
                None => format!("prompt {name} deleted"),
            };
            ApiCall::delete(path(name, version), what)
        }
    })
}

/// The definition in `file`, as JSON (also the tables of `tollgate admin routes ...`).
// The CLI is a one-shot process; reading its input file blocks nothing else.
#[allow(clippy::disallowed_methods)]
pub(super) fn read(file: &Path) -> Result<Value, CliError> {
    let fail = |e: String| CliError::Input(format!("{}: {e}", file.display()));
    let text = std::fs::read_to_string(file).map_err(|e| fail(e.to_string()))?;
    let value: Value = if file.extension().is_some_and(|e| e == "toml") {
        toml::from_str(&text).map_err(|e| fail(e.to_string()))?
    } else {
        serde_json::from_str(&text).map_err(|e| fail(format!("not JSON: {e}")))?
    };
    if !value.is_object() {
        return Err(fail("a definition is an object (a table)".into()));
    }
    Ok(value)
}
