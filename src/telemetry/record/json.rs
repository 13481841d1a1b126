//! The record's JSON, written by hand. The access log writes one per request, and serde's
//! derived writer escapes every key at run time and formats the time and the client address
//! through `fmt`: here the keys are constants, the time's second is cached, and a value
//! without characters to escape is copied whole. The output is byte for byte what serde's
//! derive writes for the same record (see the tests): the call store reads it back with
//! serde.

use super::Record;
use std::net::IpAddr;

/// Appends `r` as one JSON object; `false` if its LLM part cannot be written.
pub(super) fn write(r: &Record<'_>, out: &mut Vec<u8>) -> bool {
    out.extend_from_slice(b"{\"time\":\"");
    crate::base::time::write_date_millis(r.time, out);
    out.extend_from_slice(b"\",\"request_id\":");
    string(out, &r.request_id);
    out.extend_from_slice(b",\"route\":");
    string(out, &r.route);
    if let Some(v) = &r.api_version {
        out.extend_from_slice(b",\"api_version\":");
        string(out, v);
    }
    out.extend_from_slice(b",\"upstream\":");
    opt_string(out, r.upstream.as_deref());
    out.extend_from_slice(b",\"method\":");
    string(out, &r.method);
    out.extend_from_slice(b",\"path\":");
    string(out, &r.path);
    out.extend_from_slice(b",\"status\":");
    int(out, r.status);
    out.extend_from_slice(b",\"bytes_in\":");
    int(out, r.bytes_in);
    out.extend_from_slice(b",\"bytes_out\":");
    int(out, r.bytes_out);
    out.extend_from_slice(b",\"latency_ms\":");
    float(out, Some(r.latency_ms));
    out.extend_from_slice(b",\"upstream_latency_ms\":");
    float(out, r.upstream_latency_ms);
    out.extend_from_slice(b",\"ttfb_ms\":");
    float(out, r.ttfb_ms);
    out.extend_from_slice(b",\"attempts\":");
    int(out, r.attempts);
    out.extend_from_slice(b",\"client\":");
    match r.client {
        Some(ip) => client(out, ip),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"error\":");
    opt_string(out, r.error.as_deref());
    for (name, value) in [
        (&b",\"error_code\":"[..], &r.error_code),
        (b",\"tenant\":", &r.tenant),
        (b",\"app\":", &r.app),
        (b",\"key\":", &r.key),
        (b",\"client_cert\":", &r.client_cert),
    ] {
        if let Some(v) = value {
            out.extend_from_slice(name);
            string(out, v);
        }
    }
    if let Some(status) = r.grpc_status {
        out.extend_from_slice(b",\"grpc_status\":");
        int(out, status);
    }
    if let Some(llm) = &r.llm {
        out.extend_from_slice(b",\"llm\":");
        if serde_json::to_writer(&mut *out, &**llm).is_err() {
            return false;
        }
    }
    out.push(b'}');
    true
}

fn int(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// As serde_json writes an `f64`: the shortest text that reads back the same, `null` for
/// NaN and the infinities.
fn float(out: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(v) if v.is_finite() => match thousandths(v) {
            Some(n) => fixed(out, n),
            None => out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes()),
        },
        _ => out.extend_from_slice(b"null"),
    }
}

/// `v` as a whole number of thousandths, when it is one (a time in milliseconds to the
/// microsecond, see `super::millis`). Below 1e12 the gap between two `f64`s is under a
/// thousandth, so no shorter decimal reads back as `v`: its shortest text is `n/1000`.
fn thousandths(v: f64) -> Option<u64> {
    let n = (v * 1000.0).round();
    ((0.001..1e12).contains(&v) && n / 1000.0 == v).then_some(n as u64)
}

/// `n/1000` in decimals with the trailing zeros dropped (but one), as the shortest text of
/// that number reads.
fn fixed(out: &mut Vec<u8>, n: u64) {
    int(out, n / 1000);
    let mut frac = n % 1000;
    out.push(b'.');
    if frac == 0 {
        out.push(b'0');
        return;
    }
    let mut digits = 3;
    while frac.is_multiple_of(10) {
        frac /= 10;
        digits -= 1;
    }
    let mut buf = itoa::Buffer::new();
    let text = buf.format(frac).as_bytes();
    out.extend(std::iter::repeat_n(b'0', digits - text.len()));
    out.extend_from_slice(text);
}

fn opt_string(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(v) => string(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

/// A JSON string, escaped as serde_json escapes it.
fn string(out: &mut Vec<u8>, v: &str) {
    out.push(b'"');
    let bytes = v.as_bytes();
    // Most values (ids, names, paths) have nothing to escape: one pass the compiler
    // vectorises, then one copy.
    if bytes.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(escape);
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

fn client(out: &mut Vec<u8>, ip: IpAddr) {
    out.push(b'"');
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                int(out, octet);
            }
        }
        // IPv6 text has no characters to escape.
        IpAddr::V6(v6) => {
            use std::io::Write;
            let _ = write!(out, "{v6}");
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests;
