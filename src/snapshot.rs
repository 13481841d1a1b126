//! The runtime world one request sees: routes, upstreams, models and the limits' index.
//!
//! A `Snapshot` is built from a compiled `Config` off the request path and swapped in whole
//! (see `worker`), so a request sees one consistent set of routes and upstreams. It sits above
//! `routing`, `llm` and `limits`, so none of them imports it: the limits read it through
//! `LimitBook`, and the metrics get the target health it renders (`targets_up`).
//!
//! Upstreams, routes, providers, models and prompt APIs made through the admin API live in the
//! store; `stored` follows them and swaps in a snapshot with them compiled in (`with_stored`),
//! and a reload keeps them.

pub mod stored;

use crate::config::Config;
use crate::config::RouteTarget;
use crate::limits::budget::LimitBook;
use crate::limits::check::Book;
use crate::llm::models::Models;
use crate::routing::table::RouteTable;
use crate::routing::upstream::UpstreamGroup;
use crate::routing::{health, Handler, Route};
use crate::telemetry::metrics::llm::LlmMetrics;
use crate::telemetry::metrics::{Registry, TargetUp};
use std::collections::HashMap;
use std::sync::Arc;

pub struct Snapshot {
    /// The configuration in force: the loaded one with the store's entries and prompt APIs.
    pub config: Arc<Config>,
    /// The configuration as loaded from the files, before the store's rows were added.
    pub file_config: Arc<Config>,
    /// The store's rows compiled into `config` (see `stored`).
    pub stored: Arc<stored::Stored>,
    pub routes: RouteTable<Arc<Route>>,
    pub upstreams: Vec<Arc<UpstreamGroup>>,
    pub models: Arc<Models>,
    /// One per `config.limits`, in order.
    pub limit_metrics: Vec<Arc<crate::telemetry::metrics::LimitMetrics>>,
    /// `config.limits` by name, for the limits keys carry (plans, attachments).
    pub limit_index: crate::limits::draws::Index,
    /// What `/mcp` offers, when `[mcp]` is on.
    pub mcp: Option<Arc<crate::mcp::Catalog>>,
    /// LLM metrics by public model, then provider: every pair the configuration can serve
    /// (and `""` for a call no provider answered), so a call finds its counters without a lock
    /// and no caller can add a label.
    llm_metrics: HashMap<String, Vec<(String, Arc<LlmMetrics>)>>,
}

impl Snapshot {
    /// Builds the runtime form of a loaded configuration; `previous` lends its target health to
    /// unchanged targets, and its store's rows, which are compiled into `config`.
    pub fn build(
        config: Arc<Config>,
        registry: &Registry,
        previous: Option<&Snapshot>,
    ) -> Snapshot {
        let stored = previous.map(|p| p.stored.clone()).unwrap_or_default();
        Snapshot::assemble(config, stored, registry, previous)
    }

    /// This snapshot with the store's rows `stored` in place of the ones it has; the targets
    /// keep their health.
    pub fn with_stored(&self, stored: Arc<stored::Stored>, registry: &Registry) -> Self {
        Snapshot::assemble(self.file_config.clone(), stored, registry, Some(self))
    }

    fn assemble(
        file_config: Arc<Config>,
        stored: Arc<stored::Stored>,
        registry: &Registry,
        previous: Option<&Snapshot>,
    ) -> Snapshot {
        let (config, left_out) = stored::merge(&file_config, &stored);
        for l in &left_out.entries {
            tracing::warn!("store: {l}");
        }
        for l in &left_out.prompts {
            tracing::warn!("store: {l}");
        }
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
        let models = Arc::new(Models::new(&config.llm));
        let routes: Vec<(crate::config::RouteSpec, Arc<Route>)> = config
            .routes
            .iter()
            .map(|spec| {
                let route = Route {
                    name: Arc::from(spec.name.as_str()),
                    spec: spec.clone(),
                    handler: match spec.target {
                        RouteTarget::Upstream(i) => Handler::Proxy(upstreams[i].clone()),
                        RouteTarget::Llm => Handler::Llm,
                        RouteTarget::Prompt(i) => Handler::Prompt(config.prompts[i].clone()),
                    },
                    metrics: registry.route(&spec.name),
                };
                (spec.clone(), Arc::new(route))
            })
            .collect();
        // The OpenAPI files are read here, once per configuration (at start or reload).
        let mcp = config.mcp.as_ref().map(|spec| {
            let all: Vec<Arc<Route>> = routes.iter().map(|(_, r)| r.clone()).collect();
            Arc::new(crate::mcp::Catalog::build(spec, &all, &config.mcp_servers))
        });
        Snapshot {
            mcp,
            llm_metrics: llm_metrics(&config, registry),
            limit_index: crate::limits::draws::index(&config.limits),
            limit_metrics: config
                .limits
                .iter()
                .map(|l| registry.limit(&l.name))
                .collect(),
            models,
            config,
            file_config,
            stored,
            routes: RouteTable::new(routes),
            upstreams,
        }
    }

    /// The counters of calls `model` served through `provider`; `None` for a model the
    /// configuration does not have (an unknown name a client sent adds no series).
    pub fn llm_metrics(&self, model: &str, provider: &str) -> Option<&Arc<LlmMetrics>> {
        let by_provider = self.llm_metrics.get(model)?;
        by_provider
            .iter()
            .find(|(p, _)| p == provider)
            .map(|(_, m)| m)
    }

    /// The prompt APIs, for the surfaces that list them (the catalog, MCP's tools): each
    /// with its name, description, path and input schema (`PromptSpec::input_schema`).
    pub fn prompts(&self) -> &[Arc<crate::config::PromptSpec>] {
        &self.config.prompts
    }

    /// Whether each upstream target takes traffic now, for `/metrics`.
    pub fn targets_up(&self) -> Vec<TargetUp<'_>> {
        let now = crate::base::clock::now_ms();
        self.upstreams
            .iter()
            .flat_map(|g| {
                g.targets.iter().map(move |t| TargetUp {
                    upstream: &g.spec.name,
                    target: &t.label,
                    up: t.is_available(now),
                })
            })
            .collect()
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

impl<'a> Book<'a> {
    /// The limits of `snapshot`.
    pub fn of(snapshot: &'a Snapshot) -> Book<'a> {
        Book {
            specs: &snapshot.config.limits,
            metrics: &snapshot.limit_metrics,
            index: &snapshot.limit_index,
        }
    }
}

/// An LLM call's budget keeps its snapshot for as long as the call runs, to read its limits.
impl LimitBook for Snapshot {
    fn book(&self) -> Book<'_> {
        Book::of(self)
    }
}

fn llm_metrics(
    config: &Config,
    registry: &Registry,
) -> HashMap<String, Vec<(String, Arc<LlmMetrics>)>> {
    let llm = &config.llm;
    llm.models
        .iter()
        .map(|m| {
            let mut providers: Vec<&str> = vec![""];
            for d in &m.deployments {
                let name = llm.providers[d.provider].name.as_str();
                if !providers.contains(&name) {
                    providers.push(name);
                }
            }
            let by_provider = providers
                .into_iter()
                .map(|p| (p.to_string(), registry.llm(&m.name, p)))
                .collect();
            (m.name.clone(), by_provider)
        })
        .collect()
}
