//! Durations and dates as users write them, bounded at parse time, and dates written back in
//! a way that cannot panic. One parser serves the configuration, the admin API and the CLI.
//!
//! Why bounded: `humantime` reads `"8000y"` happily, but such a number then overflows an
//! `Instant` addition or reaches a formatter that only knows four-digit years (`humantime`'s
//! RFC 3339 and `httpdate` both panic past 9999-12-31). So a duration is at most
//! `MAX_DURATION`, a date at most `MAX_UNIX`, and the formatters clamp what an older store row
//! may still hold instead of trusting it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest duration anything accepts: 100 years, longer than any key or timeout needs.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 31_557_600);

/// The last second the date formats can write: 9999-12-31T23:59:59Z.
pub const MAX_UNIX: i64 = 253_402_300_799;

/// Reads `"250ms"`, `"30s"`, `"1h30m"`, `"30d"`; refuses more than `MAX_DURATION`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim()).map_err(|e| {
        format!("invalid duration {text:?}: {e}; write e.g. \"250ms\", \"30s\" or \"30d\"")
    })?;
    if d > MAX_DURATION {
        return Err(format!(
            "invalid duration {text:?}: longer than 100 years, the most accepted"
        ));
    }
    Ok(d)
}

/// Reads a date as users write it, `"2027-06-30"` (midnight UTC) or RFC 3339
/// (`"2027-06-30T12:00:00Z"`), into Unix seconds between 1970 and `MAX_UNIX`.
pub fn parse_date(text: &str) -> Result<i64, String> {
    let t = text.trim();
    let full = if t.len() == 10 {
        format!("{t}T00:00:00Z")
    } else {
        t.to_string()
    };
    let at = humantime::parse_rfc3339_weak(&full).map_err(|_| {
        format!("{text:?} is not a date: write \"2027-06-30\" or \"2027-06-30T12:00:00Z\"")
    })?;
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| format!("{text:?} is before 1970"))?
        .as_secs();
    match i64::try_from(secs) {
        Ok(s) if s <= MAX_UNIX => Ok(s),
        _ => Err(format!("{text:?} is after the year 9999")),
    }
}

/// `now` plus `by`, refused past `MAX_UNIX` (a date must stay writable).
pub fn date_after(now: i64, by: Duration) -> Result<i64, String> {
    let by = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
    match now.checked_add(by) {
        Some(at) if at <= MAX_UNIX => Ok(at),
        _ => Err("the date it gives is after the year 9999".into()),
    }
}

/// Unix seconds as a `SystemTime` clamped to 1970..=`MAX_UNIX`, so any formatter takes it.
fn clamped(unix: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix.clamp(0, MAX_UNIX) as u64)
}

/// Unix seconds as RFC 3339 (`2027-06-30T00:00:00Z`), the form the admin API answers with.
/// A value out of range (an old store row) shows as the nearest writable date.
pub fn format_date(unix: i64) -> String {
    humantime::format_rfc3339_seconds(clamped(unix)).to_string()
}

/// Unix milliseconds as RFC 3339 with milliseconds, clamped like `format_date`.
pub fn format_date_millis(unix_ms: i64) -> String {
    let ms = unix_ms.clamp(0, MAX_UNIX.saturating_mul(1000));
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms as u64)).to_string()
}

/// Appends `t` as RFC 3339 with milliseconds (`2027-06-30T12:00:00.250Z`), clamped like
/// `format_date`. The access log writes one per request, so each thread keeps the last
/// second's text and writes only the milliseconds while the second lasts.
pub fn write_date_millis(t: SystemTime, out: &mut Vec<u8>) {
    thread_local! {
        static SECOND: std::cell::Cell<(u64, [u8; 19])> = const { std::cell::Cell::new((u64::MAX, [0; 19])) };
    }
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs().min(MAX_UNIX as u64);
    let (cached, mut text) = SECOND.get();
    if cached != secs {
        let full = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs));
        // "YYYY-MM-DDTHH:MM:SSZ": the text without its "Z".
        text.copy_from_slice(&full.to_string().as_bytes()[..19]);
        SECOND.set((secs, text));
    }
    let ms = if since.as_secs() > secs {
        0
    } else {
        since.subsec_millis()
    };
    out.extend_from_slice(&text);
    out.extend_from_slice(&[
        b'.',
        b'0' + (ms / 100) as u8,
        b'0' + (ms / 10 % 10) as u8,
        b'0' + (ms % 10) as u8,
        b'Z',
    ]);
}

/// Unix seconds as an HTTP date (`Wed, 30 Jun 2027 00:00:00 GMT`), for `Sunset`; clamped.
pub fn http_date(unix: i64) -> String {
    httpdate::fmt_http_date(clamped(unix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_format() {
        assert_eq!(parse_date("2027-06-30").unwrap(), 1_814_313_600);
        assert_eq!(parse_date("2027-06-30T00:00:00Z").unwrap(), 1_814_313_600);
        assert_eq!(parse_date("9999-12-31T23:59:59Z").unwrap(), MAX_UNIX);
        assert!(parse_date("June 30").is_err());
        assert!(parse_date("1969-12-31").is_err());
        assert_eq!(format_date(1_814_313_600), "2027-06-30T00:00:00Z");
        assert_eq!(http_date(1_814_313_600), "Wed, 30 Jun 2027 00:00:00 GMT");
    }

    #[test]
    fn dates_with_millis_match_humantime_across_seconds() {
        let mut out = Vec::new();
        for ms in [
            0,
            999,
            1_000,
            1_814_313_600_250,
            1_814_313_600_999,
            1_814_313_601_001,
            5,
        ] {
            let t = UNIX_EPOCH + Duration::from_millis(ms);
            out.clear();
            write_date_millis(t, &mut out);
            let want = humantime::format_rfc3339_millis(t).to_string();
            assert_eq!(String::from_utf8_lossy(&out), want);
        }
        out.clear();
        write_date_millis(
            UNIX_EPOCH + Duration::from_millis(MAX_UNIX as u64 * 1000 + 5_000_250),
            &mut out,
        );
        assert_eq!(String::from_utf8_lossy(&out), "9999-12-31T23:59:59.000Z");
    }

    #[test]
    fn durations_are_bounded() {
        assert_eq!(parse_duration(" 30s ").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("100y").unwrap(), MAX_DURATION);
        let e = parse_duration("8000y").unwrap_err();
        assert!(e.contains("longer than 100 years"), "{e}");
        assert!(parse_duration("soon")
            .unwrap_err()
            .contains("invalid duration \"soon\""));
        assert!(parse_duration("99999999999999999999y").is_err());
    }

    #[test]
    fn dates_past_9999_are_refused_not_overflowed() {
        assert_eq!(date_after(10, Duration::from_secs(5)), Ok(15));
        assert!(date_after(MAX_UNIX, Duration::from_secs(1)).is_err());
        assert!(date_after(i64::MAX, MAX_DURATION).is_err());
    }

    /// Any number a store row may hold formats without a panic.
    #[test]
    fn formatting_never_panics() {
        for v in [
            i64::MIN,
            -1,
            0,
            MAX_UNIX,
            MAX_UNIX + 1,
            252_460_000_000_000,
            i64::MAX,
        ] {
            let d = format_date(v);
            assert!(d.len() == 20, "{v}: {d}");
            assert!(!http_date(v).is_empty());
            assert!(!format_date_millis(v).is_empty());
        }
        assert_eq!(format_date(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(format_date(-5), "1970-01-01T00:00:00Z");
        assert_eq!(format_date_millis(i64::MAX), "9999-12-31T23:59:59.000Z");
    }
}
