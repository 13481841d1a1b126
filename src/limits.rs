//! Token-bucket limits: `gcra` is the math, shared by every scope; `local` the host-wide table
//! in shared memory; `check` applies a route's limits to a request, `budget` an LLM call's
//! token and cost limits; `plans` makes the limits a key carries (its tenant's plan and the
//! limits attached to its tenant and app).

pub mod budget;
pub mod check;
pub mod gcra;
pub mod local;
pub mod plans;
