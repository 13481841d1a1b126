//! Users, sessions and personal tokens: membership rules, lockout, session life, tokens.

use super::*;
use crate::config::Secret;

fn member(name: &str, role: Role, tenant: Option<&str>) -> NewUser {
    NewUser {
        name: name.into(),
        email: String::new(),
        role,
        tenant: tenant.map(String::from),
        password_hash: Secret::new("$argon2id$stand-in"),
    }
}

#[test]
fn operators_have_no_tenant_and_members_one_that_exists() {
    let (_d, s) = fresh();
    let a = admin();
    s.create_tenant(&a, "acme", "").unwrap();
    let g0 = s.generation().unwrap();
    s.create_user(&a, &member("root", Role::Operator, None))
        .unwrap();
    s.create_user(&a, &member("ann", Role::TenantAdmin, Some("acme")))
        .unwrap();
    assert_eq!(
        s.generation().unwrap(),
        g0,
        "the data plane has nothing to reload"
    );
    assert_eq!(last_audit(&s).action, "user.create");
    let bad = [
        member("x", Role::Operator, Some("acme")),
        member("x", Role::TenantDeveloper, None),
    ];
    for u in &bad {
        assert!(matches!(s.create_user(&a, u), Err(StoreError::Invalid(_))));
    }
    let ghost = member("x", Role::TenantDeveloper, Some("ghost"));
    assert!(matches!(
        s.create_user(&a, &ghost),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.create_user(&a, &member("ann", Role::TenantAdmin, Some("acme"))),
        Err(StoreError::Conflict(_))
    ));
    assert!(!s
        .ensure_user(&member("root", Role::Operator, None))
        .unwrap());
    let names = |t| -> Vec<String> {
        s.list_users(t)
            .unwrap()
            .into_iter()
            .map(|u| u.name)
            .collect()
    };
    assert_eq!(names(None), ["ann", "root"]);
    assert_eq!(names(Some("acme")), ["ann"]);
    // A tenant's members go with it.
    s.delete_tenant(&a, "acme").unwrap();
    assert_eq!(names(None), ["root"]);
}

#[test]
fn failures_lock_and_a_success_clears_them() {
    let (_d, s) = fresh();
    let a = admin();
    s.create_user(&a, &member("root", Role::Operator, None))
        .unwrap();
    assert_eq!(s.login_failed(&a, "root", 2, 60).unwrap(), None);
    let until = s.login_failed(&a, "root", 2, 60).unwrap().unwrap();
    assert!(until > now());
    assert_eq!(s.get_user("root").unwrap().locked_until, Some(until));
    assert_eq!(s.login_failed(&a, "nobody", 2, 60).unwrap(), None);
    assert_eq!(
        last_audit(&s).target,
        "user:root",
        "unknown names are not audited"
    );
    s.login_succeeded(&a, "root").unwrap();
    let u = s.get_user("root").unwrap();
    assert_eq!((u.locked_until, u.failed_logins), (None, 0));
    assert!(u.last_login.is_some());
}

#[test]
fn sessions_and_tokens_live_until_ended() {
    let (_d, s) = fresh();
    let a = admin();
    s.create_user(&a, &member("root", Role::Operator, None))
        .unwrap();
    let (id, csrf, _) = s.create_session("root", 3600).unwrap();
    let live = s.session(&id, 600).unwrap().unwrap();
    assert_eq!(
        (live.user.name.as_str(), live.csrf.as_str()),
        ("root", csrf.as_str())
    );
    assert!(s.session("not-a-session", 600).unwrap().is_none());
    // Idle too long (an idle limit of 0s) ends it for good.
    assert!(s.session(&id, 0).unwrap().is_none());
    assert!(s.session(&id, 600).unwrap().is_none());
    // Disabling a user ends their sessions; their tokens stop working.
    let (id, _, _) = s.create_session("root", 3600).unwrap();
    let (row, full) = s.create_token(&a, "root", "cli", None).unwrap();
    assert!(full.starts_with(TOKEN_PREFIX));
    assert_eq!(s.token_user(&full).unwrap().unwrap().name, "root");
    assert!(s.token_user(&format!("{full}x")).unwrap().is_none());
    let patch = UserPatch {
        disabled: Some(true),
        ..UserPatch::default()
    };
    s.update_user(&a, "root", patch).unwrap();
    assert!(s.session(&id, 600).unwrap().is_none());
    assert!(s.token_user(&full).unwrap().is_none());
    assert!(matches!(
        s.revoke_token(&a, "someone-else", &row.id),
        Err(StoreError::NotFound(_))
    ));
    s.revoke_token(&a, "root", &row.id).unwrap();
    assert!(s.list_tokens("root").unwrap().is_empty());
}
