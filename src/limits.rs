//! Token-bucket limits. `vocab` holds the words every part speaks (the caller, draws, what was
//! taken, refusals, bucket keys and labels), below the rest. `gcra` is the math, shared by
//! every scope; `local` the host-wide table in shared memory; `redis` the link to Redis and
//! `cluster` the cluster-scope decisions made through it (per request or leased); `check` the
//! engine that takes a request's draws from their buckets; `concurrency` the host-wide table
//! of requests in flight; `plans` makes the limits a key carries (its tenant's plan and the
//! limits attached to its tenant and app); `top` counts the most refused buckets, and
//! `inspect` is what the admin API reads and resets; `openai` the `x-ratelimit-*` headers of
//! LLM routes. `gate` is what a request passes through (caps, request limits, local then in
//! Redis, refusals noted), and `budget` an LLM call's token and cost limits, made from it.

pub mod budget;
pub mod check;
pub mod cluster;
pub mod concurrency;
pub mod gate;
pub mod gcra;
pub mod inspect;
pub mod local;
pub mod openai;
pub mod plans;
pub mod redis;
pub mod top;
pub mod vocab;
