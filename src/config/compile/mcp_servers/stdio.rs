//! Compiles a stdio `[[mcp_servers]]` entry (`command`, `env`, `cwd`) into the `Launch` a
//! worker starts its child from. What can be checked now is: the program is found (on `PATH`,
//! or at its path) and executable, the working directory exists, the variables' names are valid.

use super::super::Checker;
use crate::config::problem::Seg;
use crate::config::schema::McpServerSection;
use std::fmt;
use std::path::{Path, PathBuf};

/// How a stdio server is started. It is also the key under which a worker keeps the running
/// child: a new configuration that launches the same way reuses it (`mcp::upstream::stdio`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Launch {
    /// The server's name, for its errors and log lines.
    pub server: String,
    pub program: String,
    pub args: Vec<String>,
    /// Set on top of the few variables the child inherits (`INHERITED` in
    /// `mcp::upstream::stdio::child`); the values are credentials and never print.
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
}

impl fmt::Debug for Launch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("Launch")
            .field("server", &self.server)
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env (values redacted)", &env)
            .field("cwd", &self.cwd)
            .finish()
    }
}

/// The launch of `s`, whose `command` is `command`; every problem is reported to `ck`.
pub(super) fn compile(
    s: &McpServerSection,
    command: &[String],
    base: &[Seg],
    ck: &mut Checker,
) -> Option<Launch> {
    if !s.headers.is_empty() {
        let msg = "only with url: a stdio server gets its credentials through env";
        ck.at(base, &["headers"], msg);
    }
    let mut env = Vec::new();
    for (name, value) in &s.env {
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            let msg = format!("{name:?}: a variable's name is not empty and has no '=' or NUL, nor its value a NUL");
            ck.at(base, &["env"], msg);
        } else {
            env.push((name.clone(), value.clone()));
        }
    }
    let cwd = s.cwd.as_ref().map(PathBuf::from);
    if let Some(dir) = &cwd {
        if !is_dir(dir) {
            let msg = format!("{:?} is not a directory", dir.display().to_string());
            ck.at(base, &["cwd"], msg);
        }
    }
    let Some((program, args)) = command.split_first().filter(|(p, _)| !p.is_empty()) else {
        let msg = "name the program to run and its arguments, e.g. [\"npx\", \"-y\", \"some-mcp-server\"]";
        ck.at(base, &["command"], msg);
        return None;
    };
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone());
    if let Err(why) = findable(program, cwd.as_deref(), path) {
        ck.at(base, &["command"], why);
    }
    Some(Launch {
        server: s.name.clone(),
        program: program.clone(),
        args: args.to_vec(),
        env,
        cwd,
    })
}

/// Whether `program` will be found and may be run: at its path (relative to `cwd`, where the
/// child starts) when it has a '/', else in a directory of `PATH` (the configured one, else the
/// gateway's), as exec finds it.
fn findable(program: &str, cwd: Option<&Path>, path: Option<String>) -> Result<(), String> {
    if program.contains('/') {
        let at = match cwd {
            Some(dir) if Path::new(program).is_relative() => dir.join(program),
            _ => PathBuf::from(program),
        };
        return match executable(&at) {
            Some(true) => Ok(()),
            Some(false) => Err(format!("{program:?} is not an executable file")),
            None => Err(format!("{program:?} does not exist")),
        };
    }
    let path = path
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    let found =
        std::env::split_paths(&path).any(|dir| executable(&dir.join(program)) == Some(true));
    if found {
        Ok(())
    } else {
        Err(format!("program {program:?} is not found on PATH"))
    }
}

/// `Some(true)`: an executable file; `Some(false)`: there, but not one; `None`: not there.
// Checked when the configuration compiles (start-up, validate, a reload), never per request.
#[allow(clippy::disallowed_methods)]
fn executable(p: &Path) -> Option<bool> {
    use std::os::unix::fs::PermissionsExt;
    let m = std::fs::metadata(p).ok()?;
    Some(m.is_file() && m.permissions().mode() & 0o111 != 0)
}

// As `executable`: at compile time only.
#[allow(clippy::disallowed_methods)]
fn is_dir(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_dir())
}
