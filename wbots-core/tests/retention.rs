//! Person retention: people whose last message is older than the retention are forgotten
//! (their whole scope), the others kept, and the run is in the audit trail without naming
//! anyone.

use chrono::{Duration, Utc};
use wbots_core::ChannelAddress;
use wbots_core::engine::retention::{forget_idle_people, idle_people};
use wbots_core::store::{
    Link, LinkKey, LinkStore, MemoryStore, PrivacyAction, PrivacyStore, Store, user_scope,
};

async fn person(store: &MemoryStore, page: &ChannelAddress, user: &str, last_days_ago: i64) {
    let scope = user_scope(page, user);
    let at = Utc::now() - Duration::days(last_days_ago);
    for link in [
        Link::new(LinkKey::contact(page, &user.into()), format!("contact-{user}")),
        Link::new(LinkKey::last_inbound(page, &user.into()), at.timestamp_millis().to_string()),
    ] {
        store.put_link(&link.scoped(&scope)).await.unwrap();
    }
}

#[tokio::test]
async fn people_idle_past_the_retention_are_forgotten_and_the_run_recorded() {
    let store = MemoryStore::new();
    let page = ChannelAddress::new("messenger", "page-1");
    person(&store, &page, "old-ann", 40).await;
    person(&store, &page, "new-ben", 1).await;
    // Two threads of one person: the newest message counts.
    let scope = user_scope(&page, "two-cy");
    store
        .put_link(
            &Link::new(LinkKey::last_inbound(&page, &"cy-thread-2".into()), {
                (Utc::now() - Duration::days(1)).timestamp_millis().to_string()
            })
            .scoped(&scope),
        )
        .await
        .unwrap();
    person(&store, &page, "two-cy", 40).await;
    // A time that does not read is never taken as old.
    store
        .put_link(
            &Link::new(LinkKey::last_inbound(&page, &"odd-dee".into()), "not a time")
                .scoped(user_scope(&page, "odd-dee")),
        )
        .await
        .unwrap();

    let cutoff = Utc::now() - Duration::days(30);
    let idle = idle_people(&store, cutoff).await.unwrap();
    assert_eq!(idle, [user_scope(&page, "old-ann")]);

    let report = forget_idle_people(&store, cutoff, "test").await.unwrap();
    assert_eq!((report.people, report.links), (1, 2));
    assert_eq!(store.get_link(&LinkKey::contact(&page, &"old-ann".into())).await.unwrap(), None);
    assert!(store.get_link(&LinkKey::contact(&page, &"new-ben".into())).await.unwrap().is_some());
    assert!(store.get_link(&LinkKey::contact(&page, &"two-cy".into())).await.unwrap().is_some());

    let log = store.audit_log(None, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].entry.action, PrivacyAction::Retention);
    assert_eq!(log[0].entry.subject, None);
    assert!(!log[0].entry.removed.contains("old-ann"), "{:?}", log[0]);

    // Nothing left to forget: no new entry.
    let again = forget_idle_people(&store, cutoff, "test").await.unwrap();
    assert_eq!(again.people, 0);
    assert_eq!(store.audit_log(None, 10).await.unwrap().len(), 1);
    assert!(store.privacy().is_some());
}
