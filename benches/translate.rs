//! Translation cost per call: a chat request from OpenAI's format to Anthropic's and Gemini's,
//! a response back, a stream translated event by event, and the same-format passthrough
//! (read and validate the top-level fields, splice in the provider's name) for comparison.

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use tollgate::llm::codec::{self, StreamDecoder, StreamEncoder};
use tollgate::llm::passthrough::Peek;
use tollgate::llm::provider::Format;
use tollgate::llm::sse::Decoder;
use tollgate::llm::validate::Api;

/// A typical agent turn: system prompt, a few messages, one tool call and its result, a tool.
const REQUEST: &str = r#"{"model":"gpt-4o","temperature":0.2,"max_tokens":512,"messages":[
{"role":"system","content":"You are a travel assistant. Answer briefly and cite the tool results you used."},
{"role":"user","content":"What is the weather in Paris today, and should I bring an umbrella?"},
{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
{"role":"tool","tool_call_id":"call_1","content":"{\"temp_c\":14,\"rain_probability\":0.7,\"summary\":\"showers in the afternoon\"}"},
{"role":"user","content":"And tomorrow?"}],
"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather and forecast for a city","parameters":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city"]}}}]}"#;
const ANTHROPIC_RESPONSE: &str =
    include_str!("../src/llm/providers/anthropic/fixtures/response_tool_use.json");
const ANTHROPIC_STREAM: &str =
    include_str!("../src/llm/providers/anthropic/fixtures/stream_text.sse");

fn requests(c: &mut Criterion) {
    let body = REQUEST.as_bytes();
    let mut g = c.benchmark_group("request");
    g.bench_function("passthrough_peek_splice", |b| {
        b.iter(|| {
            let peek = Peek::read(black_box(body), Api::Chat(Format::OpenAi)).expect("valid");
            peek.splice(body, "gpt-4o-2024-08-06", true)
        })
    });
    for (name, to) in [
        ("openai_to_anthropic", Format::Anthropic),
        ("openai_to_gemini", Format::Gemini),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let ir = codec::decode_chat(Format::OpenAi, black_box(body)).expect("valid");
                codec::encode_chat(to, &ir, "target-model").expect("encodes")
            })
        });
    }
    g.finish();
}

fn responses(c: &mut Criterion) {
    let body = ANTHROPIC_RESPONSE.as_bytes();
    c.bench_function("response/anthropic_to_openai", |b| {
        b.iter(|| {
            let ir = codec::decode_response(Format::Anthropic, black_box(body)).expect("valid");
            codec::encode_response(Format::OpenAi, &ir)
        })
    });
}

fn streams(c: &mut Criterion) {
    let stream = ANTHROPIC_STREAM.as_bytes();
    c.bench_function("stream/anthropic_to_openai", |b| {
        let mut events = Vec::new();
        let mut ir = Vec::new();
        let mut out = BytesMut::with_capacity(4096);
        b.iter(|| {
            let mut sse = Decoder::new();
            let mut dec = StreamDecoder::new(Format::Anthropic);
            let mut enc = StreamEncoder::new(Format::OpenAi, true);
            out.clear();
            for chunk in black_box(stream).chunks(512) {
                events.clear();
                sse.push(chunk, &mut events).expect("valid");
                for ev in &events {
                    ir.clear();
                    dec.decode(ev, &mut ir).expect("valid");
                    for e in &ir {
                        enc.encode(e, &mut out);
                    }
                }
            }
            enc.finish(&mut out);
            out.len()
        })
    });
}

criterion_group!(benches, requests, responses, streams);
criterion_main!(benches);
