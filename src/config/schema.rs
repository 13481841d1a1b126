//! What users write: the serde schema of a configuration file.
//!
//! Every table rejects unknown keys. Values that have a unit are strings (`"250ms"`, `"10MiB"`),
//! parsed here so that the compiled form in `compile.rs` holds plain numbers.

mod api;
mod capture;
mod http2;
mod limits;
mod llm;
mod mcp;
mod mcp_servers;
mod otel;
mod prompt;
mod tls;

pub use api::*;
pub use capture::*;
pub use http2::*;
pub use limits::*;
pub use llm::*;
pub use mcp::*;
pub use mcp_servers::*;
pub use otel::*;
pub use prompt::*;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::time::Duration;
pub use tls::*;

/// One configuration file: the main one or an included one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub include: Vec<String>,
    pub server: Option<ServerSection>,
    pub admin: Option<AdminSection>,
    pub log: Option<LogSection>,
    #[serde(default)]
    pub upstreams: Vec<UpstreamSection>,
    #[serde(default)]
    pub routes: Vec<RouteSection>,
    #[serde(default)]
    pub providers: Vec<ProviderSection>,
    #[serde(default)]
    pub models: Vec<ModelSection>,
    pub llm: Option<LlmSection>,
    pub store: Option<StoreSection>,
    pub redis: Option<RedisSection>,
    pub otel: Option<OtelSection>,
    pub mcp: Option<McpSection>,
    /// The certificates of the TLS listeners.
    pub tls: Option<TlsSection>,
    /// Upstream MCP servers whose tools `[mcp]` offers.
    #[serde(default)]
    pub mcp_servers: Vec<McpServerSection>,
    #[serde(default)]
    pub tenants: Vec<TenantSection>,
    #[serde(default)]
    pub limits: Vec<LimitSection>,
    #[serde(default)]
    pub plans: Vec<PlanSection>,
    /// Prompt APIs: a model and a template published at a path.
    #[serde(default)]
    pub prompts: Vec<PromptSection>,
    /// The entries the admin API shows, as written (filled by the loader, never parsed).
    #[serde(skip)]
    pub written: Written,
}

/// The `[[upstreams]]`, `[[routes]]`, `[[providers]]` and `[[models]]` entries as the files
/// write them, in JSON and before `${VAR}` is replaced: what the admin API shows of a declared
/// entry (a secret's `${VAR}` reference, never its value).
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub upstreams: Vec<serde_json::Value>,
    pub routes: Vec<serde_json::Value>,
    pub providers: Vec<serde_json::Value>,
    pub models: Vec<serde_json::Value>,
}

impl Written {
    /// The lists by section name, in the order the sections are shown.
    pub const SECTIONS: [&'static str; 4] = ["upstreams", "routes", "providers", "models"];

    /// The entries of `section` (one of `SECTIONS`).
    pub fn of(&self, section: &str) -> &[serde_json::Value] {
        match section {
            "upstreams" => &self.upstreams,
            "routes" => &self.routes,
            "providers" => &self.providers,
            "models" => &self.models,
            _ => &[],
        }
    }

    /// Reads the four lists of one file's TOML, before interpolation.
    pub fn read(file: &toml::Value) -> Written {
        let list = |k: &str| -> Vec<serde_json::Value> {
            match file.get(k) {
                Some(toml::Value::Array(items)) => items
                    .iter()
                    .filter_map(|v| serde_json::to_value(v).ok())
                    .collect(),
                _ => Vec::new(),
            }
        };
        Written {
            upstreams: list("upstreams"),
            routes: list("routes"),
            providers: list("providers"),
            models: list("models"),
        }
    }

    /// Appends another file's entries, in the order the loader merges them.
    pub fn extend(&mut self, other: Written) {
        self.upstreams.extend(other.upstreams);
        self.routes.extend(other.routes);
        self.providers.extend(other.providers);
        self.models.extend(other.models);
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    #[serde(default = "default_listen")]
    pub listen: Vec<ListenEntry>,
    pub workers: Option<usize>,
    #[serde(default = "one")]
    pub threads: usize,
    #[serde(default = "thirty_seconds")]
    pub grace_period: Dur,
    #[serde(default = "default_header_cap")]
    pub max_header_bytes: ByteSize,
    #[serde(default = "default_body_cap")]
    pub max_body_bytes: ByteSize,
    #[serde(default = "sixty_seconds")]
    pub keepalive_timeout: Dur,
    /// How long a client may take to send a request's head, from its first byte.
    #[serde(default = "ten_seconds")]
    pub header_timeout: Dur,
    /// The longest wait for the next piece of a request body.
    #[serde(default = "thirty_seconds")]
    pub body_timeout: Dur,
    /// Open client connections per worker; more are closed as they arrive.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Buckets of the host-wide limit table (16 bytes each), shared by all workers.
    #[serde(default = "default_limit_slots")]
    pub limit_slots: usize,
    /// Keys of the host-wide concurrency table (one counter per worker each).
    #[serde(default = "default_concurrency_slots")]
    pub concurrency_slots: usize,
    /// Limits of HTTP/2 client connections.
    #[serde(default)]
    pub http2: Http2Section,
    /// Plain HTTP/1 requests to plain proxy routes and open LLM routes take the lean path
    /// (`lean`); on unless turned off.
    #[serde(default = "on")]
    pub lean_http1: bool,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            listen: default_listen(),
            workers: None,
            threads: 1,
            grace_period: thirty_seconds(),
            max_header_bytes: default_header_cap(),
            max_body_bytes: default_body_cap(),
            keepalive_timeout: sixty_seconds(),
            header_timeout: ten_seconds(),
            body_timeout: thirty_seconds(),
            max_connections: default_max_connections(),
            limit_slots: default_limit_slots(),
            concurrency_slots: default_concurrency_slots(),
            http2: Http2Section::default(),
            lean_http1: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    pub listen: String,
    #[serde(default)]
    pub token: String,
    /// Serve the admin API over TLS, with the certificates of `[tls]`.
    #[serde(default)]
    pub tls: bool,
    // Users' sign-in (see README, "Users and roles").
    /// An operator made at start when no user has its name.
    pub bootstrap_operator: Option<BootstrapOperator>,
    /// How long a session lasts at most.
    #[serde(default = "twelve_hours")]
    pub session_ttl: Dur,
    /// A session unused for this long ends.
    #[serde(default = "thirty_minutes")]
    pub session_idle: Dur,
    /// Mark the session cookie `Secure` (the browser sends it over HTTPS only).
    #[serde(default)]
    pub secure_cookies: bool,
    /// Wrong passwords in a row before a user is locked out.
    #[serde(default = "five")]
    pub login_max_failures: u32,
    /// How long a locked-out user waits.
    #[serde(default = "fifteen_minutes")]
    pub login_lockout: Dur,
    /// Sign-in attempts one client address may make per minute.
    #[serde(default = "thirty")]
    pub login_per_ip: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapOperator {
    pub name: String,
    /// Write it as `"${VAR}"`: a password does not belong in a file.
    pub password: String,
}

fn twelve_hours() -> Dur {
    Dur(Duration::from_secs(12 * 3600))
}
fn thirty_minutes() -> Dur {
    Dur(Duration::from_secs(30 * 60))
}
fn fifteen_minutes() -> Dur {
    Dur(Duration::from_secs(15 * 60))
}
fn five() -> u32 {
    5
}
fn thirty() -> u32 {
    30
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// `"stdout"`, `"stderr"`, `"off"` or a file path.
    #[serde(default = "default_access_log")]
    pub access: String,
    #[serde(default = "default_log_queue")]
    pub queue: usize,
    /// Level of the process log (not the access log), in `tracing` filter syntax.
    #[serde(default = "default_level")]
    pub level: String,
    /// The embedded call store; off when absent.
    pub store: Option<CallStoreSection>,
    /// `[log.mask]`: masking of captured headers and bodies.
    #[serde(default)]
    pub mask: MaskSection,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            access: default_access_log(),
            queue: default_log_queue(),
            level: default_level(),
            store: None,
            mask: MaskSection::default(),
        }
    }
}

/// `[log.store]`: every call recorded in a SQLite file of its own, for `/admin/calls` and
/// `/admin/usage`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallStoreSection {
    /// A relative path is taken from the main configuration file's directory.
    pub path: String,
    /// Calls older than this are deleted.
    #[serde(default = "default_call_retention")]
    pub retention: Dur,
    /// The oldest calls are deleted while the file holds more than this.
    #[serde(default = "default_call_store_size")]
    pub max_size: ByteSize,
    /// Records waiting for the writer before new ones are dropped (and counted).
    #[serde(default = "default_log_queue")]
    pub queue: usize,
    /// How long the per-minute, per-hour and per-day usage totals are kept.
    #[serde(default)]
    pub rollups: RollupSection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollupSection {
    #[serde(default = "two_days")]
    pub minute: Dur,
    #[serde(default = "ninety_days")]
    pub hour: Dur,
    #[serde(default = "two_years")]
    pub day: Dur,
}

impl Default for RollupSection {
    fn default() -> Self {
        RollupSection {
            minute: two_days(),
            hour: ninety_days(),
            day: two_years(),
        }
    }
}

const DAY: u64 = 86_400;

fn default_call_retention() -> Dur {
    Dur(Duration::from_secs(7 * DAY))
}
fn default_call_store_size() -> ByteSize {
    ByteSize(1 << 30)
}
fn two_days() -> Dur {
    Dur(Duration::from_secs(2 * DAY))
}
fn ninety_days() -> Dur {
    Dur(Duration::from_secs(90 * DAY))
}
fn two_years() -> Dur {
    Dur(Duration::from_secs(730 * DAY))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSection {
    pub name: String,
    pub targets: Vec<TargetSection>,
    #[serde(default)]
    pub balance: Balance,
    /// With `balance = "consistent_hash"`: `"client_ip"` or `"header:NAME"`.
    pub hash_on: Option<String>,
    pub health_check: Option<HealthCheckSection>,
    #[serde(default)]
    pub passive: PassiveSection,
    #[serde(default)]
    pub timeouts: TimeoutsSection,
    #[serde(default = "one_u32")]
    pub retries: u32,
    #[serde(default = "default_keepalive")]
    pub keepalive: usize,
    #[serde(default = "sixty_seconds")]
    pub keepalive_timeout: Dur,
    #[serde(default)]
    pub tls: bool,
    /// The TLS server name; default: each target's host as written.
    pub sni: Option<String>,
    /// Speak HTTP/2 to the targets: offered by ALPN over TLS, prior knowledge (h2c) in clear.
    #[serde(default)]
    pub http2: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TargetSection {
    Addr(String),
    Weighted {
        addr: String,
        #[serde(default = "one_u32")]
        weight: u32,
    },
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    #[default]
    RoundRobin,
    Weighted,
    ConsistentHash,
    LeastInflight,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSection {
    pub path: String,
    #[serde(default = "five_seconds")]
    pub interval: Dur,
    #[serde(default = "one_second")]
    pub timeout: Dur,
    #[serde(default = "one_u32")]
    pub healthy_threshold: u32,
    #[serde(default = "one_u32")]
    pub unhealthy_threshold: u32,
    /// Statuses that count as healthy; any 2xx or 3xx when empty.
    #[serde(default)]
    pub expect_status: Vec<u16>,
    pub host: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassiveSection {
    #[serde(default = "three_u32")]
    pub max_fails: u32,
    #[serde(default = "ten_seconds")]
    pub fail_timeout: Dur,
}

impl Default for PassiveSection {
    fn default() -> Self {
        PassiveSection {
            max_fails: 3,
            fail_timeout: ten_seconds(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsSection {
    #[serde(default = "two_seconds")]
    pub connect: Dur,
    #[serde(default = "sixty_seconds")]
    pub read: Dur,
    #[serde(default = "sixty_seconds")]
    pub write: Dur,
    pub total: Option<Dur>,
}

impl Default for TimeoutsSection {
    fn default() -> Self {
        TimeoutsSection {
            connect: two_seconds(),
            read: sixty_seconds(),
            write: sixty_seconds(),
            total: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSection {
    pub name: String,
    pub host: Option<String>,
    pub path_prefix: Option<String>,
    pub path: Option<String>,
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The upstream of a proxy route; LLM routes have none.
    pub upstream: Option<String>,
    #[serde(default)]
    pub handler: HandlerKind,
    #[serde(default)]
    pub strip_prefix: bool,
    /// Host header sent upstream; the client's Host is passed through when unset.
    pub upstream_host: Option<String>,
    #[serde(default)]
    pub request_headers: HeaderTransformSection,
    #[serde(default)]
    pub response_headers: HeaderTransformSection,
    /// The route as an API: access rules, lifecycle and catalog entry.
    #[serde(default)]
    pub api: ApiSection,
    /// Names of `[[limits]]` that apply to the route's requests.
    #[serde(default)]
    pub limits: Vec<String>,
    /// Capture of the route's headers and bodies into the call logs (off when unset).
    pub capture: Option<CaptureSection>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandlerKind {
    /// Proxy to the route's upstream.
    #[default]
    Proxy,
    /// The OpenAI- and Anthropic-compatible LLM API over `[[models]]`.
    Llm,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderTransformSection {
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// A duration written as a string: `"250ms"`, `"30s"`, `"1m30s"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d).map_err(|_| {
            serde::de::Error::custom("expected a duration string such as \"250ms\" or \"30s\"")
        })?;
        crate::base::time::parse_duration(&text)
            .map(Dur)
            .map_err(serde::de::Error::custom)
    }
}

/// A size in bytes: an integer, or a string with a unit (`"64KiB"`, `"10MiB"`, `"512k"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a size: a number of bytes or a string such as \"64KiB\"",
            )
        })? {
            Raw::Int(n) => Ok(ByteSize(n)),
            Raw::Text(t) => parse_size(&t).map(ByteSize).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid size {t:?}: use a number with B, KiB, MiB or GiB (k, m, g also work)"
                ))
            }),
        }
    }
}

pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn default_listen() -> Vec<ListenEntry> {
    vec![ListenEntry::Addr("127.0.0.1:8080".to_string())]
}
fn default_access_log() -> String {
    "stdout".to_string()
}
fn default_level() -> String {
    "info".to_string()
}
fn default_log_queue() -> usize {
    65_536
}
fn default_limit_slots() -> usize {
    65_536
}
fn default_concurrency_slots() -> usize {
    4_096
}
fn default_keepalive() -> usize {
    128
}
fn default_header_cap() -> ByteSize {
    ByteSize(32 << 10)
}
fn default_body_cap() -> ByteSize {
    ByteSize(10 << 20)
}
fn one() -> usize {
    1
}
fn one_u32() -> u32 {
    1
}
fn three_u32() -> u32 {
    3
}
fn one_second() -> Dur {
    Dur(Duration::from_secs(1))
}
fn two_seconds() -> Dur {
    Dur(Duration::from_secs(2))
}
fn five_seconds() -> Dur {
    Dur(Duration::from_secs(5))
}
fn ten_seconds() -> Dur {
    Dur(Duration::from_secs(10))
}
fn default_max_connections() -> usize {
    10_000
}
fn on() -> bool {
    true
}

fn thirty_seconds() -> Dur {
    Dur(Duration::from_secs(30))
}
fn sixty_seconds() -> Dur {
    Dur(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("64KiB"), Some(64 << 10));
        assert_eq!(parse_size("10m"), Some(10 << 20));
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("ten"), None);
        assert_eq!(parse_size("5 parsecs"), None);
    }
}
