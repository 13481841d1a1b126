//! Token-bucket limits: `gcra` is the math, shared by every scope; `local` the host-wide table
//! in shared memory; `redis` the link to Redis and `cluster` the cluster-scope decisions made
//! through it (per request or leased); `check` applies a request's limits, `budget` an LLM
//! call's token and cost limits.

pub mod budget;
pub mod check;
pub mod cluster;
pub mod gcra;
pub mod local;
pub mod redis;
