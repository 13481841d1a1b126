//! What the gateway tells about its traffic: the access log, LLM call records, Prometheus
//! metrics and OpenTelemetry traces.

pub mod access_log;
pub mod call;
pub mod log_filter;
pub mod metrics;
pub mod otel;
