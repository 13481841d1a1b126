//! The OpenAI wire format, and the kinds that speak it (`descriptor.rs`: openai, azure_openai,
//! openai_compatible).

pub mod descriptor;
pub mod request;
pub mod response;
pub mod stream;
#[cfg(test)]
mod tests;
