//! Token and cost limits of an LLM route. Before the call a request reserves an estimate
//! (the prompt's size in tokens, about 4 bytes each, plus the output it allows: its
//! `max_tokens`, else the model's `max_output_tokens`, else 1,024); after it, the reservation
//! is settled with the usage the provider reported: the difference is given back or charged.
//! A stream cut short without the provider's usage is charged an estimate of what it
//! delivered (the prompt's estimate plus the output bytes sent, `tokens_of_bytes`); a failed
//! call nothing.

use super::check::{Caller, Headers, Limited, Scope, Taken};
use super::cluster::Cluster;
use super::local::LocalTable;
use super::top::{self, TopTable};
use crate::auth::Principal;
use crate::config::schema::Counts;
use crate::routing::{Route, Snapshot};
use std::net::IpAddr;
use std::sync::Arc;

/// Output tokens assumed when neither the request nor the model sets a maximum.
pub const DEFAULT_OUTPUT: u64 = 1024;

/// Tokens estimated from text bytes, about 4 bytes each: a prompt before the call, and the
/// output a stream cut short delivered without the provider's count.
pub fn tokens_of_bytes(bytes: u64) -> u64 {
    bytes.div_ceil(4)
}

/// The usage limits of one LLM request, and what it has reserved from each; also what the
/// request's OpenAI rate-limit headers are read from.
pub struct Budget {
    table: LocalTable,
    top: TopTable,
    cluster: Option<Arc<Cluster>>,
    snapshot: Arc<Snapshot>,
    /// The route's token and cost limits, and once the model is known, the model's limits.
    limits: Vec<usize>,
    /// The route's request limits (decided at admission; kept for the headers).
    request_limits: Vec<usize>,
    /// The public model asked for, once known.
    model: Option<String>,
    route: Arc<str>,
    principal: Option<Arc<Principal>>,
    key_id: Option<String>,
    client_ip: Option<IpAddr>,
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
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        table: LocalTable,
        top: TopTable,
        cluster: Option<Arc<Cluster>>,
        snapshot: Arc<Snapshot>,
        route: &Route,
        principal: Option<Arc<Principal>>,
        key_id: Option<String>,
        client_ip: Option<IpAddr>,
    ) -> Budget {
        Budget {
            table,
            top,
            cluster,
            snapshot,
            limits: route.spec.usage_limits.clone(),
            request_limits: route.spec.limits.clone(),
            model: None,
            route: route.name.clone(),
            principal,
            key_id,
            client_ip,
            reserved: Vec::new(),
            cluster_requests: Vec::new(),
        }
    }

    fn scope(&self) -> Scope<'_> {
        Scope {
            table: &self.table,
            cluster: self.cluster.as_deref(),
            specs: &self.snapshot.config.limits,
            metrics: &self.snapshot.limit_metrics,
        }
    }

    fn caller<'a>(&'a self, model: Option<&'a str>) -> Caller<'a> {
        Caller {
            route: &self.route,
            tenant: self.principal.as_ref().map(|p| &*p.tenant),
            app: self.principal.as_ref().map(|p| &*p.app),
            key_id: self.key_id.as_deref(),
            model,
            client_ip: self.client_ip,
        }
    }

    /// Reserves `estimate` for a call to public model `model`, whose own limits are
    /// `model_limits`, or refuses the call.
    pub async fn reserve(
        &mut self,
        model: &str,
        model_limits: &[usize],
        estimate: Spend,
        now: u64,
        headers: &mut Headers,
    ) -> Result<(), Limited> {
        self.model = Some(model.to_owned());
        for &i in model_limits {
            if !self.limits.contains(&i) {
                self.limits.push(i);
            }
            let requests = self.snapshot.config.limits[i].counts == Counts::Requests;
            if requests && !self.request_limits.contains(&i) {
                // Decided here with the model's other limits; listed for the headers.
                self.request_limits.push(i);
            }
        }
        let mut reserved = Vec::with_capacity(self.limits.len());
        let caller = self.caller(Some(model));
        let specs = &self.snapshot.config.limits;
        let attached = self
            .principal
            .as_ref()
            .map_or(&[][..], |p| &p.limits.usage[..]);
        let index = &self.snapshot.limit_index;
        let draws = super::plans::draws(specs, index, &self.limits, attached, &caller);
        let units = |spec: &crate::config::compile::LimitSpec| estimate.of(spec.counts);
        let taken = self
            .scope()
            .take(&draws, now, headers, units, |t| reserved.push(t))
            .await;
        if let Err(limited) = &taken {
            top::note(&self.top, specs, &draws, limited, &caller);
        }
        taken?;
        self.reserved = reserved;
        Ok(())
    }

    /// Keeps the request limits decided in Redis for this request, for `openai_headers`.
    pub fn note_cluster_requests(&mut self, taken: Vec<Taken>) {
        self.cluster_requests = taken;
    }

    /// OpenAI's `x-ratelimit-*-requests` and `-tokens` headers, from the buckets as they stand:
    /// the route's limits and the key's (its plan's and attachments').
    pub fn openai_headers(&self, now: u64) -> Headers {
        let mut headers = Vec::new();
        let specs = &self.snapshot.config.limits;
        let index = &self.snapshot.limit_index;
        let key = self.principal.as_ref().map(|p| &p.limits);
        let caller = self.caller(None);
        let attached = key.map_or(&[][..], |k| &k.requests[..]);
        let draws = super::plans::draws(specs, index, &self.request_limits, attached, &caller);
        super::openai::push(
            &self.table,
            specs,
            &draws,
            &self.cluster_requests,
            Counts::Requests,
            now,
            &mut headers,
        );
        let caller = self.caller(self.model.as_deref());
        let attached = key.map_or(&[][..], |k| &k.usage[..]);
        let draws = super::plans::draws(specs, index, &self.limits, attached, &caller);
        super::openai::push(
            &self.table,
            specs,
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
        let scope = self.scope();
        for t in &self.reserved {
            let actual = used.of(self.snapshot.config.limits[t.draw.limit].counts);
            if actual < t.units {
                scope.give_back(t, t.units - actual, now);
            } else if actual > t.units {
                scope.charge(t, actual - t.units, now);
            }
        }
    }
}
