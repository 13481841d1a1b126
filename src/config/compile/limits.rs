//! Compiles `[[limits]]` and the routes' references to them.

use super::Checker;
use crate::config::problem::{did_you_mean, key, Issue, Seg};
use crate::config::schema::{Counts, KeyPart, LimitSection, PlanSection, Scope};
use crate::limits::gcra::Rate;
use http::HeaderValue;
use std::collections::HashSet;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct LimitSpec {
    pub name: String,
    pub counts: Counts,
    /// Units per `period`, as written (the headers show them).
    pub rate: f64,
    pub period: Duration,
    pub burst: f64,
    /// Bucket units per unit written: 1, or 1,000,000 for `cost` (micro-dollars).
    pub scale: u64,
    pub gcra: Rate,
    pub key: Vec<KeyPart>,
    pub scope: Scope,
    /// `RateLimit-Policy` and `X-RateLimit-Limit`, made once rather than per response.
    pub policy_header: HeaderValue,
    pub limit_header: HeaderValue,
}

pub(super) fn compile_limits(limits: &[LimitSection], ck: &mut Checker) -> Vec<LimitSpec> {
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, l) in limits.iter().enumerate() {
        let base = [key("limits"), Seg::Index(i)];
        if l.name.is_empty() {
            ck.at(&base, &["name"], "a limit needs a name");
        } else if !names.insert(l.name.as_str()) {
            ck.at(
                &base,
                &["name"],
                format!("duplicate limit name {:?}", l.name),
            );
        }
        // Costs are counted in millionths of a dollar, so budgets like $0.50 stay whole.
        let scale = match l.counts {
            Counts::Cost => 1_000_000.0,
            _ => 1.0,
        };
        let whole = |v: f64| v >= 0.0 && v.fract() == 0.0;
        if l.counts != Counts::Cost && !(whole(l.rate) && l.burst.is_none_or(whole)) {
            ck.at(
                &base,
                &["rate"],
                "rate and burst count whole requests or tokens",
            );
        }
        if l.scope == Scope::Cluster {
            ck.at(
                &base,
                &["scope"],
                "scope = \"cluster\" needs [redis], which this version does not support yet; use \"local\"",
            );
        }
        let burst = l.burst.unwrap_or(l.rate);
        let (units, burst_units) = ((l.rate * scale) as u64, (burst * scale) as u64);
        if l.period.0 < Duration::from_millis(1) {
            ck.at(&base, &["period"], "the period must be at least 1ms");
        }
        let gcra = Rate::new(units, l.period.0, burst_units).unwrap_or_else(|| {
            ck.at(&base, &[], "rate and burst must be at least 1");
            // Kept (the file is refused anyway) so routes can still name it.
            Rate {
                interval: 1,
                capacity: 1,
            }
        });
        let mut seen = HashSet::new();
        for (j, part) in l.key.iter().enumerate() {
            if !seen.insert(*part) {
                let mut at = base.to_vec();
                at.extend([key("key"), Seg::Index(j)]);
                ck.issues.push(Issue::new(
                    at,
                    format!("{part:?} is listed twice in the key"),
                ));
            }
        }
        out.push(LimitSpec {
            name: l.name.clone(),
            counts: l.counts,
            rate: l.rate,
            period: l.period.0,
            burst,
            scale: scale as u64,
            gcra,
            key: l.key.clone(),
            scope: l.scope,
            policy_header: HeaderValue::from_str(&format!(
                "\"{}\";q={burst};w={}",
                l.name,
                l.period.0.as_secs().max(1)
            ))
            .unwrap_or_else(|_| HeaderValue::from_static("")),
            limit_header: HeaderValue::from_str(&burst.to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("")),
        });
    }
    out
}

/// A route's `limits` names as indexes into the compiled limits: the request limits, decided
/// when the route is matched, and the token and cost limits, which only LLM routes have.
pub(super) fn resolve(
    names: &[String],
    limits: &[LimitSpec],
    llm_route: bool,
    base: &[Seg],
    ck: &mut Checker,
) -> (Vec<usize>, Vec<usize>) {
    let known: Vec<&str> = limits.iter().map(|l| l.name.as_str()).collect();
    let (mut requests, mut usage) = (Vec::new(), Vec::new());
    for (i, n) in names.iter().enumerate() {
        match known.iter().position(|k| k == n) {
            Some(j) if limits[j].counts == Counts::Requests => requests.push(j),
            Some(j) if llm_route => usage.push(j),
            Some(_) => {
                let mut at = base.to_vec();
                at.extend([key("limits"), Seg::Index(i)]);
                let msg = format!("limit {n:?} counts LLM usage; only an LLM route has any");
                ck.issues.push(Issue::new(at, msg));
            }
            None => {
                let mut at = base.to_vec();
                at.extend([key("limits"), Seg::Index(i)]);
                let msg = format!(
                    "no limit named {n:?}{}",
                    did_you_mean(n, known.iter().copied())
                );
                ck.issues.push(Issue::new(at, msg));
            }
        }
    }
    (requests, usage)
}

/// A plan: the limits (by name) that apply to every key of a tenant on it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSpec {
    pub name: String,
    pub limits: Vec<String>,
}

/// Compiles `[[plans]]`: unique names, and limits that exist (named with a did-you-mean).
pub(super) fn compile_plans(
    plans: &[PlanSection],
    limits: &[LimitSpec],
    ck: &mut Checker,
) -> Vec<PlanSpec> {
    let known: Vec<&str> = limits.iter().map(|l| l.name.as_str()).collect();
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        let base = [key("plans"), Seg::Index(i)];
        if !crate::config::compile::api::valid_name(&p.name) {
            ck.at(
                &base,
                &["name"],
                format!(
                    "{:?}: a plan name is 1 to 64 of a-z, 0-9, '-' and '_'",
                    p.name
                ),
            );
        } else if !names.insert(p.name.as_str()) {
            ck.at(
                &base,
                &["name"],
                format!("duplicate plan name {:?}", p.name),
            );
        }
        let mut seen = HashSet::new();
        for (j, n) in p.limits.iter().enumerate() {
            let mut at = base.to_vec();
            at.extend([key("limits"), Seg::Index(j)]);
            if !known.contains(&n.as_str()) {
                let msg = format!(
                    "no limit named {n:?}{}",
                    did_you_mean(n, known.iter().copied())
                );
                ck.issues.push(Issue::new(at, msg));
            } else if !seen.insert(n.as_str()) {
                ck.issues
                    .push(Issue::new(at, format!("limit {n:?} is listed twice")));
            }
        }
        out.push(PlanSpec {
            name: p.name.clone(),
            limits: p.limits.clone(),
        });
    }
    out
}

/// A tenant's `plan`, which must name a `[[plans]]` entry.
pub(super) fn check_plan(plan: &str, plans: &[PlanSpec], at: Vec<Seg>, ck: &mut Checker) {
    if !plans.iter().any(|p| p.name == plan) {
        let msg = format!(
            "no plan named {plan:?}{}",
            did_you_mean(plan, plans.iter().map(|p| p.name.as_str()))
        );
        ck.issues.push(Issue::new(at, msg));
    }
}
