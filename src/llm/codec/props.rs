//! Property tests of every translator's decoders (requests, responses, errors, streams) through
//! the codec dispatch: arbitrary bytes and generated JSON made of the formats' own vocabulary
//! never panic, whatever decodes can be encoded to every format without a panic, and the
//! round trips the codecs promise (a same-format request through the ir, an OpenAI stream
//! through the ir) hold. Small inputs and a few hundred cases keep them to about a second.

use super::*;
use crate::llm::passthrough::Peek;
use crate::llm::validate::Api;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const FORMATS: [Format; 3] = [Format::OpenAi, Format::Anthropic, Format::Gemini];
const CLIENTS: [Format; 2] = [Format::OpenAi, Format::Anthropic];

/// Field names of the three formats' requests, responses, errors and stream events.
const KEYS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "type",
    "text",
    "image_url",
    "url",
    "detail",
    "tool_calls",
    "id",
    "function",
    "name",
    "arguments",
    "tool_call_id",
    "tools",
    "tool_choice",
    "parameters",
    "description",
    "input_schema",
    "input",
    "tool_use_id",
    "is_error",
    "system",
    "max_tokens",
    "max_completion_tokens",
    "thinking",
    "budget_tokens",
    "signature",
    "data",
    "source",
    "media_type",
    "stream",
    "stream_options",
    "include_usage",
    "n",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "stop_sequences",
    "choices",
    "index",
    "message",
    "delta",
    "finish_reason",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "prompt_tokens_details",
    "cached_tokens",
    "completion_tokens_details",
    "reasoning_tokens",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "stop_reason",
    "content_block",
    "candidates",
    "parts",
    "functionCall",
    "functionResponse",
    "args",
    "finishReason",
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "cachedContentTokenCount",
    "error",
    "code",
    "status",
    "param",
    "embedding",
    "embeddings",
    "values",
    "object",
    "created",
    "reasoning_content",
    "thinking_blocks",
    "response_format",
    "json_schema",
    "schema",
    "strict",
    "refusal",
    "inlineData",
    "mimeType",
    "thought",
    "thoughtSignature",
    "partial_json",
    "dimensions",
    "encoding_format",
    "modelVersion",
    "responseId",
    "reasoning_effort",
    "parallel_tool_calls",
];

/// String values the formats give meaning to.
const WORDS: &[&str] = &[
    "user",
    "assistant",
    "system",
    "tool",
    "developer",
    "model",
    "text",
    "image_url",
    "image",
    "function",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "message",
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
    "text_delta",
    "input_json_delta",
    "thinking_delta",
    "signature_delta",
    "stop",
    "length",
    "tool_calls",
    "content_filter",
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "STOP",
    "MAX_TOKENS",
    "SAFETY",
    "base64",
    "float",
    "url",
    "image/png",
    "auto",
    "required",
    "none",
    "any",
    "json_object",
    "json_schema",
    "[DONE]",
    "data:image/png;base64,AAAA",
    "https://e.com/i.png",
    "{}",
    "{\"a\":1}",
    "{\"a\":",
    "",
    "chat.completion",
    "chat.completion.chunk",
    "overloaded_error",
];

/// JSON values built from the vocabulary, nested a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![Just(u64::MAX), Just(u32::MAX as u64 + 1), 0..300u64].prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-3.0f64..3.0).prop_map(Value::from),
        select(WORDS).prop_map(Value::from),
        ".{0,6}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            object(inner),
        ]
    })
}

fn object(values: impl Strategy<Value = Value>) -> impl Strategy<Value = Value> {
    vec((select(KEYS), values), 0..6).prop_map(|kv| {
        let map: Map<String, Value> = kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Value::Object(map)
    })
}

/// A body: an object at the top, as every format has.
fn body() -> impl Strategy<Value = Vec<u8>> {
    object(json()).prop_map(|v| v.to_string().into_bytes())
}

/// Feeds `body` to every decoder, and what decodes to every encoder.
fn decode_everywhere(body: &[u8], status: u16) {
    for api in [
        Api::Chat(Format::OpenAi),
        Api::Chat(Format::Anthropic),
        Api::Embeddings,
    ] {
        let _ = Peek::read(body, api);
    }
    for client in CLIENTS {
        if let Ok(req) = decode_chat(client, body) {
            for provider in FORMATS {
                let _ = encode_chat(provider, &req, "m");
            }
        }
    }
    if let Ok(req) = openai::request::decode_embeddings(body) {
        for provider in FORMATS {
            let _ = encode_embeddings(provider, &req, "m");
        }
    }
    for provider in FORMATS {
        if let Ok(resp) = decode_response(provider, body) {
            for client in CLIENTS {
                encode_response(client, &resp);
            }
        }
        if let Ok(resp) = decode_embeddings(provider, body) {
            openai::response::encode_embeddings(&resp, false);
            openai::response::encode_embeddings(&resp, true);
        }
        let err = decode_error(provider, status, body);
        for client in CLIENTS {
            encode_error(client, &err);
        }
    }
}

/// Runs `events` through each provider's stream decoder and what comes out through each
/// client's stream encoder, ending with an error or a clean finish.
fn stream_everywhere(events: &[sse::Event]) {
    for provider in FORMATS {
        let mut decoder = StreamDecoder::new(provider);
        let mut encoders: Vec<StreamEncoder> = CLIENTS
            .iter()
            .flat_map(|&c| [StreamEncoder::new(c, true), StreamEncoder::new(c, false)])
            .collect();
        let mut out = BytesMut::new();
        let mut failed = None;
        for event in events {
            let mut decoded = Vec::new();
            let result = decoder.decode(event, &mut decoded);
            for e in &decoded {
                for enc in &mut encoders {
                    enc.encode(e, &mut out);
                }
            }
            if let Err(e) = result {
                failed = Some(e);
                break;
            }
        }
        for enc in &mut encoders {
            match &failed {
                Some(e) => enc.error(e, &mut out),
                None => enc.finish(&mut out),
            }
        }
        let _ = decoder.is_done();
    }
}

fn sse_event() -> impl Strategy<Value = sse::Event> {
    let data = prop_oneof![
        3 => object(json()).prop_map(|v| v.to_string()),
        1 => Just("[DONE]".to_owned()),
        1 => ".{0,12}",
    ];
    (proptest::option::of(select(WORDS)), data).prop_map(|(event, data)| sse::Event {
        event: event.map(str::to_owned),
        data,
        ..sse::Event::default()
    })
}

/// OpenAI Chat Completions bodies in the canonical form the encoder writes.
fn openai_request() -> impl Strategy<Value = Value> {
    let content = prop_oneof![
        ".{0,8}".prop_map(Value::from),
        vec(".{0,8}", 1..3).prop_map(|ts| {
            Value::Array(
                ts.into_iter()
                    .map(|t| serde_json::json!({"type": "text", "text": t}))
                    .collect(),
            )
        }),
    ];
    // The encoder writes assistant and system text as one string (what every compatible server
    // takes), so only user turns keep their parts.
    let message =
        (select(&["system", "user", "assistant"][..]), content).prop_map(|(role, content)| {
            let content = match content {
                Value::Array(parts) if role != "user" => Value::from(
                    parts
                        .iter()
                        .filter_map(|p| p["text"].as_str())
                        .collect::<String>(),
                ),
                c => c,
            };
            serde_json::json!({"role": role, "content": content})
        });
    (
        vec(message, 1..4),
        proptest::option::of(0u32..=20),
        proptest::option::of(1u32..5000),
        proptest::option::of(vec("[a-z]{1,3}", 1..=4)),
        any::<bool>(),
    )
        .prop_map(|(messages, temp, max_tokens, stop, stream)| {
            let mut v = serde_json::json!({"model": "m", "messages": messages});
            if let Some(t) = temp {
                v["temperature"] = Value::from(f64::from(t) / 10.0);
            }
            if let Some(m) = max_tokens {
                v["max_tokens"] = m.into();
            }
            if let Some(s) = stop {
                v["stop"] = s.into();
            }
            if stream {
                v["stream"] = true.into();
            }
            v
        })
}

/// Anthropic Messages bodies: alternating user and assistant turns of text blocks. (An empty
/// `system` is sent as none, which Anthropic treats alike.)
fn anthropic_request() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(".{1,8}"),
        vec(vec(".{1,8}", 1..3), 1..4),
        1u32..5000,
        proptest::option::of(0u32..=10),
        proptest::option::of(0u32..100),
    )
        .prop_map(|(system, turns, max_tokens, temp, top_k)| {
            let messages: Vec<Value> = turns
                .into_iter()
                .enumerate()
                .map(|(i, texts)| {
                    let blocks: Vec<Value> = texts
                        .into_iter()
                        .map(|t| serde_json::json!({"type": "text", "text": t}))
                        .collect();
                    let role = if i % 2 == 0 { "user" } else { "assistant" };
                    serde_json::json!({"role": role, "content": blocks})
                })
                .collect();
            let mut v =
                serde_json::json!({"model": "m", "max_tokens": max_tokens, "messages": messages});
            if let Some(s) = system {
                v["system"] = s.into();
            }
            if let Some(t) = temp {
                v["temperature"] = Value::from(f64::from(t) / 10.0);
            }
            if let Some(k) = top_k {
                v["top_k"] = k.into();
            }
            v
        })
}

/// Well-formed canonical streams of one choice: text and thinking deltas, tool calls started
/// in order with argument fragments, then the finish and the usage.
fn ir_stream() -> impl Strategy<Value = Vec<StreamEvent>> {
    let step = prop_oneof![
        ".{1,6}".prop_map(|t| (0u8, t)),
        ".{1,6}".prop_map(|t| (1u8, t)),
        "[a-z]{1,4}".prop_map(|t| (2u8, t)),
        "[{}\":a-z0-9]{1,6}".prop_map(|t| (3u8, t)),
    ];
    (vec(step, 0..10), 1u64..500, 1u64..500).prop_map(|(steps, prompt, completion)| {
        let mut events = vec![StreamEvent::Start {
            id: "chatcmpl-1".into(),
            model: "m".into(),
            created: 7,
        }];
        let mut calls = 0u32;
        let mut in_calls = false;
        for (kind, text) in steps {
            match kind {
                // Text and thinking come before the calls, as the formats put them.
                0 if !in_calls => events.push(StreamEvent::Text { index: 0, text }),
                1 if !in_calls => events.push(StreamEvent::Thinking { index: 0, text }),
                2 => {
                    events.push(StreamEvent::ToolCallStart {
                        index: 0,
                        call: calls,
                        id: format!("call_{calls}"),
                        name: text,
                    });
                    calls += 1;
                    in_calls = true;
                }
                3 if calls > 0 => events.push(StreamEvent::ToolCallArguments {
                    index: 0,
                    call: calls - 1,
                    fragment: text,
                }),
                _ => {}
            }
        }
        let reason = if calls > 0 {
            FinishReason::ToolCalls
        } else {
            FinishReason::Stop
        };
        events.push(StreamEvent::Finish { index: 0, reason });
        events.push(StreamEvent::Usage(Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            ..Usage::default()
        }));
        events
    })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in vec(any::<u8>(), 0..128), status in 100u16..600) {
        decode_everywhere(&bytes, status);
    }

    #[test]
    fn generated_json_never_panics_a_decoder(body in body(), status in prop_oneof![Just(400u16), Just(429), Just(529), 100u16..600]) {
        decode_everywhere(&body, status);
    }

    #[test]
    fn generated_streams_never_panic_a_stream_codec(events in vec(sse_event(), 0..8)) {
        stream_everywhere(&events);
    }

    #[test]
    fn openai_requests_round_trip_through_the_ir(body in openai_request()) {
        let bytes = body.to_string().into_bytes();
        let req = decode_chat(Format::OpenAi, &bytes).expect("a valid body decodes");
        let again = encode_chat(Format::OpenAi, &req, "m").expect("encodes");
        let mut back = decode_chat(Format::OpenAi, &again).expect("decodes again");
        // The encoder asks for usage on every stream: the gateway always needs it.
        prop_assert_eq!(back.include_usage, req.stream);
        back.include_usage = req.include_usage;
        prop_assert_eq!(back, req);
    }

    #[test]
    fn anthropic_requests_round_trip_through_the_ir(body in anthropic_request()) {
        let bytes = body.to_string().into_bytes();
        let req = decode_chat(Format::Anthropic, &bytes).expect("a valid body decodes");
        let again = encode_chat(Format::Anthropic, &req, "m").expect("encodes");
        prop_assert_eq!(decode_chat(Format::Anthropic, &again).expect("decodes again"), req);
    }

    #[test]
    fn openai_streams_round_trip_through_the_ir(events in ir_stream(), chunk in 1usize..64) {
        let mut enc = StreamEncoder::new(Format::OpenAi, true);
        let mut bytes = BytesMut::new();
        for e in &events {
            enc.encode(e, &mut bytes);
        }
        enc.finish(&mut bytes);
        let mut sse_decoder = sse::Decoder::new();
        let mut decoder = StreamDecoder::new(Format::OpenAi);
        let mut back = Vec::new();
        for piece in bytes.chunks(chunk) {
            let mut got = Vec::new();
            sse_decoder.push(piece, &mut got).expect("valid SSE");
            for e in &got {
                decoder.decode(e, &mut back).expect("decodes");
            }
        }
        sse_decoder.finish().expect("complete SSE");
        prop_assert!(decoder.is_done());
        prop_assert_eq!(back, events);
    }
}
