//! Reading a provider key for `credentials set`: from a named environment variable, or from
//! standard input (a pipe, a file, or typed at a terminal with echo off). Never from the
//! command line, where `ps` and the shell's history would show it.

use super::CliError;
use std::io::{IsTerminal, Read};

/// Where a secret comes from.
#[derive(Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// The value of this environment variable.
    Env(String),
    /// Standard input; `prompt` is shown when it is a terminal.
    Stdin { prompt: String },
}

/// The most read from standard input: a provider key is far shorter.
const MAX_SECRET: u64 = 64 << 10;

pub fn read(source: &SecretSource) -> Result<String, CliError> {
    let text = match source {
        SecretSource::Env(var) => std::env::var(var)
            .map_err(|_| CliError::Input(format!("--key-env {var}: that variable is not set")))?,
        SecretSource::Stdin { prompt } => {
            let stdin = std::io::stdin();
            let mut text = String::new();
            if stdin.is_terminal() {
                eprint!("{prompt}: ");
                let echo = EchoOff::new();
                stdin.read_line(&mut text).map_err(stdin_error)?;
                drop(echo);
                eprintln!();
            } else {
                stdin
                    .lock()
                    .take(MAX_SECRET)
                    .read_to_string(&mut text)
                    .map_err(stdin_error)?;
            }
            text
        }
    };
    clean(&text)
}

fn stdin_error(e: std::io::Error) -> CliError {
    CliError::Input(format!("cannot read the key from standard input: {e}"))
}

/// The key without the newline that `echo` or an editor leaves; empty is refused.
pub fn clean(text: &str) -> Result<String, CliError> {
    let key = text.trim();
    if key.is_empty() {
        return Err(CliError::Input(
            "no key given: pipe it to standard input or name a variable with --key-env".into(),
        ));
    }
    if key.contains(['\n', '\r']) {
        return Err(CliError::Input("the key has more than one line".into()));
    }
    Ok(key.to_string())
}

/// Turns the terminal's echo off while it lives, so a typed key is not shown.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> EchoOff {
        // SAFETY: termios is plain data; tcgetattr fills it, and it is only used if that worked.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut t) != 0 {
                return EchoOff(None);
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            if libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) != 0 {
                return EchoOff(None);
            }
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            // SAFETY: restores the settings tcgetattr returned.
            unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, saved) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_trimmed_and_must_be_one_nonempty_line() {
        assert_eq!(clean("sk-abc\n").unwrap(), "sk-abc");
        assert!(clean(" \n").is_err());
        assert!(clean("a\nb\n").is_err());
    }

    #[test]
    fn an_unset_variable_is_named() {
        let e = read(&SecretSource::Env("TOLLGATE_CLI_TEST_NEVER_SET".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("TOLLGATE_CLI_TEST_NEVER_SET"), "{e}");
    }
}
