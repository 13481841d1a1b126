//! Request-target normalisation: the one form of a path that routing, access checks, limits
//! and the upstream all see.
//!
//! Routing on the raw path let `/pub/../priv/x`, `/pub/%2e%2e/priv/x` and `//priv/x` pass a
//! route's checks and then reach another route's files, because the upstream resolved what the
//! gateway did not. So before routing the path is put in one canonical form, and that form is
//! what is sent upstream:
//! - percent-encoded unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded (RFC 3986
//!   6.2.2.2) and the hex digits of every other escape are upper-cased;
//! - dot segments (`.` and `..`, also when they were encoded) are removed (RFC 3986 5.2.4);
//!   a `..` above the root stays at the root;
//! - runs of `/` become one (as nginx's `merge_slashes`).
//!
//! Refused with `400`: a path not starting with `/`, a malformed escape (`%zz`, a lone `%`),
//! an encoded `/` (`%2F`), an encoded or raw `\` (`%5C`, `\`), and an encoded NUL or control
//! character. An encoded slash cannot be told apart from a path separator by every upstream
//! (many decode it before resolving the path), so it is refused rather than guessed at.
//! The query string is not changed.

use std::borrow::Cow;

/// Why a request target was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the request path must start with /")]
    NotAbsolute,
    #[error("the request path has a malformed percent-escape")]
    BadEscape,
    #[error("the request path has an encoded slash or backslash")]
    EncodedSeparator,
    #[error("the request path has a backslash")]
    Backslash,
    #[error("the request path has an encoded control character")]
    EncodedControl,
}

/// The normal form of `path` (without its query), borrowed when it is already normal.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, TargetError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(TargetError::NotAbsolute);
    }
    if is_normal(bytes)? {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(path)?;
    Ok(Cow::Owned(remove_dot_segments(&decoded)))
}

/// Checks in one pass whether the path is already normal (the common case, which must not
/// allocate), refusing what can never be normalised.
fn is_normal(bytes: &[u8]) -> Result<bool, TargetError> {
    let mut normal = true;
    let mut prev = 0u8;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\\' => return Err(TargetError::Backslash),
            b'%' => {
                let byte = escape_at(bytes, i)?;
                check_escape(byte)?;
                // Lower-case hex or an escaped unreserved character both need a rewrite.
                if is_unreserved(byte) || bytes[i + 1..i + 3].iter().any(u8::is_ascii_lowercase) {
                    normal = false;
                }
            }
            b'/' if prev == b'/' => normal = false,
            b'.' if prev == b'/' && is_dot_segment_end(bytes, i) => normal = false,
            _ => {}
        }
        prev = b;
    }
    Ok(normal)
}

/// Whether the `.` at `i` (right after a `/`) starts a `.` or `..` segment.
fn is_dot_segment_end(bytes: &[u8], i: usize) -> bool {
    match bytes.get(i + 1) {
        None | Some(b'/') => true,
        Some(b'.') => matches!(bytes.get(i + 2), None | Some(b'/')),
        _ => false,
    }
}

/// The byte a `%XX` escape at `i` stands for.
fn escape_at(bytes: &[u8], i: usize) -> Result<u8, TargetError> {
    let hex = bytes.get(i + 1..i + 3).ok_or(TargetError::BadEscape)?;
    let digit = |c: u8| (c as char).to_digit(16).ok_or(TargetError::BadEscape);
    Ok((digit(hex[0])? * 16 + digit(hex[1])?) as u8)
}

fn check_escape(byte: u8) -> Result<(), TargetError> {
    match byte {
        b'/' | b'\\' => Err(TargetError::EncodedSeparator),
        0..=0x1f | 0x7f => Err(TargetError::EncodedControl),
        _ => Ok(()),
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Decodes escaped unreserved characters and upper-cases the others' hex digits.
fn decode_unreserved(path: &str) -> Result<String, TargetError> {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(p) = rest.find('%') {
        out.push_str(&rest[..p]);
        let bytes = rest.as_bytes();
        let byte = escape_at(bytes, p)?;
        check_escape(byte)?;
        if is_unreserved(byte) {
            out.push(byte as char);
        } else {
            out.push('%');
            out.push(bytes[p + 1].to_ascii_uppercase() as char);
            out.push(bytes[p + 2].to_ascii_uppercase() as char);
        }
        // The two hex digits are ASCII, so this is a character boundary.
        rest = &rest[p + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// RFC 3986 5.2.4 on an absolute path, merging empty segments on the way.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut parts = path.split('/').skip(1).peekable();
    // A path ending in `/`, `/.` or `/..` ends in `/` once normalised.
    let mut trailing_slash = false;
    while let Some(seg) = parts.next() {
        let last = parts.peek().is_none();
        match seg {
            "" | "." => trailing_slash = last,
            ".." => {
                segments.pop();
                trailing_slash = last;
            }
            s => {
                segments.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests;
