//! What a query of the call store asks and what it answers: filters, pages and usage totals.

use super::rollup::{Counts, DAY_MS, HOUR_MS, MINUTE_MS};
use super::CallStoreError;
use serde::Serialize;

/// Which calls `/admin/calls` lists. `tenant` is also how a query is restricted to one
/// tenant: the admin API sets it from the caller, never from what the caller asks.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    /// Unix milliseconds: calls that started at or after `from`, and before `to`.
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub tenant: Option<String>,
    pub app: Option<String>,
    pub key: Option<String>,
    pub route: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    /// 2 for 2xx, ..., 5 for 5xx; 0 for calls that got no answer.
    pub status_class: Option<u16>,
    pub error_code: Option<String>,
    /// Text the request path contains (the record's `path`, without the query).
    pub path: Option<String>,
    pub limit: usize,
    /// Where the previous page stopped.
    pub cursor: Option<Cursor>,
}

/// A position in the newest-first order: the row id of a page's last call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor(pub i64);

impl Cursor {
    pub fn encode(&self) -> String {
        format!("c{}", self.0)
    }

    pub fn decode(text: &str) -> Result<Cursor, CallStoreError> {
        text.strip_prefix('c')
            .and_then(|id| id.parse().ok())
            .map(Cursor)
            .ok_or_else(|| {
                CallStoreError::BadQuery(format!("cursor {text:?} is not one this API gave"))
            })
    }
}

#[derive(Debug, Serialize)]
pub struct CallPage {
    pub calls: Vec<serde_json::Value>,
    /// Give it back as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupBy {
    Tenant,
    App,
    Key,
    Route,
    Model,
    Provider,
}

impl GroupBy {
    pub fn parse(text: &str) -> Result<GroupBy, CallStoreError> {
        Ok(match text {
            "tenant" => GroupBy::Tenant,
            "app" => GroupBy::App,
            "key" => GroupBy::Key,
            "route" => GroupBy::Route,
            "model" => GroupBy::Model,
            "provider" => GroupBy::Provider,
            other => {
                return Err(CallStoreError::BadQuery(format!(
                    "group_by {other:?}: use tenant, app, key, route, model or provider"
                )))
            }
        })
    }

    /// The totals' column, from a fixed list (never the caller's text).
    pub fn column(self) -> &'static str {
        match self {
            GroupBy::Tenant => "tenant",
            GroupBy::App => "app",
            GroupBy::Key => "key",
            GroupBy::Route => "route",
            GroupBy::Model => "model",
            GroupBy::Provider => "provider",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Minute,
    Hour,
    Day,
}

impl Bucket {
    pub fn parse(text: &str) -> Result<Bucket, CallStoreError> {
        Ok(match text {
            "minute" => Bucket::Minute,
            "hour" => Bucket::Hour,
            "day" => Bucket::Day,
            other => {
                return Err(CallStoreError::BadQuery(format!(
                    "bucket {other:?}: use minute, hour or day"
                )))
            }
        })
    }

    pub fn ms(self) -> i64 {
        match self {
            Bucket::Minute => MINUTE_MS,
            Bucket::Hour => HOUR_MS,
            Bucket::Day => DAY_MS,
        }
    }

    /// The totals' table, from a fixed list.
    pub fn table(self) -> &'static str {
        match self {
            Bucket::Minute => "usage_minute",
            Bucket::Hour => "usage_hour",
            Bucket::Day => "usage_day",
        }
    }

    pub const ALL: [Bucket; 3] = [Bucket::Minute, Bucket::Hour, Bucket::Day];
}

#[derive(Debug, Clone)]
pub struct UsageQuery {
    /// Unix milliseconds; buckets that start in `[from, to)`.
    pub from: i64,
    pub to: i64,
    pub group_by: GroupBy,
    pub bucket: Bucket,
    /// Restricts the totals to one tenant (set by the admin API from the caller).
    pub tenant: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct UsageRow {
    /// The bucket's start, RFC 3339.
    pub bucket: String,
    /// The value of the `group_by` dimension ("" for calls without one, e.g. no key).
    pub group: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub latency_ms: Percentiles,
    pub ttfb_ms: Percentiles,
}

/// Read from the bucket histograms: each within about 19% above the true value.
#[derive(Debug, Serialize, PartialEq, Default)]
pub struct Percentiles {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

impl Percentiles {
    pub fn of(h: &super::hist::Hist) -> Percentiles {
        Percentiles {
            p50: h.quantile(0.50),
            p95: h.quantile(0.95),
            p99: h.quantile(0.99),
        }
    }
}
