//! LLM calls by public model and provider: tokens by kind, cost, time to first byte and
//! duration. The label set is bounded by the configuration (its models times their providers),
//! never by callers or requests.

use super::Histogram;
use crate::telemetry::call::{CallRecord, OUTCOMES};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The calls a model served through one provider.
#[derive(Default)]
pub struct LlmMetrics {
    /// By outcome: ok, error, cancelled, truncated (`CallRecord::outcome`).
    outcomes: [AtomicU64; OUTCOMES.len()],
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    cached_tokens: AtomicU64,
    reasoning_tokens: AtomicU64,
    /// Billionths of a US dollar, so that a counter of integers adds up exactly.
    cost_nano_usd: AtomicU64,
    time_to_first_byte: Histogram,
    duration: Histogram,
}

impl LlmMetrics {
    /// Counts one call, `elapsed` after its request arrived.
    pub fn observe(&self, rec: &CallRecord, elapsed: Duration) {
        if let Some(i) = OUTCOMES.iter().position(|o| *o == rec.outcome) {
            self.outcomes[i].fetch_add(1, Relaxed);
        }
        self.prompt_tokens.fetch_add(rec.prompt_tokens, Relaxed);
        self.completion_tokens
            .fetch_add(rec.completion_tokens, Relaxed);
        self.cached_tokens.fetch_add(rec.cached_tokens, Relaxed);
        self.reasoning_tokens
            .fetch_add(rec.reasoning_tokens, Relaxed);
        let nanos = (rec.cost_usd.max(0.0) * 1e9).round() as u64;
        self.cost_nano_usd.fetch_add(nanos, Relaxed);
        if let Some(ms) = rec.ttft_ms {
            self.time_to_first_byte
                .observe(Duration::from_secs_f64(ms.max(0.0) / 1e3));
        }
        self.duration.observe(elapsed);
    }
}

/// Renders the LLM families for `series`: (model, provider, metrics), sorted by the caller.
pub fn render(out: &mut String, series: &[(&str, &str, &LlmMetrics)]) {
    let labels = |model: &str, provider: &str| format!("model=\"{model}\",provider=\"{provider}\"");
    out.push_str("# HELP tollgate_llm_requests_total LLM calls by the model that served them, its provider and outcome.\n");
    out.push_str("# TYPE tollgate_llm_requests_total counter\n");
    for (model, provider, m) in series {
        for (i, o) in OUTCOMES.iter().enumerate() {
            let v = m.outcomes[i].load(Relaxed);
            let l = labels(model, provider);
            let _ = writeln!(
                out,
                "tollgate_llm_requests_total{{{l},outcome=\"{o}\"}} {v}"
            );
        }
    }
    out.push_str("# HELP tollgate_llm_tokens_total Tokens of LLM calls by kind (cached and reasoning tokens are part of prompt and completion).\n");
    out.push_str("# TYPE tollgate_llm_tokens_total counter\n");
    for (model, provider, m) in series {
        let kinds = [
            ("prompt", &m.prompt_tokens),
            ("completion", &m.completion_tokens),
            ("cached", &m.cached_tokens),
            ("reasoning", &m.reasoning_tokens),
        ];
        for (kind, v) in kinds {
            let l = labels(model, provider);
            let v = v.load(Relaxed);
            let _ = writeln!(out, "tollgate_llm_tokens_total{{{l},kind=\"{kind}\"}} {v}");
        }
    }
    out.push_str("# HELP tollgate_llm_cost_usd_total Cost of LLM calls in US dollars, from the models' prices.\n");
    out.push_str("# TYPE tollgate_llm_cost_usd_total counter\n");
    for (model, provider, m) in series {
        let usd = m.cost_nano_usd.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(
            out,
            "tollgate_llm_cost_usd_total{{{}}} {usd}",
            labels(model, provider)
        );
    }
    type Family = (&'static str, &'static str, fn(&LlmMetrics) -> &Histogram);
    let histograms: [Family; 2] = [
        (
            "tollgate_llm_time_to_first_byte_seconds",
            "From the request's arrival to the first byte of the answer sent to the client.",
            |m| &m.time_to_first_byte,
        ),
        (
            "tollgate_llm_request_duration_seconds",
            "From the request's arrival to the end of the LLM call's answer.",
            |m| &m.duration,
        ),
    ];
    for (name, help, field) in histograms {
        let each = series
            .iter()
            .map(|(model, provider, m)| (labels(model, provider), field(m)));
        super::render_histograms(out, name, help, each);
    }
}
