//! Token-bucket limits. `vocab` holds the words every part speaks (the caller, draws, what was
//! taken, refusals, bucket keys and labels), below the rest. The math is `base::gcra`, shared
//! by every scope; `local` is the host-wide table in shared memory; `redis` the link to Redis
//! and `cluster` the cluster-scope decisions made through it (per request or leased); `draws`
//! says which buckets a request takes from (its route's limits, then those its key carries,
//! made by `auth::plans`); `check` the engine that takes a request's draws from their buckets;
//! `concurrency` the host-wide table of requests in flight; `top` counts the most refused
//! buckets, and `inspect` is what the admin API reads and resets; `llm_headers` the
//! `x-ratelimit-*` headers of LLM routes. `gate` is what a request passes through (caps,
//! request limits, local then in Redis, refusals noted), and `budget` an LLM call's token and
//! cost limits, made from it.

pub mod budget;
pub mod check;
pub mod cluster;
pub mod concurrency;
pub mod draws;
pub mod gate;
pub mod inspect;
pub mod llm_headers;
pub mod local;
pub mod redis;
pub mod top;
pub mod vocab;
