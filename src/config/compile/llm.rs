//! Compiles `[[providers]]`, `[[models]]` and `[llm]`: every provider and fallback reference
//! resolved to an index, every base URL split into what a connection needs. A provider's
//! defaults (base URL, API version) are what its kind's descriptor declares.

use super::routes::header_pairs;
use super::{positive_timeouts, Checker, Secret, ServerSettings};
use crate::config::problem::{did_you_mean, key, Seg};
use crate::config::schema::{self, FileConfig};
use crate::llm::providers::descriptor::Descriptor;
use http::{HeaderName, HeaderValue};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct LlmConfig {
    pub providers: Vec<ProviderSpec>,
    pub models: Vec<ModelSpec>,
    pub policy: LlmPolicy,
    /// Whether any model has `limits`: LLM routes then reserve even without limits of their own.
    pub models_limited: bool,
}

#[derive(Debug, Clone)]
pub struct ProviderSpec {
    pub name: String,
    /// What its kind declares: wire format, paths, auth header.
    pub descriptor: &'static Descriptor,
    /// `None` for `mock`, which has no network side.
    pub endpoint: Option<ProviderEndpoint>,
    pub keys: Vec<Secret>,
    /// Azure's `api-version`, Anthropic's `anthropic-version`; empty where unused.
    pub api_version: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub keepalive: usize,
    /// Called over HTTP/2: by ALPN over https, prior knowledge (h2c) over http.
    pub http2: bool,
    pub mock: MockSpec,
}

/// A base URL split for the connector: scheme, host, port and the path to prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEndpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Without a trailing `/`; empty for the root.
    pub path: String,
    /// `host` or `host:port` as the Host header carries it.
    pub authority: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MockSpec {
    pub latency: Duration,
    pub chunk_chars: usize,
    pub chunk_delay: Duration,
    pub fail_status: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub name: String,
    pub aliases: Vec<String>,
    pub deployments: Vec<Deployment>,
    /// Indexes into `LlmConfig::models`, in order.
    pub fallbacks: Vec<usize>,
    pub prices: Prices,
    pub context_window: Option<u64>,
    pub max_output_tokens: Option<u32>,
    pub retries: u32,
    /// Which tenants' keys may use the model.
    pub visibility: super::Visibility,
    /// Indexes into `Config::limits` that every call of the model draws from.
    pub limits: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Deployment {
    /// Index into `LlmConfig::providers`.
    pub provider: usize,
    pub model: String,
    pub weight: u32,
    pub api_key: Option<Secret>,
}

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Prices {
    pub input: f64,
    pub cached_input: f64,
    pub output: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LlmPolicy {
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub max_retry_after: Duration,
    pub failure_threshold: u32,
    pub cooldown: Duration,
    pub total_timeout: Option<Duration>,
    pub max_body_bytes: u64,
}

impl Default for LlmPolicy {
    fn default() -> Self {
        let s = schema::LlmSection::default();
        LlmPolicy {
            backoff: s.backoff.0,
            max_backoff: s.max_backoff.0,
            max_retry_after: s.max_retry_after.0,
            failure_threshold: s.failure_threshold,
            cooldown: s.cooldown.0,
            total_timeout: None,
            max_body_bytes: 10 << 20,
        }
    }
}

const MAX_DEPLOYMENTS: usize = 64;

pub(super) fn compile(file: &FileConfig, server: &ServerSettings, ck: &mut Checker) -> LlmConfig {
    let default_llm = schema::LlmSection::default();
    let section = file.llm.as_ref().unwrap_or(&default_llm);
    let policy = compile_policy(section, server, ck);
    let mut providers = Vec::new();
    let mut provider_names: Vec<&str> = Vec::new();
    for (i, p) in file.providers.iter().enumerate() {
        let base = [key("providers"), Seg::Index(i)];
        if provider_names.contains(&p.name.as_str()) {
            ck.at(
                &base,
                &["name"],
                format!("duplicate provider name {:?}", p.name),
            );
        }
        provider_names.push(&p.name);
        providers.push(compile_provider(p, &base, ck));
    }
    let mut public: HashMap<&str, usize> = HashMap::new();
    for (i, m) in file.models.iter().enumerate() {
        let base = [key("models"), Seg::Index(i)];
        for name in std::iter::once(&m.name).chain(&m.aliases) {
            if public.insert(name, i).is_some() {
                ck.at(
                    &base,
                    &["name"],
                    format!("model name {name:?} is used twice"),
                );
            }
        }
    }
    let model_names: Vec<&str> = file.models.iter().map(|m| m.name.as_str()).collect();
    let models = file
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let base = [key("models"), Seg::Index(i)];
            let retries = m.retries.unwrap_or(section.retries);
            compile_model(
                m,
                &base,
                &provider_names,
                &public,
                &model_names,
                retries,
                ck,
            )
        })
        .collect();
    LlmConfig {
        providers,
        models,
        policy,
        models_limited: false,
    }
}

fn compile_policy(s: &schema::LlmSection, server: &ServerSettings, ck: &mut Checker) -> LlmPolicy {
    let base = [key("llm")];
    if s.backoff.0 > s.max_backoff.0 {
        ck.at(&base, &["backoff"], "backoff is longer than max_backoff");
    }
    if s.failure_threshold == 0 {
        ck.at(&base, &["failure_threshold"], "must be at least 1");
    }
    if s.retries > 10 {
        ck.at(&base, &["retries"], "at most 10 retries");
    }
    LlmPolicy {
        backoff: s.backoff.0,
        max_backoff: s.max_backoff.0,
        max_retry_after: s.max_retry_after.0,
        failure_threshold: s.failure_threshold,
        cooldown: s.cooldown.0,
        total_timeout: s.total_timeout.map(|d| d.0),
        max_body_bytes: s
            .max_body_bytes
            .map(|b| b.0)
            .unwrap_or(server.max_body_bytes),
    }
}

fn compile_provider(p: &schema::ProviderSection, base: &[Seg], ck: &mut Checker) -> ProviderSpec {
    let desc = p.kind;
    let endpoint = match (&desc.http, p.base_url.as_deref()) {
        (None, Some(_)) => {
            let msg = format!("a {} provider has no base_url", desc.kind);
            ck.at(base, &["base_url"], msg);
            None
        }
        (None, None) => None,
        (Some(http), url) => match url.or(http.base_url) {
            None => {
                ck.at(
                    base,
                    &["base_url"],
                    "this kind of provider needs base_url (e.g. \"https://NAME.openai.azure.com\" or \"http://127.0.0.1:8000/v1\")",
                );
                None
            }
            Some(url) => match parse_base_url(url) {
                Ok(e) => Some(e),
                Err(msg) => {
                    ck.at(base, &["base_url"], msg);
                    None
                }
            },
        },
    };
    let mut keys: Vec<Secret> = p.api_key.iter().map(|k| Secret::new(k.clone())).collect();
    keys.extend(p.api_keys.iter().map(|k| Secret::new(k.clone())));
    keys.retain(|k| !k.is_empty());
    if desc.http.is_some() && (p.mock.latency.is_some() || p.mock.fail_status.is_some()) {
        ck.at(
            base,
            &["mock"],
            "only a mock provider takes [mock] settings",
        );
    }
    if let Some(s) = p.mock.fail_status {
        if !(400..=599).contains(&s) {
            ck.at(
                base,
                &["mock", "fail_status"],
                "an error status is between 400 and 599",
            );
        }
    }
    let chunk_chars = p.mock.chunk_chars.unwrap_or(8);
    if chunk_chars == 0 {
        ck.at(base, &["mock", "chunk_chars"], "must be at least 1");
    }
    let t = &p.timeouts;
    positive_timeouts(
        [("connect", t.connect), ("read", t.read), ("write", t.write)],
        base,
        ck,
    );
    if p.http2 && desc.http.is_none() {
        let msg = format!(
            "a {} provider makes no connection to speak HTTP/2 on",
            desc.kind
        );
        ck.at(base, &["http2"], msg);
    }
    let default_version = desc.http.as_ref().and_then(|h| h.api_version.as_ref());
    let default_version = default_version.map_or("", |v| v.default);
    ProviderSpec {
        name: p.name.clone(),
        descriptor: desc,
        endpoint,
        keys,
        api_version: p
            .api_version
            .clone()
            .unwrap_or_else(|| default_version.to_owned()),
        headers: header_pairs(&p.headers, base, &["headers"], ck),
        connect_timeout: t.connect.0,
        read_timeout: t.read.0,
        write_timeout: t.write.0,
        keepalive: p.keepalive,
        http2: p.http2,
        mock: MockSpec {
            latency: p.mock.latency.map(|d| d.0).unwrap_or_default(),
            chunk_chars,
            chunk_delay: p.mock.chunk_delay.map(|d| d.0).unwrap_or_default(),
            fail_status: p.mock.fail_status,
        },
    }
}

/// Splits `http(s)://host[:port][/path]`. Hosts stay names: they are resolved off the
/// request path and refreshed, since provider addresses change.
pub fn parse_base_url(url: &str) -> Result<ProviderEndpoint, String> {
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("{url:?} must start with http:// or https://"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if path.contains(['?', '#']) {
        return Err(format!("{url:?} must not have a query or fragment"));
    }
    let parsed: http::uri::Authority = authority
        .parse()
        .map_err(|_| format!("{url:?} has no valid host"))?;
    if parsed.host().is_empty() || authority.contains('@') {
        return Err(format!("{url:?} has no valid host"));
    }
    let port = parsed.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let host = parsed.host().trim_start_matches('[').trim_end_matches(']');
    Ok(ProviderEndpoint {
        tls,
        host: host.to_owned(),
        port,
        path: path.trim_end_matches('/').to_owned(),
        authority: authority.to_owned(),
    })
}

fn compile_model(
    m: &schema::ModelSection,
    base: &[Seg],
    providers: &[&str],
    public: &HashMap<&str, usize>,
    model_names: &[&str],
    retries: u32,
    ck: &mut Checker,
) -> ModelSpec {
    if m.deployments.is_empty() {
        ck.at(
            base,
            &["deployments"],
            "a model needs at least one deployment",
        );
    }
    if m.deployments.len() > MAX_DEPLOYMENTS {
        ck.at(
            base,
            &["deployments"],
            format!("at most {MAX_DEPLOYMENTS} deployments"),
        );
    }
    let mut deployments = Vec::new();
    for (j, d) in m.deployments.iter().enumerate() {
        let at = |field: &'static str| [key("deployments"), Seg::Index(j), key(field)];
        let Some(provider) = providers.iter().position(|p| *p == d.provider) else {
            let mut path = base.to_vec();
            path.extend(at("provider"));
            ck.issues.push(crate::config::problem::Issue::new(
                path,
                format!(
                    "no provider named {:?}{}",
                    d.provider,
                    did_you_mean(&d.provider, providers.iter().copied())
                ),
            ));
            continue;
        };
        if d.weight == 0 || d.weight > 1000 {
            let mut path = base.to_vec();
            path.extend(at("weight"));
            ck.issues.push(crate::config::problem::Issue::new(
                path,
                "weight must be between 1 and 1000",
            ));
        }
        deployments.push(Deployment {
            provider,
            model: d.model.clone(),
            weight: d.weight,
            api_key: d.api_key.clone().map(Secret::new),
        });
    }
    let mut fallbacks = Vec::new();
    for name in &m.fallbacks {
        match public.get(name.as_str()) {
            Some(&i) if model_names.get(i) == Some(&m.name.as_str()) => ck.at(
                base,
                &["fallbacks"],
                format!("model {:?} falls back to itself", m.name),
            ),
            Some(&i) => fallbacks.push(i),
            None => ck.at(
                base,
                &["fallbacks"],
                format!(
                    "no model named {name:?}{}",
                    did_you_mean(name, model_names.iter().copied())
                ),
            ),
        }
    }
    let prices = Prices {
        input: m.input_price,
        cached_input: m.cached_input_price.unwrap_or(m.input_price),
        output: m.output_price,
    };
    if [prices.input, prices.cached_input, prices.output]
        .iter()
        .any(|p| !p.is_finite() || *p < 0.0)
    {
        ck.at(base, &[], "prices must be zero or more");
    }
    ModelSpec {
        name: m.name.clone(),
        aliases: m.aliases.clone(),
        deployments,
        fallbacks,
        prices,
        context_window: m.context_window,
        max_output_tokens: m.max_output_tokens,
        retries,
        visibility: super::api::compile_visibility(&m.visibility, base, ck),
        // Resolved once the limits are compiled.
        limits: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_base_url;

    #[test]
    fn base_urls_split_into_connection_parts() {
        let e = parse_base_url("https://api.openai.com/v1/").unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port, e.path.as_str()),
            (true, "api.openai.com", 443, "/v1")
        );
        let e = parse_base_url("http://127.0.0.1:18102").unwrap();
        assert_eq!(
            (e.tls, e.port, e.path.as_str(), e.authority.as_str()),
            (false, 18102, "", "127.0.0.1:18102")
        );
        let e = parse_base_url("http://[::1]:8000/v1").unwrap();
        assert_eq!(e.host, "::1");
        assert!(parse_base_url("ftp://x").is_err());
        assert!(parse_base_url("http://").is_err());
        assert!(parse_base_url("http://h/v1?x=1").is_err());
    }
}
