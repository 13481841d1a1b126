//! The TOML seed: upserts audited only when something changed, the config wins over admin edits
//! of its entries, removes what it no longer declares, and its entries refuse admin changes.

use super::*;
use crate::base::api_key::{self, hash_secret, to_hex};
use crate::config::Approval;

#[test]
fn the_seed_upserts_and_audits_only_changes() {
    let (_d, s) = fresh();
    s.apply_seed(&seed_acme()).unwrap();
    let rows = s.rows().unwrap();
    assert_eq!(rows.generation, 1);
    assert_eq!(rows.tenants[0].source, Origin::Config);
    assert_eq!(rows.apps[0].models, Some(vec!["demo".to_string()]));
    assert_eq!(rows.keys[0].public_id, "abcdefghijkl");
    assert!(api_key::verify("s3cret", &rows.keys[0].hash));
    assert_eq!(rows.subscriptions[0].state, SubState::Active);
    let audit = last_audit(&s);
    assert_eq!(
        (audit.actor.as_str(), audit.action.as_str()),
        ("config", "seed.apply")
    );
    assert!(!audit
        .detail
        .to_string()
        .contains(&to_hex(&hash_secret("s3cret"))));

    // The same seed again changes nothing: no audit row, no new generation.
    s.apply_seed(&seed_acme()).unwrap();
    assert_eq!(s.generation().unwrap(), 1);
    assert_eq!(s.audit(&AuditFilter::default()).unwrap().len(), 1);

    // A changed description is one more generation.
    let mut seed = seed_acme();
    seed[0].description = "Acme Inc".into();
    s.apply_seed(&seed).unwrap();
    assert_eq!(s.generation().unwrap(), 2);
    assert_eq!(s.get_tenant("acme").unwrap().description, "Acme Inc");
}

#[test]
fn the_config_wins_over_admin_edits_of_its_entries() {
    let (_d, s) = fresh();
    let a = admin();
    // Made with the admin API first, then declared: the configuration takes them over.
    s.create_tenant(&a, "acme", "admin text").unwrap();
    s.create_app(&a, "acme", "web", "admin app", None).unwrap();
    let sub = s
        .request_subscription(&a, "acme", "web", "orders-v1", Approval::Manual)
        .unwrap();
    s.decide_subscription(&a, sub.id, SubDecision::Reject, Some("no"))
        .unwrap();
    s.apply_seed(&seed_acme()).unwrap();
    let t = s.get_tenant("acme").unwrap();
    assert_eq!((t.description.as_str(), t.source), ("Acme", Origin::Config));
    let app = s.get_app("acme", "web").unwrap();
    assert_eq!(
        (app.description.as_str(), app.source),
        ("site", Origin::Config)
    );
    let sub = s.get_subscription(sub.id).unwrap();
    assert_eq!(
        (sub.state, sub.source, sub.reason),
        (SubState::Active, Origin::Config, None)
    );
}

#[test]
fn the_seed_removes_what_it_no_longer_declares_and_leaves_admin_rows() {
    let (_d, s) = fresh();
    let a = admin();
    s.apply_seed(&seed_acme()).unwrap();
    // Admin rows beside and under the configured ones.
    s.create_tenant(&a, "globex", "").unwrap();
    s.create_app(&a, "acme", "mobile", "", None).unwrap();
    let (admin_key, _) = s.create_key(&a, "acme", "web", "extra", None).unwrap();

    let mut seed = seed_acme();
    seed[0].apps[0].keys.clear();
    seed[0].apps[0].subscriptions.clear();
    s.apply_seed(&seed).unwrap();
    let rows = s.rows().unwrap();
    assert_eq!(rows.keys.len(), 1, "only the admin key is left");
    assert_eq!(rows.keys[0].public_id, admin_key.public_id);
    assert!(rows.subscriptions.is_empty());
    let detail = last_audit(&s).detail;
    assert_eq!(detail["removed"].as_array().unwrap().len(), 2, "{detail}");

    // Dropping the tenant: the configured app holding an admin key and the tenant holding an
    // admin app are kept, handed over to the admin API.
    s.apply_seed(&[]).unwrap();
    let rows = s.rows().unwrap();
    let names: Vec<_> = rows
        .tenants
        .iter()
        .map(|t| (t.name.as_str(), t.source))
        .collect();
    assert_eq!(names, [("acme", Origin::Admin), ("globex", Origin::Admin)]);
    assert!(rows.apps.iter().all(|app| app.source == Origin::Admin));
    assert_eq!(rows.apps.len(), 2);
    assert_eq!(last_audit(&s).detail["kept"].as_array().unwrap().len(), 2);

    // Without admin rows under it, a configured tenant is deleted outright.
    let (_d2, s2) = fresh();
    s2.apply_seed(&seed_acme()).unwrap();
    s2.apply_seed(&[]).unwrap();
    let rows = s2.rows().unwrap();
    assert!(rows.tenants.is_empty() && rows.apps.is_empty() && rows.keys.is_empty());
    assert_eq!(rows.generation, 2);
}

#[test]
fn configured_entries_refuse_admin_changes() {
    let (_d, s) = fresh();
    let a = admin();
    s.apply_seed(&seed_acme()).unwrap();
    let managed =
        |r: Result<()>| assert!(matches!(r, Err(StoreError::ManagedByConfig(_))), "{r:?}");
    managed(s.update_tenant(&a, "acme", "x").map(drop));
    managed(s.delete_tenant(&a, "acme"));
    managed(
        s.update_app(&a, "acme", "web", &AppPatch::default())
            .map(drop),
    );
    managed(s.delete_app(&a, "acme", "web"));
    managed(s.revoke_key(&a, "abcdefghijkl").map(drop));
    managed(s.rotate_key(&a, "abcdefghijkl", 60).map(drop));
    let sub = s
        .list_subscriptions(&SubscriptionFilter::default())
        .unwrap()[0]
        .clone();
    managed(
        s.decide_subscription(&a, sub.id, SubDecision::Revoke, None)
            .map(drop),
    );
    managed(
        s.request_subscription(&a, "acme", "web", "orders-v1", Approval::Auto)
            .map(drop),
    );
    // New admin rows under configured ones are fine.
    let (k, _) = s.create_key(&a, "acme", "web", "mine", None).unwrap();
    assert_eq!(k.source, Origin::Admin);
    s.revoke_key(&a, &k.public_id).unwrap();
    let sub = s
        .request_subscription(&a, "acme", "web", "other", Approval::Auto)
        .unwrap();
    assert_eq!(sub.source, Origin::Admin);
    s.create_app(&a, "acme", "mobile", "", None).unwrap();
    s.put_credential(&a, "acme", "openai", b"x").unwrap();
}
