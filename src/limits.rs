//! Token-bucket limits: `gcra` is the math, shared by every scope.

pub mod gcra;
