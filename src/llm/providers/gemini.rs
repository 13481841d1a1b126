//! The Gemini wire format, and the kind that speaks it (`descriptor.rs`).

pub mod descriptor;
pub mod request;
pub mod response;
pub mod stream;
#[cfg(test)]
mod tests;
