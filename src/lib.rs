//! Tollgate: an AI and API gateway on Pingora. See `README.md` for the user's view and
//! `DESIGN` notes in each module for the code's.

pub mod admin;
pub mod config;
pub mod error;
pub mod master;
pub mod procfs;
pub mod proxy;
pub mod routing;
pub mod telemetry;
pub mod worker;
