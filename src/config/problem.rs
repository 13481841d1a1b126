//! A problem found in a configuration, located by key path and, once the loader has mapped it
//! back to its file, by file, line and column.

use std::fmt;
use std::path::PathBuf;

/// One step of a key path: `routes[2].upstream` is `[Key("routes"), Index(2), Key("upstream")]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

pub fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}

/// Renders a key path the way users write it: `routes[2].upstream`.
pub fn render_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A problem before it has been located in a file.
#[derive(Debug, Clone)]
pub struct Issue {
    pub at: Vec<Seg>,
    pub message: String,
}

impl Issue {
    pub fn new(at: Vec<Seg>, message: impl Into<String>) -> Self {
        Issue {
            at,
            message: message.into(),
        }
    }
}

/// A located problem, printed as `file:line:col: key.path: message`.
#[derive(Debug, Clone)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.col)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem of a configuration; loading fails with all of them, not just the first.
#[derive(Debug, Clone, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The closest candidate within a small edit distance, for "did you mean" hints.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.len() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match closest(word, candidates) {
        Some(c) => format!(" (did you mean {c:?}?)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_toml_keys() {
        let p = vec![key("routes"), Seg::Index(2), key("upstream")];
        assert_eq!(render_path(&p), "routes[2].upstream");
    }

    #[test]
    fn suggestions_need_a_close_match() {
        assert_eq!(closest("ordres", ["orders", "users"]), Some("orders"));
        assert_eq!(closest("zzz", ["orders", "users"]), None);
    }
}
