//! Every change writes an audit row and bumps the generation; a refused one writes nothing;
//! deleting a tenant cascades.

use super::*;
use crate::config::{Approval, Lifecycle};

#[test]
fn every_mutation_writes_audit_and_bumps_generation() {
    let (_d, s) = fresh();
    let a = admin();
    let mut generation = s.generation().unwrap();
    let mut step = |s: &Store, action: &str, target_prefix: &str| {
        let g = s.generation().unwrap();
        assert_eq!(g, generation + 1, "{action} did not bump the generation");
        generation = g;
        let row = last_audit(s);
        assert_eq!(row.action, action);
        assert!(row.target.starts_with(target_prefix), "{}", row.target);
        assert_eq!(row.actor, "alice");
        assert_eq!(row.remote.as_deref(), Some("127.0.0.1:5000"));
        assert!(row.at > 1_600_000_000_000, "at is in ms: {}", row.at);
    };
    s.create_tenant(&a, "acme", "").unwrap();
    step(&s, "tenant.create", "tenant:acme");
    s.update_tenant(&a, "acme", "Acme").unwrap();
    step(&s, "tenant.update", "tenant:acme");
    s.create_app(&a, "acme", "web", "", None).unwrap();
    step(&s, "app.create", "app:acme/web");
    let patch = AppPatch {
        models: Some(Some(vec!["demo".into()])),
        ..AppPatch::default()
    };
    s.update_app(&a, "acme", "web", &patch).unwrap();
    step(&s, "app.update", "app:acme/web");
    let (k, _) = s.create_key(&a, "acme", "web", "ci", None).unwrap();
    step(&s, "key.create", "key:");
    let (k2, _, _) = s.rotate_key(&a, &k.public_id, 60).unwrap();
    step(&s, "key.rotate", "key:");
    s.revoke_key(&a, &k2.public_id).unwrap();
    step(&s, "key.revoke", "key:");
    let sub = s
        .request_subscription(&a, "acme", "web", "orders", Approval::Manual)
        .unwrap();
    step(&s, "subscription.request", "subscription:");
    s.decide_subscription(&a, sub.id, SubDecision::Approve, None)
        .unwrap();
    step(&s, "subscription.approve", "subscription:");
    s.decide_subscription(&a, sub.id, SubDecision::Revoke, Some("abuse"))
        .unwrap();
    step(&s, "subscription.revoke", "subscription:");
    s.set_api_state(
        &a,
        "orders",
        Lifecycle::Deprecated,
        None,
        Some(2_000_000_000),
    )
    .unwrap();
    step(&s, "api.state.set", "api:orders");
    s.clear_api_state(&a, "orders").unwrap();
    step(&s, "api.state.clear", "api:orders");
    s.put_credential(&a, "acme", "openai", b"sealed-bytes")
        .unwrap();
    step(&s, "credential.put", "credential:acme/openai");
    s.delete_credential(&a, "acme", "openai").unwrap();
    step(&s, "credential.delete", "credential:acme/openai");
    s.delete_app(&a, "acme", "web").unwrap();
    step(&s, "app.delete", "app:acme/web");
    s.delete_tenant(&a, "acme").unwrap();
    step(&s, "tenant.delete", "tenant:acme");
}

#[test]
fn a_refused_change_writes_nothing() {
    let (_d, s) = fresh();
    let a = admin();
    s.create_tenant(&a, "acme", "").unwrap();
    let g = s.generation().unwrap();
    let n = s.audit(&AuditFilter::default()).unwrap().len();
    assert!(matches!(
        s.create_tenant(&a, "acme", ""),
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.create_app(&a, "nobody", "web", "", None),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.create_tenant(&a, "Bad Name", ""),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.create_tenant(&a, &"x".repeat(65), ""),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.create_app(&a, "acme", "", "", None),
        Err(StoreError::Invalid(_))
    ));
    s.clear_api_state(&a, "never-set").unwrap();
    assert_eq!(s.generation().unwrap(), g);
    assert_eq!(s.audit(&AuditFilter::default()).unwrap().len(), n);
}

#[test]
fn deleting_a_tenant_cascades() {
    let (_d, s) = fresh();
    let a = admin();
    s.create_tenant(&a, "acme", "").unwrap();
    s.create_app(&a, "acme", "web", "", None).unwrap();
    s.create_key(&a, "acme", "web", "", None).unwrap();
    s.request_subscription(&a, "acme", "web", "orders", Approval::Auto)
        .unwrap();
    s.put_credential(&a, "acme", "openai", b"x").unwrap();
    s.delete_tenant(&a, "acme").unwrap();
    let rows = s.rows().unwrap();
    assert!(rows.tenants.is_empty() && rows.apps.is_empty() && rows.keys.is_empty());
    assert!(rows.subscriptions.is_empty() && rows.credentials.is_empty());
}
