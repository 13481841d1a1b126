//! Tollgate: an AI and API gateway on Pingora. `README.md` describes what users see; each
//! module's doc says what it does and why it is shaped that way. The request path starts at
//! `proxy`, the process tree at `master`.

pub mod admin;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
pub mod limits;
pub mod llm;
pub mod master;
pub mod procfs;
pub mod proxy;
pub mod routing;
pub mod store;
pub mod telemetry;
pub mod worker;
