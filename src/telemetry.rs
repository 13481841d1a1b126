//! What the gateway tells about its traffic: the call record and its sinks (the access log,
//! the call store), and Prometheus metrics.

pub mod access_log;
pub mod batch;
pub mod call;
pub mod calls;
pub mod log_filter;
pub mod metrics;
pub mod record;
