//! Tests of the store against a real SQLite file in a temp dir. The tests sit in `tests/` by
//! subject; this file holds the helpers they share (a fresh store, the admin actor, the seed).

mod changes;
mod entries;
mod keys;
mod opening;
mod plans;
mod reads;
mod seed;
mod subscriptions;
mod users;

use super::*;
use crate::base::api_key::hash_secret;
use crate::config::{AppSeed, KeySeed, TenantSeed};

fn fresh() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(&dir.path().join("t.db")).unwrap();
    (dir, store)
}

fn admin() -> Actor {
    Actor::new("alice", Some("127.0.0.1:5000".into()))
}

fn last_audit(s: &Store) -> AuditRow {
    s.audit(&AuditFilter::default()).unwrap().remove(0)
}

fn seed_acme() -> Vec<TenantSeed> {
    vec![TenantSeed {
        name: "acme".into(),
        description: "Acme".into(),
        plan: Some("pro".into()),
        apps: vec![AppSeed {
            name: "web".into(),
            description: "site".into(),
            models: Some(vec!["demo".into()]),
            keys: vec![KeySeed {
                public_id: "abcdefghijkl".into(),
                hash: hash_secret("s3cret"),
                name: "ci".into(),
                expires_at: None,
            }],
            subscriptions: vec!["orders-v1".into()],
        }],
    }]
}
