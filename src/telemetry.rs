//! What the gateway tells about its traffic: the access log, LLM call records, captured (and
//! masked) headers and bodies, and Prometheus metrics.

pub mod access_log;
pub mod call;
pub mod capture;
pub mod log_filter;
pub mod mask;
pub mod metrics;
