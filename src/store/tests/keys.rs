//! API keys: created, rotated and revoked; hashes and sealed values never shown.

use super::*;
use crate::base::api_key::{self, to_hex};

#[test]
fn keys_are_created_rotated_and_revoked() {
    let (_d, s) = fresh();
    let a = admin();
    s.create_tenant(&a, "acme", "").unwrap();
    s.create_app(&a, "acme", "web", "", None).unwrap();
    let (k, full) = s
        .create_key(&a, "acme", "web", "ci", Some(4_000_000_000))
        .unwrap();
    let (id, secret) = api_key::parse(&full).unwrap();
    assert_eq!(id, k.public_id);
    assert!(api_key::verify(secret, &k.hash));
    assert_eq!(k.source, Origin::Admin);
    assert_eq!(k.expires_at, Some(4_000_000_000));
    assert_eq!(s.get_key(id).unwrap(), k);

    let before = now();
    let (new, new_full, old) = s.rotate_key(&a, id, 3600).unwrap();
    assert_ne!(new.public_id, old.public_id);
    assert_eq!(
        (new.tenant.as_str(), new.app.as_str(), new.name.as_str()),
        ("acme", "web", "ci")
    );
    assert!(api_key::verify(
        api_key::parse(&new_full).unwrap().1,
        &new.hash
    ));
    let until = old.expires_at.unwrap();
    assert!(until >= before + 3600 && until <= now() + 3600, "{until}");
    assert!(old.usable_at(now()) && !old.usable_at(until));
    // A shorter existing expiry is kept.
    let (_, _, old2) = s.rotate_key(&a, &new.public_id, 0).unwrap();
    assert!(old2.expires_at.unwrap() <= now());
    assert!(matches!(
        s.rotate_key(&a, &new.public_id, 60),
        Err(StoreError::Conflict(_))
    ));

    let revoked = s.revoke_key(&a, id).unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(!revoked.usable_at(now()));
    assert!(matches!(s.revoke_key(&a, id), Err(StoreError::Conflict(_))));
    assert!(matches!(
        s.revoke_key(&a, "zzzzzzzzzzzz"),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.list_keys("acme", "web").unwrap().len(), 3);

    // The audit holds neither the key nor its hash.
    for row in s.audit(&AuditFilter::default()).unwrap() {
        let d = row.detail.to_string();
        assert!(!d.contains(secret) && !d.contains(&to_hex(&k.hash)), "{d}");
    }
}

#[test]
fn hashes_and_sealed_values_are_not_shown() {
    let (_d, s) = fresh();
    let a = admin();
    s.create_tenant(&a, "acme", "").unwrap();
    s.create_app(&a, "acme", "web", "", None).unwrap();
    let (k, _) = s.create_key(&a, "acme", "web", "", None).unwrap();
    let c = s.put_credential(&a, "acme", "openai", b"SEALED").unwrap();
    let json = serde_json::to_string(&k).unwrap();
    assert!(!json.contains("hash"), "{json}");
    assert!(format!("{k:?}").contains("<redacted>"));
    assert!(!serde_json::to_string(&c).unwrap().contains("sealed"));
    assert!(!format!("{c:?}").contains("SEALED"));
    assert!(!last_audit(&s).detail.to_string().contains("SEALED"));
    assert_eq!(
        s.list_credentials("acme").unwrap(),
        vec![("openai".to_string(), c.created_at)]
    );
    assert_eq!(s.rows().unwrap().credentials[0].sealed, b"SEALED");
}
