//! OpenAI's rate-limit headers for LLM routes: `x-ratelimit-{limit,remaining,reset}-requests`
//! from the tightest `requests` limit and `-tokens` from the tightest `tokens` limit, read from
//! the buckets as they stand when the answer's headers are written (so a stream carries them
//! before its first byte). `reset` is the time until the bucket is full again, in OpenAI's
//! duration format (`1s`, `6m0s`, `20ms`, `1h2m3s`). A cluster limit's bucket is in Redis, and
//! reading it again would cost a round trip per answer: its state is the one its decision for
//! this request returned.

use super::local::LocalTable;
use super::vocab::{Draw, Headers, Taken};
use crate::base::gcra;
use crate::config::Counts;
use crate::config::LimitSpec;
use http::{HeaderName, HeaderValue};

/// Appends the three headers of `counts` (requests or tokens) for the tightest of `draws`
/// that counts it (at the rate it is drawn at: a plan's override shows); nothing when none does.
pub fn push(
    table: &LocalTable,
    specs: &[LimitSpec],
    draws: &[Draw],
    decided: &[Taken],
    counts: Counts,
    now: u64,
    headers: &mut Headers,
) {
    let mut tightest: Option<(&LimitSpec, &Draw, u64, u64)> = None;
    for d in draws {
        let spec = &specs[d.limit];
        if spec.counts != counts {
            continue;
        }
        let (remaining, reset) = match spec.cluster {
            None => {
                let tat = table.peek(d.key).unwrap_or(0);
                let state = gcra::decide(d.rate, tat, now, 0);
                (state.remaining, state.reset_after)
            }
            Some(_) => match decided.iter().find(|t| t.draw == *d) {
                Some(t) => (t.remaining, t.reset_after),
                None => continue,
            },
        };
        let remaining = remaining / spec.scale.max(1);
        if tightest.is_none_or(|(_, _, r, _)| remaining < r) {
            tightest = Some((spec, d, remaining, reset));
        }
    }
    let Some((spec, draw, remaining, reset)) = tightest else {
        return;
    };
    let [limit, left, after] = match counts {
        Counts::Tokens => [
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
        ],
        _ => [
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
        ],
    };
    let capacity = match draw.rate == spec.gcra {
        true => spec.limit_header.clone(),
        false => HeaderValue::from(draw.rate.burst() / spec.scale.max(1)),
    };
    headers.push((HeaderName::from_static(limit), capacity));
    headers.push((HeaderName::from_static(left), HeaderValue::from(remaining)));
    if let Ok(v) = HeaderValue::from_str(&duration(reset)) {
        headers.push((HeaderName::from_static(after), v));
    }
}

/// OpenAI's (Go's) duration format, to the millisecond below a second and to the second
/// (rounded up) above: `20ms`, `1s`, `6m0s`, `1h2m3s`; `0s` for a full bucket.
pub fn duration(ns: u64) -> String {
    const MS: u64 = 1_000_000;
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000 * MS {
        return format!("{}ms", ns.div_ceil(MS));
    }
    let secs = ns.div_ceil(1_000 * MS);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_like_openais() {
        const MS: u64 = 1_000_000;
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(20 * MS), "20ms");
        assert_eq!(duration(MS / 2), "1ms");
        assert_eq!(duration(1_000 * MS), "1s");
        assert_eq!(duration(1_500 * MS), "2s");
        assert_eq!(duration(360_000 * MS), "6m0s");
        assert_eq!(duration(3_723_000 * MS), "1h2m3s");
    }
}
