//! A batch's calls summed per minute and per who/what (tenant, app, key, route, model,
//! provider): the rows the store adds to its per-minute, per-hour and per-day totals.

use super::hist::Hist;
use crate::telemetry::record::Record;
use serde::Serialize;
use std::collections::HashMap;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;

/// Who made the calls and what served them: one total per distinct value.
/// Borrowed from the batch's records: summing a batch allocates one entry per distinct total.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dims<'r> {
    pub tenant: &'r str,
    pub app: &'r str,
    pub key: &'r str,
    pub route: &'r str,
    pub model: &'r str,
    pub provider: &'r str,
}

/// What a total counts: the figures that add up, as `/admin/usage` shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    pub requests: u64,
    /// Answers of 500 and more, and calls that got no answer.
    pub errors: u64,
    /// Answers from 400 to 499.
    pub client_errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Totals {
    pub counts: Counts,
    pub latency: Hist,
    pub ttfb: Hist,
}

impl Counts {
    fn add(&mut self, r: &Record<'_>) {
        self.requests += 1;
        match r.status {
            0 | 500.. => self.errors += 1,
            400..=499 => self.client_errors += 1,
            _ => {}
        }
        if let Some(llm) = r.llm.as_deref() {
            self.prompt_tokens += llm.prompt_tokens;
            self.completion_tokens += llm.completion_tokens;
            self.cached_tokens += llm.cached_tokens;
            self.reasoning_tokens += llm.reasoning_tokens;
            self.cost_usd += llm.cost_usd;
        }
    }
}

impl Counts {
    fn merge(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.client_errors += o.client_errors;
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.cached_tokens += o.cached_tokens;
        self.reasoning_tokens += o.reasoning_tokens;
        self.cost_usd += o.cost_usd;
    }
}

impl Totals {
    pub fn merge(&mut self, o: &Totals) {
        self.counts.merge(&o.counts);
        self.latency.merge(&o.latency);
        self.ttfb.merge(&o.ttfb);
    }

    fn add(&mut self, r: &Record<'_>) {
        self.counts.add(r);
        self.latency.observe(r.latency_ms);
        if let Some(ms) = r.ttfb_ms {
            self.ttfb.observe(ms);
        }
    }
}

/// The model a call is counted under: the one that served it, else the one asked for.
pub fn model_of<'r>(r: &'r Record<'_>) -> &'r str {
    match r.llm.as_deref() {
        Some(l) if !l.model.is_empty() => &l.model,
        Some(l) => &l.requested_model,
        None => "",
    }
}

/// Sums `calls` per minute (Unix milliseconds of its start) and dimensions.
pub fn by_minute<'r, 'a: 'r>(
    calls: impl Iterator<Item = &'r Record<'a>>,
) -> HashMap<(i64, Dims<'r>), Totals> {
    let mut out: HashMap<(i64, Dims<'r>), Totals> = HashMap::new();
    // Calls in a row are often alike (one route, one key): they add to the same total
    // without hashing its dimensions again.
    let mut last: Option<((i64, Dims<'r>), Totals)> = None;
    for r in calls {
        let minute = r.unix_ms().div_euclid(MINUTE_MS) * MINUTE_MS;
        let text = |v: &'r Option<std::borrow::Cow<'a, str>>| v.as_deref().unwrap_or("");
        let at = (
            minute,
            Dims {
                tenant: text(&r.tenant),
                app: text(&r.app),
                key: text(&r.key),
                route: &r.route,
                model: model_of(r),
                provider: r.llm.as_deref().map_or("", |l| &l.provider),
            },
        );
        match &mut last {
            Some((key, totals)) if *key == at => totals.add(r),
            _ => {
                if let Some((key, totals)) = last.take() {
                    out.entry(key).or_default().merge(&totals);
                }
                let mut totals = Totals::default();
                totals.add(r);
                last = Some((at, totals));
            }
        }
    }
    if let Some((key, totals)) = last {
        out.entry(key).or_default().merge(&totals);
    }
    out
}
