//! Public model names, their weighted deployments, fallbacks and prices, and a breaker per
//! deployment (`base::breaker`) that takes a failing one out of rotation for a cool-down.
//!
//! Built with each configuration snapshot; breaker state is per worker process and starts
//! closed after a reload.

use crate::base::breaker::Breaker;
use crate::base::clock::now_ms;
use crate::base::hash::mix;
use crate::base::header::shared_value;
use crate::config::{Deployment, LlmConfig, LlmPolicy, ModelSpec, Prices};
use crate::llm::ir::Usage;
use crate::llm::provider::Provider;
use http::HeaderValue;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

pub struct Models {
    pub providers: Vec<Arc<Provider>>,
    pub models: Vec<Model>,
    by_name: HashMap<String, usize>,
    pub policy: LlmPolicy,
    seq: AtomicU64,
}

pub struct Model {
    pub spec: ModelSpec,
    pub deployments: Vec<DeploymentState>,
    /// The name as the `x-tollgate-model` header value, made once; `None` when the name
    /// cannot be one.
    pub name_value: Option<HeaderValue>,
}

pub struct DeploymentState {
    pub spec: Deployment,
    /// "provider/model", for headers, logs and records.
    pub label: String,
    /// The label as the `x-tollgate-deployment` header value, made once.
    pub label_value: Option<HeaderValue>,
    /// `failure_threshold` failures in a row skip the deployment for the `cooldown`.
    breaker: Breaker,
}

impl Models {
    pub fn new(config: &LlmConfig) -> Models {
        let providers: Vec<Arc<Provider>> = config
            .providers
            .iter()
            .map(|p| Arc::new(Provider::new(p.clone())))
            .collect();
        let mut by_name = HashMap::new();
        let models = config
            .models
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                by_name.insert(spec.name.clone(), i);
                for a in &spec.aliases {
                    by_name.insert(a.clone(), i);
                }
                let deployments = spec
                    .deployments
                    .iter()
                    .map(|d| {
                        let label = format!("{}/{}", providers[d.provider].spec.name, d.model);
                        DeploymentState {
                            label_value: shared_value(label.clone()),
                            label,
                            spec: d.clone(),
                            breaker: Breaker::default(),
                        }
                    })
                    .collect();
                Model {
                    spec: spec.clone(),
                    deployments,
                    name_value: shared_value(spec.name.clone()),
                }
            })
            .collect();
        Models {
            providers,
            models,
            by_name,
            policy: config.policy.clone(),
            seq: AtomicU64::new(now_ms()),
        }
    }

    /// The model a public name or alias stands for.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The models a call may use, in order: the model, its fallbacks, their fallbacks, and so
    /// on, each once (so a cycle in the configuration ends rather than loops).
    pub fn fallback_chain(&self, model: usize) -> Vec<usize> {
        let mut chain = vec![model];
        let mut i = 0;
        while i < chain.len() {
            for &f in &self.models[chain[i]].spec.fallbacks {
                if !chain.contains(&f) {
                    chain.push(f);
                }
            }
            i += 1;
        }
        chain
    }

    /// Picks a deployment of `model` by weight among those not in `tried` (a bitmask) and not
    /// cooling down. When every untried one is cooling down, the one whose cool-down ends
    /// first is taken: a request is never refused only because of the breaker.
    pub fn pick(&self, model: usize, tried: u64) -> Option<usize> {
        let m = &self.models[model];
        let now = now_ms();
        let untried = |i: &usize| tried & (1 << i) == 0;
        let ready: Vec<usize> = (0..m.deployments.len())
            .filter(untried)
            .filter(|&i| m.deployments[i].breaker.is_closed(now))
            .collect();
        if ready.is_empty() {
            return (0..m.deployments.len())
                .filter(untried)
                .min_by_key(|&i| m.deployments[i].breaker.open_until());
        }
        let total: u64 = ready
            .iter()
            .map(|&i| m.deployments[i].spec.weight as u64)
            .sum();
        let mut point = mix(self.seq.fetch_add(1, Relaxed)) % total.max(1);
        for &i in &ready {
            let w = m.deployments[i].spec.weight as u64;
            if point < w {
                return Some(i);
            }
            point -= w;
        }
        ready.last().copied()
    }

    /// A success closes the deployment's breaker at once.
    pub fn report_success(&self, model: usize, deployment: usize) {
        self.models[model].deployments[deployment].breaker.reset();
    }

    /// Counts a failure; the threshold-th in a row opens the breaker for the cool-down.
    pub fn report_failure(&self, model: usize, deployment: usize) {
        let d = &self.models[model].deployments[deployment];
        let (threshold, cooldown) = (self.policy.failure_threshold, self.policy.cooldown);
        if let Some(n) = d.breaker.failure(threshold, cooldown) {
            tracing::warn!(
                deployment = %d.label,
                "deployment failed {n} times in a row; skipped for {:?}",
                self.policy.cooldown
            );
        }
    }
}

/// The cost of a call in US dollars, from the model's prices per million tokens.
pub fn cost(prices: &Prices, usage: &Usage) -> f64 {
    let cached = usage.cached_tokens.min(usage.prompt_tokens);
    let fresh = usage.prompt_tokens - cached;
    (fresh as f64 * prices.input
        + cached as f64 * prices.cached_input
        + usage.completion_tokens as f64 * prices.output)
        / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_prices_cached_tokens_apart() {
        let prices = Prices {
            input: 3.0,
            cached_input: 0.3,
            output: 15.0,
        };
        let usage = Usage {
            prompt_tokens: 1_000_000,
            cached_tokens: 500_000,
            completion_tokens: 100_000,
            ..Usage::default()
        };
        let c = cost(&prices, &usage);
        assert!((c - (1.5 + 0.15 + 1.5)).abs() < 1e-9, "{c}");
    }
}
