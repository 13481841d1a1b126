//! The API-management part of a configuration: each route's API settings (auth, visibility,
//! approval, lifecycle, catalog entry), the `[store]` section and the declarative seed of
//! tenants, apps, keys and subscriptions.

use super::{Checker, RouteSpec};
use crate::base::api_key::{self, SecretHash};
use crate::config::compile::Secret;
use crate::config::problem::{did_you_mean, key as k, Seg};
use crate::config::schema::{self, VisibilitySection};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::base::time::parse_date;

/// Where an API is in its life. `Draft` is not routable (404), `Retired` answers 410.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    Draft,
    #[default]
    Published,
    Deprecated,
    Retired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    #[default]
    None,
    ApiKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    #[default]
    Auto,
    Manual,
}

/// Which tenants may see and subscribe to an API (or use a model).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Visibility {
    #[default]
    Public,
    Tenants(Vec<String>),
}

impl Visibility {
    pub fn admits(&self, tenant: &str) -> bool {
        match self {
            Visibility::Public => true,
            Visibility::Tenants(t) => t.iter().any(|n| n == tenant),
        }
    }
}

/// A route seen as an API: its access rules and its catalog entry.
#[derive(Debug, Clone, Default)]
pub struct ApiSpec {
    pub auth: AuthMode,
    pub visibility: Visibility,
    pub approval: Approval,
    /// The state written in the configuration; the store may override it (see `auth`).
    pub state: Lifecycle,
    /// Route name of the version that replaces this one.
    pub successor: Option<String>,
    /// Unix seconds after which the API goes away (the `Sunset` header).
    pub sunset: Option<i64>,
    /// Unix seconds since when the API is deprecated (the `Deprecation` header's date).
    pub deprecated_since: Option<i64>,
    pub version: Option<String>,
    pub description: String,
    pub owner: Option<String>,
    /// An OpenAPI document: an `http(s)://` address, or a file path made absolute by the loader.
    pub openapi: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub path: PathBuf,
    /// Encrypts tenants' provider keys; without it they cannot be stored.
    pub secret_key: Option<Secret>,
    /// How often each worker checks the store for changes.
    pub refresh: Duration,
}

/// Tenants, apps, keys and subscriptions declared in TOML. They are written to the store at
/// start and on every reload, and win over admin changes to the same entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantSeed {
    pub name: String,
    pub description: String,
    /// A `[[plans]]` name.
    pub plan: Option<String>,
    pub apps: Vec<AppSeed>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppSeed {
    pub name: String,
    pub description: String,
    /// Public models the app may use; all the tenant may see when `None`.
    pub models: Option<Vec<String>>,
    pub keys: Vec<KeySeed>,
    /// Route names the app is subscribed to (active, whatever the approval mode).
    pub subscriptions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KeySeed {
    pub public_id: String,
    pub hash: SecretHash,
    pub name: String,
    pub expires_at: Option<i64>,
}

/// Whether `name` can name a tenant or an app: 1 to 64 of `a-z`, `0-9`, `-` and `_`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

const NAME_RULE: &str = "use 1 to 64 of a-z, 0-9, '-' and '_'";

pub(super) fn compile_visibility(
    v: &VisibilitySection,
    base: &[Seg],
    ck: &mut Checker,
) -> Visibility {
    match v {
        VisibilitySection::Word(w) if w == "public" => Visibility::Public,
        VisibilitySection::Word(w) => {
            ck.at(
                base,
                &["visibility"],
                format!("{w:?}: write \"public\" or a list of tenant names"),
            );
            Visibility::Public
        }
        VisibilitySection::Tenants(names) => {
            for (i, n) in names.iter().enumerate() {
                if !valid_name(n) {
                    let mut at = base.to_vec();
                    at.extend([k("visibility"), Seg::Index(i)]);
                    ck.issues.push(super::Issue::new(
                        at,
                        format!("{n:?} is not a tenant name: {NAME_RULE}"),
                    ));
                }
            }
            Visibility::Tenants(names.clone())
        }
    }
}

/// A route's `[routes.api]`; `base` is the route's key path.
pub(super) fn compile_api(a: &schema::ApiSection, base: &[Seg], ck: &mut Checker) -> ApiSpec {
    let mut at = base.to_vec();
    at.push(k("api"));
    let mut date = |field: &str, value: &Option<String>| {
        value.as_deref().and_then(|t| match parse_date(t) {
            Ok(d) => Some(d),
            Err(e) => {
                ck.at(&at, &[field], e);
                None
            }
        })
    };
    let sunset = date("sunset", &a.sunset);
    let deprecated_since = date("deprecated_since", &a.deprecated_since);
    if let Some(doc) = a.openapi.as_deref() {
        let remote = doc.starts_with("http://") || doc.starts_with("https://");
        if !remote && !std::path::Path::new(doc).is_file() {
            ck.at(&at, &["openapi"], format!("no OpenAPI file at {doc}"));
        }
    }
    ApiSpec {
        auth: a.auth,
        visibility: compile_visibility(&a.visibility, &at, ck),
        approval: a.approval,
        state: a.state,
        successor: a.successor.clone(),
        sunset,
        deprecated_since,
        version: a.version.clone(),
        description: a.description.clone(),
        owner: a.owner.clone(),
        openapi: a.openapi.clone(),
    }
}

/// Checks what needs every route: successors name APIs (`apis`: every route's and MCP
/// server's name), and keyed APIs have a store. `bases` are the routes' key paths (a prompt
/// API's is `prompts[i]`).
pub(super) fn check_routes(
    routes: &[RouteSpec],
    bases: &[Vec<Seg>],
    apis: &[&str],
    has_store: bool,
    ck: &mut Checker,
) {
    for (r, at) in routes.iter().zip(bases) {
        let mut base = at.clone();
        base.push(k("api"));
        check_successor(r.api.successor.as_deref(), apis, &base, ck);
        if r.api.auth == AuthMode::ApiKey && !has_store {
            ck.at(
                &base,
                &["auth"],
                "auth = \"api_key\" needs a [store] section (keys live in the store)",
            );
        }
    }
}

/// A `successor` (at `base`, an `api` table) names an API of any kind.
pub(super) fn check_successor(
    successor: Option<&str>,
    apis: &[&str],
    base: &[Seg],
    ck: &mut Checker,
) {
    let Some(s) = successor else { return };
    if !apis.contains(&s) {
        let hint = did_you_mean(s, apis.iter().copied());
        ck.at(
            base,
            &["successor"],
            format!("no API (route or MCP server) named {s:?}{hint}"),
        );
    }
}

pub(super) fn compile_store(s: &schema::StoreSection, ck: &mut Checker) -> StoreSettings {
    let base = [k("store")];
    let secret_key = s.secret_key.as_deref().map(|t| {
        if let Err(e) = crate::base::cipher::Cipher::from_text(t) {
            ck.at(&base, &["secret_key"], e.to_string());
        }
        Secret::new(t)
    });
    if s.refresh.0 < Duration::from_millis(10) || s.refresh.0 > Duration::from_secs(1) {
        ck.at(
            &base,
            &["refresh"],
            "must be between 10ms and 1s (changes must reach every worker within a second)",
        );
    }
    StoreSettings {
        path: PathBuf::from(&s.path),
        secret_key,
        refresh: s.refresh.0,
    }
}

/// The `[[tenants]]` seed; `apis` (routes and MCP servers: name and auth) and `models` are the
/// names it may refer to.
pub(super) fn compile_seed(
    tenants: &[schema::TenantSection],
    apis: &[(&str, AuthMode)],
    models: &[&str],
    has_store: bool,
    ck: &mut Checker,
) -> Vec<TenantSeed> {
    if !tenants.is_empty() && !has_store {
        ck.at(&[k("tenants")], &[], "[[tenants]] needs a [store] section");
    }
    let mut names = HashSet::new();
    let mut key_ids = HashSet::new();
    let mut out = Vec::new();
    for (i, t) in tenants.iter().enumerate() {
        let base = [k("tenants"), Seg::Index(i)];
        if !valid_name(&t.name) {
            ck.at(&base, &["name"], format!("{:?}: {NAME_RULE}", t.name));
        } else if !names.insert(t.name.as_str()) {
            ck.at(&base, &["name"], format!("duplicate tenant {:?}", t.name));
        }
        let mut app_names = HashSet::new();
        let mut apps = Vec::new();
        for (j, a) in t.apps.iter().enumerate() {
            let base = [k("tenants"), Seg::Index(i), k("apps"), Seg::Index(j)];
            if !valid_name(&a.name) {
                ck.at(&base, &["name"], format!("{:?}: {NAME_RULE}", a.name));
            } else if !app_names.insert(a.name.as_str()) {
                ck.at(&base, &["name"], format!("duplicate app {:?}", a.name));
            }
            apps.push(compile_app(a, apis, models, &base, &mut key_ids, ck));
        }
        out.push(TenantSeed {
            name: t.name.clone(),
            description: t.description.clone(),
            plan: t.plan.clone(),
            apps,
        });
    }
    out
}

fn compile_app(
    a: &schema::AppSection,
    apis: &[(&str, AuthMode)],
    models: &[&str],
    base: &[Seg],
    key_ids: &mut HashSet<String>,
    ck: &mut Checker,
) -> AppSeed {
    for (i, m) in a.models.iter().flatten().enumerate() {
        if !models.contains(&m.as_str()) {
            let mut at = base.to_vec();
            at.extend([k("models"), Seg::Index(i)]);
            let msg = format!(
                "no model named {m:?}{}",
                did_you_mean(m, models.iter().copied())
            );
            ck.issues.push(super::Issue::new(at, msg));
        }
    }
    let api_names: Vec<&str> = apis.iter().map(|r| r.0).collect();
    for (i, s) in a.subscriptions.iter().enumerate() {
        let mut at = base.to_vec();
        at.extend([k("subscriptions"), Seg::Index(i)]);
        let msg = match apis.iter().find(|r| r.0 == s) {
            None => Some(format!(
                "no API (route or MCP server) named {s:?}{}",
                did_you_mean(s, api_names.iter().copied())
            )),
            Some(r) if r.1 != AuthMode::ApiKey => Some(format!(
                "API {s:?} has auth = \"none\": it needs no subscription"
            )),
            Some(_) => None,
        };
        if let Some(msg) = msg {
            ck.issues.push(super::Issue::new(at, msg));
        }
    }
    let mut keys = Vec::new();
    for (i, key_section) in a.keys.iter().enumerate() {
        let mut at = base.to_vec();
        at.extend([k("keys"), Seg::Index(i)]);
        if let Some(seed) = compile_key(key_section, &at, key_ids, ck) {
            keys.push(seed);
        }
    }
    AppSeed {
        name: a.name.clone(),
        description: a.description.clone(),
        models: a.models.clone(),
        keys,
        subscriptions: a.subscriptions.clone(),
    }
}

fn compile_key(
    s: &schema::KeySection,
    at: &[Seg],
    key_ids: &mut HashSet<String>,
    ck: &mut Checker,
) -> Option<KeySeed> {
    if !api_key::is_public_id(&s.id) {
        ck.at(at, &["id"], format!("{:?} is not a key id: 12 of a-z and 0-9 (the part after \"tg_\"; `tollgate admin keygen` makes one)", s.id));
    } else if !key_ids.insert(s.id.clone()) {
        ck.at(at, &["id"], format!("key id {:?} is declared twice", s.id));
    }
    let hash = api_key::from_hex(&s.sha256);
    if hash.is_none() {
        ck.at(
            at,
            &["sha256"],
            "expected the 64 hex digits of the SHA-256 of the key's secret (never the key itself)",
        );
    }
    let expires_at = match s.expires.as_deref().map(parse_date) {
        Some(Err(e)) => {
            ck.at(at, &["expires"], e);
            None
        }
        Some(Ok(d)) => Some(d),
        None => None,
    };
    Some(KeySeed {
        public_id: s.id.clone(),
        hash: hash?,
        name: s.name.clone(),
        expires_at,
    })
}
