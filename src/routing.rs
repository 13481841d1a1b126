//! Where a request goes: the route table, upstream groups and their health.
//!
//! A `Snapshot` is built from a compiled `Config` off the request path and swapped in whole
//! (see `worker`), so a request sees one consistent set of routes and upstreams.

pub mod health;
pub mod table;
pub mod target;
pub mod upstream;

use crate::config::compile::{RouteSpec, RouteTarget};
use crate::config::Config;
use crate::llm::models::Models;
use crate::telemetry::metrics::{Registry, RouteMetrics};
use std::sync::Arc;
use table::RouteTable;
use upstream::UpstreamGroup;

pub struct Route {
    pub name: Arc<str>,
    pub spec: RouteSpec,
    pub handler: Handler,
    pub metrics: Arc<RouteMetrics>,
}

/// What serves a route's requests.
pub enum Handler {
    Proxy(Arc<UpstreamGroup>),
    Llm,
}

impl Route {
    pub fn is_llm(&self) -> bool {
        matches!(self.handler, Handler::Llm)
    }

    /// The upstream group of a proxy route.
    pub fn group(&self) -> Option<&Arc<UpstreamGroup>> {
        match &self.handler {
            Handler::Proxy(g) => Some(g),
            Handler::Llm => None,
        }
    }
}

pub struct Snapshot {
    pub config: Arc<Config>,
    pub routes: RouteTable<Arc<Route>>,
    pub upstreams: Vec<Arc<UpstreamGroup>>,
    pub models: Arc<Models>,
    /// One per `config.limits`, in order.
    pub limit_metrics: Vec<Arc<crate::telemetry::metrics::LimitMetrics>>,
    /// `config.limits` by name, for the limits keys carry (plans, attachments).
    pub limit_index: crate::limits::plans::Index,
}

impl Snapshot {
    /// Builds the runtime form; `previous` lends its target health to unchanged targets.
    pub fn build(
        config: Arc<Config>,
        registry: &Registry,
        previous: Option<&Snapshot>,
    ) -> Snapshot {
        let upstreams: Vec<Arc<UpstreamGroup>> = config
            .upstreams
            .iter()
            .map(|spec| {
                let group = UpstreamGroup::new(spec.clone(), registry.upstream(&spec.name));
                if let Some(old) =
                    previous.and_then(|p| p.upstreams.iter().find(|u| u.spec.name == spec.name))
                {
                    group.inherit_health(old);
                }
                Arc::new(group)
            })
            .collect();
        let routes = config
            .routes
            .iter()
            .map(|spec| {
                let route = Route {
                    name: Arc::from(spec.name.as_str()),
                    spec: spec.clone(),
                    handler: match spec.target {
                        RouteTarget::Upstream(i) => Handler::Proxy(upstreams[i].clone()),
                        RouteTarget::Llm => Handler::Llm,
                    },
                    metrics: registry.route(&spec.name),
                };
                (spec.clone(), Arc::new(route))
            })
            .collect();
        Snapshot {
            limit_index: crate::limits::plans::index(&config.limits),
            limit_metrics: config
                .limits
                .iter()
                .map(|l| registry.limit(&l.name))
                .collect(),
            models: Arc::new(Models::new(&config.llm)),
            config,
            routes: RouteTable::new(routes),
            upstreams,
        }
    }

    /// Starts the health-check tasks of this snapshot's upstreams, and resolves its LLM
    /// providers' host names ahead of the first call (inside a Tokio runtime).
    pub fn start_health_checks(&self) {
        for g in &self.upstreams {
            health::spawn(g);
        }
        for p in &self.models.providers {
            if let Some(ep) = p.spec.endpoint.clone() {
                tokio::spawn(async move { crate::llm::client::client().warm(&ep).await });
            }
        }
    }
}
