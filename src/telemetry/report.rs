//! How a sink that fails (the access log, the call store, the OTLP exporter) says so in the
//! process log: the first failure at once, then at most one line per `REPORT_EVERY` while the
//! failures last (with what was lost meanwhile), and one line when it works again. A broken
//! sink is neither unnoticed nor a flood.

use std::time::{Duration, Instant};

/// At most one process-log line per this long while a sink keeps failing.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);

pub struct FailureLog {
    /// What fails, as the lines say it: "cannot write the access log", "OTLP export to h:p".
    what: String,
    /// The metric that counts what is lost.
    metric: &'static str,
    failing: Option<Failing>,
}

/// Failing since the last report: what was lost since, and when the report was.
struct Failing {
    reported: Instant,
    errors: u64,
    lost: u64,
}

impl FailureLog {
    pub fn new(what: impl Into<String>, metric: &'static str) -> FailureLog {
        FailureLog {
            what: what.into(),
            metric,
            failing: None,
        }
    }

    pub fn is_failing(&self) -> bool {
        self.failing.is_some()
    }

    /// One failure, for `reason`, that lost `lost` records.
    pub fn failed(&mut self, reason: &str, lost: u64) {
        let now = Instant::now();
        let Some(f) = &mut self.failing else {
            tracing::error!(
                "{}: {reason}; {lost} record(s) lost (counted in {}; reported again at most \
                 every {}s)",
                self.what,
                self.metric,
                REPORT_EVERY.as_secs()
            );
            self.failing = Some(Failing {
                reported: now,
                errors: 0,
                lost: 0,
            });
            return;
        };
        f.errors += 1;
        f.lost += lost;
        if now.duration_since(f.reported) >= REPORT_EVERY {
            tracing::error!(
                "still failing, {}: {reason}; {} more record(s) lost in {} failure(s) over {}s",
                self.what,
                f.lost,
                f.errors,
                now.duration_since(f.reported).as_secs()
            );
            *f = Failing {
                reported: now,
                errors: 0,
                lost: 0,
            };
        }
    }

    /// A success: says so once after failures.
    pub fn recovered(&mut self) {
        if let Some(f) = self.failing.take() {
            tracing::warn!(
                "{}: works again ({} more record(s) lost since the last report)",
                self.what,
                f.lost
            );
        }
    }
}
