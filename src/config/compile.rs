//! The validated runtime form of a configuration: every reference resolved, every value parsed,
//! nothing optional left for the request path. `compile` returns every problem it finds.

pub mod api;
mod apis;
mod capture;
mod http2;
mod limits;
mod llm;
pub mod mcp;
pub mod mcp_servers;
mod otel;
mod prompt;
mod routes;
mod stored;
pub mod tls;
mod upstreams;

use super::problem::{key, Issue, Seg};
use super::schema::{self, FileConfig};
use crate::base::shm::MAX_WORKERS;
use api::valid_name;
pub use api::{
    AppSeed, Approval, AuthMode, KeySeed, Lifecycle, StoreSettings, TenantSeed, Visibility,
};
pub use apis::{ApiKind, ApiRef};
pub use capture::{always_masked_header, CaptureSpec, MaskRules, MAX_CAPTURE_BYTES};
pub use http2::Http2Settings;
pub use limits::{ClusterSpec, LimitSpec, PlanSpec, RedisSettings};
pub use llm::{
    Deployment, LlmConfig, LlmPolicy, MockSpec, ModelSpec, Prices, ProviderEndpoint, ProviderSpec,
};
pub use mcp::McpSpec;
pub use mcp_servers::{Launch, McpServerSpec, McpTransport, ToolFilter};
pub use otel::OtelSpec;
pub use prompt::{PromptOutput, PromptParams, PromptSpec, TemplateMessage};
use routes::{compile_route, same_match};
pub use routes::{HeaderTransform, HostMatch, PathMatch, RouteSpec, RouteTarget, SetHeader};
use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
pub use stored::{compile_stored_prompt, stored_route_name, with_stored_prompts, LeftOut};
pub use tls::{CertSpec, ClientCa, Listener, ListenerTls, TlsSpec};
use upstreams::compile_upstream;
pub use upstreams::{BalanceSpec, HashOn, HealthSpec, TargetSpec, UpstreamSpec};

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
    /// `[otel]`: OTLP export of traces and logs, when set.
    pub otel: Option<OtelSpec>,
    /// `[[prompts]]`, in order: `RouteTarget::Prompt(i)` is `prompts[i]`; each also has its
    /// route in `routes`.
    pub prompts: Vec<std::sync::Arc<PromptSpec>>,
    /// `[mcp]`: the Model Context Protocol endpoint, when enabled.
    pub mcp: Option<McpSpec>,
    /// `[[mcp_servers]]`: upstream MCP servers offered through `[mcp]`.
    pub mcp_servers: Vec<McpServerSpec>,
    /// `[tls]`: the certificates of the TLS listeners.
    pub tls: TlsSpec,
    /// What this was compiled from: the stored entries are added to it and compiled again
    /// (`config::live`), and the admin API shows its entries as written.
    pub source: Source,
}

/// The parsed files a `Config` was compiled from. Its `Debug` shows none of it: it holds the
/// secrets as the files and the environment gave them.
#[derive(Clone)]
pub struct Source(pub std::sync::Arc<FileConfig>);

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Source(<redacted>)")
    }
}

impl std::ops::Deref for Source {
    type Target = FileConfig;
    fn deref(&self) -> &FileConfig {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerSettings {
    pub listen: Vec<Listener>,
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
    /// `[server.http2]`: the limits of HTTP/2 client connections.
    pub http2: Http2Settings,
    /// `lean_http1`: plain HTTP/1 requests to plain proxy routes and open LLM routes take the
    /// lean path.
    pub lean_http1: bool,
}

#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub listen: SocketAddr,
    pub token: Secret,
    /// Over TLS, with the certificates of `[tls]` (restart to change).
    pub tls: bool,
    pub users: UserSettings,
}

/// How users sign in to the admin API (the `[admin]` keys about users).
#[derive(Debug, Clone, PartialEq)]
pub struct UserSettings {
    /// The operator made at start when no user has its name: (name, password).
    pub bootstrap: Option<(String, Secret)>,
    pub session_ttl: Duration,
    pub session_idle: Duration,
    /// Whether the session cookie says `Secure`; an HTTPS admin listener turns it on.
    pub secure_cookies: bool,
    pub max_failures: u32,
    pub lockout: Duration,
    pub per_ip_per_minute: u32,
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
    pub store: Option<CallStoreSettings>,
    /// `[log.mask]`, shared by every route's `CaptureSpec`.
    pub mask: std::sync::Arc<MaskRules>,
}

/// The embedded call store (`[log.store]`).
#[derive(Debug, Clone, PartialEq)]
pub struct CallStoreSettings {
    pub path: PathBuf,
    pub retention: Duration,
    pub max_size: u64,
    pub queue: usize,
    /// How long the minute, hour and day totals are kept.
    pub rollups: [Duration; 3],
}

/// Collects issues under a key path while a section is compiled.
#[derive(Default)]
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

/// Each of `timeouts` (under `base.timeouts`) must be more than zero.
fn positive_timeouts(timeouts: [(&str, schema::Dur); 3], base: &[Seg], ck: &mut Checker) {
    for (name, d) in timeouts {
        if d.0.is_zero() {
            ck.at(
                base,
                &["timeouts", name],
                "a timeout must be more than zero",
            );
        }
    }
}

pub fn compile(file: &FileConfig) -> Result<Config, Vec<Issue>> {
    let mut ck = Checker { issues: Vec::new() };
    let default_server = schema::ServerSection::default();
    let tls = file
        .tls
        .as_ref()
        .map(|t| tls::compile_tls(t, &mut ck))
        .unwrap_or_default();
    let has_certificates = file
        .tls
        .as_ref()
        .is_some_and(|t| !t.certificates.is_empty());
    let server = compile_server(
        file.server.as_ref().unwrap_or(&default_server),
        has_certificates,
        &mut ck,
    );
    let admin = file
        .admin
        .as_ref()
        .and_then(|a| compile_admin(a, &server, has_certificates, &mut ck));
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
    let otel = file.otel.as_ref().and_then(|o| otel::compile(o, &mut ck));
    let limit_specs = limits::compile_limits(&file.limits, redis.is_some(), &mut ck);
    let plans = limits::compile_plans(&file.plans, &limit_specs, &mut ck);
    for (i, (m, spec)) in file.models.iter().zip(llm.models.iter_mut()).enumerate() {
        let base = [key("models"), Seg::Index(i)];
        spec.limits = limits::resolve_model(&m.limits, &limit_specs, &base, &mut ck);
    }
    llm.models_limited = llm.models.iter().any(|m| !m.limits.is_empty());
    let names: Vec<&str> = file.upstreams.iter().map(|u| u.name.as_str()).collect();
    if file.routes.is_empty() && file.prompts.is_empty() {
        // Without a route every request is a 404: that is a mistake, never a configuration.
        ck.at(
            &[],
            &["routes"],
            "no [[routes]]: every request would get 404; add at least one \
             (e.g. [[routes]] name = \"api\" path_prefix = \"/\" upstream = \"...\")",
        );
    }
    let mut routes = Routes::default();
    for (i, r) in file.routes.iter().enumerate() {
        let base = vec![key("routes"), Seg::Index(i)];
        routes.name(&r.name, &base, &mut ck);
        if let Some(route) = compile_route(r, &names, !llm.models.is_empty(), &base, &mut ck) {
            let llm_route = route.target == RouteTarget::Llm;
            let section = (&r.limits[..], r.capture.as_ref());
            routes.add(
                route,
                section,
                llm_route,
                base,
                (&limit_specs, &log),
                &mut ck,
            );
        }
    }
    let mut prompts = Vec::new();
    let model_names = prompt::model_names(file);
    for (i, p) in file.prompts.iter().enumerate() {
        let base = vec![key("prompts"), Seg::Index(i)];
        routes.name(&p.name, &base, &mut ck);
        let index = prompts.len();
        if let Some((spec, route)) = prompt::compile_prompt(p, index, &model_names, &base, &mut ck)
        {
            prompts.push(std::sync::Arc::new(spec));
            let section = (&p.limits[..], p.capture.as_ref());
            routes.add(route, section, true, base, (&limit_specs, &log), &mut ck);
        }
    }
    let store = file.store.as_ref().map(|s| api::compile_store(s, &mut ck));
    if store.is_none() && admin.as_ref().is_some_and(|a| a.users.bootstrap.is_some()) {
        ck.at(
            &[key("admin")],
            &["bootstrap_operator"],
            "users live in the store: add a [store] section".to_string(),
        );
    }
    let mcp = file
        .mcp
        .as_ref()
        .and_then(|m| mcp::compile(m, &limit_specs, store.is_some(), &mut ck));
    // A successor may be any API: a route or an MCP server.
    let api_names: Vec<&str> = (routes.specs.iter().map(|r| r.name.as_str()))
        .chain(file.mcp_servers.iter().map(|s| s.name.as_str()))
        .collect();
    let has_store = store.is_some();
    api::check_routes(&routes.specs, &routes.bases, &api_names, has_store, &mut ck);
    for (i, s) in file.mcp_servers.iter().enumerate() {
        let at = [key("mcp_servers"), Seg::Index(i), key("api")];
        api::check_successor(s.api.successor.as_deref(), &api_names, &at, &mut ck);
    }
    let mcp_servers = mcp_servers::compile(
        &file.mcp_servers,
        &routes.names,
        &limit_specs,
        (file.mcp.is_some(), store.is_some()),
        &mut ck,
    );
    let routes = routes.specs;
    let model_names: Vec<&str> = llm.models.iter().map(|m| m.name.as_str()).collect();
    let apis: Vec<(&str, AuthMode)> = routes
        .iter()
        .map(|r| (r.name.as_str(), r.api.auth))
        .chain(mcp_servers.iter().map(|s| (s.name.as_str(), s.api.auth)))
        .collect();
    let tenants = api::compile_seed(&file.tenants, &apis, &model_names, store.is_some(), &mut ck);
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
            otel,
            prompts,
            mcp,
            mcp_servers,
            tls,
            source: Source(std::sync::Arc::new(file.clone())),
        })
    } else {
        Err(ck.issues)
    }
}

/// The compiled routes (prompt APIs' included) with the key path each came from.
#[derive(Default)]
struct Routes<'f> {
    specs: Vec<RouteSpec>,
    bases: Vec<Vec<Seg>>,
    names: HashSet<&'f str>,
}

impl<'f> Routes<'f> {
    /// Claims `name` for the entry at `base`: route and prompt API names share one space.
    fn name(&mut self, name: &'f str, base: &[Seg], ck: &mut Checker) {
        if !self.names.insert(name) {
            ck.at(base, &["name"], format!("duplicate route name {name:?}"));
        }
    }

    /// Adds a compiled route with its limits (`section`: its `limits` names and `capture`),
    /// refusing one that matches exactly the requests of another.
    fn add(
        &mut self,
        mut route: RouteSpec,
        section: (&[String], Option<&schema::CaptureSection>),
        llm_route: bool,
        base: Vec<Seg>,
        (limit_specs, log): (&[LimitSpec], &LogSettings),
        ck: &mut Checker,
    ) {
        let resolved = limits::resolve(section.0, limit_specs, llm_route, &base, ck);
        route.limits = resolved.requests;
        route.usage_limits = resolved.usage;
        route.concurrency_limits = resolved.concurrency;
        route.capture = capture::compile_capture(section.1, &log.mask, &base, ck);
        if let Some(j) = self.specs.iter().position(|o| same_match(o, &route)) {
            ck.at(
                &base,
                &[],
                format!(
                    "route {:?} matches exactly the requests of route {:?}; one of them can never be chosen",
                    route.name, self.specs[j].name
                ),
            );
        }
        self.specs.push(route);
        self.bases.push(base);
    }
}

fn compile_server(
    s: &schema::ServerSection,
    has_certificates: bool,
    ck: &mut Checker,
) -> ServerSettings {
    let base = [key("server")];
    if s.listen.is_empty() {
        ck.at(&base, &["listen"], "at least one listen address is needed");
    }
    let listen = tls::compile_listeners(&s.listen, has_certificates, ck);
    if !listen.is_empty() && !listen.iter().any(|l| l.serves()) {
        let msg = "every listener redirects to HTTPS, so nothing serves the routes: add a TLS \
                   listener ({ addr = \"0.0.0.0:443\", tls = true })";
        ck.at(&base, &["listen"], msg);
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
        http2: http2::compile_http2(&s.http2, ck),
        lean_http1: s.lean_http1,
    }
}

fn compile_admin(
    a: &schema::AdminSection,
    server: &ServerSettings,
    has_certificates: bool,
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
    if server.listen.iter().any(|l| l.addr == listen) {
        ck.at(
            &base,
            &["listen"],
            format!("{listen} is also a data-plane listener; the admin API needs its own address"),
        );
    }
    if a.tls && !has_certificates {
        ck.at(
            &base,
            &["tls"],
            "an admin listener over TLS needs [[tls.certificates]]",
        );
    }
    Some(AdminSettings {
        listen,
        token: Secret::new(a.token.clone()),
        tls: a.tls,
        users: compile_users(a, ck),
    })
}

fn compile_users(a: &schema::AdminSection, ck: &mut Checker) -> UserSettings {
    let base = [key("admin")];
    let bootstrap = a.bootstrap_operator.as_ref().and_then(|b| {
        let at = ["bootstrap_operator"];
        if !valid_name(&b.name) {
            ck.at(
                &base,
                &at,
                format!("name {:?}: use 1 to 64 of a-z, 0-9, '-' and '_'", b.name),
            );
            return None;
        }
        if b.password.chars().count() < MIN_PASSWORD {
            ck.at(
                &base,
                &at,
                format!("password: at least {MIN_PASSWORD} characters"),
            );
            return None;
        }
        Some((b.name.clone(), Secret::new(b.password.clone())))
    });
    for (name, d) in [
        ("session_ttl", a.session_ttl.0),
        ("session_idle", a.session_idle.0),
    ] {
        if d.is_zero() {
            ck.at(&base, &[name], "give a duration longer than 0s".to_string());
        }
    }
    if a.login_max_failures == 0 {
        ck.at(&base, &["login_max_failures"], "at least 1".to_string());
    }
    if a.login_per_ip == 0 {
        ck.at(&base, &["login_per_ip"], "at least 1".to_string());
    }
    UserSettings {
        bootstrap,
        session_ttl: a.session_ttl.0,
        session_idle: a.session_idle.0,
        // A cookie of an HTTPS admin listener never travels in clear.
        secure_cookies: a.secure_cookies || a.tls,
        max_failures: a.login_max_failures,
        lockout: a.login_lockout.0,
        per_ip_per_minute: a.login_per_ip,
    }
}

impl Default for UserSettings {
    /// The schema's defaults.
    fn default() -> Self {
        UserSettings {
            bootstrap: None,
            session_ttl: Duration::from_secs(12 * 3600),
            session_idle: Duration::from_secs(30 * 60),
            secure_cookies: false,
            max_failures: 5,
            lockout: Duration::from_secs(15 * 60),
            per_ip_per_minute: 30,
        }
    }
}

/// The shortest password a user may have.
pub const MIN_PASSWORD: usize = 12;

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
        store: l.store.as_ref().map(|s| compile_call_store(s, ck)),
        mask: capture::compile_mask(&l.mask, ck),
    }
}

fn compile_call_store(s: &schema::CallStoreSection, ck: &mut Checker) -> CallStoreSettings {
    let base = [key("log"), key("store")];
    let path = PathBuf::from(&s.path);
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.is_dir())
    {
        ck.at(
            &base,
            &["path"],
            format!("directory {} does not exist", dir.display()),
        );
    }
    if s.queue == 0 {
        ck.at(&base, &["queue"], "queue must hold at least one record");
    }
    // Below one page of SQLite's, every write would be followed by a purge of everything.
    if s.max_size.0 < 1 << 20 {
        ck.at(&base, &["max_size"], "max_size must be at least 1MiB");
    }
    let rollups = [&s.rollups.minute, &s.rollups.hour, &s.rollups.day];
    for (name, d) in ["minute", "hour", "day"].into_iter().zip(rollups) {
        if d.0.is_zero() {
            ck.at(&base, &["rollups", name], "must be longer than zero");
        }
    }
    if s.retention.0 < Duration::from_secs(1) {
        ck.at(&base, &["retention"], "retention must be at least 1s");
    }
    CallStoreSettings {
        path,
        retention: s.retention.0,
        max_size: s.max_size.0,
        queue: s.queue,
        rollups: rollups.map(|d| d.0),
    }
}
