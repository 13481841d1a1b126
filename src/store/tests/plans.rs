//! Plans and limit attachments: audited, cascading, and a configured tenant's plan kept.

use super::*;

#[test]
fn plans_and_attachments_are_audited_and_cascade() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::create(&dir.path().join("t.db")).unwrap();
    let alice = Actor::new("alice", None);
    s.create_tenant(&alice, "beta", "").unwrap();
    s.create_app(&alice, "beta", "web", "", None).unwrap();
    let g0 = s.generation().unwrap();
    assert_eq!(
        s.set_plan(&alice, "beta", Some("pro"))
            .unwrap()
            .plan
            .as_deref(),
        Some("pro")
    );
    assert_eq!(last_audit(&s).action, "plan.set");
    // The same plan again changes nothing and writes nothing.
    s.set_plan(&alice, "beta", Some("pro")).unwrap();
    assert_eq!(s.generation().unwrap(), g0 + 1);
    let over = Override {
        rate: Some(5.0),
        burst: None,
    };
    let row = s.attach_limit(&alice, "beta", None, "rpm", over).unwrap();
    assert_eq!((row.app, row.rate, row.burst), (None, Some(5.0), None));
    s.attach_limit(&alice, "beta", Some("web"), "rpm", Override::default())
        .unwrap();
    // Replacing an attachment keeps one row.
    s.attach_limit(
        &alice,
        "beta",
        None,
        "rpm",
        Override {
            rate: Some(7.0),
            burst: Some(9.0),
        },
    )
    .unwrap();
    let a = last_audit(&s);
    assert_eq!(
        (a.action.as_str(), a.target.as_str()),
        ("limit.attach", "tenant:beta")
    );
    assert_eq!(a.detail["from"]["rate"], 5.0);
    let rows = s.rows().unwrap();
    assert_eq!(rows.attachments.len(), 2);
    assert_eq!(rows.tenants[0].plan.as_deref(), Some("pro"));
    assert_eq!(s.list_attachments("beta", None).unwrap()[0].rate, Some(7.0));
    assert_eq!(s.list_attachments("beta", Some("web")).unwrap().len(), 1);
    assert!(matches!(
        s.attach_limit(
            &alice,
            "beta",
            None,
            "rpm",
            Override {
                rate: Some(0.0),
                burst: None
            }
        ),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.attach_limit(&alice, "beta", Some("nope"), "rpm", Override::default()),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.detach_limit(&alice, "beta", None, "other"),
        Err(StoreError::NotFound(_))
    ));
    s.detach_limit(&alice, "beta", None, "rpm").unwrap();
    assert_eq!(last_audit(&s).action, "limit.detach");
    // An app's attachments go with the app.
    s.delete_app(&alice, "beta", "web").unwrap();
    assert!(s.rows().unwrap().attachments.is_empty());
    s.set_plan(&alice, "beta", None).unwrap();
    assert_eq!(last_audit(&s).action, "plan.clear");
}

#[test]
fn a_configured_tenant_keeps_its_plan_but_takes_attachments() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::create(&dir.path().join("t.db")).unwrap();
    s.apply_seed(&seed_acme()).unwrap();
    assert_eq!(s.get_tenant("acme").unwrap().plan.as_deref(), Some("pro"));
    let alice = Actor::new("alice", None);
    assert!(matches!(
        s.set_plan(&alice, "acme", Some("free")),
        Err(StoreError::ManagedByConfig(_))
    ));
    s.attach_limit(
        &alice,
        "acme",
        Some("web"),
        "rpm",
        Override {
            rate: Some(1.0),
            burst: None,
        },
    )
    .unwrap();
    // The seed applied again leaves the admin's attachment alone.
    let mut seed = seed_acme();
    seed[0].plan = None;
    s.apply_seed(&seed).unwrap();
    assert_eq!(s.get_tenant("acme").unwrap().plan, None);
    assert_eq!(s.rows().unwrap().attachments.len(), 1);
    // Undeclared, the tenant holds an admin attachment: it is kept, as an admin tenant.
    s.apply_seed(&[]).unwrap();
    assert_eq!(s.get_tenant("acme").unwrap().source, Origin::Admin);
}
