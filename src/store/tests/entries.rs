//! Live entries: created, replaced and deleted, each change audited by name (never its table)
//! and moving the generation the workers follow.

use super::*;
use serde_json::json;

fn entry<'a>(name: &'a str, def: &'a serde_json::Value, sealed: Option<&'a [u8]>) -> NewEntry<'a> {
    NewEntry {
        section: "routes",
        name,
        definition: def,
        sealed,
    }
}

#[test]
fn entries_are_created_replaced_and_deleted_with_an_audit_row_each() {
    let (_dir, s) = fresh();
    let def = json!({"path_prefix": "/orders", "upstream": "orders"});
    let g0 = s.generation().unwrap();
    let row = s
        .put_entry(&admin(), entry("orders", &def, None), true)
        .unwrap();
    assert_eq!(
        (row.updated_by.as_str(), row.sealed.is_none()),
        ("alice", true)
    );
    assert!(s.generation().unwrap() > g0);
    let a = last_audit(&s);
    assert_eq!(
        (a.action.as_str(), a.target.as_str()),
        ("route.create", "route:orders")
    );
    assert!(!a.detail.to_string().contains("/orders"), "{:?}", a.detail);

    let again = s.put_entry(&admin(), entry("orders", &def, None), true);
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let other = json!({"path_prefix": "/o2", "upstream": "orders"});
    s.put_entry(&admin(), entry("orders", &other, Some(b"sealed")), false)
        .unwrap();
    let rows = s.entries().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (&rows[0].definition, rows[0].sealed.as_deref()),
        (&other, Some(&b"sealed"[..]))
    );
    let debug = format!("{:?}", rows[0]);
    assert!(
        debug.contains("<redacted>") && !debug.contains("115, 101"),
        "{debug}"
    );
    assert_eq!(last_audit(&s).action, "route.update");

    let missing = s.put_entry(&admin(), entry("nope", &def, None), false);
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    let bad = s.put_entry(&admin(), entry("a/b", &def, None), true);
    assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");

    s.delete_entry(&admin(), "routes", "orders").unwrap();
    assert!(s.entries().unwrap().is_empty());
    assert_eq!(last_audit(&s).action, "route.delete");
    let gone = s.delete_entry(&admin(), "routes", "orders");
    assert!(matches!(gone, Err(StoreError::NotFound(_))), "{gone:?}");
}
