//! W3C Trace Context: the `traceparent` a client sends (parsed strictly, per the
//! recommendation: a header that does not parse starts a new trace), the one sent upstream, new
//! trace and span ids, and the sampler.

use std::cell::Cell;

pub type TraceId = [u8; 16];
pub type SpanId = [u8; 8];

/// What a client's valid `traceparent` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub sampled: bool,
}

/// Parses a `traceparent` value: `version-traceid-parentid-flags`, lowercase hex. Version `00`
/// is exactly 55 characters; a later version (never `ff`) may carry more after a `-`, which is
/// ignored. All-zero ids are invalid.
pub fn parse_traceparent(value: &[u8]) -> Option<Parent> {
    if value.len() < 55 {
        return None;
    }
    let version = hex_byte(&value[0..2])?;
    match version {
        0xff => return None,
        0 if value.len() != 55 => return None,
        _ if value.len() > 55 && value[55] != b'-' => return None,
        _ => {}
    }
    if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let mut trace_id = [0u8; 16];
    for (i, b) in trace_id.iter_mut().enumerate() {
        *b = hex_byte(&value[3 + 2 * i..5 + 2 * i])?;
    }
    let mut span_id = [0u8; 8];
    for (i, b) in span_id.iter_mut().enumerate() {
        *b = hex_byte(&value[36 + 2 * i..38 + 2 * i])?;
    }
    let flags = hex_byte(&value[53..55])?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(Parent {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
    })
}

/// Two lowercase hex digits (the recommendation rejects uppercase).
fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some(digit(pair[0])? << 4 | digit(pair[1])?)
}

/// A `tracestate` worth passing on: at most 512 bytes of visible ASCII (the recommendation's
/// size for 32 members), else dropped.
pub fn valid_tracestate(value: &[u8]) -> bool {
    !value.is_empty() && value.len() <= 512 && value.iter().all(|&b| (0x20..0x7f).contains(&b))
}

/// The `traceparent` of a version-00 context.
pub fn format_traceparent(trace_id: &TraceId, span_id: &SpanId, sampled: bool) -> String {
    let mut s = String::with_capacity(55);
    s.push_str("00-");
    push_hex(&mut s, trace_id);
    s.push('-');
    push_hex(&mut s, span_id);
    s.push_str(if sampled { "-01" } else { "-00" });
    s
}

pub fn push_hex(s: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
}

thread_local! {
    /// A splitmix64 stream per thread, seeded from the OS: ids need to be unique and
    /// unpredictable enough to spread, not secret.
    static STATE: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // No entropy source: the clock and the thread still make streams apart.
        let t = crate::base::clock::now_unix_ns();
        let id = std::thread::current().id();
        let h = crate::base::hash::mix(t ^ (std::process::id() as u64) << 32);
        return h ^ crate::base::hash::mix(format!("{id:?}").len() as u64 ^ t);
    }
    u64::from_le_bytes(b)
}

fn next_u64() -> u64 {
    STATE.with(|s| {
        let x = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(x);
        // `mix` adds the increment again; harmless, and it stays a bijection of the counter.
        crate::base::hash::mix(x)
    })
}

/// A new span id, never all zeros.
pub fn new_span_id() -> SpanId {
    loop {
        let id = next_u64();
        if id != 0 {
            return id.to_be_bytes();
        }
    }
}

/// A new trace id, never all zeros; its last 8 bytes are random, as the ratio sampler needs.
pub fn new_trace_id() -> TraceId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&next_u64().to_be_bytes());
    id[8..].copy_from_slice(&new_span_id());
    id
}

/// Parent-based sampling: a client's sampled flag decides; a root trace is kept when its
/// trace id's random part falls under `sample_ratio` (so every service using the same rule
/// keeps the same traces).
#[derive(Debug, Clone, Copy)]
pub struct Sampler {
    /// Traces whose last 8 bytes, shifted right by one, are below this are kept.
    bound: u64,
}

impl Sampler {
    pub fn new(ratio: f64) -> Sampler {
        let ratio = if ratio.is_finite() {
            ratio.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // 2^63 * ratio; 1.0 gives 2^63, above every 63-bit value.
        Sampler {
            bound: (ratio * (1u64 << 63) as f64) as u64,
        }
    }

    pub fn sampled(&self, parent: Option<&Parent>, trace_id: &TraceId) -> bool {
        match parent {
            Some(p) => p.sampled,
            None => {
                let mut low = [0u8; 8];
                low.copy_from_slice(&trace_id[8..]);
                (u64::from_be_bytes(low) >> 1) < self.bound
            }
        }
    }
}

#[cfg(test)]
mod tests;
