//! `/admin/calls` and `/admin/usage`: the call store's records and totals. The
//! `/admin/tenants/{tenant}/...` forms restrict every query to that tenant: the restriction
//! comes from the path (later, from the signed-in user), and no query parameter can widen it.

use super::error::AdminError;
use super::request::{only_params, param};
use super::shared::{json, Answer, Call, Shared};
use crate::base::time::parse_date;
use crate::telemetry::calls::{Bucket, CallFilter, CallStore, Cursor, GroupBy, UsageQuery};
use std::sync::Arc;

/// The most calls one page holds.
pub const PAGE_MAX: usize = 1000;

const CALL_PARAMS: &[&str] = &[
    "from",
    "to",
    "tenant",
    "app",
    "key",
    "route",
    "model",
    "provider",
    "status",
    "error_code",
    "path",
    "limit",
    "cursor",
];

/// `GET /admin/calls`, or `GET /admin/tenants/{tenant}/calls` with `scope`.
pub async fn list(shared: &Arc<Shared>, call: Call, scope: Option<String>) -> Answer {
    known(shared, &scope).await?;
    let filter = call_filter(&call.query, scope)?;
    let page = shared.calls(move |c| Ok(c.calls(&filter)?)).await?;
    json(200, &page)
}

/// `GET /admin/calls/{request_id}`: the whole record; 404 outside `scope`.
pub async fn get(shared: &Arc<Shared>, id: String, scope: Option<String>) -> Answer {
    known(shared, &scope).await?;
    let wanted = id.clone();
    let record = shared
        .calls(move |c| Ok(c.call(&wanted, scope.as_deref())?))
        .await?;
    match record {
        Some(r) => json(200, &r),
        None => Err(AdminError::NotFound(format!("no call {id:?} is stored"))),
    }
}

/// `GET /admin/usage`: totals per bucket and group.
pub async fn usage(shared: &Arc<Shared>, call: Call, scope: Option<String>) -> Answer {
    known(shared, &scope).await?;
    let q = &call.query;
    only_params(q, &["from", "to", "group_by", "bucket", "tenant"])?;
    let now = crate::base::clock::now_unix_ms();
    let to = time(q, "to")?.unwrap_or(now);
    let from = time(q, "from")?.unwrap_or(to - 86_400_000);
    let query = UsageQuery {
        from,
        to,
        group_by: GroupBy::parse(param(q, "group_by").unwrap_or("model"))?,
        bucket: Bucket::parse(param(q, "bucket").unwrap_or("hour"))?,
        tenant: restrict(scope, param(q, "tenant"))?,
    };
    let rows = shared.calls(move |c| Ok(c.usage(&query)?)).await?;
    json(200, &serde_json::json!({ "usage": rows }))
}

/// A restriction to a tenant the store does not know is a 404, as for its other paths.
async fn known(shared: &Arc<Shared>, scope: &Option<String>) -> Result<(), AdminError> {
    let Some(tenant) = scope.clone() else {
        return Ok(());
    };
    shared
        .store(move |s| Ok(s.get_tenant(&tenant).map(|_| ())?))
        .await
}

fn call_filter(q: &[(String, String)], scope: Option<String>) -> Result<CallFilter, AdminError> {
    only_params(q, CALL_PARAMS)?;
    let text = |name| param(q, name).map(String::from);
    let status_class = match param(q, "status") {
        None => None,
        Some(s) => Some(status_class(s)?),
    };
    let limit = match param(q, "limit") {
        None => 50,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=PAGE_MAX).contains(n))
            .ok_or_else(|| {
                AdminError::BadRequest(format!("limit={l}: give a number from 1 to {PAGE_MAX}"))
            })?,
    };
    Ok(CallFilter {
        from: time(q, "from")?,
        to: time(q, "to")?,
        tenant: restrict(scope, param(q, "tenant"))?,
        app: text("app"),
        key: text("key"),
        route: text("route"),
        model: text("model"),
        provider: text("provider"),
        status_class,
        error_code: text("error_code"),
        path: text("path").filter(|p| !p.is_empty()),
        limit,
        cursor: param(q, "cursor").map(Cursor::decode).transpose()?,
    })
}

/// The tenant a query is restricted to: the scope when there is one (a `tenant` parameter
/// naming another tenant is refused, not obeyed), else the parameter, a plain filter.
fn restrict(scope: Option<String>, asked: Option<&str>) -> Result<Option<String>, AdminError> {
    match (scope, asked) {
        (Some(s), Some(a)) if s != a => Err(AdminError::Forbidden(format!(
            "this query is restricted to tenant {s:?}"
        ))),
        (Some(s), _) => Ok(Some(s)),
        (None, a) => Ok(a.map(String::from)),
    }
}

/// `2xx`, `5xx` (or `2`, `5`); `0` for calls that got no answer.
fn status_class(text: &str) -> Result<u16, AdminError> {
    let digit = text.strip_suffix("xx").unwrap_or(text);
    match digit.parse::<u16>() {
        Ok(d) if d == 0 || (1..=5).contains(&d) => Ok(d),
        _ => Err(AdminError::BadRequest(format!(
            "status={text}: give a class, 1xx to 5xx, or 0 for calls that got no answer"
        ))),
    }
}

/// A `from`/`to` parameter: RFC 3339, a date, or Unix milliseconds.
fn time(q: &[(String, String)], name: &str) -> Result<Option<i64>, AdminError> {
    let Some(text) = param(q, name) else {
        return Ok(None);
    };
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(Some(ms));
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(text) {
        let ms = t
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        return Ok(Some(ms));
    }
    parse_date(text)
        .map(|s| Some(s * 1000))
        .map_err(|e| AdminError::BadRequest(format!("{name}: {e}")))
}
