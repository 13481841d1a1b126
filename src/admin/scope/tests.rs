//! The scope table's rules, checked over every endpoint, and the decisions without a store.

use super::*;
use crate::admin::principal::Via;
use crate::admin::routes::ENDPOINTS;

fn user(role: Role, tenant: Option<&str>) -> Principal {
    Principal {
        name: "u".into(),
        role,
        tenant: tenant.map(String::from),
        via: Via::Token,
        remote: None,
    }
}

fn params(p: &[&str]) -> Vec<String> {
    p.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_method_of_every_endpoint_says_who_may_call_it() {
    for e in ENDPOINTS {
        assert_eq!(
            e.methods.len(),
            e.access.len(),
            "{}: one access per method",
            e.path
        );
    }
}

#[test]
fn the_tenant_comes_from_where_the_path_has_it() {
    for e in ENDPOINTS {
        for (m, a) in e.methods.iter().zip(e.access) {
            let Tenant(_, owner) = a else { continue };
            let prefix = match owner {
                Path => "/admin/tenants/{tenant}/",
                Key => "/admin/keys/{id}",
                Subscription => "/admin/subscriptions/{id}",
                User => "/admin/users/{name}",
                Filter => "/admin/",
            };
            let ok = e.path.starts_with(prefix)
                || (*owner == Path && e.path == "/admin/tenants/{tenant}");
            assert!(ok, "{m} {}: {owner:?} does not fit the path", e.path);
            if *owner == Filter {
                assert!(
                    !e.path.contains('{')
                        || e.path == "/admin/calls/{request_id}"
                        || e.path == "/admin/users",
                    "{m} {}: a filtered list names no object in its path",
                    e.path
                );
            }
        }
    }
}

#[test]
fn what_is_global_is_for_operators_only() {
    let global = [
        "/admin/tenants",
        "/admin/limits",
        "/admin/apis",
        "/admin/audit",
        "/admin/prompts",
    ];
    for e in ENDPOINTS {
        for (m, a) in e.methods.iter().zip(e.access) {
            let is_global = global.iter().any(|g| {
                e.path == *g
                    || e.path.starts_with(&format!("{g}/"))
                        && !e.path.starts_with("/admin/tenants/")
            }) || e.path.ends_with("/plan")
                || e.path.contains("/limits/")
                || ["approve", "reject", "revoke"]
                    .iter()
                    .any(|d| e.path.ends_with(d));
            if is_global {
                assert_eq!(*a, Operator, "{m} {} must be for operators only", e.path);
            }
            if *a == Public {
                assert_eq!(
                    e.path, "/admin/login",
                    "only signing in needs no credential"
                );
            }
        }
    }
}

#[test]
fn decisions_without_a_lookup() {
    let op = user(Role::Operator, None);
    let dev = user(Role::TenantDeveloper, Some("acme"));
    let adm = user(Role::TenantAdmin, Some("acme"));
    let acme = params(&["acme"]);
    let globex = params(&["globex"]);
    assert_eq!(decide(&op, Operator, &[]).unwrap(), Step::Done(Grant::All));
    assert_eq!(
        decide(&op, ADMIN_AT, &globex).unwrap(),
        Step::Done(Grant::All)
    );
    assert_eq!(decide(&dev, Operator, &[]).unwrap_err().status(), 403);
    assert_eq!(
        decide(&dev, MEMBER_AT, &acme).unwrap(),
        Step::Done(Grant::Tenant("acme".into()))
    );
    assert_eq!(decide(&dev, MEMBER_AT, &globex).unwrap_err().status(), 403);
    assert_eq!(decide(&dev, ADMIN_AT, &acme).unwrap_err().status(), 403);
    assert!(decide(&adm, ADMIN_AT, &acme).is_ok());
    assert_eq!(
        decide(&dev, Tenant(Member, Key), &params(&["abcdefghijkl"])).unwrap(),
        Step::Lookup {
            owner: Key,
            id: "abcdefghijkl".into(),
            mine: "acme".into()
        }
    );
    let stray = user(Role::TenantAdmin, None);
    assert_eq!(decide(&stray, MEMBER_AT, &acme).unwrap_err().status(), 403);
}

#[test]
fn a_tenant_users_lists_are_forced_to_their_tenant() {
    let grant = Grant::Tenant("acme".into());
    let filtered = Tenant(Member, Filter);
    let mut q = vec![("state".to_string(), "pending".to_string())];
    confine(&grant, filtered, Resource::Subscriptions, &mut q).unwrap();
    assert!(q.contains(&("tenant".into(), "acme".into())), "{q:?}");
    let mut q = vec![("tenant".to_string(), "globex".to_string())];
    let e = confine(&grant, filtered, Resource::Catalog, &mut q).unwrap_err();
    assert_eq!(e.status(), 403);
    let mut q = Vec::new();
    let r = confine(
        &grant,
        filtered,
        Resource::CallRecord(None, "r1".into()),
        &mut q,
    )
    .unwrap();
    assert!(matches!(r, Resource::CallRecord(Some(t), _) if t == "acme"));
    let r = confine(&grant, filtered, Resource::Usage(None), &mut Vec::new()).unwrap();
    assert!(matches!(r, Resource::Usage(Some(t)) if t == "acme"));
    // An operator's filter is left as given.
    let mut q = vec![("tenant".to_string(), "globex".to_string())];
    confine(&Grant::All, filtered, Resource::Catalog, &mut q).unwrap();
    assert_eq!(q, vec![("tenant".to_string(), "globex".to_string())]);
}

#[test]
fn tenant_admins_make_members_of_their_tenant_only() {
    let grant = Grant::Tenant("acme".into());
    assert_eq!(
        member_of(&grant, Role::TenantDeveloper, None).unwrap(),
        Some("acme".into())
    );
    assert!(member_of(&grant, Role::TenantAdmin, Some("acme".into())).is_ok());
    assert_eq!(
        member_of(&grant, Role::TenantDeveloper, Some("globex".into()))
            .unwrap_err()
            .status(),
        403
    );
    assert_eq!(
        member_of(&grant, Role::Operator, None)
            .unwrap_err()
            .status(),
        403
    );
    assert_eq!(member_of(&Grant::All, Role::Operator, None).unwrap(), None);
}
