//! Token-bucket limits: `gcra` is the math, shared by every scope; `local` the host-wide table
//! in shared memory; `check` applies a route's limits to a request, `budget` an LLM call's
//! token and cost limits; `concurrency` the host-wide table of requests in flight;
//! `openai` the `x-ratelimit-*` headers of LLM routes.

pub mod budget;
pub mod check;
pub mod concurrency;
pub mod gcra;
pub mod local;
pub mod openai;
