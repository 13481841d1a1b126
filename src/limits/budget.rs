//! Token and cost limits of an LLM route. Before the call a request reserves an estimate
//! (the prompt's size in tokens, about 4 bytes each, plus the output it allows: its
//! `max_tokens`, else the model's `max_output_tokens`, else 1,024); after it, the reservation
//! is settled with the usage the provider reported: the difference is given back or charged.
//! A stream cut short without the provider's usage is charged an estimate of what it
//! delivered (the prompt's estimate plus the output bytes sent, `tokens_of_bytes`); a failed
//! call nothing.

use super::check::{Book, Buckets};
use super::cluster::Cluster;
use super::gate::Gate;
use super::local::LocalTable;
use super::top::{self, TopTable};
use super::vocab::{Caller, Headers, Limited, Taken};
use crate::auth::Principal;
use crate::config::Counts;
use crate::config::RouteSpec;
use std::sync::Arc;

/// What holds the limits a budget reads: the request's snapshot (`crate::snapshot`), a layer
/// up, which a budget keeps alive for as long as its call runs.
pub trait LimitBook: Send + Sync {
    fn book(&self) -> Book<'_>;
}

/// Output tokens assumed when neither the request nor the model sets a maximum.
pub const DEFAULT_OUTPUT: u64 = 1024;

/// Tokens estimated from text bytes, about 4 bytes each: a prompt before the call, and the
/// output a stream cut short delivered without the provider's count.
pub fn tokens_of_bytes(bytes: u64) -> u64 {
    bytes.div_ceil(4)
}

/// The usage limits of one LLM request, and what it has reserved from each; also what the
/// request's OpenAI rate-limit headers are read from. Its buckets are keyed on the request's
/// `Caller`, which the request context keeps and hands to each call.
pub struct Budget {
    table: LocalTable,
    top: TopTable,
    cluster: Option<Arc<Cluster>>,
    /// The request's snapshot (kept for the whole call), whose limits the budget reads.
    snapshot: Arc<dyn LimitBook>,
    /// The route's token and cost limits, and once the model is known, the model's limits.
    limits: Vec<usize>,
    /// The route's request limits (decided at admission; kept for the headers).
    request_limits: Vec<usize>,
    /// The app whose key the request carries: the limits attached to it.
    principal: Option<Arc<Principal>>,
    reserved: Vec<Taken>,
    /// The request limits this request drew from Redis, as decided (for OpenAI's headers).
    cluster_requests: Vec<Taken>,
}

/// Usage in the units limits count: tokens, and millionths of a dollar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spend {
    pub tokens: u64,
    pub micro_usd: u64,
}

impl Spend {
    fn of(&self, counts: Counts) -> u64 {
        match counts {
            Counts::Cost => self.micro_usd,
            // A model's requests limit counts the call, whatever it used.
            Counts::Requests => 1,
            _ => self.tokens,
        }
    }
}

impl Budget {
    /// The budget of a request to `route` under `snapshot`, made from `gate` (whose Redis
    /// link it keeps for the whole call) before the request limits are decided, so that a
    /// refusal carries OpenAI's headers too.
    pub fn new(
        gate: &Gate,
        snapshot: Arc<impl LimitBook + 'static>,
        route: &RouteSpec,
        principal: Option<Arc<Principal>>,
    ) -> Budget {
        let (table, top, cluster) = gate.pin();
        Budget {
            table,
            top,
            cluster,
            snapshot,
            limits: route.usage_limits.clone(),
            request_limits: route.limits.clone(),
            principal,
            reserved: Vec::new(),
            cluster_requests: Vec::new(),
        }
    }

    fn buckets(&self) -> Buckets<'_> {
        Buckets::new(&self.table, self.cluster.as_deref(), &self.snapshot.book())
    }

    /// Reserves `estimate` for a call of `caller` to its model (`caller.model`, set by the
    /// LLM phase), whose own limits are `model_limits`, or refuses the call.
    pub async fn reserve(
        &mut self,
        caller: &Caller,
        model_limits: &[usize],
        estimate: Spend,
        now: u64,
        headers: &mut Headers,
    ) -> Result<(), Limited> {
        for &i in model_limits {
            if !self.limits.contains(&i) {
                self.limits.push(i);
            }
            let requests = self.snapshot.book().specs[i].counts == Counts::Requests;
            if requests && !self.request_limits.contains(&i) {
                // Decided here with the model's other limits; listed for the headers.
                self.request_limits.push(i);
            }
        }
        let mut reserved = Vec::with_capacity(self.limits.len());
        let book = self.snapshot.book();
        let attached = self
            .principal
            .as_ref()
            .map_or(&[][..], |p| &p.limits.usage[..]);
        let draws = super::draws::draws(book.specs, book.index, &self.limits, attached, caller);
        let units = |spec: &crate::config::LimitSpec| estimate.of(spec.counts);
        let taken = self
            .buckets()
            .take(&draws, now, headers, units, |t| reserved.push(t))
            .await;
        if let Err(limited) = &taken {
            top::note(&self.top, book.specs, &draws, limited, caller);
        }
        taken?;
        self.reserved = reserved;
        Ok(())
    }

    /// Keeps the request limits decided in Redis for this request, for `openai_headers`.
    pub fn note_cluster_requests(&mut self, taken: Vec<Taken>) {
        self.cluster_requests = taken;
    }

    /// OpenAI's `x-ratelimit-*-requests` and `-tokens` headers of `caller`'s buckets as they
    /// stand: the route's limits and the key's (its plan's and attachments').
    pub fn openai_headers(&self, caller: &Caller, now: u64) -> Headers {
        let mut headers = Vec::new();
        let book = self.snapshot.book();
        let key = self.principal.as_ref().map(|p| &p.limits);
        // The request limits read the buckets admission keyed without a model.
        let unmodelled;
        let at_admission = match caller.model {
            Some(_) => {
                unmodelled = Caller {
                    model: None,
                    ..caller.clone()
                };
                &unmodelled
            }
            None => caller,
        };
        let attached = key.map_or(&[][..], |k| &k.requests[..]);
        let draws = super::draws::draws(
            book.specs,
            book.index,
            &self.request_limits,
            attached,
            at_admission,
        );
        super::llm_headers::push(
            &self.table,
            book.specs,
            &draws,
            &self.cluster_requests,
            Counts::Requests,
            now,
            &mut headers,
        );
        let attached = key.map_or(&[][..], |k| &k.usage[..]);
        let draws = super::draws::draws(book.specs, book.index, &self.limits, attached, caller);
        super::llm_headers::push(
            &self.table,
            book.specs,
            &draws,
            &self.reserved,
            Counts::Tokens,
            now,
            &mut headers,
        );
        headers
    }

    /// Settles the reservation with what the call used.
    pub fn settle(self, used: Spend, now: u64) {
        let buckets = self.buckets();
        let specs = self.snapshot.book().specs;
        for t in &self.reserved {
            let actual = used.of(specs[t.draw.limit].counts);
            if actual < t.units {
                buckets.give_back(t, t.units - actual, now);
            } else if actual > t.units {
                buckets.charge(t, actual - t.units, now);
            }
        }
    }
}
