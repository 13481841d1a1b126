//! The bottom layer: small helpers that every part of the gateway shares and that know nothing
//! of it. Nothing here imports the rest of the crate, so any module may import from here.
//!
//! `clock` (the monotonic clock of the host and the wall clock), `time` (durations and dates
//! as users write them), `hash` (a cheap 64-bit mix), `shm` (memory shared by the process tree,
//! the crate's one shared-memory type) and `breaker` (the consecutive-failure breaker of
//! upstream targets and LLM deployments).

pub mod breaker;
pub mod clock;
pub mod hash;
pub mod shm;
pub mod time;
