//! Configuration: `schema` is what users write, `load` reads files (includes, `${VAR}`), and
//! `compile` turns it into the validated runtime form the gateway runs on. The rest of the
//! crate reads that form through the names below (`config::RouteSpec`, `config::LimitSpec`,
//! ...), never through `compile`; of `schema`, only the enums a user's words and the runtime
//! share (`Counts`, `KeyPart`, `Scope`, `SyncMode`, `OnRedisError`) are used beyond here.

mod compile;
pub mod live;
pub mod load;
pub mod problem;
pub mod schema;

pub use compile::api::{valid_name, ApiSpec};
pub use compile::mcp::DEFAULT_SESSIONS as DEFAULT_MCP_SESSIONS;
pub use compile::tls::{expiring, Leaf};
pub use compile::{
    always_masked_header, compile, AccessLogTarget, AdminSettings, AppSeed, Approval, AuthMode,
    BalanceSpec, CallStoreSettings, CaptureSpec, ClusterSpec, Config, Deployment, HashOn,
    HeaderTransform, HealthSpec, HostMatch, Http2Settings, KeySeed, Launch, Lifecycle, LimitSpec,
    LlmConfig, LlmPolicy, MaskRules, McpServerSpec, McpSpec, McpTransport, MockSpec, ModelSpec,
    OtelSpec, PathMatch, PlanSpec, Prices, PromptOutput, PromptParams, PromptSpec,
    ProviderEndpoint, ProviderSpec, RedisSettings, RouteSpec, RouteTarget, Secret, ServerSettings,
    SetHeader, StoreSettings, TargetSpec, TemplateMessage, TenantSeed, ToolFilter, UpstreamSpec,
    UserSettings, Visibility, MAX_CAPTURE_BYTES, MIN_PASSWORD,
};
pub use compile::{compile_stored_prompt, stored_route_name, with_stored_prompts, LeftOut};
pub use compile::{ApiKind, ApiRef};
pub use compile::{CertSpec, ClientCa, Listener, ListenerTls, TlsSpec};
pub use load::load;
pub use problem::{Problem, Problems};
pub use schema::{Counts, KeyPart, OnRedisError, OtlpProtocol, Scope, SyncMode};
