//! Where a request goes: the route table, upstream groups and their health.
//!
//! The runtime world a request sees, these routes and upstreams with the models and limits,
//! is a `snapshot::Snapshot`, one layer up.

pub mod health;
pub mod table;
pub mod target;
pub mod upstream;

use crate::config::RouteSpec;
use crate::telemetry::metrics::RouteMetrics;
use std::sync::Arc;
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
    /// A prompt API: its template, schemas and model.
    Prompt(Arc<crate::config::PromptSpec>),
}

impl Route {
    pub fn is_llm(&self) -> bool {
        matches!(self.handler, Handler::Llm)
    }

    /// Whether the route's requests call a model (an LLM route or a prompt API): what makes
    /// token and cost limits apply to them.
    pub fn calls_llm(&self) -> bool {
        matches!(self.handler, Handler::Llm | Handler::Prompt(_))
    }

    /// The upstream group of a proxy route.
    pub fn group(&self) -> Option<&Arc<UpstreamGroup>> {
        match &self.handler {
            Handler::Proxy(g) => Some(g),
            Handler::Llm | Handler::Prompt(_) => None,
        }
    }
}
