// Copyright 2026 Cloudflare, Inc.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

//! Idle connections in the [`TransportConnector`](super::TransportConnector)'s keep-alive pool,
//! watched without a task per connection.
//!
//! A released connection sits in the pool as an [`IdleStream`] with its idle deadline. Nothing
//! runs for it while it is idle: whoever takes it back checks it then ([`IdleStream::expired`]
//! and `test_reusable_stream`: a connection the server closed, or one it sent bytes on, is never
//! handed out). One [`Sweeper`] task per pool closes connections whose idle timeout has passed
//! (and any found closed on the way), waking only at the earliest deadline in the pool.
//!
//! Before this, each release spawned a task that waited on the socket, an eviction notifier, a
//! channel and a timer, and a reuse woke that task and waited for it to hand the socket back: a
//! task, a channel, a notifier, a mutex and a timer per request, and two context switches.

use super::test_reusable_stream;
use crate::protocols::Stream;
use pingora_pool::ConnectionPool;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A pooled connection and when it stops being reusable.
pub(crate) struct IdleStream {
    pub(crate) stream: Stream,
    /// When it was released; only recorded when someone wants to know (the pool callback).
    pub(crate) idle_since: Option<Instant>,
    /// When its idle timeout ends, if it has one.
    deadline: Option<Instant>,
}

impl IdleStream {
    pub(crate) fn new(
        stream: Stream,
        idle_since: Option<Instant>,
        deadline: Option<Instant>,
    ) -> Self {
        IdleStream {
            stream,
            idle_since,
            deadline,
        }
    }

    /// Whether its idle timeout has passed (reads the clock only if it has one).
    pub(crate) fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| d <= Instant::now())
    }
}

pub(crate) type IdlePool = ConnectionPool<IdleStream>;

/// No deadline is pending.
const NONE: u64 = u64::MAX;

/// The pool's one sweeping task: when it should next wake, and how to wake it sooner.
pub(crate) struct Sweeper {
    /// Deadlines are kept as nanoseconds since this instant, to fit in an atomic.
    base: Instant,
    /// The earliest deadline the task has not swept yet, or [`NONE`].
    next_wake: AtomicU64,
    /// Wakes the task when a deadline earlier than `next_wake` arrives, or the pool goes.
    wake: Notify,
    /// Whether a task is running (it clears this when it ends or its runtime drops it).
    running: AtomicBool,
    closed: AtomicBool,
}

impl Sweeper {
    pub(crate) fn new() -> Self {
        Sweeper {
            base: Instant::now(),
            next_wake: AtomicU64::new(NONE),
            wake: Notify::new(),
            running: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        }
    }

    fn to_nanos(&self, at: Instant) -> u64 {
        // saturates at ~584 years, far beyond any idle timeout
        let nanos = at.saturating_duration_since(self.base).as_nanos();
        u64::try_from(nanos).unwrap_or(NONE - 1)
    }

    fn to_instant(&self, nanos: u64) -> Instant {
        self.base + Duration::from_nanos(nanos)
    }

    /// Make sure the pool is swept at `deadline`. On the request path: when the task already
    /// wakes earlier (the usual case, deadlines grow with time) this is one atomic load.
    pub(crate) fn schedule(
        self: &Arc<Self>,
        deadline: Instant,
        pool: &Arc<IdlePool>,
        unexpected_data: &Arc<AtomicU64>,
    ) {
        let at = self.to_nanos(deadline);
        if at >= self.next_wake.load(Ordering::Acquire) {
            return;
        }
        self.next_wake.fetch_min(at, Ordering::AcqRel);
        if self.running.swap(true, Ordering::AcqRel) {
            self.wake.notify_one();
            return;
        }
        // Outside a runtime there is no task: timed-out connections are then only found (and
        // closed) when they are taken, or evicted.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.running.store(false, Ordering::Release);
            return;
        };
        rt.spawn(sweep(
            Arc::downgrade(pool),
            self.clone(),
            unexpected_data.clone(),
        ));
    }

    /// The pool is going: end the task.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }
}

/// Clears `running` however the task ends, so the next deadline starts a new one.
struct Running<'a>(&'a Sweeper);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}

/// The sweeping task: sleeps until the earliest deadline, closes what has expired (or was
/// closed by the server meanwhile), and sleeps until the next one.
async fn sweep(pool: Weak<IdlePool>, sweeper: Arc<Sweeper>, unexpected_data: Arc<AtomicU64>) {
    let _running = Running(&sweeper);
    while !sweeper.closed.load(Ordering::Acquire) {
        let next = sweeper.next_wake.load(Ordering::Acquire);
        if next == NONE {
            sweeper.wake.notified().await;
            continue;
        }
        let at = sweeper.to_instant(next);
        if at > Instant::now() {
            tokio::select! {
                _ = sweeper.wake.notified() => {},
                _ = tokio::time::sleep_until(at.into()) => {},
            }
            continue;
        }
        let Some(pool) = pool.upgrade() else {
            return;
        };
        // Cleared first: a deadline scheduled while the pool is swept lowers it again.
        sweeper.next_wake.store(NONE, Ordering::Release);
        let mut earliest = NONE;
        let closed = pool.retain(|idle| {
            if idle.expired() || !test_reusable_stream(&mut idle.stream, &unexpected_data) {
                return false;
            }
            if let Some(deadline) = idle.deadline {
                earliest = earliest.min(sweeper.to_nanos(deadline));
            }
            true
        });
        drop(pool);
        drop(closed); // closes them, outside the pool's locks
        sweeper.next_wake.fetch_min(earliest, Ordering::AcqRel);
    }
}
