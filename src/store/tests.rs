use super::*;
use crate::base::api_key::{self, hash_secret, to_hex};
use crate::config::{AppSeed, Approval, KeySeed, Lifecycle, TenantSeed};

fn fresh() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::create(&dir.path().join("t.db")).unwrap();
    (dir, store)
}

fn admin() -> Actor {
    Actor::new("alice", Some("127.0.0.1:5000".into()))
}

fn open_reason(path: &std::path::Path) -> String {
    match Store::create(path) {
        Err(StoreError::Open { path: p, reason }) => {
            assert_eq!(p, path);
            reason
        }
        Err(e) => panic!("expected Open, got {e:?}"),
        Ok(_) => panic!("expected Open error for {}", path.display()),
    }
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

// --- opening ---

#[test]
fn migrations_are_idempotent_and_reopening_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = Store::create(&path).unwrap();
    let version: i64 = s
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version as usize, migrations::MIGRATIONS.len());
    let again = migrations::migrate(&s.conn).unwrap();
    assert_eq!((again.from, again.to), (version as usize, version as usize));
    s.create_tenant(&admin(), "acme", "Acme").unwrap();
    let generation = s.generation().unwrap();
    drop(s);

    let s = Store::open(&path).unwrap();
    assert_eq!(s.get_tenant("acme").unwrap().description, "Acme");
    assert_eq!(s.generation().unwrap(), generation);
    let mode: String = s
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = s
        .conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(fk, 1);
}

#[test]
fn a_missing_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let reason = open_reason(&dir.path().join("nope/t.db"));
    assert!(reason.contains("does not exist"), "{reason}");
    let reason = open_reason(dir.path());
    assert!(reason.contains("directory"), "{reason}");
}

#[test]
fn a_corrupt_file_is_not_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    std::fs::write(&path, b"this is not sqlite at all\n".repeat(400)).unwrap();
    let reason = open_reason(&path);
    assert!(reason.contains("not a SQLite database"), "{reason}");
    let shown = StoreError::Open {
        path: path.clone(),
        reason,
    }
    .to_string();
    assert!(shown.contains(&path.display().to_string()), "{shown}");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    drop(Store::create(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA user_version = 999").unwrap();
    drop(conn);
    let reason = open_reason(&path);
    assert!(reason.contains("newer Tollgate"), "{reason}");
}

fn unavailable_reason(r: Result<Store>) -> String {
    match r {
        Err(StoreError::Unavailable { reason, .. }) => reason,
        Err(e) => panic!("expected Unavailable, got {e:?}"),
        Ok(_) => panic!("expected Unavailable, got a store"),
    }
}

/// Only `create` makes or migrates a file: `open` (workers, the admin process) refuses a
/// missing file without making one, and a file of another schema version without touching it.
#[test]
fn open_never_creates_nor_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let reason = unavailable_reason(Store::open(&path));
    assert!(reason.contains("does not exist"), "{reason}");
    assert!(!path.exists(), "open made the file");

    drop(Store::create(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA user_version = 1").unwrap();
    drop(conn);
    let reason = open_reason_of(Store::open(&path));
    assert!(reason.contains("only `tollgate run` migrates"), "{reason}");
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        migrations::version(&conn).unwrap(),
        1,
        "open migrated the file"
    );
    drop(conn);

    std::fs::write(&path, b"").unwrap();
    let reason = open_reason_of(Store::open(&path));
    assert!(reason.contains("schema version 0"), "{reason}");
}

fn open_reason_of(r: Result<Store>) -> String {
    match r {
        Err(StoreError::Open { reason, .. }) => reason,
        Err(e) => panic!("expected Open, got {e:?}"),
        Ok(_) => panic!("expected Open, got a store"),
    }
}

/// A deleted or replaced file is noticed by the connection that had it open, and a file that
/// replaced the pinned one is refused by a new `open` (a restarted worker).
#[test]
fn a_deleted_or_replaced_file_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let s = Store::create(&path).unwrap();
    s.pin();
    let reader = Store::open(&path).unwrap();
    reader.check_file().unwrap();

    let other = dir.path().join("other.db");
    drop(Store::create(&other).unwrap());
    std::fs::rename(&other, &path).unwrap();
    let reason = unavailable_reason(reader.check_file().map(|_| reader));
    assert!(reason.contains("replaced"), "{reason}");
    let reason = unavailable_reason(Store::open(&path));
    assert!(reason.contains("replaced"), "{reason}");

    std::fs::remove_file(&path).unwrap();
    let reason = unavailable_reason(s.check_file().map(|_| s));
    assert!(reason.contains("deleted"), "{reason}");
    let reason = unavailable_reason(Store::open(&path));
    assert!(reason.contains("deleted"), "{reason}");
    assert!(!path.exists());
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Undoes `chattr +i` even when the test fails, so the temp dir can be removed.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn set(path: &std::path::Path) -> Option<Immutable> {
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Immutable(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_read_only_file_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    drop(Store::create(&path).unwrap());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    // Root writes through file modes; an immutable file (chattr +i) stops root too. Where
    // chattr is not allowed (some containers, filesystems), the case cannot be staged as root.
    let _guard = if is_root() {
        match Immutable::set(&path) {
            Some(g) => Some(g),
            None => {
                eprintln!("skipped: running as root and chattr +i is not available");
                return;
            }
        }
    } else {
        None
    };
    let reason = open_reason(&path);
    assert!(reason.contains("read-only"), "{reason}");
}

#[test]
fn a_read_only_directory_is_refused_at_open() {
    if is_root() {
        // Directory modes do not stop root, and chattr +i on a directory would also stop the
        // temp dir's own clean-up of the -wal/-shm files; the file case above covers root.
        eprintln!("skipped: running as root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("ro");
    std::fs::create_dir(&sub).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o555)).unwrap();
    let reason = open_reason(&sub.join("t.db"));
    std::fs::set_permissions(&sub, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        reason.contains("read-only") || reason.contains("cannot open"),
        "{reason}"
    );
}

// --- every change is audited and bumps the generation ---

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

// --- keys ---

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

// --- subscriptions ---

#[test]
fn the_subscription_state_machine() {
    let (_d, s) = fresh();
    let a = admin();
    s.create_tenant(&a, "acme", "").unwrap();
    s.create_app(&a, "acme", "web", "", None).unwrap();

    let auto = s
        .request_subscription(&a, "acme", "web", "open", Approval::Auto)
        .unwrap();
    assert_eq!(auto.state, SubState::Active);
    let conflict = s.request_subscription(&a, "acme", "web", "open", Approval::Auto);
    assert!(matches!(conflict, Err(StoreError::Conflict(_))));

    let sub = s
        .request_subscription(&a, "acme", "web", "orders", Approval::Manual)
        .unwrap();
    assert_eq!(sub.state, SubState::Pending);
    let rejected = s
        .decide_subscription(&a, sub.id, SubDecision::Reject, Some("no"))
        .unwrap();
    assert_eq!(
        (rejected.state, rejected.reason.as_deref()),
        (SubState::Rejected, Some("no"))
    );
    for d in [
        SubDecision::Approve,
        SubDecision::Reject,
        SubDecision::Revoke,
    ] {
        assert!(matches!(
            s.decide_subscription(&a, sub.id, d, None),
            Err(StoreError::Conflict(_))
        ));
    }
    // Asking again goes back through approval, on the same row.
    let again = s
        .request_subscription(&a, "acme", "web", "orders", Approval::Manual)
        .unwrap();
    assert_eq!(
        (again.id, again.state, again.reason),
        (sub.id, SubState::Pending, None)
    );
    let active = s
        .decide_subscription(&a, sub.id, SubDecision::Approve, None)
        .unwrap();
    assert_eq!(active.state, SubState::Active);
    assert!(matches!(
        s.decide_subscription(&a, sub.id, SubDecision::Approve, None),
        Err(StoreError::Conflict(_))
    ));
    let revoked = s
        .decide_subscription(&a, sub.id, SubDecision::Revoke, None)
        .unwrap();
    assert_eq!(revoked.state, SubState::Revoked);
    // A pending one can be revoked too.
    let p = s
        .request_subscription(&a, "acme", "web", "orders", Approval::Manual)
        .unwrap();
    let r = s
        .decide_subscription(&a, p.id, SubDecision::Revoke, None)
        .unwrap();
    assert_eq!(r.state, SubState::Revoked);

    let filter = SubscriptionFilter {
        state: Some(SubState::Active),
        tenant: Some("acme".into()),
        ..SubscriptionFilter::default()
    };
    let listed = s.list_subscriptions(&filter).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].api, "open");
    assert!(matches!(
        s.get_subscription(999),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.request_subscription(&a, "acme", "nope", "orders", Approval::Auto),
        Err(StoreError::NotFound(_))
    ));
}

// --- the seed ---

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

// --- reads ---

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

// --- plans and limit attachments ---

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
