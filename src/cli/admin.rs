//! `tollgate admin ...`: each command is one request to the admin API of a running gateway
//! (`request` maps commands to requests), whose JSON answer is printed, pretty, to stdout. An
//! error answer prints the API's own message to stderr and exits 1. `keygen` needs no server.

mod live;
mod pretty;
mod prompts;
mod request;
mod users;

pub use live::LiveCommand;
pub use prompts::PromptsCommand;
pub use request::{call, ApiCall};
pub use users::{TokensCommand, UsersCommand};

use super::http::{AdminClient, Request, Response};
use super::secret;
use super::target::{self, AdminTarget};
use super::{keygen, CliError};
use clap::{ArgGroup, Args, Subcommand};
use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

pub const ACTOR_ENV: &str = "TOLLGATE_ADMIN_ACTOR";
/// The help heading of the options every command takes.
const CONNECTION: &str = "Connection";

#[derive(Debug, Args)]
#[command(
    after_help = "The admin API is found with --url, else TOLLGATE_ADMIN_URL, else the \
[admin] listen address of the configuration file (https with [admin] tls = true); its token \
with --token, else TOLLGATE_ADMIN_TOKEN, else [admin] token. The token is the admin token or a \
personal token (`tollgate admin tokens create`), with which the audit log names you. Prefer the \
variable to --token: other users of the machine can see a command line."
)]
pub struct AdminArgs {
    /// The admin API, e.g. http://127.0.0.1:9090.
    #[arg(long, global = true, value_name = "URL", help_heading = CONNECTION)]
    pub url: Option<String>,
    /// The admin token, or your personal token (tgu_...).
    #[arg(long, global = true, value_name = "TOKEN", help_heading = CONNECTION)]
    pub token: Option<String>,
    /// For an https admin URL: the PEM file of CAs its certificate must chain to [default:
    /// $TOLLGATE_ADMIN_CA_FILE, else the system's roots].
    #[arg(long, global = true, value_name = "FILE", help_heading = CONNECTION)]
    pub ca_file: Option<PathBuf>,
    /// The gateway's configuration, read for the admin address and token when not given.
    #[arg(
        short,
        long,
        global = true,
        value_name = "FILE",
        default_value = "conf/tollgate.toml",
        help_heading = CONNECTION
    )]
    pub config: PathBuf,
    /// Who is acting, noted in the audit log beside `admin-token` when the admin token is used
    /// (a personal token names its user itself) [default: $TOLLGATE_ADMIN_ACTOR, else $USER].
    #[arg(long, global = true, value_name = "NAME", help_heading = CONNECTION)]
    pub actor: Option<String>,
    /// How long to wait to connect, and for each read of the answer.
    #[arg(long, global = true, value_name = "DURATION", default_value = "10s",
          value_parser = crate::base::time::parse_duration, help_heading = CONNECTION)]
    pub timeout: Duration,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Tenants: the customers or teams that own apps.
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// A tenant's own keys for LLM providers (stored encrypted, never shown).
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Apps: a tenant's clients, which hold keys and subscriptions.
    #[command(subcommand)]
    Apps(AppsCommand),
    /// API keys of an app.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Apps' subscriptions to APIs, and their approval.
    #[command(subcommand)]
    Subscriptions(SubscriptionsCommand),
    /// The APIs (routes, prompt APIs, upstream MCP servers), and their lifecycle state.
    #[command(subcommand)]
    Apis(ApisCommand),
    /// Prompt APIs made through the admin API: list, show, create, update (a new version),
    /// delete.
    #[command(subcommand)]
    Prompts(PromptsCommand),
    /// Upstreams made through the admin API (the declared ones are listed, read-only).
    #[command(subcommand)]
    Upstreams(LiveCommand),
    /// Routes, with their API settings, made through the admin API.
    #[command(subcommand)]
    Routes(LiveCommand),
    /// LLM providers made through the admin API; their secrets are never shown.
    #[command(subcommand)]
    Providers(LiveCommand),
    /// Models made through the admin API.
    #[command(subcommand)]
    Models(LiveCommand),
    /// Users of the admin API and the console: operators, tenant admins and developers.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Your personal tokens, for this CLI (--token or TOLLGATE_ADMIN_TOKEN).
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Who the token you use stands for: your user, role and tenant.
    Me,
    /// Limits: the configured ones, a bucket's state and reset, the most refused buckets,
    /// and limits attached to tenants and apps.
    #[command(subcommand)]
    Limits(LimitsCommand),
    /// The published and deprecated APIs with their documents.
    Catalog {
        /// Only the APIs this tenant may see.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// The audit log of admin changes, newest first.
    Audit {
        /// How many entries [server's default: 100].
        #[arg(long)]
        limit: Option<u32>,
        /// Only entries about this target, e.g. "acme/web".
        #[arg(long)]
        target: Option<String>,
        /// Only this action, e.g. "key.create".
        #[arg(long)]
        action: Option<String>,
    },
    /// Stored calls (needs [log.store]).
    #[command(subcommand)]
    Calls(CallsCommand),
    /// Usage totals per bucket and group (needs [log.store]).
    Usage {
        /// Restrict to this tenant (the /admin/tenants/{tenant}/usage form).
        #[arg(long)]
        tenant: Option<String>,
        /// tenant, app, key, route, model or provider [server's default: model].
        #[arg(long)]
        group_by: Option<String>,
        /// minute, hour or day [server's default: hour].
        #[arg(long)]
        bucket: Option<String>,
        /// From this time (RFC 3339, a date, or Unix ms) [server's default: 24 hours ago].
        #[arg(long)]
        from: Option<String>,
        /// Before this time [server's default: now].
        #[arg(long)]
        to: Option<String>,
    },
    /// The admin API's OpenAPI document.
    Openapi,
    /// Make an API key offline and print it with the [[tenants.apps.keys]] lines (id and
    /// SHA-256 only) for the configuration's seed.
    Keygen {
        /// The key's name in the TOML lines.
        #[arg(long)]
        name: Option<String>,
        /// When the key stops working, e.g. 2027-01-01.
        #[arg(long, value_name = "DATE")]
        expires: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    List,
    /// A tenant and its apps.
    Show {
        tenant: String,
    },
    Create {
        tenant: String,
        #[arg(long)]
        description: Option<String>,
    },
    Update {
        tenant: String,
        #[arg(long)]
        description: String,
    },
    /// Delete a tenant with its apps, keys, subscriptions and credentials.
    Delete {
        tenant: String,
    },
    /// Put a tenant on a [[plans]] entry: its limits apply to every key of the tenant.
    SetPlan {
        tenant: String,
        plan: String,
    },
    /// Take a tenant off its plan.
    ClearPlan {
        tenant: String,
    },
}

/// The key parts of a bucket: give each part the limit is keyed on.
#[derive(Debug, Args)]
pub struct BucketArgs {
    /// The limit's name.
    pub limit: String,
    #[arg(long)]
    pub tenant: Option<String>,
    #[arg(long)]
    pub app: Option<String>,
    /// The API key's public id.
    #[arg(long, value_name = "ID")]
    pub api_key: Option<String>,
    #[arg(long)]
    pub route: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long, value_name = "IP")]
    pub client_ip: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum LimitsCommand {
    /// The configured limits.
    List,
    /// A bucket's capacity, what remains and when it refills.
    Bucket(BucketArgs),
    /// Reset a bucket: its next request finds it full.
    Reset(BucketArgs),
    /// The most refused buckets of the host.
    Top {
        /// How many [server's default: 20].
        #[arg(short, long)]
        n: Option<u32>,
    },
    /// Attach a limit to a tenant, or with --app to one app, optionally with its own numbers.
    Attach {
        tenant: String,
        limit: String,
        #[arg(long)]
        app: Option<String>,
        /// Units per the limit's period (requests, tokens, or dollars for cost).
        #[arg(long)]
        rate: Option<f64>,
        /// The bucket's capacity [default: the rate when --rate is given].
        #[arg(long)]
        burst: Option<f64>,
    },
    /// Detach a limit from a tenant, or with --app from one app.
    Detach {
        tenant: String,
        limit: String,
        #[arg(long)]
        app: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// The providers a tenant has its own key for.
    List {
        tenant: String,
    },
    /// Store a tenant's key for a provider, read from standard input or --key-env.
    Set {
        tenant: String,
        provider: String,
        /// Read the key from this environment variable instead of standard input.
        #[arg(long, value_name = "VAR")]
        key_env: Option<String>,
    },
    Delete {
        tenant: String,
        provider: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AppsCommand {
    List {
        tenant: String,
    },
    Show {
        tenant: String,
        app: String,
    },
    Create {
        tenant: String,
        app: String,
        #[arg(long)]
        description: Option<String>,
        /// The public models the app may use, e.g. gpt-4o,demo [default: all the tenant sees].
        #[arg(long, value_delimiter = ',', value_name = "MODELS")]
        models: Option<Vec<String>>,
    },
    #[command(group(ArgGroup::new("change").required(true).multiple(true)
        .args(["description", "models", "all_models"])))]
    Update {
        tenant: String,
        app: String,
        #[arg(long)]
        description: Option<String>,
        /// The public models the app may use, e.g. gpt-4o,demo.
        #[arg(
            long,
            value_delimiter = ',',
            value_name = "MODELS",
            conflicts_with = "all_models"
        )]
        models: Option<Vec<String>>,
        /// Drop the model allow-list: the app may use every model its tenant sees.
        #[arg(long)]
        all_models: bool,
    },
    /// Delete an app with its keys and subscriptions.
    Delete {
        tenant: String,
        app: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    List {
        tenant: String,
        app: String,
    },
    /// Create a key; it is printed once, only its hash is kept.
    Create {
        tenant: String,
        app: String,
        /// What the key is for, e.g. the client that holds it.
        #[arg(long)]
        name: Option<String>,
        /// Valid for this long, e.g. 30d or 12h.
        #[arg(long, value_name = "DURATION", conflicts_with = "expires_at")]
        expires_in: Option<String>,
        /// Valid until this date, e.g. 2027-01-01 or 2027-01-01T12:00:00Z.
        #[arg(long, value_name = "DATE")]
        expires_at: Option<String>,
    },
    Show {
        id: String,
    },
    Revoke {
        id: String,
    },
    /// Make a new key for the same app; the old one keeps working for the overlap.
    Rotate {
        id: String,
        /// How long the old key keeps working [server's default: 24h].
        #[arg(long, value_name = "DURATION")]
        overlap: Option<String>,
    },
}

const SUB_STATES: [&str; 4] = ["pending", "active", "rejected", "revoked"];
const API_STATES: [&str; 4] = ["draft", "published", "deprecated", "retired"];

#[derive(Debug, Subcommand)]
pub enum SubscriptionsCommand {
    List {
        #[arg(long, value_parser = SUB_STATES)]
        state: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        app: Option<String>,
        #[arg(long)]
        api: Option<String>,
    },
    Show {
        id: u64,
    },
    /// Subscribe an app to an API: active at once, or pending when the API needs approval.
    Request {
        tenant: String,
        app: String,
        api: String,
    },
    Approve {
        id: u64,
        #[arg(long)]
        reason: Option<String>,
    },
    Reject {
        id: u64,
        #[arg(long)]
        reason: Option<String>,
    },
    Revoke {
        id: u64,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApisCommand {
    List,
    Show {
        name: String,
    },
    /// Override the lifecycle state written in the configuration.
    SetState {
        name: String,
        #[arg(value_parser = API_STATES)]
        state: String,
        /// The API (a route or an MCP server) that replaces this one.
        #[arg(long, value_name = "API")]
        successor: Option<String>,
        /// When the API goes away, e.g. 2027-06-30.
        #[arg(long, value_name = "DATE")]
        sunset: Option<String>,
    },
    /// Go back to the configured state.
    ClearState {
        name: String,
    },
}

/// Runs a command; errors are printed to stderr and give exit status 1.
pub fn main(args: AdminArgs) -> ExitCode {
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate admin: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: AdminArgs) -> Result<(), CliError> {
    if let AdminCommand::Keygen { name, expires } = &args.command {
        out(&keygen::keygen(name.as_deref(), expires.as_deref())?);
        eprintln!("{}", keygen::ADVICE);
        return Ok(());
    }
    let env = |name: &str| std::env::var(name).ok();
    let target = target::resolve(
        args.url.as_deref(),
        args.token.as_deref(),
        args.ca_file.as_deref(),
        &args.config,
        &env,
    )?;
    let actor = actor(args.actor.as_deref(), &env)?;
    // The target first: a key typed in is not asked for when it could not be sent anyway.
    let Some(call) = call(&args.command, &mut secret::read)? else {
        return Ok(());
    };
    if let Some(answer) = send(&target, actor.as_deref(), &call, args.timeout)? {
        out(&answer);
    }
    if let Some(note) = &call.note {
        eprintln!("{note}");
    }
    Ok(())
}

/// Prints to stdout; a closed pipe (`| head`) is not an error worth a panic.
fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// Sends `call`; the answer as text to print (pretty JSON, with a final newline), if it has one.
pub fn send(
    target: &AdminTarget,
    actor: Option<&str>,
    call: &ApiCall,
    timeout: Duration,
) -> Result<Option<String>, CliError> {
    if !header_safe(&target.token) {
        return Err(CliError::AdminTarget(
            "the admin token holds characters that cannot go in an HTTP header".into(),
        ));
    }
    let mut headers = vec![("Authorization", format!("Bearer {}", target.token))];
    if let Some(a) = actor {
        headers.push(("X-Tollgate-Actor", a.to_string()));
    }
    let body = call.body.as_ref().map(|b| b.to_string().into_bytes());
    let mut client = AdminClient::new(target.url.clone(), timeout);
    client.ca_file = target.ca_file.clone();
    let resp = client.send(&Request {
        method: call.method,
        path: &call.path,
        headers: &headers,
        body: body.as_deref(),
    })?;
    if !(200..300).contains(&resp.status) {
        return Err(refusal(&resp));
    }
    if resp.body.is_empty() {
        return Ok(None);
    }
    Ok(Some(pretty::pretty(&resp.body).unwrap_or_else(|| {
        String::from_utf8_lossy(&resp.body).into_owned()
    })))
}

/// The error an error answer stands for: the API's own message when it sent one.
fn refusal(resp: &Response) -> CliError {
    let json = serde_json::from_slice::<Value>(&resp.body).ok();
    let message = match json.as_ref().and_then(|v| v["error"]["message"].as_str()) {
        Some(m) => m.to_string(),
        None => {
            let text = String::from_utf8_lossy(&resp.body);
            let text = text.trim();
            match text.char_indices().nth(300) {
                _ if text.is_empty() => "the admin API gave no message".to_string(),
                Some((cut, _)) => format!("{}...", &text[..cut]),
                None => text.to_string(),
            }
        }
    };
    CliError::Refused {
        status: resp.status,
        message,
    }
}

/// `--actor`, else `$TOLLGATE_ADMIN_ACTOR`, else the login name (when it can be a header).
fn actor(
    flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<String>, CliError> {
    let given = flag
        .map(str::to_string)
        .or_else(|| env(ACTOR_ENV).filter(|a| !a.is_empty()));
    match given {
        Some(a) if header_safe(&a) && !a.trim().is_empty() => Ok(Some(a)),
        Some(a) => Err(CliError::Input(format!(
            "actor {a:?}: use printable ASCII (it goes in the X-Tollgate-Actor header)"
        ))),
        None => Ok(env("USER").filter(|u| !u.is_empty() && header_safe(u))),
    }
}

/// Whether `value` can be an HTTP header value as is: printable ASCII and spaces.
fn header_safe(value: &str) -> bool {
    value.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
}

#[cfg(test)]
mod tests;

// Parsed once per command line: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum CallsCommand {
    /// Calls, newest first, one page (give --cursor the page's next_cursor for the next).
    List {
        #[command(flatten)]
        filter: CallFilterArgs,
    },
    /// One call's whole record.
    Show {
        request_id: String,
        /// Restrict to this tenant's calls.
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct CallFilterArgs {
    /// Restrict to this tenant (the /admin/tenants/{tenant}/calls form).
    #[arg(long)]
    pub tenant: Option<String>,
    /// From this time (RFC 3339, a date, or Unix ms).
    #[arg(long)]
    pub from: Option<String>,
    /// Before this time.
    #[arg(long)]
    pub to: Option<String>,
    #[arg(long)]
    pub app: Option<String>,
    /// A key's public id.
    #[arg(long)]
    pub key: Option<String>,
    #[arg(long)]
    pub route: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub provider: Option<String>,
    /// A status class: 2xx, 4xx, 5xx, or 0 for calls that got no answer.
    #[arg(long)]
    pub status: Option<String>,
    #[arg(long)]
    pub error_code: Option<String>,
    /// Calls per page [server's default: 50].
    #[arg(long)]
    pub limit: Option<u32>,
    #[arg(long)]
    pub cursor: Option<String>,
}
