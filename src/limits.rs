//! Token-bucket limits: `gcra` is the math, shared by every scope; `local` the host-wide table
//! in shared memory; `check` applies a route's limits to a request.

pub mod check;
pub mod gcra;
pub mod local;
