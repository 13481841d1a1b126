use super::*;

/// A recorded-style OpenAI chat completion stream.
const OPENAI: &str = concat!(
    "data: {\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Bonjour\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    ": keep-alive\n\n",
    "data: {\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" à vous 👋\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4,\"total_tokens\":13}}\n\n",
    "data: [DONE]\n\n",
);

/// A recorded-style Anthropic Messages stream.
const ANTHROPIC: &str = concat!(
    "event: message_start\n",
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01X\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-3-5-sonnet-20241022\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: ping\n",
    "data: {\"type\": \"ping\"}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Grüß\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" Gott 日本\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: message_delta\n",
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n",
    "event: message_stop\n",
    "data: {\"type\":\"message_stop\"}\n\n",
);

fn decode_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<Event>, SseError> {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    for c in chunks {
        d.push(c, &mut out)?;
    }
    d.finish()?;
    Ok(out)
}

fn decode(s: &[u8]) -> Result<Vec<Event>, SseError> {
    decode_chunks([s])
}

fn ev(event: Option<&str>, data: &str) -> Event {
    Event {
        event: event.map(str::to_owned),
        data: data.to_owned(),
        ..Event::default()
    }
}

/// Decoding `s` whole, split in two at every byte, split in three at many pairs of bytes and
/// fed one byte at a time all give the same events.
fn assert_chunking_invariant(s: &[u8]) -> Vec<Event> {
    let whole = decode(s).expect("whole stream decodes");
    for i in 0..=s.len() {
        assert_eq!(
            decode_chunks([&s[..i], &s[i..]]).unwrap(),
            whole,
            "split at {i}"
        );
    }
    for i in (0..=s.len()).step_by(7) {
        for j in (i..=s.len()).step_by(5) {
            let parts = [&s[..i], &s[i..j], &s[j..]];
            assert_eq!(decode_chunks(parts).unwrap(), whole, "split at {i}, {j}");
        }
    }
    assert_eq!(decode_chunks(s.chunks(1)).unwrap(), whole, "single bytes");
    whole
}

#[test]
fn openai_stream_decodes_the_same_at_every_chunking() {
    let events = assert_chunking_invariant(OPENAI.as_bytes());
    assert_eq!(events.len(), 6);
    assert!(events.iter().all(|e| e.event.is_none() && e.id.is_none()));
    assert!(events[2].data.contains(" à vous 👋"));
    assert_eq!(events[5], ev(None, "[DONE]"));
    for e in &events[..5] {
        serde_json::from_str::<serde_json::Value>(&e.data).expect("chunk is JSON");
    }
}

#[test]
fn anthropic_stream_decodes_the_same_at_every_chunking() {
    let events = assert_chunking_invariant(ANTHROPIC.as_bytes());
    let names: Vec<_> = events.iter().map(|e| e.event.as_deref()).collect();
    assert_eq!(
        names,
        [
            Some("message_start"),
            Some("content_block_start"),
            Some("ping"),
            Some("content_block_delta"),
            Some("content_block_delta"),
            Some("content_block_stop"),
            Some("message_delta"),
            Some("message_stop"),
        ]
    );
    assert_eq!(events[2].data, "{\"type\": \"ping\"}");
    assert!(events[4].data.contains(" Gott 日本"));
}

#[test]
fn crlf_and_cr_line_ends_decode_like_lf() {
    for text in [OPENAI, ANTHROPIC] {
        let lf = decode(text.as_bytes()).unwrap();
        for end in ["\r\n", "\r"] {
            let converted = text.replace('\n', end);
            assert_eq!(
                assert_chunking_invariant(converted.as_bytes()),
                lf,
                "{end:?}"
            );
        }
    }
}

#[test]
fn mixed_line_ends_in_one_stream() {
    let s = b"event: a\r\ndata: 1\rdata: 2\n\r\ndata: 3\r\r";
    assert_eq!(
        assert_chunking_invariant(s),
        [ev(Some("a"), "1\n2"), ev(None, "3")]
    );
}

#[test]
fn cr_at_chunk_end_then_lf_is_one_line_end() {
    // Were the LF taken as a second line end, it would dispatch after "data: 1".
    let events = decode_chunks([&b"data: 1\r"[..], b"\ndata: 2\r", b"\n\r", b"\n"]).unwrap();
    assert_eq!(events, [ev(None, "1\n2")]);
    // An empty chunk between CR and LF changes nothing.
    let events = decode_chunks([&b"data: 1\r"[..], b"", b"\n\r\n"]).unwrap();
    assert_eq!(events, [ev(None, "1")]);
}

#[test]
fn comments_and_keep_alives_are_ignored() {
    let s = b":keep-alive\n\n: ping\ndata: a\n:inside\ndata: b\n\n:\n\n";
    assert_eq!(assert_chunking_invariant(s), [ev(None, "a\nb")]);
}

#[test]
fn multi_line_data_and_field_rules() {
    let s = concat!(
        "data:no space\n",
        "data:  two spaces\n",
        "data\n",
        "unknown: field\n",
        "data: a:b\n",
        "\n",
    );
    assert_eq!(
        decode(s.as_bytes()).unwrap(),
        [ev(None, "no space\n two spaces\n\na:b")]
    );
}

#[test]
fn an_event_needs_a_data_line() {
    // No data: not dispatched, and its event type does not leak into the next event.
    let s = b"event: lonely\n\ndata\n\nevent: x\ndata:\n\n";
    assert_eq!(decode(s).unwrap(), [ev(None, ""), ev(Some("x"), "")]);
}

#[test]
fn id_persists_and_retry_is_per_event() {
    let s = b"id: 7\nretry: 3000\n\ndata: a\n\nid\nretry: 12x\ndata: b\nretry: 500\n\nid: a\0b\ndata: c\n\n";
    let mut d = Decoder::new();
    let mut out = Vec::new();
    d.push(s, &mut out).unwrap();
    assert_eq!(d.retry(), Some(500));
    d.finish().unwrap();
    let got: Vec<_> = out
        .iter()
        .map(|e| (e.data.as_str(), e.id.as_deref(), e.retry))
        .collect();
    // The undispatched first block still set the id; a bare `id` clears it; an id with NUL
    // is ignored; a retry that is not all digits is ignored.
    assert_eq!(
        got,
        [
            ("a", Some("7"), None),
            ("b", None, Some(500)),
            ("c", None, None)
        ]
    );
}

#[test]
fn bom_at_stream_start_is_skipped_even_split() {
    let s = b"\xEF\xBB\xBFdata: x\n\n";
    assert_eq!(assert_chunking_invariant(s), [ev(None, "x")]);
    // Only at the very start: a second BOM is part of the field name, an unknown field.
    let s = b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n";
    assert_eq!(decode(s).unwrap(), [ev(None, "y")]);
    // A BOM prefix that turns out not to be one is kept: here it makes an unknown field.
    assert_eq!(
        decode_chunks([&b"\xEF\xBB"[..], b"data: x\n\ndata: y\n\n"]).unwrap(),
        [ev(None, "y")]
    );
}

#[test]
fn truncated_final_event_is_an_error() {
    for s in [
        &b"data: 1\n\ndata: 2"[..],
        b"data: 1\n\ndata: 2\n",
        b"data: 1\n\ndata: 2\r",
        b"data: 1\n\nevent: x\n",
        b"data: 1\n\n: keep-al",
        b"\xEF\xBB",
    ] {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        d.push(s, &mut out).unwrap();
        assert_eq!(d.finish(), Err(SseError::TruncatedEvent), "{s:?}");
        // The decoder is ready for a new stream.
        d.push(b"data: z\n\n", &mut out).unwrap();
        assert_eq!(d.finish(), Ok(()));
    }
    // A clean end, also after a final CR or a trailing comment line.
    for s in [
        &b"data: 1\n\n"[..],
        b"data: 1\r\r",
        b"data: 1\n\n: bye\n",
        b"",
    ] {
        assert_eq!(decode(s).map(|_| ()), Ok(()), "{s:?}");
    }
}

#[test]
fn too_large_event_is_an_error() {
    let big = format!("data: {}\n\n", "x".repeat(200));
    let mut d = Decoder::with_limit(100);
    let mut out = Vec::new();
    d.push(b"data: small\n\n", &mut out).unwrap();
    assert_eq!(
        d.push(big.as_bytes(), &mut out),
        Err(SseError::EventTooLarge { limit: 100 })
    );
    assert_eq!(out, [ev(None, "small")]);
    // The error sticks until `finish`.
    assert_eq!(
        d.push(b"data: a\n\n", &mut out),
        Err(SseError::EventTooLarge { limit: 100 })
    );
    assert_eq!(d.finish(), Err(SseError::EventTooLarge { limit: 100 }));

    // Fed in small chunks, the partial line is what grows.
    let mut d = Decoder::with_limit(100);
    let r = big
        .as_bytes()
        .chunks(3)
        .try_for_each(|c| d.push(c, &mut out));
    assert_eq!(r, Err(SseError::EventTooLarge { limit: 100 }));

    // Many short data lines add up.
    let many = "data: 0123456789\n".repeat(20);
    let mut d = Decoder::with_limit(100);
    assert_eq!(
        d.push(many.as_bytes(), &mut out),
        Err(SseError::EventTooLarge { limit: 100 })
    );

    // Events each under the limit are fine however many there are.
    let ok = "data: 0123456789\n\n".repeat(50);
    let mut d = Decoder::with_limit(100);
    d.push(ok.as_bytes(), &mut out).unwrap();
    d.finish().unwrap();
}

#[test]
fn a_line_over_the_limit_fails_however_the_stream_is_split() {
    // Found by the property test below: a long comment (or field name) failed only when a
    // chunk boundary cut it, so the network's split points decided the outcome.
    let s = b": 0123456789abcdef\ndata: x\n\n";
    let whole = {
        let mut d = Decoder::with_limit(10);
        d.push(s, &mut Vec::new())
    };
    let split = {
        let mut d = Decoder::with_limit(10);
        let mut out = Vec::new();
        d.push(&s[..5], &mut out)
            .and_then(|_| d.push(&s[5..], &mut out))
    };
    assert_eq!(whole, Err(SseError::EventTooLarge { limit: 10 }));
    assert_eq!(split, whole);
}

#[test]
fn invalid_utf8_in_an_event_is_an_error() {
    assert_eq!(decode(b"data: \xFF\n\n"), Err(SseError::InvalidUtf8));
    assert_eq!(
        decode(b"event: \xC3\ndata: x\n\n"),
        Err(SseError::InvalidUtf8)
    );
    // A character split over chunks is not invalid.
    let s = "data: é\n\n".as_bytes();
    assert_eq!(decode_chunks([&s[..7], &s[7..]]).unwrap(), [ev(None, "é")]);
}

#[test]
fn encode_decode_round_trip() {
    let cases: &[(Option<&str>, &str)] = &[
        (None, "[DONE]"),
        (Some("message_start"), "{\"type\":\"message_start\"}"),
        (None, ""),
        (None, "line 1\nline 2\n\nline 4"),
        (None, "\n"),
        (Some("x"), " leading space\ntrailing \n"),
        (None, ": not a comment\ndata: not a field"),
        (None, "日本 👋"),
    ];
    let mut buf = BytesMut::new();
    for (event, data) in cases {
        encode(*event, data, &mut buf);
    }
    let expected: Vec<_> = cases.iter().map(|(e, d)| ev(*e, d)).collect();
    assert_eq!(assert_chunking_invariant(&buf), expected);
}

#[test]
fn encode_writes_the_expected_bytes() {
    let mut buf = BytesMut::new();
    encode(Some("delta"), "a\nb", &mut buf);
    encode(None, "[DONE]", &mut buf);
    assert_eq!(
        &buf[..],
        b"event: delta\ndata: a\ndata: b\n\ndata: [DONE]\n\n"
    );
}

#[test]
fn encode_normalises_line_ends_it_cannot_frame() {
    let mut buf = BytesMut::new();
    encode(Some("bad\r\nname"), "a\r\nb\rc", &mut buf);
    assert_eq!(decode(&buf).unwrap(), [ev(Some("badname"), "a\nb\nc")]);
}

/// Properties over generated input: the decoder never panics, where a stream is split never
/// changes what it decodes to (events and errors alike), and `encode` round-trips as its doc
/// says. Bounded (a few hundred cases of small inputs) to run in well under a second.
mod props {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::Index;

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// The events `bytes` decodes to when fed cut at `cuts`, and the first error (from `push`
    /// or `finish`).
    fn decode_split(bytes: &[u8], cuts: &[Index], limit: usize) -> (Vec<Event>, Option<SseError>) {
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        at.push(0);
        at.push(bytes.len());
        at.sort_unstable();
        let mut d = Decoder::with_limit(limit);
        let mut out = Vec::new();
        for w in at.windows(2) {
            if let Err(e) = d.push(&bytes[w[0]..w[1]], &mut out) {
                return (out, Some(e));
            }
        }
        (out, d.finish().err())
    }

    /// Bytes built mostly from SSE's own vocabulary, so that fields, line ends, comments, the
    /// BOM and broken UTF-8 meet at every position.
    fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"data:".to_vec()),
            Just(b"data: ".to_vec()),
            Just(b"event: ".to_vec()),
            Just(b"id:".to_vec()),
            Just(b"retry: 15".to_vec()),
            Just(b":".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"\r".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(BOM.to_vec()),
            Just(vec![0xff]),
            Just(vec![0xc3]),
            Just("é€👋".as_bytes().to_vec()),
            vec(prop::sample::select(b"abz {}\":".to_vec()), 0..6),
            vec(any::<u8>(), 0..4),
        ];
        vec(piece, 0..32).prop_map(|ps| ps.concat())
    }

    /// What the decoder gives back for `encode`d data: line ends as LF.
    fn lf(data: &str) -> String {
        data.replace("\r\n", "\n").replace('\r', "\n")
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn any_bytes_decode_alike_at_any_split(
            bytes in sse_bytes(),
            cuts in vec(any::<Index>(), 0..8),
            limit in prop_oneof![Just(DEFAULT_EVENT_LIMIT), 1usize..48],
        ) {
            let whole = decode_split(&bytes, &[], limit);
            let split = decode_split(&bytes, &cuts, limit);
            prop_assert_eq!(whole, split);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256), cuts in vec(any::<Index>(), 0..4)) {
            let _ = decode_split(&bytes, &cuts, 64);
        }

        #[test]
        fn encoded_events_come_back_at_any_split(
            events in vec((proptest::option::of(".{0,8}"), ".{0,24}"), 0..6),
            cuts in vec(any::<Index>(), 0..8),
        ) {
            let mut bytes = BytesMut::new();
            for (name, data) in &events {
                encode(name.as_deref(), data, &mut bytes);
            }
            let expected: Vec<Event> = events
                .iter()
                .map(|(name, data)| Event {
                    event: name
                        .as_deref()
                        .map(|n| n.replace(['\r', '\n'], ""))
                        .filter(|n| !n.is_empty()),
                    data: lf(data),
                    ..Event::default()
                })
                .collect();
            let (got, err) = decode_split(&bytes, &cuts, DEFAULT_EVENT_LIMIT);
            prop_assert_eq!(err, None);
            prop_assert_eq!(got, expected);
        }
    }
}
