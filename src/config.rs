//! Configuration: `schema` is what users write, `load` reads files (includes, `${VAR}`), and
//! `compile` turns it into the validated runtime form the gateway runs on.

pub mod compile;
pub mod load;
pub mod problem;
pub mod schema;

pub use compile::Config;
pub use load::load;
pub use problem::{Problem, Problems};
