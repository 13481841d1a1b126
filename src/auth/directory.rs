//! The data plane's view of the store: every key, app, subscription, tenant credential and
//! lifecycle override, in memory. Built off the request path from one read of the store and
//! swapped whole (see `refresh`), so checking a request never touches SQLite.

use super::plans::{self, Catalog, Effective};
use crate::base::api_key::{self as key, SecretHash};
use crate::base::cipher::Cipher;
use crate::config::{Lifecycle, Secret};
use crate::store::{AttachmentRow, Rows, SubState};
use std::collections::HashMap;
use std::sync::Arc;

type Map<K, V> = HashMap<K, V, ahash::RandomState>;

/// An app, as the requests made with its keys see it.
#[derive(Debug)]
pub struct Principal {
    pub tenant: Arc<str>,
    pub app: Arc<str>,
    /// The public models the app may use; every model its tenant may see when `None`.
    pub models: Option<Vec<String>>,
    subscriptions: Map<String, Subscription>,
    /// The tenant's own provider keys, by provider name, decrypted.
    credentials: Arc<Map<String, Secret>>,
    /// The limits every request of the app's keys draws from, on any route: its tenant's
    /// plan and the limits attached to the tenant and the app.
    pub limits: Effective,
}

#[derive(Debug, Clone)]
struct Subscription {
    state: SubState,
    reason: Option<String>,
}

impl Principal {
    /// The tenant's own key for `provider`, used instead of the gateway's.
    pub fn credential(&self, provider: &str) -> Option<&Secret> {
        self.credentials.get(provider)
    }

    pub fn may_use_model(&self, name: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|m| m == name))
    }

    /// Whether the app holds an active subscription to `api`, and if not, why.
    pub fn subscribed(&self, name: &str) -> Result<(), Denied> {
        // Names are copied into the refusal only: the allowed path allocates nothing.
        let api = || name.to_string();
        let app = || self.app.to_string();
        let Some(s) = self.subscriptions.get(name) else {
            return Err(Denied::NotSubscribed {
                api: api(),
                app: app(),
            });
        };
        Err(match s.state {
            SubState::Active => return Ok(()),
            SubState::Pending => Denied::Pending {
                api: api(),
                app: app(),
            },
            SubState::Rejected => Denied::Rejected {
                api: api(),
                app: app(),
                reason: s.reason.clone(),
            },
            SubState::Revoked => Denied::SubscriptionRevoked {
                api: api(),
                app: app(),
                reason: s.reason.clone(),
            },
        })
    }
}

/// A key of the directory: what a request that presents it is known by.
pub struct KeyEntry {
    /// The key's public id, shared (not copied) with every request that limits by it.
    pub id: Arc<str>,
    pub principal: Arc<Principal>,
    hash: SecretHash,
    expires_at: Option<i64>,
    revoked: bool,
}

impl std::fmt::Debug for KeyEntry {
    /// The public id and the app; never the secret's hash.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("id", &self.id)
            .field("tenant", &self.principal.tenant)
            .field("app", &self.principal.app)
            .finish_non_exhaustive()
    }
}

/// A lifecycle state set through the admin API, which wins over the configured one.
#[derive(Debug, Clone, PartialEq)]
pub struct StateOverride {
    pub state: Lifecycle,
    pub successor: Option<String>,
    pub sunset: Option<i64>,
    /// When the override was set: the deprecation date of an API deprecated through it.
    pub since: i64,
}

/// Why a request was refused; `status` says how it is answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Denied {
    #[error("missing API key: send Authorization: Bearer <key>, x-api-key or x-goog-api-key")]
    MissingKey,
    #[error("invalid API key")]
    InvalidKey,
    #[error("API key {id} has expired")]
    Expired { id: String },
    #[error("API key {id} has been revoked")]
    Revoked { id: String },
    #[error("API {api} is not available to tenant {tenant}")]
    NotVisible { api: String, tenant: String },
    #[error("app {app} has no subscription to API {api}; request one through the admin API")]
    NotSubscribed { api: String, app: String },
    #[error("the subscription of app {app} to API {api} is waiting for approval")]
    Pending { api: String, app: String },
    #[error(
        "the subscription of app {app} to API {api} was rejected{}",
        because(reason)
    )]
    Rejected {
        api: String,
        app: String,
        reason: Option<String>,
    },
    #[error(
        "the subscription of app {app} to API {api} has been revoked{}",
        because(reason)
    )]
    SubscriptionRevoked {
        api: String,
        app: String,
        reason: Option<String>,
    },
    #[error("model {model} is not available to app {app}")]
    Model { model: String, app: String },
}

fn because(reason: &Option<String>) -> String {
    reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default()
}

impl Denied {
    pub fn status(&self) -> u16 {
        match self {
            Denied::MissingKey
            | Denied::InvalidKey
            | Denied::Expired { .. }
            | Denied::Revoked { .. } => 401,
            _ => 403,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Denied::MissingKey => "missing_api_key",
            Denied::InvalidKey | Denied::Expired { .. } | Denied::Revoked { .. } => {
                "invalid_api_key"
            }
            Denied::NotVisible { .. } => "api_not_visible",
            Denied::NotSubscribed { .. } => "subscription_required",
            Denied::Pending { .. } => "subscription_pending",
            Denied::Rejected { .. } => "subscription_rejected",
            Denied::SubscriptionRevoked { .. } => "subscription_revoked",
            Denied::Model { .. } => "model_not_permitted",
        }
    }
}

#[derive(Default)]
pub struct Directory {
    /// The store generation this was built from; 0 when there is no store.
    pub generation: u64,
    keys: Map<Arc<str>, KeyEntry>,
    overrides: Map<String, StateOverride>,
}

impl Directory {
    /// Builds the directory; a credential that does not decrypt is left out and reported in
    /// the returned list (the tenant's calls then use the gateway's keys), as are plans and
    /// attached limits that `catalog` (the configuration) does not have.
    pub fn build(
        rows: Rows,
        cipher: Option<&Cipher>,
        catalog: Catalog<'_>,
    ) -> (Directory, Vec<String>) {
        let mut problems = Vec::new();
        let mut credentials: Map<String, Map<String, Secret>> = Map::default();
        for c in rows.credentials {
            let Some(cipher) = cipher else {
                problems.push(format!(
                    "tenant {} has a {} key but [store] secret_key is not set",
                    c.tenant, c.provider
                ));
                continue;
            };
            match cipher.open(&c.sealed) {
                Ok(plain) => {
                    credentials
                        .entry(c.tenant)
                        .or_default()
                        .insert(c.provider, Secret::new(plain));
                }
                Err(e) => problems.push(format!("tenant {} key for {}: {e}", c.tenant, c.provider)),
            }
        }
        let credentials: Map<String, Arc<Map<String, Secret>>> = credentials
            .into_iter()
            .map(|(t, m)| (t, Arc::new(m)))
            .collect();
        let mut subscriptions: Map<(String, String), Map<String, Subscription>> = Map::default();
        for s in rows.subscriptions {
            subscriptions.entry((s.tenant, s.app)).or_default().insert(
                s.api,
                Subscription {
                    state: s.state,
                    reason: s.reason,
                },
            );
        }
        let plan_of: Map<&str, &str> = rows
            .tenants
            .iter()
            .filter_map(|t| Some((t.name.as_str(), t.plan.as_deref()?)))
            .collect();
        let mut attached: Map<(&str, Option<&str>), Vec<&AttachmentRow>> = Map::default();
        for a in &rows.attachments {
            attached
                .entry((a.tenant.as_str(), a.app.as_deref()))
                .or_default()
                .push(a);
        }
        let none = Vec::new();
        let mut apps: Map<(String, String), Arc<Principal>> = Map::default();
        for a in rows.apps {
            let limits = plans::effective(
                catalog,
                &a.tenant,
                plan_of.get(a.tenant.as_str()).copied(),
                attached.get(&(a.tenant.as_str(), None)).unwrap_or(&none),
                attached
                    .get(&(a.tenant.as_str(), Some(a.name.as_str())))
                    .unwrap_or(&none),
                &mut problems,
            );
            let principal = Principal {
                limits,
                tenant: Arc::from(a.tenant.as_str()),
                app: Arc::from(a.name.as_str()),
                models: a.models,
                subscriptions: subscriptions
                    .remove(&(a.tenant.clone(), a.name.clone()))
                    .unwrap_or_default(),
                credentials: credentials.get(&a.tenant).cloned().unwrap_or_default(),
            };
            apps.insert((a.tenant, a.name), Arc::new(principal));
        }
        let keys = rows
            .keys
            .into_iter()
            .filter_map(|k| {
                let principal = apps.get(&(k.tenant, k.app))?.clone();
                let id: Arc<str> = Arc::from(k.public_id);
                let entry = KeyEntry {
                    id: id.clone(),
                    hash: k.hash,
                    expires_at: k.expires_at,
                    revoked: k.revoked_at.is_some(),
                    principal,
                };
                Some((id, entry))
            })
            .collect();
        let overrides = rows
            .api_states
            .into_iter()
            .map(|s| {
                let o = StateOverride {
                    state: s.state,
                    successor: s.successor,
                    sunset: s.sunset,
                    since: s.updated_at,
                };
                (s.api, o)
            })
            .collect();
        let dir = Directory {
            generation: rows.generation,
            keys,
            overrides,
        };
        (dir, problems)
    }

    /// Finds a presented key and the app it belongs to, at time `now` (Unix seconds). The one
    /// place a request's key is parsed: what needs its public id later reads the entry's.
    pub fn authenticate(&self, presented: &str, now: i64) -> Result<&KeyEntry, Denied> {
        let (id, secret) = key::parse(presented).ok_or(Denied::InvalidKey)?;
        let entry = self.keys.get(id).ok_or(Denied::InvalidKey)?;
        if !key::verify(secret, &entry.hash) {
            return Err(Denied::InvalidKey);
        }
        if entry.revoked {
            return Err(Denied::Revoked { id: id.to_string() });
        }
        if entry.expires_at.is_some_and(|at| at <= now) {
            return Err(Denied::Expired { id: id.to_string() });
        }
        Ok(entry)
    }

    /// The admin override of an API's lifecycle, if any.
    pub fn state_override(&self, api: &str) -> Option<&StateOverride> {
        if self.overrides.is_empty() {
            return None;
        }
        self.overrides.get(api)
    }
}

/// The key a request presents: from the first of `Authorization: Bearer`, `x-api-key`
/// (Anthropic's SDKs) and `x-goog-api-key` (Gemini's) that carries one. An `Authorization` of
/// another scheme (`Basic` for a proxy in front) carries no key, so the next header is read.
pub fn presented_key(headers: &http::HeaderMap) -> Option<&str> {
    presented_key_in(|name| headers.get(name).and_then(|v| v.to_str().ok()))
}

/// [`presented_key`] over any head: `header` gives a field's first value by its lower-case
/// name.
pub fn presented_key_in<'h>(header: impl Fn(&str) -> Option<&'h str>) -> Option<&'h str> {
    header("authorization").and_then(bearer).or_else(|| {
        ["x-api-key", "x-goog-api-key"]
            .into_iter()
            .filter_map(header)
            .map(str::trim)
            .find(|k| !k.is_empty())
    })
}

/// The token of an `Authorization` value of the `Bearer` scheme, in any case (auth schemes
/// are case-insensitive, RFC 9110 11.1); `None` for another scheme or an empty token.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Headers that may carry a client's key; they never reach an upstream of a keyed API. Names
/// made once: a `&str` name is parsed on every lookup or removal.
pub static KEY_HEADERS: [http::HeaderName; 3] = [
    http::header::AUTHORIZATION,
    http::HeaderName::from_static("x-api-key"),
    http::HeaderName::from_static("x-goog-api-key"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ApiStateRow, AppRow, CredentialRow, KeyRow, Origin, SubscriptionRow};

    fn app(tenant: &str, name: &str, models: Option<Vec<String>>) -> AppRow {
        AppRow {
            tenant: tenant.into(),
            name: name.into(),
            description: String::new(),
            models,
            source: Origin::Admin,
            created_at: 0,
        }
    }

    fn key_row(k: &key::NewKey, app: &str, expires_at: Option<i64>, revoked: bool) -> KeyRow {
        KeyRow {
            public_id: k.public_id.clone(),
            tenant: "acme".into(),
            app: app.into(),
            name: String::new(),
            hash: k.hash,
            created_at: 0,
            expires_at,
            revoked_at: revoked.then_some(1),
            source: Origin::Admin,
        }
    }

    fn sub(api: &str, state: SubState) -> SubscriptionRow {
        SubscriptionRow {
            id: 1,
            tenant: "acme".into(),
            app: "web".into(),
            api: api.into(),
            state,
            reason: Some("because".into()),
            created_at: 0,
            updated_at: 0,
            source: Origin::Admin,
        }
    }

    const SECRET: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn keys_are_checked_for_secret_expiry_and_revocation() {
        let (good, old, gone) = (
            key::generate().unwrap(),
            key::generate().unwrap(),
            key::generate().unwrap(),
        );
        let rows = Rows {
            generation: 7,
            apps: vec![app("acme", "web", None)],
            keys: vec![
                key_row(&good, "web", Some(100), false),
                key_row(&old, "web", Some(50), false),
                key_row(&gone, "web", None, true),
            ],
            ..Rows::default()
        };
        let (dir, problems) = Directory::build(rows, None, Catalog::default());
        assert!(problems.is_empty());
        assert_eq!(dir.generation, 7);
        let k = dir.authenticate(&good.full, 99).unwrap();
        assert_eq!(&*k.id, good.public_id);
        let p = &k.principal;
        assert_eq!((&*p.tenant, &*p.app), ("acme", "web"));
        assert!(matches!(
            dir.authenticate(&good.full, 100),
            Err(Denied::Expired { .. })
        ));
        assert!(matches!(
            dir.authenticate(&old.full, 60),
            Err(Denied::Expired { .. })
        ));
        assert!(matches!(
            dir.authenticate(&gone.full, 0),
            Err(Denied::Revoked { .. })
        ));
        let wrong = format!("tg_{}_{}", good.public_id, "A".repeat(32));
        assert_eq!(dir.authenticate(&wrong, 0).unwrap_err(), Denied::InvalidKey);
        assert_eq!(dir.authenticate("sk-x", 0).unwrap_err(), Denied::InvalidKey);
    }

    #[test]
    fn subscriptions_models_overrides_and_credentials() {
        let k = key::generate().unwrap();
        let cipher = Cipher::from_text(SECRET).unwrap();
        let rows = Rows {
            apps: vec![app("acme", "web", Some(vec!["demo".into()]))],
            keys: vec![key_row(&k, "web", None, false)],
            subscriptions: vec![
                sub("a", SubState::Active),
                sub("p", SubState::Pending),
                sub("r", SubState::Rejected),
                sub("x", SubState::Revoked),
            ],
            api_states: vec![ApiStateRow {
                api: "a".into(),
                state: Lifecycle::Deprecated,
                successor: None,
                sunset: Some(9),
                updated_at: 5,
            }],
            credentials: vec![
                CredentialRow {
                    tenant: "acme".into(),
                    provider: "openai".into(),
                    sealed: cipher.seal("sk-acme").unwrap(),
                    created_at: 0,
                },
                CredentialRow {
                    tenant: "acme".into(),
                    provider: "broken".into(),
                    sealed: vec![1, 2, 3],
                    created_at: 0,
                },
            ],
            ..Rows::default()
        };
        let (dir, problems) = Directory::build(rows, Some(&cipher), Catalog::default());
        assert_eq!(problems.len(), 1, "{problems:?}");
        let p = &dir.authenticate(&k.full, 0).unwrap().principal;
        assert!(p.subscribed("a").is_ok());
        assert!(matches!(p.subscribed("p"), Err(Denied::Pending { .. })));
        let rejected = p.subscribed("r").unwrap_err();
        assert!(
            rejected.to_string().ends_with("rejected: because"),
            "{rejected}"
        );
        assert!(matches!(
            p.subscribed("x"),
            Err(Denied::SubscriptionRevoked { .. })
        ));
        assert!(matches!(
            p.subscribed("none"),
            Err(Denied::NotSubscribed { .. })
        ));
        assert!(p.may_use_model("demo") && !p.may_use_model("other"));
        assert_eq!(p.credential("openai").unwrap().expose(), "sk-acme");
        assert!(p.credential("broken").is_none());
        let o = dir.state_override("a").unwrap();
        assert_eq!(
            (o.state, o.sunset, o.since),
            (Lifecycle::Deprecated, Some(9), 5)
        );
    }

    #[test]
    fn the_key_is_read_from_each_header_form() {
        let mut h = http::HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert("x-goog-api-key", "g".parse().unwrap());
        assert_eq!(presented_key(&h), Some("g"));
        h.insert("x-api-key", "a".parse().unwrap());
        assert_eq!(presented_key(&h), Some("a"));
        h.insert("authorization", "bearer  b ".parse().unwrap());
        assert_eq!(presented_key(&h), Some("b"));
        h.insert("authorization", "BEARER c".parse().unwrap());
        assert_eq!(presented_key(&h), Some("c"));
        // Another scheme carries no key: the next header that does is read.
        h.insert("authorization", "Basic dXNlcjpwdw==".parse().unwrap());
        assert_eq!(presented_key(&h), Some("a"));
        h.insert("x-api-key", " ".parse().unwrap());
        assert_eq!(presented_key(&h), Some("g"));
        h.remove("x-goog-api-key");
        assert_eq!(presented_key(&h), None);
        h.insert("authorization", "Bearer ".parse().unwrap());
        assert_eq!(presented_key(&h), None);
    }
}
