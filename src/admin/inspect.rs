//! Handlers for the limits and their buckets: the configured limits, one bucket's state and
//! its reset (audited), and the most refused buckets of the host. The bucket logic is
//! `limits::inspect`; here are the query, the rate the bucket runs at (a tenant's plan or
//! override, read from the store) and the JSON.

use super::error::AdminError;
use super::plans::limit;
use super::request::{only_params, param};
use super::shared::{json, Answer, Call, Shared};
use crate::auth::plans::{self as key_plans, Catalog};
use crate::base::clock::now_ns;
use crate::base::gcra::Rate;
use crate::config::Config;
use crate::config::LimitSpec;
use crate::config::{Counts, Scope};
use crate::limits::inspect::{self, part_name, Parts};
use crate::store::{Store, StoreError};
use serde_json::{json, Value};
use std::sync::Arc;

const PARTS: [&str; 6] = ["tenant", "app", "api_key", "route", "model", "client_ip"];

/// How many entries `top` answers with when `n` is not given.
const TOP_DEFAULT: usize = 20;

fn counts_name(c: Counts) -> &'static str {
    match c {
        Counts::Requests => "requests",
        Counts::Tokens => "tokens",
        Counts::Cost => "cost",
        Counts::Concurrency => "concurrency",
    }
}

fn spec_json(config: &Config, spec: &LimitSpec) -> Value {
    let plans: Vec<&str> = config
        .plans
        .iter()
        .filter(|p| p.limits.contains(&spec.name))
        .map(|p| p.name.as_str())
        .collect();
    json!({
        "name": spec.name,
        "counts": counts_name(spec.counts),
        "rate": spec.rate,
        "period": humantime::format_duration(spec.period).to_string(),
        "burst": spec.burst,
        "key": spec.key.iter().map(|&p| part_name(p)).collect::<Vec<_>>(),
        "scope": match spec.scope {
            Scope::Local => "local",
            Scope::Cluster => "cluster",
        },
        "plans": plans,
    })
}

pub async fn list(shared: &Arc<Shared>) -> Answer {
    let config = shared.config.load_full();
    let out: Vec<Value> = config
        .limits
        .iter()
        .map(|s| spec_json(&config, s))
        .collect();
    json(200, &out)
}

fn parts(query: &[(String, String)]) -> Result<Parts, AdminError> {
    only_params(query, &PARTS)?;
    let text = |name: &str| param(query, name).map(String::from);
    let client_ip = match param(query, "client_ip") {
        Some(ip) => Some(ip.parse().map_err(|_| {
            AdminError::BadRequest(format!("client_ip={ip}: not an IPv4 or IPv6 address"))
        })?),
        None => None,
    };
    Ok(Parts {
        tenant: text("tenant"),
        app: text("app"),
        api_key: text("api_key"),
        route: text("route"),
        model: text("model"),
        client_ip,
    })
}

fn parts_json(p: &Parts) -> Value {
    json!({
        "tenant": p.tenant, "app": p.app, "api_key": p.api_key,
        "route": p.route, "model": p.model, "client_ip": p.client_ip.map(|i| i.to_string()),
    })
}

/// The rate `spec` runs at for the tenant and app in `parts`: their plan's or override's,
/// as the workers' directory makes it, else the limit's own.
fn rate_for(store: &Store, config: &Config, spec: &LimitSpec, parts: &Parts) -> Rate {
    let Some(t) = parts.tenant.as_deref() else {
        return spec.gcra;
    };
    let read = || -> Result<Option<Rate>, StoreError> {
        let plan = store.get_tenant(t)?.plan;
        let tenant = store.list_attachments(t, None)?;
        let app = match parts.app.as_deref() {
            Some(a) => store.list_attachments(t, Some(a))?,
            None => Vec::new(),
        };
        let catalog = Catalog {
            limits: &config.limits,
            plans: &config.plans,
        };
        let e = key_plans::effective(
            catalog,
            t,
            plan.as_deref(),
            &tenant.iter().collect::<Vec<_>>(),
            &app.iter().collect::<Vec<_>>(),
            &mut Vec::new(),
        );
        let found = e
            .requests
            .iter()
            .chain(&e.usage)
            .find(|l| *l.name == spec.name);
        Ok(found.map(|l| l.rate))
    };
    // An unknown tenant or app has no override: the limit's own rate is the answer.
    read().ok().flatten().unwrap_or(spec.gcra)
}

/// The bucket's state, with the rate it was read at.
async fn state(shared: &Arc<Shared>, config: &Arc<Config>, l: &str, p: Parts) -> Answer {
    let spec = limit(config, l)?.clone();
    inspect::key(&spec, &p)?;
    let table = shared.tables.limiter;
    let rate = match config.store {
        Some(_) => {
            let (config, spec, p) = (config.clone(), spec.clone(), p.clone());
            shared
                .store(move |s| Ok(rate_for(s, &config, &spec, &p)))
                .await?
        }
        None => spec.gcra,
    };
    let st = match spec.scope {
        Scope::Cluster => match shared.redis().await {
            Some(link) => inspect::inspect_redis(&link, &spec, rate, &p).await?,
            None => return Err(inspect::Error::Cluster(spec.name.clone()).into()),
        },
        Scope::Local => inspect::inspect(&table, &spec, rate, &p, now_ns())?,
    };
    json(
        200,
        &json!({
            "limit": spec.name,
            "counts": counts_name(spec.counts),
            "key": parts_json(&p),
            "bucket": format!("{:016x}", st.key),
            "held": st.held,
            "capacity": st.capacity,
            "remaining": st.remaining,
            "reset_ms": st.reset_ms,
            "retry_after_ms": st.retry_after_ms,
        }),
    )
}

pub async fn bucket(shared: &Arc<Shared>, call: Call, l: String) -> Answer {
    let p = parts(&call.query)?;
    state(shared, &shared.config.load_full(), &l, p).await
}

/// Resets the bucket (its next request finds it full), audits it, and answers its new state.
pub async fn reset(shared: &Arc<Shared>, call: Call, l: String) -> Answer {
    let p = parts(&call.query)?;
    let config = shared.config.load_full();
    let spec = limit(&config, &l)?;
    let key = match spec.scope {
        Scope::Cluster => match shared.redis().await {
            Some(link) => inspect::reset_redis(&link, spec, &p).await?,
            None => return Err(inspect::Error::Cluster(spec.name.clone()).into()),
        },
        Scope::Local => inspect::reset(&shared.tables.limiter, spec, &p)?,
    };
    let detail = json!({"key": parts_json(&p), "bucket": format!("{key:016x}")});
    if config.store.is_some() {
        let (actor, target) = (call.actor.clone(), format!("limit:{l}"));
        shared
            .store(move |s| Ok(s.audit_only(&actor, "limit.reset", target, detail)?))
            .await?;
    } else {
        tracing::info!("admin: {} reset limit {l} bucket {detail}", call.actor.name);
    }
    state(shared, &config, &l, p).await
}

pub async fn top(shared: &Arc<Shared>, call: Call) -> Answer {
    only_params(&call.query, &["n"])?;
    let n = match param(&call.query, "n") {
        Some(n) => n.parse::<usize>().ok().filter(|&n| n >= 1).ok_or_else(|| {
            AdminError::BadRequest(format!("n={n}: give a whole number, at least 1"))
        })?,
        None => TOP_DEFAULT,
    };
    let out: Vec<Value> = inspect::top(&shared.tables.top, n)
        .into_iter()
        .map(|r| {
            json!({
                "label": r.label,
                "refusals": r.count,
                "overcount": r.overcount,
                "bucket": format!("{:016x}", r.key),
            })
        })
        .collect();
    json(200, &out)
}
