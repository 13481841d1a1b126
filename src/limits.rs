//! Token-bucket limits: `gcra` is the math, shared by every scope; `local` the host-wide table
//! in shared memory; `redis` the link to Redis and `cluster` the cluster-scope decisions made
//! through it (per request or leased); `check` applies a request's limits, `budget` an LLM
//! call's token and cost limits; `plans` makes the limits a key carries (its tenant's plan and
//! the limits attached to its tenant and app); `top` counts the most refused buckets, and
//! `inspect` is what the admin API reads and resets; `concurrency` the host-wide table of
//! requests in flight; `openai` the `x-ratelimit-*` headers of LLM routes.

pub mod budget;
pub mod check;
pub mod cluster;
pub mod concurrency;
pub mod gcra;
pub mod inspect;
pub mod local;
pub mod openai;
pub mod plans;
pub mod redis;
pub mod top;
