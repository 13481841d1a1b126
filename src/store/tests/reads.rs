//! Reads: audit filters and order, app patches, API state overrides, a second connection.

use super::*;
use crate::config::Lifecycle;

#[test]
fn audit_filters_and_order() {
    let (_d, s) = fresh();
    let a = admin();
    s.create_tenant(&a, "acme", "").unwrap();
    s.create_tenant(&a, "globex", "").unwrap();
    s.create_app(&a, "acme", "web", "", None).unwrap();
    let all = s.audit(&AuditFilter::default()).unwrap();
    assert_eq!(all.len(), 3);
    assert!(all[0].id > all[1].id, "newest first");
    let f = |target: Option<&str>, action: Option<&str>, limit| AuditFilter {
        limit,
        target: target.map(String::from),
        action: action.map(String::from),
    };
    assert_eq!(
        s.audit(&f(Some("tenant:acme"), None, 100)).unwrap().len(),
        1
    );
    assert_eq!(s.audit(&f(None, Some("tenant"), 100)).unwrap().len(), 2);
    assert_eq!(
        s.audit(&f(None, Some("tenant.create"), 100)).unwrap().len(),
        2
    );
    assert_eq!(s.audit(&f(None, Some("tenan"), 100)).unwrap().len(), 0);
    assert_eq!(s.audit(&f(None, None, 1)).unwrap().len(), 1);
}

#[test]
fn app_patches_change_only_what_they_name() {
    let (_d, s) = fresh();
    let a = admin();
    s.create_tenant(&a, "acme", "").unwrap();
    s.create_app(&a, "acme", "web", "d", Some(vec!["m".into()]))
        .unwrap();
    let only_desc = AppPatch {
        description: Some("e".into()),
        models: None,
    };
    let app = s.update_app(&a, "acme", "web", &only_desc).unwrap();
    assert_eq!(
        (app.description.as_str(), app.models),
        ("e", Some(vec!["m".to_string()]))
    );
    let lift = AppPatch {
        description: None,
        models: Some(None),
    };
    let app = s.update_app(&a, "acme", "web", &lift).unwrap();
    assert_eq!((app.description.as_str(), app.models), ("e", None));
    assert!(matches!(
        s.get_app("acme", "nope"),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.list_apps("nobody"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn api_state_overrides() {
    let (_d, s) = fresh();
    let a = admin();
    assert_eq!(s.get_api_state("orders").unwrap(), None);
    let row = s
        .set_api_state(
            &a,
            "orders",
            Lifecycle::Deprecated,
            Some("orders-v2"),
            Some(5),
        )
        .unwrap();
    assert_eq!(row.state, Lifecycle::Deprecated);
    assert_eq!(row.successor.as_deref(), Some("orders-v2"));
    let row = s
        .set_api_state(&a, "orders", Lifecycle::Retired, None, None)
        .unwrap();
    assert_eq!(
        (row.state, row.successor.clone(), row.sunset),
        (Lifecycle::Retired, None, None)
    );
    assert_eq!(s.rows().unwrap().api_states, vec![row]);
    s.clear_api_state(&a, "orders").unwrap();
    assert!(s.api_states().unwrap().is_empty());
}

#[test]
fn two_connections_see_each_others_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let writer = Store::create(&path).unwrap();
    let reader = Store::open(&path).unwrap();
    writer.create_tenant(&admin(), "acme", "").unwrap();
    assert_eq!(reader.generation().unwrap(), 1);
    assert_eq!(reader.rows().unwrap().tenants.len(), 1);
}
