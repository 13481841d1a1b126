//! What users write for `[otel]`: where and how traces (and optionally logs) are exported over
//! OTLP.

use super::Dur;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtelSection {
    /// The collector: `http://host:port` (4318 for OTLP/HTTP, 4317 for gRPC by convention).
    pub endpoint: String,
    #[serde(default)]
    pub protocol: OtlpProtocol,
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// The share of root traces kept, 0.0 to 1.0; a client's sampled flag always wins.
    #[serde(default = "one")]
    pub sample_ratio: f64,
    /// Also export one OTLP log record per request.
    #[serde(default)]
    pub logs: bool,
    /// Spans (and log records) waiting for the exporter; more are dropped and counted.
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Extra headers (gRPC metadata) on every export, e.g. a collector's auth token.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The longest one export may take, its one retry included.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Spans per export request at most; a full batch goes at once.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// How often what is queued is exported, full batch or not.
    #[serde(default = "default_interval")]
    pub interval: Dur,
}

/// The OTLP transport.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum OtlpProtocol {
    /// Protobuf bodies POSTed to `{endpoint}/v1/traces` and `{endpoint}/v1/logs`.
    #[default]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// Unary gRPC calls to the collector's `TraceService` and `LogsService`.
    #[serde(rename = "grpc")]
    Grpc,
}

fn default_service_name() -> String {
    "tollgate".into()
}

fn one() -> f64 {
    1.0
}

fn default_queue() -> usize {
    8192
}

fn default_timeout() -> Dur {
    Dur(Duration::from_secs(5))
}

fn default_batch() -> usize {
    512
}

fn default_interval() -> Dur {
    Dur(Duration::from_secs(1))
}
