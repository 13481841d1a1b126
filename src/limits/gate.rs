//! The limits gate: what a worker's requests pass through to learn whether they may go, and
//! what they hold while they run. It owns the host's limit table, this worker's column of the
//! concurrency table, the most-refused table and the link to Redis, and answers in two steps:
//! `admit_local` (synchronous: the concurrency caps, then every local request limit) and, when
//! a draw is kept in Redis, `admit_cluster` (awaited once the snapshot guard is gone). A
//! refusal is noted in the most-refused table here, with the same `Caller` the buckets were
//! keyed on. An LLM route's token and cost limits are the `Budget` made from the gate.

use super::check::{now_or_never, Book, Buckets};
use super::cluster::{self, Cluster};
use super::concurrency::{self, ConcurrencyTable, Held};
use super::draws;
use super::local::LocalTable;
use super::top::{self, TopTable};
use super::vocab::{Caller, Draw, Headers, Limited, Refusal, Taken};
use crate::auth::plans::{Attached, Effective};
use crate::base::clock::now_ns;
use crate::config::{RedisSettings, RouteSpec};
use arc_swap::ArcSwapOption;
use std::sync::Arc;

pub struct Gate {
    /// The host-wide limit table, shared with the other workers.
    table: LocalTable,
    /// Requests in flight per key, host-wide; this worker counts in column `slot`.
    concurrency: ConcurrencyTable,
    slot: usize,
    /// The most refused buckets of the host, written on refusals only.
    top: TopTable,
    /// The link to Redis for cluster-scope limits, when `[redis]` is set; remade on reload.
    cluster: ArcSwapOption<Cluster>,
}

/// What of the gate a request passes through, known from its route and key before anything
/// is made: a request whose route and key have no limits makes no `Caller` and takes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needs {
    /// The route's or the key's request limits, or the route's concurrency caps.
    pub requests: bool,
    /// An LLM route with token, cost or model limits (the route's, the key's or the models').
    pub budget: bool,
}

impl Needs {
    /// `llm` says whether the route is an LLM route; `models_limited` whether any model has
    /// limits of its own.
    pub fn of(
        route: &RouteSpec,
        llm: bool,
        models_limited: bool,
        key: Option<&Effective>,
    ) -> Needs {
        let key_requests = key.is_some_and(|k| !k.requests.is_empty());
        let key_limited = key.is_some_and(|k| !k.is_empty());
        let route_limited = !route.limits.is_empty() || !route.usage_limits.is_empty();
        Needs {
            requests: !route.limits.is_empty()
                || key_requests
                || !route.concurrency_limits.is_empty(),
            budget: llm && (route_limited || key_limited || models_limited),
        }
    }

    pub fn any(self) -> bool {
        self.requests || self.budget
    }
}

/// Request limits `admit_local` left to decide in Redis: every draw of the request, decided
/// together by `admit_cluster`.
pub struct Pending {
    draws: Vec<Draw>,
}

impl Gate {
    /// The gate of worker `slot`, over the tables the master mapped before it forked; starts
    /// the link to `redis`, giving it its connect timeout to connect before the worker serves.
    pub fn new(
        table: LocalTable,
        concurrency: ConcurrencyTable,
        slot: usize,
        top: TopTable,
        redis: Option<&RedisSettings>,
    ) -> Gate {
        Gate {
            table,
            concurrency,
            slot,
            top,
            cluster: ArcSwapOption::from(cluster::start(redis, table)),
        }
    }

    /// On reload: the same Redis server keeps its connection and leases (its breaker starts
    /// over); another one, or none, replaces the link.
    pub fn relink(&self, redis: Option<&RedisSettings>) {
        match (self.cluster.load_full(), redis) {
            (Some(c), Some(r)) if c.link.settings() == r => c.link.reset_breaker(),
            _ => self.cluster.store(cluster::connect(redis, self.table)),
        }
    }

    /// Admits a request to its route's concurrency caps and request limits (the route's and
    /// `key`'s), from synchronous code. Caps come first, so a request refused for want of a
    /// place costs the rate limits nothing; the places taken go into `places`, held until the
    /// request drops them (a refusal by a rate limit keeps them until then too). When a draw is kept in Redis nothing is drawn yet: the draws are
    /// returned, for `admit_cluster`.
    pub fn admit_local(
        &self,
        book: &Book,
        route: &RouteSpec,
        key: &[Attached],
        caller: &Caller,
        headers: &mut Headers,
        places: &mut Vec<Held>,
    ) -> Result<Option<Pending>, Limited> {
        let own = (&route.limits[..], &route.concurrency_limits[..]);
        self.admit_local_of(book, own, key, caller, headers, places)
    }

    /// `admit_local` for an API that is not a route (an upstream MCP server's tool call):
    /// `own` are its request limits and concurrency caps.
    pub fn admit_local_of(
        &self,
        book: &Book,
        (requests, caps): (&[usize], &[usize]),
        key: &[Attached],
        caller: &Caller,
        headers: &mut Headers,
        places: &mut Vec<Held>,
    ) -> Result<Option<Pending>, Limited> {
        *places = concurrency::hold(
            &self.concurrency,
            self.slot,
            book.specs,
            book.metrics,
            caps,
            caller,
            headers,
        )?;
        let draws = draws::draws(book.specs, book.index, requests, key, caller);
        if draws.iter().any(|d| book.specs[d.limit].cluster.is_some()) {
            return Ok(Some(Pending { draws }));
        }
        let buckets = Buckets::new(&self.table, None, book);
        let take = buckets.take(&draws, now_ns(), headers, |_| 1, |_| {});
        match now_or_never(take) {
            Some(Ok(())) => Ok(None),
            Some(Err(limited)) => Err(self.refused(book, &draws, limited, caller)),
            // `take` awaits only Redis, and it was given no link: it cannot wait. Were it to,
            // the request is refused as if its limits could not be checked.
            None => Err(Limited {
                limit: draws
                    .first()
                    .map_or_else(String::new, |d| book.specs[d.limit].name.clone()),
                retry_after: 1,
                unavailable: true,
                kind: Refusal::Rate,
            }),
        }
    }

    /// `admit_local_of` and, when a draw is kept in Redis, `admit_cluster`: for a caller that
    /// holds no snapshot guard (the MCP endpoint and its upstream servers' tool calls).
    pub async fn admit_of(
        &self,
        book: &Book<'_>,
        own: (&[usize], &[usize]),
        key: &[Attached],
        caller: &Caller,
        headers: &mut Headers,
        places: &mut Vec<Held>,
    ) -> Result<(), Limited> {
        if let Some(pending) = self.admit_local_of(book, own, key, caller, headers, places)? {
            self.admit_cluster(book, pending, caller, headers).await?;
        }
        Ok(())
    }

    /// Decides the request limits `admit_local` left pending, in Redis (or by the limits'
    /// failure policy when Redis does not answer). What was taken is returned for the OpenAI
    /// headers of an LLM route.
    pub async fn admit_cluster(
        &self,
        book: &Book<'_>,
        pending: Pending,
        caller: &Caller,
        headers: &mut Headers,
    ) -> Result<Vec<Taken>, Limited> {
        let cluster = self.cluster.load_full();
        let buckets = Buckets::new(&self.table, cluster.as_deref(), book);
        let mut taken = Vec::new();
        let draws = &pending.draws;
        let decided = buckets.take(draws, now_ns(), headers, |_| 1, |t| taken.push(t));
        match decided.await {
            Ok(()) => Ok(taken),
            Err(limited) => Err(self.refused(book, draws, limited, caller)),
        }
    }

    /// Notes a refusal in the most-refused table.
    fn refused(&self, book: &Book, draws: &[Draw], limited: Limited, caller: &Caller) -> Limited {
        top::note(&self.top, book.specs, draws, &limited, caller);
        limited
    }

    /// What an LLM call's budget decides with: the tables, and the Redis link as it is now
    /// (kept for the whole call, across a reload).
    pub(super) fn pin(&self) -> (LocalTable, TopTable, Option<Arc<Cluster>>) {
        (self.table, self.top, self.cluster.load_full())
    }
}
