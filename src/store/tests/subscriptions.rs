//! The subscription state machine.

use super::*;
use crate::config::Approval;

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
