//! SSE decoding throughput: a 100-event OpenAI-style chat stream fed in 1 KiB chunks, the way
//! upstream body chunks arrive.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tollgate::llm::sse::Decoder;

fn stream() -> Vec<u8> {
    let mut s = String::new();
    for i in 0..99 {
        s.push_str(&format!(
            "data: {{\"id\":\"chatcmpl-9xYz\",\"object\":\"chat.completion.chunk\",\"created\":1718000000,\"model\":\"gpt-4o-mini\",\"system_fingerprint\":\"fp_0ba0d124f1\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\" token {i}\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        ));
    }
    s.push_str("data: [DONE]\n\n");
    s.into_bytes()
}

fn bench(c: &mut Criterion) {
    let s = stream();
    let mut group = c.benchmark_group("sse");
    group.throughput(Throughput::Bytes(s.len() as u64));
    let mut out = Vec::with_capacity(16);
    group.bench_function("decode_openai_100_events_1k_chunks", |b| {
        b.iter(|| {
            let mut d = Decoder::new();
            let mut n = 0;
            for chunk in black_box(&s[..]).chunks(1024) {
                out.clear();
                d.push(chunk, &mut out).expect("valid stream");
                n += out.len();
            }
            d.finish().expect("clean end");
            assert_eq!(n, 100);
            n
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
