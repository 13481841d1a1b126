use super::*;

const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn a_valid_traceparent_parses() {
    let p = parse_traceparent(VALID.as_bytes()).unwrap();
    assert_eq!(p.trace_id[0], 0x4b);
    assert_eq!(p.trace_id[15], 0x36);
    assert_eq!(p.span_id, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
    assert!(p.sampled);
    let unsampled = VALID.replace("-01", "-00");
    assert!(!parse_traceparent(unsampled.as_bytes()).unwrap().sampled);
    // Other flag bits are not the sampled bit.
    let other = VALID.replace("-01", "-02");
    assert!(!parse_traceparent(other.as_bytes()).unwrap().sampled);
}

#[test]
fn it_formats_back_to_the_same_text() {
    let p = parse_traceparent(VALID.as_bytes()).unwrap();
    assert_eq!(
        format_traceparent(&p.trace_id, &p.span_id, p.sampled),
        VALID
    );
}

#[test]
fn a_later_version_may_carry_more_fields() {
    let v = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
    assert!(parse_traceparent(v.as_bytes()).is_some());
    let exact = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    assert!(parse_traceparent(exact.as_bytes()).is_some());
}

#[test]
fn every_kind_of_invalid_traceparent_is_refused() {
    let cases = [
        ("", "empty"),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "no flags",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "version 00 longer than 55",
        ),
        (
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "version ff",
        ),
        (
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "a later version without a dash after the flags",
        ),
        (
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "uppercase trace id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
            "uppercase span id",
        ),
        (
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "version not hex",
        ),
        (
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "all-zero trace id",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "all-zero span id",
        ),
        (
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "wrong separator",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "misplaced separator",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z",
            "flags not hex",
        ),
        (
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "leading space",
        ),
    ];
    for (value, why) in cases {
        assert_eq!(
            parse_traceparent(value.as_bytes()),
            None,
            "{why}: {value:?}"
        );
    }
}

#[test]
fn tracestate_is_kept_only_when_sane() {
    assert!(valid_tracestate(b"congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
    assert!(!valid_tracestate(b""));
    assert!(!valid_tracestate(b"a=\x01"));
    assert!(!valid_tracestate(&[b'a'; 513]));
}

#[test]
fn new_ids_are_never_zero_and_differ() {
    let a = new_trace_id();
    let b = new_trace_id();
    assert_ne!(a, b);
    assert_ne!(a, [0; 16]);
    assert_ne!(new_span_id(), new_span_id());
}

#[test]
fn the_sampler_follows_the_parent_then_the_ratio() {
    let mut id = [0u8; 16];
    let parent = |sampled| Parent {
        trace_id: [1; 16],
        span_id: [1; 8],
        sampled,
    };
    let never = Sampler::new(0.0);
    let always = Sampler::new(1.0);
    assert!(never.sampled(Some(&parent(true)), &id));
    assert!(!always.sampled(Some(&parent(false)), &id));
    // Roots: by the trace id's last 8 bytes.
    id[8..].copy_from_slice(&u64::MAX.to_be_bytes());
    assert!(always.sampled(None, &id));
    assert!(!never.sampled(None, &id));
    id[8..].copy_from_slice(&0u64.to_be_bytes());
    assert!(!never.sampled(None, &id));
    let half = Sampler::new(0.5);
    id[8..].copy_from_slice(&(u64::MAX / 2 - 4).to_be_bytes());
    assert!(half.sampled(None, &id));
    id[8..].copy_from_slice(&(u64::MAX / 2 + 4).to_be_bytes());
    assert!(!half.sampled(None, &id));
    // Over many random ids the share comes near the ratio.
    let kept = (0..10_000)
        .filter(|_| Sampler::new(0.25).sampled(None, &new_trace_id()))
        .count();
    assert!((2_000..3_000).contains(&kept), "{kept}");
}
