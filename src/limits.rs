//! Token-bucket limits: `gcra` is the math, shared by every scope; `local` the host-wide table
//! in shared memory.

pub mod gcra;
pub mod local;
