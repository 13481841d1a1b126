//! `tollgate admin upstreams|routes|providers|models ...`: the entries managed through the
//! admin API. `create` and `put` send a table read from a file: JSON, or TOML (by the `.toml`
//! extension) with the fields of one `[[routes]]` (etc.) entry at the top level.

use super::prompts::read;
use super::request::{seg, ApiCall};
use crate::cli::CliError;
use clap::Subcommand;
use serde_json::Value;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum LiveCommand {
    /// The declared entries (read-only) and the stored ones.
    List,
    /// One entry; a stored one the configuration in force leaves out says why.
    Show { name: String },
    /// Store a new entry.
    Create {
        name: String,
        /// The table: a JSON file, or a TOML one (`.toml`), shaped as one entry of the section.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Replace a stored entry with the table in the file.
    Put {
        name: String,
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Delete a stored entry.
    Delete { name: String },
}

/// The request for `c` on `section` (`routes`...); `create` and `put` read their file here.
pub fn call(section: &str, c: &LiveCommand) -> Result<ApiCall, CliError> {
    let path = |name: &str| format!("/admin/{section}/{}", seg(name));
    Ok(match c {
        LiveCommand::List => ApiCall::get(format!("/admin/{section}")),
        LiveCommand::Show { name } => ApiCall::get(path(name)),
        LiveCommand::Create { name, file } => {
            let mut table = read(file)?;
            if let Some(obj) = table.as_object_mut() {
                obj.insert("name".into(), Value::String(name.clone()));
            }
            ApiCall::with("POST", format!("/admin/{section}"), table)
        }
        LiveCommand::Put { name, file } => ApiCall::with("PUT", path(name), read(file)?),
        LiveCommand::Delete { name } => {
            let what = format!("{} {name} deleted", section.trim_end_matches('s'));
            ApiCall::delete(path(name), what)
        }
    })
}
