//! The validated runtime form of a configuration: every reference resolved, every value parsed,
//! nothing optional left for the request path. `compile` returns every problem it finds.

pub mod api;
mod limits;
mod llm;

use super::problem::{did_you_mean, key, Issue, Seg};
use super::schema::{self, Balance, FileConfig, TargetSection};
use crate::base::shm::MAX_WORKERS;
pub use api::{
    ApiSpec, AppSeed, Approval, AuthMode, KeySeed, Lifecycle, StoreSettings, TenantSeed, Visibility,
};
use http::{HeaderName, HeaderValue, Method};
pub use limits::{ClusterSpec, LimitSpec, PlanSpec, RedisSettings};
pub use llm::{
    Deployment, LlmConfig, LlmPolicy, MockSpec, ModelSpec, Prices, ProviderEndpoint, ProviderSpec,
};
use std::collections::HashSet;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// A target cap that lets a retry remember the targets it tried in one `u64`.
pub const MAX_TARGETS: usize = 64;

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerSettings,
    pub admin: Option<AdminSettings>,
    pub log: LogSettings,
    pub upstreams: Vec<UpstreamSpec>,
    pub routes: Vec<RouteSpec>,
    pub llm: LlmConfig,
    /// The control-plane store; API keys and subscriptions need one.
    pub store: Option<StoreSettings>,
    pub tenants: Vec<TenantSeed>,
    pub limits: Vec<LimitSpec>,
    /// `[[plans]]`: named sets of limits for tenants.
    pub plans: Vec<PlanSpec>,
    /// Where cluster-scope limits are kept.
    pub redis: Option<RedisSettings>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    pub listen: Vec<SocketAddr>,
    pub workers: usize,
    pub threads: usize,
    pub grace_period: Duration,
    pub max_header_bytes: usize,
    pub max_body_bytes: u64,
    pub keepalive_timeout: Duration,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    pub limit_slots: usize,
    pub concurrency_slots: usize,
}

#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub listen: SocketAddr,
    pub token: Secret,
}

/// A secret from the configuration; it never shows in logs or debug output.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLogTarget {
    Off,
    Stdout,
    Stderr,
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub access: AccessLogTarget,
    pub queue: usize,
    pub level: String,
}

#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    pub name: String,
    pub targets: Vec<TargetSpec>,
    pub balance: BalanceSpec,
    pub health: Option<HealthSpec>,
    pub max_fails: u32,
    pub fail_timeout: Duration,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub write_timeout: Duration,
    pub total_timeout: Option<Duration>,
    pub retries: u32,
    pub keepalive: usize,
    pub keepalive_timeout: Duration,
    pub tls: bool,
    pub sni: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// The address as written, for logs and metrics labels.
    pub label: String,
    pub addr: SocketAddr,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BalanceSpec {
    RoundRobin,
    Weighted,
    ConsistentHash(HashOn),
    LeastInflight,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOn {
    ClientIp,
    Header(HeaderName),
}

#[derive(Debug, Clone)]
pub struct HealthSpec {
    pub path: String,
    pub host: Option<String>,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub expect_status: Vec<u16>,
}

#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub name: String,
    pub host: Option<HostMatch>,
    pub path: PathMatch,
    pub methods: Vec<Method>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub target: RouteTarget,
    pub strip_prefix: bool,
    pub upstream_host: Option<HeaderValue>,
    pub request_headers: HeaderTransform,
    pub response_headers: HeaderTransform,
    pub api: ApiSpec,
    /// Indexes into `Config::limits`: those counting requests, and (LLM routes) those
    /// counting tokens or cost.
    pub limits: Vec<usize>,
    pub usage_limits: Vec<usize>,
    /// Concurrency caps: requests (or streams) in flight at once.
    pub concurrency_limits: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteTarget {
    /// Index into `Config::upstreams`.
    Upstream(usize),
    /// The LLM API over `Config::llm`.
    Llm,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMatch {
    /// Lower-cased host without port.
    Exact(String),
    /// `*.example.com` kept as `.example.com`.
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Exact(String),
    Prefix(String),
}

#[derive(Debug, Clone, Default)]
pub struct HeaderTransform {
    pub set: Vec<(HeaderName, HeaderValue)>,
    pub remove: Vec<HeaderName>,
}

impl HeaderTransform {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

/// Collects issues under a key path while a section is compiled.
struct Checker {
    issues: Vec<Issue>,
}

impl Checker {
    fn at(&mut self, base: &[Seg], tail: &[&str], message: impl Into<String>) {
        let mut at = base.to_vec();
        at.extend(tail.iter().map(|k| key(k)));
        self.issues.push(Issue::new(at, message));
    }
}

pub fn compile(file: &FileConfig) -> Result<Config, Vec<Issue>> {
    let mut ck = Checker { issues: Vec::new() };
    let default_server = schema::ServerSection::default();
    let server = compile_server(file.server.as_ref().unwrap_or(&default_server), &mut ck);
    let admin = file
        .admin
        .as_ref()
        .and_then(|a| compile_admin(a, &server, &mut ck));
    let default_log = schema::LogSection::default();
    let log = compile_log(file.log.as_ref().unwrap_or(&default_log), &mut ck);
    let mut upstreams = Vec::new();
    let mut seen = HashSet::new();
    for (i, u) in file.upstreams.iter().enumerate() {
        let base = vec![key("upstreams"), Seg::Index(i)];
        if !seen.insert(u.name.as_str()) {
            ck.at(
                &base,
                &["name"],
                format!("duplicate upstream name {:?}", u.name),
            );
        }
        upstreams.push(compile_upstream(u, &base, &mut ck));
    }
    let mut llm = llm::compile(file, &server, &mut ck);
    let redis = file
        .redis
        .as_ref()
        .map(|r| limits::compile_redis(r, &mut ck));
    let limit_specs = limits::compile_limits(&file.limits, redis.is_some(), &mut ck);
    let plans = limits::compile_plans(&file.plans, &limit_specs, &mut ck);
    for (i, (m, spec)) in file.models.iter().zip(llm.models.iter_mut()).enumerate() {
        let base = [key("models"), Seg::Index(i)];
        spec.limits = limits::resolve_model(&m.limits, &limit_specs, &base, &mut ck);
    }
    llm.models_limited = llm.models.iter().any(|m| !m.limits.is_empty());
    let names: Vec<&str> = file.upstreams.iter().map(|u| u.name.as_str()).collect();
    if file.routes.is_empty() {
        // Without a route every request is a 404: that is a mistake, never a configuration.
        ck.at(
            &[],
            &["routes"],
            "no [[routes]]: every request would get 404; add at least one \
             (e.g. [[routes]] name = \"api\" path_prefix = \"/\" upstream = \"...\")",
        );
    }
    let mut routes = Vec::new();
    let mut route_names = HashSet::new();
    for (i, r) in file.routes.iter().enumerate() {
        let base = vec![key("routes"), Seg::Index(i)];
        if !route_names.insert(r.name.as_str()) {
            ck.at(
                &base,
                &["name"],
                format!("duplicate route name {:?}", r.name),
            );
        }
        if let Some(mut route) = compile_route(r, &names, !llm.models.is_empty(), &base, &mut ck) {
            let llm_route = route.target == RouteTarget::Llm;
            let resolved = limits::resolve(&r.limits, &limit_specs, llm_route, &base, &mut ck);
            route.limits = resolved.requests;
            route.usage_limits = resolved.usage;
            route.concurrency_limits = resolved.concurrency;
            if let Some(j) = routes
                .iter()
                .position(|o: &RouteSpec| same_match(o, &route))
            {
                ck.at(
                    &base,
                    &[],
                    format!(
                        "route {:?} matches exactly the requests of route {:?}; one of them can never be chosen",
                        route.name, routes[j].name
                    ),
                );
            }
            routes.push(route);
        }
    }
    let store = file.store.as_ref().map(|s| api::compile_store(s, &mut ck));
    api::check_routes(&routes, store.is_some(), &mut ck);
    let model_names: Vec<&str> = llm.models.iter().map(|m| m.name.as_str()).collect();
    let tenants = api::compile_seed(
        &file.tenants,
        &routes,
        &model_names,
        store.is_some(),
        &mut ck,
    );
    for (i, t) in file.tenants.iter().enumerate() {
        if let Some(plan) = &t.plan {
            let at = vec![key("tenants"), Seg::Index(i), key("plan")];
            limits::check_plan(plan, &plans, at, &mut ck);
        }
    }
    if ck.issues.is_empty() {
        Ok(Config {
            server,
            admin,
            log,
            upstreams,
            routes,
            llm,
            store,
            tenants,
            limits: limit_specs,
            plans,
            redis,
        })
    } else {
        Err(ck.issues)
    }
}

fn compile_server(s: &schema::ServerSection, ck: &mut Checker) -> ServerSettings {
    let base = [key("server")];
    let mut listen = Vec::new();
    if s.listen.is_empty() {
        ck.at(&base, &["listen"], "at least one listen address is needed");
    }
    for (i, a) in s.listen.iter().enumerate() {
        match a.parse::<SocketAddr>() {
            Ok(addr) => listen.push(addr),
            Err(_) => ck.issues.push(Issue::new(
                vec![key("server"), key("listen"), Seg::Index(i)],
                format!(
                    "{a:?} is not an IP:port address (e.g. \"127.0.0.1:8080\" or \"[::]:8080\")"
                ),
            )),
        }
    }
    let workers = s.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if !(1..=MAX_WORKERS).contains(&workers) {
        ck.at(
            &base,
            &["workers"],
            format!("workers must be between 1 and {MAX_WORKERS}"),
        );
    }
    if !(1..=256).contains(&s.threads) {
        ck.at(&base, &["threads"], "threads must be between 1 and 256");
    }
    if s.max_header_bytes.0 < 1024 || s.max_header_bytes.0 > 1 << 20 {
        ck.at(
            &base,
            &["max_header_bytes"],
            "must be between 1KiB and 1MiB",
        );
    }
    for (name, d) in [
        ("header_timeout", s.header_timeout.0),
        ("body_timeout", s.body_timeout.0),
    ] {
        if d < Duration::from_millis(100) || d > Duration::from_secs(3600) {
            ck.at(&base, &[name], "must be between 100ms and 1h");
        }
    }
    if !(1..=1_000_000).contains(&s.max_connections) {
        ck.at(&base, &["max_connections"], "must be between 1 and 1000000");
    }
    if !(1..=1 << 20).contains(&s.concurrency_slots) {
        ck.at(
            &base,
            &["concurrency_slots"],
            "must be between 1 and 1048576 keys",
        );
    }
    ServerSettings {
        listen,
        workers,
        threads: s.threads,
        grace_period: s.grace_period.0,
        max_header_bytes: s.max_header_bytes.0 as usize,
        max_body_bytes: s.max_body_bytes.0,
        keepalive_timeout: s.keepalive_timeout.0,
        header_timeout: s.header_timeout.0,
        body_timeout: s.body_timeout.0,
        max_connections: s.max_connections,
        limit_slots: s.limit_slots,
        concurrency_slots: s.concurrency_slots,
    }
}

fn compile_admin(
    a: &schema::AdminSection,
    server: &ServerSettings,
    ck: &mut Checker,
) -> Option<AdminSettings> {
    let base = [key("admin")];
    let listen = match a.listen.parse::<SocketAddr>() {
        Ok(addr) => addr,
        Err(_) => {
            ck.at(
                &base,
                &["listen"],
                format!("{:?} is not an IP:port address", a.listen),
            );
            return None;
        }
    };
    if server.listen.contains(&listen) {
        ck.at(
            &base,
            &["listen"],
            format!("{listen} is also a data-plane listener; the admin API needs its own address"),
        );
    }
    Some(AdminSettings {
        listen,
        token: Secret::new(a.token.clone()),
    })
}

fn compile_log(l: &schema::LogSection, ck: &mut Checker) -> LogSettings {
    let access = match l.access.as_str() {
        "off" => AccessLogTarget::Off,
        "stdout" => AccessLogTarget::Stdout,
        "stderr" => AccessLogTarget::Stderr,
        path => {
            let p = PathBuf::from(path);
            match p.parent() {
                Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => ck.at(
                    &[key("log")],
                    &["access"],
                    format!("directory {} does not exist", dir.display()),
                ),
                _ => {}
            }
            AccessLogTarget::File(p)
        }
    };
    if l.queue == 0 {
        ck.at(
            &[key("log")],
            &["queue"],
            "queue must hold at least one line",
        );
    }
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&l.level) {
        ck.at(
            &[key("log")],
            &["level"],
            format!("invalid log filter: {e}"),
        );
    }
    LogSettings {
        access,
        queue: l.queue,
        level: l.level.clone(),
    }
}

fn compile_upstream(u: &schema::UpstreamSection, base: &[Seg], ck: &mut Checker) -> UpstreamSpec {
    let mut targets = Vec::new();
    if u.targets.is_empty() {
        ck.at(base, &["targets"], "an upstream needs at least one target");
    }
    if u.targets.len() > MAX_TARGETS {
        ck.at(
            base,
            &["targets"],
            format!("at most {MAX_TARGETS} targets per upstream"),
        );
    }
    for (i, t) in u.targets.iter().enumerate() {
        let (addr, weight) = match t {
            TargetSection::Addr(a) => (a, 1),
            TargetSection::Weighted { addr, weight } => (addr, *weight),
        };
        let mut at = base.to_vec();
        at.extend([key("targets"), Seg::Index(i)]);
        if weight == 0 || weight > 1000 {
            ck.issues
                .push(Issue::new(at.clone(), "weight must be between 1 and 1000"));
        }
        match resolve(addr) {
            Ok(sock) => targets.push(TargetSpec {
                label: addr.clone(),
                addr: sock,
                weight,
            }),
            Err(msg) => ck.issues.push(Issue::new(at, msg)),
        }
    }
    let balance = match (u.balance, u.hash_on.as_deref()) {
        (Balance::RoundRobin, None) => BalanceSpec::RoundRobin,
        (Balance::Weighted, None) => BalanceSpec::Weighted,
        (Balance::LeastInflight, None) => BalanceSpec::LeastInflight,
        (Balance::ConsistentHash, Some("client_ip")) => {
            BalanceSpec::ConsistentHash(HashOn::ClientIp)
        }
        (Balance::ConsistentHash, Some(h)) => {
            match h.strip_prefix("header:").map(HeaderName::try_from) {
                Some(Ok(name)) => BalanceSpec::ConsistentHash(HashOn::Header(name)),
                _ => {
                    ck.at(
                        base,
                        &["hash_on"],
                        format!("{h:?} is neither \"client_ip\" nor \"header:NAME\""),
                    );
                    BalanceSpec::RoundRobin
                }
            }
        }
        (Balance::ConsistentHash, None) => {
            ck.at(
                base,
                &["hash_on"],
                "balance = \"consistent_hash\" needs hash_on = \"client_ip\" or \"header:NAME\"",
            );
            BalanceSpec::RoundRobin
        }
        (_, Some(_)) => {
            ck.at(
                base,
                &["hash_on"],
                "hash_on only applies to balance = \"consistent_hash\"",
            );
            BalanceSpec::RoundRobin
        }
    };
    let health = u.health_check.as_ref().map(|h| compile_health(h, base, ck));
    let t = &u.timeouts;
    for (name, d) in [("connect", t.connect), ("read", t.read), ("write", t.write)] {
        if d.0.is_zero() {
            ck.at(
                base,
                &["timeouts", name],
                "a timeout must be more than zero",
            );
        }
    }
    if u.passive.fail_timeout.0.is_zero() {
        ck.at(base, &["passive", "fail_timeout"], "must be more than zero");
    }
    UpstreamSpec {
        name: u.name.clone(),
        targets,
        balance,
        health,
        max_fails: u.passive.max_fails,
        fail_timeout: u.passive.fail_timeout.0,
        connect_timeout: t.connect.0,
        read_timeout: t.read.0,
        write_timeout: t.write.0,
        total_timeout: t.total.map(|d| d.0),
        retries: u.retries,
        keepalive: u.keepalive,
        keepalive_timeout: u.keepalive_timeout.0,
        tls: u.tls,
        sni: u.sni.clone().unwrap_or_default(),
    }
}

/// Resolves `host:port` once, at load time, so the request path never touches DNS.
// The one blocking DNS lookup, while the configuration compiles (start-up, or a reload in
// `spawn_blocking`).
#[allow(clippy::disallowed_methods)]
fn resolve(addr: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(a);
    }
    if !addr.contains(':') {
        return Err(format!("{addr:?} has no port; write it as host:port"));
    }
    match addr.to_socket_addrs() {
        Ok(mut it) => it
            .next()
            .ok_or_else(|| format!("{addr:?} resolves to no address")),
        Err(e) => Err(format!("cannot resolve {addr:?}: {e}")),
    }
}

fn compile_health(h: &schema::HealthCheckSection, base: &[Seg], ck: &mut Checker) -> HealthSpec {
    if !h.path.starts_with('/') {
        ck.at(base, &["health_check", "path"], "must start with '/'");
    }
    if h.interval.0.is_zero() || h.timeout.0.is_zero() {
        ck.at(
            base,
            &["health_check"],
            "interval and timeout must be more than zero",
        );
    }
    if h.healthy_threshold == 0 || h.unhealthy_threshold == 0 {
        ck.at(base, &["health_check"], "thresholds must be at least 1");
    }
    if h.expect_status.iter().any(|s| !(100..=599).contains(s)) {
        ck.at(
            base,
            &["health_check", "expect_status"],
            "statuses are between 100 and 599",
        );
    }
    HealthSpec {
        path: h.path.clone(),
        host: h.host.clone(),
        interval: h.interval.0,
        timeout: h.timeout.0,
        healthy_threshold: h.healthy_threshold,
        unhealthy_threshold: h.unhealthy_threshold,
        expect_status: h.expect_status.clone(),
    }
}

fn compile_route(
    r: &schema::RouteSection,
    upstreams: &[&str],
    have_models: bool,
    base: &[Seg],
    ck: &mut Checker,
) -> Option<RouteSpec> {
    let before = ck.issues.len();
    let target = route_target(r, upstreams, have_models, base, ck);
    let path = match (&r.path, &r.path_prefix) {
        (Some(_), Some(_)) => {
            ck.at(
                base,
                &["path"],
                "set either path (exact) or path_prefix, not both",
            );
            PathMatch::Prefix("/".into())
        }
        (Some(p), None) => PathMatch::Exact(checked_path(p, base, "path", ck)),
        (None, Some(p)) => PathMatch::Prefix(checked_path(p, base, "path_prefix", ck)),
        (None, None) => PathMatch::Prefix("/".into()),
    };
    if r.strip_prefix && !matches!(path, PathMatch::Prefix(_)) {
        ck.at(base, &["strip_prefix"], "strip_prefix needs a path_prefix");
    }
    let host = r.host.as_deref().map(|h| {
        let h = h.to_ascii_lowercase();
        match h.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') => HostMatch::Suffix(suffix.to_string()),
            _ => HostMatch::Exact(h),
        }
    });
    let mut methods = Vec::new();
    for m in &r.methods {
        match Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
            Ok(method) => methods.push(method),
            Err(_) => ck.at(base, &["methods"], format!("{m:?} is not an HTTP method")),
        }
    }
    let headers = header_pairs(&r.headers, base, &["headers"], ck);
    let upstream_host = r
        .upstream_host
        .as_deref()
        .and_then(|h| match HeaderValue::from_str(h) {
            Ok(v) => Some(v),
            Err(_) => {
                ck.at(
                    base,
                    &["upstream_host"],
                    format!("{h:?} is not a valid Host value"),
                );
                None
            }
        });
    let request_headers = transform(&r.request_headers, base, "request_headers", ck);
    let response_headers = transform(&r.response_headers, base, "response_headers", ck);
    if ck.issues.len() > before {
        return None;
    }
    Some(RouteSpec {
        name: r.name.clone(),
        host,
        path,
        methods,
        headers,
        target: target?,
        strip_prefix: r.strip_prefix,
        upstream_host,
        request_headers,
        response_headers,
        api: api::compile_api(&r.api, base, ck),
        limits: Vec::new(),
        usage_limits: Vec::new(),
        concurrency_limits: Vec::new(),
    })
}

fn route_target(
    r: &schema::RouteSection,
    upstreams: &[&str],
    have_models: bool,
    base: &[Seg],
    ck: &mut Checker,
) -> Option<RouteTarget> {
    match (r.handler, r.upstream.as_deref()) {
        (schema::HandlerKind::Llm, Some(_)) => {
            ck.at(
                base,
                &["upstream"],
                "an LLM route sends each request to its model's deployments; remove `upstream`",
            );
            None
        }
        (schema::HandlerKind::Llm, None) if !have_models => {
            ck.at(
                base,
                &["handler"],
                "handler = \"llm\" needs at least one [[models]] entry",
            );
            None
        }
        (schema::HandlerKind::Llm, None) => Some(RouteTarget::Llm),
        (schema::HandlerKind::Proxy, None) => {
            ck.at(
                base,
                &["upstream"],
                "a proxy route needs `upstream` (or set handler = \"llm\")",
            );
            None
        }
        (schema::HandlerKind::Proxy, Some(name)) => match upstreams.iter().position(|n| *n == name)
        {
            Some(i) => Some(RouteTarget::Upstream(i)),
            None => {
                ck.at(
                    base,
                    &["upstream"],
                    format!(
                        "no upstream named {name:?}{}",
                        did_you_mean(name, upstreams.iter().copied())
                    ),
                );
                None
            }
        },
    }
}

fn checked_path(p: &str, base: &[Seg], field: &str, ck: &mut Checker) -> String {
    if !p.starts_with('/') {
        ck.at(base, &[field], format!("{p:?} must start with '/'"));
    }
    p.to_string()
}

fn header_pairs(
    map: &std::collections::BTreeMap<String, String>,
    base: &[Seg],
    field: &[&str],
    ck: &mut Checker,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    for (k, v) in map {
        match (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v)) {
            (Ok(name), Ok(value)) => out.push((name, value)),
            (Err(_), _) => ck.at(base, field, format!("{k:?} is not a valid header name")),
            (_, Err(_)) => ck.at(
                base,
                field,
                format!("the value of {k:?} is not a valid header value"),
            ),
        }
    }
    out
}

fn transform(
    t: &schema::HeaderTransformSection,
    base: &[Seg],
    field: &str,
    ck: &mut Checker,
) -> HeaderTransform {
    let set = header_pairs(&t.set, base, &[field, "set"], ck);
    let mut remove = Vec::new();
    for name in &t.remove {
        match HeaderName::try_from(name.as_str()) {
            Ok(n) => remove.push(n),
            Err(_) => ck.at(
                base,
                &[field, "remove"],
                format!("{name:?} is not a valid header name"),
            ),
        }
    }
    HeaderTransform { set, remove }
}

fn same_match(a: &RouteSpec, b: &RouteSpec) -> bool {
    let mut am = a.methods.clone();
    let mut bm = b.methods.clone();
    am.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    bm.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    a.host == b.host && a.path == b.path && am == bm && a.headers == b.headers
}
