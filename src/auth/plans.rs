//! The limits a key carries with it, whatever route it calls: its tenant's plan, plus the
//! limits attached through the admin API to the tenant and to the key's app. For one limit
//! name the most specific entry wins: the app's attachment, else the tenant's, else the plan.
//! An attachment with a `rate` or `burst` overrides the limit's numbers for that tenant or app;
//! the `gcra::Rate` is made here, when the directory is built, never per request.

use crate::base::gcra::Rate;
use crate::config::Counts;
use crate::config::{LimitSpec, PlanSpec};
use crate::store::AttachmentRow;
use std::sync::Arc;

/// The limits and plans a directory is built against: the configuration's.
#[derive(Default, Clone, Copy)]
pub struct Catalog<'a> {
    pub limits: &'a [LimitSpec],
    pub plans: &'a [PlanSpec],
}

/// One limit that applies to every request of a key.
#[derive(Debug, Clone)]
pub struct Attached {
    /// The `[[limits]]` name, looked up in the current snapshot at request time (a reload may
    /// have removed it since).
    pub name: Arc<str>,
    pub counts: Counts,
    /// The rate the bucket is decided with: the limit's own or the override's.
    pub rate: Rate,
}

/// An app's effective limits, split as the request path uses them: `requests` limits are
/// decided when the route is matched, `tokens`/`cost` limits on LLM routes only.
#[derive(Debug, Clone, Default)]
pub struct Effective {
    pub requests: Vec<Attached>,
    pub usage: Vec<Attached>,
}

impl Effective {
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty() && self.usage.is_empty()
    }
}

/// Where an entry came from, for the problems reported about it.
fn owner(a: &AttachmentRow) -> String {
    match &a.app {
        Some(app) => format!("app {}/{app}", a.tenant),
        None => format!("tenant {}", a.tenant),
    }
}

/// The effective limits of one app: `plan` names the tenant's plan, `tenant` and `app` are
/// the attachments of the tenant and of the app. Names the configuration no longer has are
/// left out and said in `problems`.
pub fn effective(
    catalog: Catalog<'_>,
    tenant_name: &str,
    plan: Option<&str>,
    tenant: &[&AttachmentRow],
    app: &[&AttachmentRow],
    problems: &mut Vec<String>,
) -> Effective {
    // (name, override) in the order first seen; later levels replace earlier ones.
    let mut chosen: Vec<(&str, Option<&AttachmentRow>)> = Vec::new();
    if let Some(p) = plan {
        match catalog.plans.iter().find(|s| s.name == p) {
            Some(spec) => chosen.extend(spec.limits.iter().map(|n| (n.as_str(), None))),
            None => problems.push(format!(
                "tenant {tenant_name} is on plan {p:?}, which the configuration does not have; \
                 its limits are not applied"
            )),
        }
    }
    for a in tenant.iter().chain(app) {
        match chosen.iter_mut().find(|(n, _)| *n == a.limit) {
            Some(slot) => slot.1 = Some(a),
            None => chosen.push((&a.limit, Some(a))),
        }
    }
    let mut out = Effective::default();
    for (name, over) in chosen {
        let Some(spec) = catalog.limits.iter().find(|s| s.name == name) else {
            if let Some(a) = over {
                problems.push(format!(
                    "limit {name:?} attached to {} is not in the configuration; ignored",
                    owner(a)
                ));
            }
            continue;
        };
        let Some(attached) = attach(spec, over, problems) else {
            continue;
        };
        match spec.counts {
            Counts::Requests => out.requests.push(attached),
            // A cap counts requests in flight on a route, not a rate: it attaches to routes.
            Counts::Concurrency => problems.push(format!(
                "limit {name:?} is a concurrency cap; caps apply on routes only; ignored"
            )),
            _ => out.usage.push(attached),
        }
    }
    out
}

/// The limit as attached: with the override's rate and burst when it has any. An override's
/// burst defaults to its rate when it sets a rate (as in `[[limits]]`), else to the limit's.
fn attach(
    spec: &LimitSpec,
    over: Option<&AttachmentRow>,
    problems: &mut Vec<String>,
) -> Option<Attached> {
    let mut attached = Attached {
        name: Arc::from(spec.name.as_str()),
        counts: spec.counts,
        rate: spec.gcra,
    };
    let Some(a) = over.filter(|a| a.rate.is_some() || a.burst.is_some()) else {
        return Some(attached);
    };
    let rate = a.rate.unwrap_or(spec.rate);
    let burst = a.burst.or(a.rate).unwrap_or(spec.burst);
    let scale = spec.scale.max(1) as f64;
    let Some(gcra) = Rate::new((rate * scale) as u64, spec.period, (burst * scale) as u64) else {
        problems.push(format!(
            "the override of limit {:?} for {} gives no whole unit ({rate} per {:?}, burst \
             {burst}); the limit's own numbers apply",
            spec.name,
            owner(a),
            spec.period
        ));
        return Some(attached);
    };
    attached.rate = gcra;
    Some(attached)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{KeyPart, Scope};
    use http::HeaderValue;
    use std::time::Duration;

    fn header_values(name: &str, burst: f64, period: Duration) -> (HeaderValue, HeaderValue) {
        let policy = format!("\"{name}\";q={burst};w={}", period.as_secs());
        (
            HeaderValue::from_str(&policy).unwrap(),
            HeaderValue::from_str(&burst.to_string()).unwrap(),
        )
    }

    fn spec(name: &str, counts: Counts, rate: f64) -> LimitSpec {
        let scale = if counts == Counts::Cost { 1_000_000 } else { 1 };
        let period = Duration::from_secs(60);
        let (policy_header, limit_header) = header_values(name, rate, period);
        LimitSpec {
            name: name.into(),
            counts,
            rate,
            period,
            burst: rate,
            scale,
            gcra: Rate::new(
                (rate * scale as f64) as u64,
                period,
                (rate * scale as f64) as u64,
            )
            .unwrap(),
            max: 0,
            status: 429,
            key: vec![KeyPart::Tenant],
            scope: Scope::Local,
            cluster: None,
            policy_header,
            limit_header,
        }
    }

    fn row(app: Option<&str>, limit: &str, rate: Option<f64>, burst: Option<f64>) -> AttachmentRow {
        AttachmentRow {
            tenant: "acme".into(),
            app: app.map(Into::into),
            limit: limit.into(),
            rate,
            burst,
            updated_at: 0,
        }
    }

    #[test]
    fn the_app_beats_the_tenant_beats_the_plan() {
        let limits = [
            spec("rpm", Counts::Requests, 10.0),
            spec("tpm", Counts::Tokens, 1000.0),
            spec("extra", Counts::Requests, 3.0),
        ];
        let plans = [PlanSpec {
            name: "pro".into(),
            limits: vec!["rpm".into(), "tpm".into()],
        }];
        let catalog = Catalog {
            limits: &limits,
            plans: &plans,
        };
        let t = row(None, "rpm", Some(20.0), None);
        let a = row(Some("web"), "rpm", Some(5.0), Some(2.0));
        let x = row(Some("web"), "extra", None, None);
        let mut problems = Vec::new();
        let e = effective(
            catalog,
            "acme",
            Some("pro"),
            &[&t],
            &[&a, &x],
            &mut problems,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let names: Vec<&str> = e.requests.iter().map(|l| &*l.name).collect();
        assert_eq!(names, ["rpm", "extra"]);
        assert_eq!(e.usage[0].rate, limits[1].gcra);
        let rpm = &e.requests[0];
        assert_eq!(rpm.rate, Rate::new(5, Duration::from_secs(60), 2).unwrap());
        assert_eq!(e.requests[1].rate, limits[2].gcra);
        // Without the app's own entry, the tenant's override applies (burst = its rate).
        let e = effective(catalog, "acme", Some("pro"), &[&t], &[], &mut problems);
        assert_eq!(
            e.requests[0].rate,
            Rate::new(20, Duration::from_secs(60), 20).unwrap()
        );
    }

    #[test]
    fn names_the_configuration_lost_are_dropped_and_said() {
        let limits = [spec("rpm", Counts::Requests, 10.0)];
        let catalog = Catalog {
            limits: &limits,
            plans: &[],
        };
        let gone = row(None, "gone", None, None);
        let mut problems = Vec::new();
        let e = effective(catalog, "acme", Some("pro"), &[&gone], &[], &mut problems);
        assert!(e.is_empty());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("plan \"pro\""), "{problems:?}");
        assert!(problems[1].contains("\"gone\" attached to tenant acme"));
    }

    #[test]
    fn a_cost_override_is_in_dollars() {
        let limits = [spec("budget", Counts::Cost, 2.0)];
        let catalog = Catalog {
            limits: &limits,
            plans: &[],
        };
        let a = row(None, "budget", Some(0.5), None);
        let e = effective(catalog, "acme", None, &[&a], &[], &mut Vec::new());
        assert_eq!(
            e.usage[0].rate,
            Rate::new(500_000, Duration::from_secs(60), 500_000).unwrap()
        );
    }
}
