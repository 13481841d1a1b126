//! Opening a store: migrations, and every file or directory that cannot serve refused with a
//! reason that names it (missing, corrupt, newer, replaced, deleted, read-only).

use super::*;

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
