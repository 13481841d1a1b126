//! Tollgate: an AI and API gateway on Pingora. `README.md` describes what users see; each
//! module's doc says what it does and why it is shaped that way. The request path starts at
//! `proxy`, the process tree at `master`.
//!
//! The lints below state the team's rules: every `unsafe` operation sits in its own block
//! with a `// SAFETY:` note, and nothing in `clippy.toml`'s lists (blocking calls, a
//! `std::sync::Mutex`) runs on the request path; an item off the request path that needs one
//! allows it by name and says why. Unit tests are not the request path.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(not(test), deny(clippy::disallowed_methods, clippy::disallowed_types))]

pub mod admin;
pub mod auth;
pub mod base;
pub mod cli;
pub mod config;
pub mod error;
pub mod lean;
pub mod limits;
pub mod llm;
pub mod master;
pub mod mcp;
pub mod procfs;
pub mod proxy;
pub mod routing;
pub mod snapshot;
pub mod store;
pub mod telemetry;
pub mod worker;
