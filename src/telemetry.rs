//! What the gateway tells about its traffic: the call record and its sinks (the access log,
//! the call store), captured (and masked) headers and bodies, Prometheus metrics and
//! OpenTelemetry traces.

pub mod access_log;
pub mod batch;
pub mod call;
pub mod calls;
pub mod capture;
pub mod log_filter;
pub mod mask;
pub mod metrics;
pub mod otel;
pub mod record;
pub mod report;
