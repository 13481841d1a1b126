//! `tollgate admin`: a command-line client of a running gateway's admin API (`admin` maps each
//! command to one request, `http` sends it, `target` finds the address and token), plus
//! `keygen`, which makes API keys offline for the configuration's `[[tenants]]` seed.

// The CLI is its own short-lived process, never a gateway worker: blocking file reads, DNS and
// connects are what it should do.
#![allow(clippy::disallowed_methods)]

pub mod admin;
pub mod http;
mod keygen;
mod secret;
mod target;
#[cfg(test)]
mod test_server;

/// Why a command failed; printed to stderr, and the process exits 1.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Http(#[from] http::HttpError),
    /// The address or the token could not be found.
    #[error("{0}")]
    AdminTarget(String),
    /// Input refused before anything was sent.
    #[error("{0}")]
    Input(String),
    /// The admin API answered with an error status; the message is its own.
    #[error("{message} (HTTP {status})")]
    Refused { status: u16, message: String },
}
