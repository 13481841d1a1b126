use super::super::Record;
use crate::telemetry::call::CallRecord;
use proptest::prelude::*;
use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, UNIX_EPOCH};

fn record<'a>(text: &'a str, number: f64, llm: Option<&'a CallRecord>) -> Record<'a> {
    Record {
        time: UNIX_EPOCH + Duration::from_millis(1_814_313_600_250),
        request_id: text.into(),
        route: text.into(),
        api_version: Some(text.into()),
        upstream: Some(text.into()),
        method: "GET".into(),
        path: text.into(),
        status: 503,
        bytes_in: u64::MAX,
        bytes_out: 0,
        latency_ms: number,
        upstream_latency_ms: Some(number),
        ttfb_ms: Some(number / 3.0),
        attempts: 3,
        client: Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1))),
        error: Some(text.into()),
        error_code: Some(text.into()),
        tenant: Some(text.into()),
        app: Some(text.into()),
        key: Some(text.into()),
        client_cert: Some(text.into()),
        grpc_status: Some(14),
        llm: llm.map(Cow::Borrowed),
    }
}

fn both(r: &Record<'_>) -> (String, String) {
    let mut mine = Vec::new();
    assert!(r.write_json(&mut mine, None));
    let serde = serde_json::to_string(r).unwrap();
    (String::from_utf8(mine).unwrap(), serde)
}

#[test]
fn every_field_and_escape_is_written_as_serde_writes_it() {
    let llm = CallRecord {
        model: "m\"1".into(),
        prompt_tokens: 7,
        cost_usd: 0.000123,
        ..CallRecord::default()
    };
    let text = "a\"b\\c\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}é\u{2028}🙂/";
    for number in [
        0.0,
        1.5,
        0.408325,
        1e-9,
        123456789.125,
        f64::NAN,
        f64::INFINITY,
    ] {
        let (mine, serde) = both(&record(text, number, Some(&llm)));
        assert_eq!(mine, serde);
    }
}

#[test]
fn absent_fields_are_written_as_serde_writes_them() {
    let mut r = record("x", 2.0, None);
    r.api_version = None;
    r.upstream = None;
    r.upstream_latency_ms = None;
    r.ttfb_ms = None;
    r.client = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 255, 1)));
    r.error = None;
    r.error_code = None;
    r.tenant = None;
    r.app = None;
    r.key = None;
    r.grpc_status = None;
    let (mine, serde) = both(&r);
    assert_eq!(mine, serde);
    r.client = None;
    let (mine, serde) = both(&r);
    assert_eq!(mine, serde);
}

proptest! {
    #[test]
    fn times_to_the_microsecond_are_written_as_serde_writes_them(
        micros in prop_oneof![0u64..10_000_000, 0u64..20_000_000_000_000_000],
    ) {
        let r = record("x", micros as f64 / 1000.0, None);
        let (mine, serde) = both(&r);
        prop_assert_eq!(mine, serde);
    }

    #[test]
    fn any_text_and_number_is_written_as_serde_writes_it(
        text in any::<String>(),
        number in any::<f64>(),
        octets in any::<[u8; 4]>(),
        grpc_status in any::<Option<u32>>(),
    ) {
        let mut r = record(&text, number, None);
        r.client = Some(IpAddr::V4(Ipv4Addr::from(octets)));
        r.grpc_status = grpc_status;
        let (mine, serde) = both(&r);
        prop_assert_eq!(mine, serde);
    }
}
