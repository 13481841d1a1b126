//! Handlers for tenants' plans and the limits attached to tenants and apps. Plan and limit
//! names are checked against the current configuration: an unknown limit in the path is a
//! 404, an unknown plan in the body a 400, both with a did-you-mean.

use super::error::AdminError;
use super::request;
use super::shared::{json, no_content, Answer, Call, Shared};
use super::views;
use crate::base::gcra::Rate;
use crate::config::problem::did_you_mean;
use crate::config::Config;
use crate::config::Counts;
use crate::config::LimitSpec;
use crate::store::Override;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPlan {
    plan: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAttachment {
    rate: Option<f64>,
    burst: Option<f64>,
}

/// The configured limit named in a path.
pub fn limit<'a>(config: &'a Config, name: &str) -> Result<&'a LimitSpec, AdminError> {
    config
        .limits
        .iter()
        .find(|l| l.name == name)
        .ok_or_else(|| {
            AdminError::NotFound(format!(
                "no limit named {name:?}{}",
                did_you_mean(name, config.limits.iter().map(|l| l.name.as_str()))
            ))
        })
}

/// An override must make a limit the bucket can run: whole requests or tokens, at least one.
fn check_override(spec: &LimitSpec, over: Override) -> Result<(), AdminError> {
    if spec.counts == Counts::Concurrency {
        return Err(AdminError::BadRequest(format!(
            "limit {:?} is a concurrency cap: caps apply on routes, not to tenants or apps",
            spec.name
        )));
    }
    for (field, v) in [("rate", over.rate), ("burst", over.burst)] {
        let Some(v) = v else { continue };
        let whole = spec.counts == Counts::Cost || v.fract() == 0.0;
        if !(v.is_finite() && v > 0.0 && whole) {
            let unit = match spec.counts {
                Counts::Requests => "a whole number of requests, at least 1",
                Counts::Tokens => "a whole number of tokens, at least 1",
                Counts::Cost => "US dollars above 0",
                Counts::Concurrency => "not for a concurrency cap",
            };
            return Err(AdminError::BadRequest(format!(
                "body.{field}: {v} is not {unit} (limit {:?} counts {})",
                spec.name,
                match spec.counts {
                    Counts::Requests => "requests",
                    Counts::Tokens => "tokens",
                    Counts::Cost => "cost",
                    Counts::Concurrency => "concurrency",
                }
            )));
        }
    }
    let rate = over.rate.unwrap_or(spec.rate);
    let burst = over.burst.or(over.rate).unwrap_or(spec.burst);
    let scale = spec.scale.max(1) as f64;
    if Rate::new((rate * scale) as u64, spec.period, (burst * scale) as u64).is_none() {
        return Err(AdminError::BadRequest(format!(
            "body: rate {rate} with burst {burst} per {:?} is too small to count",
            spec.period
        )));
    }
    Ok(())
}

pub async fn set_plan(shared: &Arc<Shared>, call: Call, t: String) -> Answer {
    let body: NewPlan = request::json(&call.body)?;
    let config = shared.config.load_full();
    if !config.plans.iter().any(|p| p.name == body.plan) {
        let known = config.plans.iter().map(|p| p.name.as_str());
        return Err(AdminError::BadRequest(format!(
            "body.plan: no plan named {:?}{}",
            body.plan,
            did_you_mean(&body.plan, known)
        )));
    }
    let row = shared
        .store(move |s| Ok(s.set_plan(&call.actor, &t, Some(&body.plan))?))
        .await?;
    json(200, &views::tenant(&row))
}

pub async fn clear_plan(shared: &Arc<Shared>, call: Call, t: String) -> Answer {
    let row = shared
        .store(move |s| Ok(s.set_plan(&call.actor, &t, None)?))
        .await?;
    json(200, &views::tenant(&row))
}

/// Attaches a limit to a tenant (`a` None) or an app, with an optional override.
pub async fn attach(
    shared: &Arc<Shared>,
    call: Call,
    t: String,
    a: Option<String>,
    l: String,
) -> Answer {
    let body: NewAttachment = request::json(&call.body)?;
    let over = Override {
        rate: body.rate,
        burst: body.burst,
    };
    check_override(limit(&shared.config.load(), &l)?, over)?;
    let row = shared
        .store(move |s| Ok(s.attach_limit(&call.actor, &t, a.as_deref(), &l, over)?))
        .await?;
    json(200, &views::attachment(&row))
}

pub async fn detach(
    shared: &Arc<Shared>,
    call: Call,
    t: String,
    a: Option<String>,
    l: String,
) -> Answer {
    shared
        .store(move |s| Ok(s.detach_limit(&call.actor, &t, a.as_deref(), &l)?))
        .await?;
    no_content()
}
