//! Compiles `[otel]`: the collector's address split into what the exporter connects to, and
//! every bound checked.

use super::{Checker, Secret};
use crate::config::problem::key;
use crate::config::schema::{OtelSection, OtlpProtocol};
use std::time::Duration;

/// How traces (and optionally logs) leave the gateway, read once when a worker starts.
#[derive(Debug, Clone, PartialEq)]
pub struct OtelSpec {
    pub protocol: OtlpProtocol,
    /// The collector's host (a name or an IP) and port, for the connection.
    pub host: String,
    pub port: u16,
    /// `host:port`, for `Host` and `:authority`.
    pub authority: String,
    /// The endpoint's path without a trailing `/` (`""` usually); OTLP/HTTP appends
    /// `/v1/traces` and `/v1/logs` to it.
    pub base_path: String,
    pub service_name: String,
    pub sample_ratio: f64,
    pub logs: bool,
    pub queue: usize,
    /// Lowercase names; values may be credentials, so they never show in debug output.
    pub headers: Vec<(String, Secret)>,
    pub timeout: Duration,
    pub batch: usize,
    pub interval: Duration,
}

/// Headers the exporter writes itself.
const OWN_HEADERS: [&str; 7] = [
    "host",
    "content-type",
    "content-length",
    "connection",
    "transfer-encoding",
    "te",
    "grpc-timeout",
];

pub(super) fn compile(o: &OtelSection, ck: &mut Checker) -> Option<OtelSpec> {
    let base = [key("otel")];
    let endpoint = endpoint(&o.endpoint, o.protocol);
    if let Err(e) = &endpoint {
        ck.at(&base, &["endpoint"], e.clone());
    }
    if o.service_name.trim().is_empty() {
        ck.at(&base, &["service_name"], "must not be empty");
    }
    if !(0.0..=1.0).contains(&o.sample_ratio) {
        ck.at(
            &base,
            &["sample_ratio"],
            "must be between 0.0 (no root trace kept) and 1.0 (every trace kept)",
        );
    }
    if !(1..=1_000_000).contains(&o.queue) {
        ck.at(&base, &["queue"], "must be between 1 and 1000000 spans");
    }
    if !(1..=65_536).contains(&o.batch) {
        ck.at(&base, &["batch"], "must be between 1 and 65536 spans");
    }
    for (name, d) in [("timeout", o.timeout.0), ("interval", o.interval.0)] {
        if d < Duration::from_millis(10) || d > Duration::from_secs(600) {
            ck.at(&base, &[name], "must be between 10ms and 10m");
        }
    }
    let mut headers = Vec::new();
    for (name, value) in &o.headers {
        match header(name, value) {
            Ok(h) => headers.push(h),
            Err(e) => ck.at(&base, &["headers", name.as_str()], e),
        }
    }
    let (host, port, base_path) = endpoint.ok()?;
    Some(OtelSpec {
        protocol: o.protocol,
        authority: authority(&host, port),
        host,
        port,
        base_path,
        service_name: o.service_name.clone(),
        sample_ratio: o.sample_ratio,
        logs: o.logs,
        queue: o.queue,
        headers,
        timeout: o.timeout.0,
        batch: o.batch,
        interval: o.interval.0,
    })
}

/// `http://host[:port][/path]` as (host, port, path without a trailing `/`); the port
/// defaults to the protocol's usual one.
fn endpoint(text: &str, protocol: OtlpProtocol) -> Result<(String, u16, String), String> {
    let example = match protocol {
        OtlpProtocol::HttpProtobuf => "http://127.0.0.1:4318",
        OtlpProtocol::Grpc => "http://127.0.0.1:4317",
    };
    let uri: http::Uri = text
        .parse()
        .map_err(|_| format!("{text:?} is not a URL (e.g. {example:?})"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "{text:?}: https is not supported; export to a collector on this host or \
                 network over http (e.g. {example:?}) and let it forward over TLS"
            ))
        }
        _ => return Err(format!("{text:?} is not an http:// URL (e.g. {example:?})")),
    }
    let Some(auth) = uri.authority() else {
        return Err(format!("{text:?} has no host (e.g. {example:?})"));
    };
    if auth.as_str().contains('@') {
        return Err(format!(
            "{text:?}: put credentials in [otel] headers, not in the URL"
        ));
    }
    let port = auth.port_u16().unwrap_or(match protocol {
        OtlpProtocol::HttpProtobuf => 4318,
        OtlpProtocol::Grpc => 4317,
    });
    let host = auth.host().trim_matches(['[', ']']).to_string();
    if uri.query().is_some() {
        return Err(format!("{text:?}: an endpoint takes no query string"));
    }
    let path = uri.path().trim_end_matches('/').to_string();
    if protocol == OtlpProtocol::Grpc && !path.is_empty() {
        return Err(format!(
            "{text:?}: a gRPC endpoint is a host and port only (e.g. {example:?})"
        ));
    }
    Ok((host, port, path))
}

fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn header(name: &str, value: &str) -> Result<(String, Secret), String> {
    let lower = name.to_ascii_lowercase();
    if http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
        return Err(format!("{name:?} is not a valid header name"));
    }
    if OWN_HEADERS.contains(&lower.as_str()) || lower.starts_with(':') {
        return Err(format!("{name:?} is set by the exporter itself"));
    }
    if http::HeaderValue::from_str(value).is_err() {
        // Never echo the value: it is likely a credential.
        return Err("the value is not a valid header value (printable ASCII only)".into());
    }
    Ok((lower, Secret::new(value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_split_into_host_port_and_path() {
        let http = OtlpProtocol::HttpProtobuf;
        let grpc = OtlpProtocol::Grpc;
        assert_eq!(
            endpoint("http://127.0.0.1:4318", http).unwrap(),
            ("127.0.0.1".into(), 4318, String::new())
        );
        assert_eq!(
            endpoint("http://collector/otlp/", http).unwrap(),
            ("collector".into(), 4318, "/otlp".into())
        );
        assert_eq!(
            endpoint("http://[::1]", grpc).unwrap(),
            ("::1".into(), 4317, String::new())
        );
        assert!(endpoint("https://c:4318", http)
            .unwrap_err()
            .contains("https"));
        assert!(endpoint("c:4318", http).is_err());
        assert!(endpoint("http://u:p@c:4318", http).is_err());
        assert!(endpoint("http://c:4317/x", grpc).is_err());
        assert_eq!(authority("::1", 4317), "[::1]:4317");
    }

    #[test]
    fn headers_are_lowercase_and_never_the_exporters_own() {
        assert_eq!(header("X-Token", "a").unwrap().0, "x-token");
        assert!(header("Content-Type", "a").is_err());
        assert!(header("bad name", "a").is_err());
        let e = header("x-key", "s3cret\n").unwrap_err();
        assert!(!e.contains("s3cret"));
    }
}
