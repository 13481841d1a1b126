//! What the gateway tells about its traffic: the access log and Prometheus metrics.

pub mod access_log;
pub mod metrics;
