//! The privacy store conformance suite: the [`PrivacyStore`] contract — a person's data read
//! by scope exactly as `forget_scope` would remove it, paging through a key space, and the
//! audit trail (appended in order, read newest first, untouched by data deletion).
//!
//! ```ignore
//! wbots_core::privacy_store_conformance_tests!(async { wbots_core::store::MemoryStore::new() });
//! ```

use chrono::Duration;

use crate::error::StoreError;
use crate::store::{
    AuditEntry, Link, LinkKey, LinkKind, NewJob, PrivacyAction, PrivacyStore, Store,
};
use crate::testkit::store_suite::{job, t0};

/// A store with both sides, as the checks need.
pub trait PrivacyAndData: Store + PrivacyStore {}
impl<S: Store + PrivacyStore + ?Sized> PrivacyAndData for S {}

fn link(kind: LinkKind, key: &str, value: &str, scope: &str) -> Link {
    Link::new(LinkKey::from_stored(kind, key), value).scoped(scope)
}

/// What `links_in_scope` and `jobs_in_scope` return is exactly what `forget_scope` removes:
/// the person's links (by kind, then key) and jobs in any state, nobody else's.
pub async fn scope_reads_show_what_forget_removes(
    store: &dyn PrivacyAndData,
) -> Result<(), StoreError> {
    let alice = "messenger:page/alice";
    let bob = "messenger:page/bob";
    store.put_link(&link(LinkKind::LastInbound, "messenger:page/alice", "1", alice)).await?;
    store.put_link(&link(LinkKind::Contact, "messenger:page/alice", "7", alice)).await?;
    store.put_link(&link(LinkKind::Conversation, "messenger:page/alice", "70", alice)).await?;
    store.put_link(&link(LinkKind::Contact, "messenger:page/bob", "8", bob)).await?;
    let mine = |k: &str| NewJob { scope: Some(alice.into()), ..job(k, "alice") };
    store
        .enqueue(&[mine("a1"), NewJob { scope: Some(bob.into()), ..job("b1", "bob") }, mine("a2")])
        .await?;

    let links = store.links_in_scope(alice, 100).await?;
    let kinds: Vec<&str> = links.iter().map(|l| l.key.kind().as_str()).collect();
    assert_eq!(kinds, ["contact", "conversation", "last_inbound"], "links come by kind name");
    assert_eq!(links.len(), 3, "alice's three links: {links:?}");
    assert!(links.iter().all(|l| l.scope.as_deref() == Some(alice)));
    let contact = links.iter().find(|l| l.key.kind() == LinkKind::Contact);
    assert_eq!(contact.map(|l| l.value.as_str()), Some("7"));
    assert_eq!(store.links_in_scope(alice, 2).await?.len(), 2, "the limit holds");

    let jobs = store.jobs_in_scope(alice, 100).await?;
    let keys: Vec<&str> = jobs.iter().map(|j| j.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["a1", "a2"], "alice's jobs, by id");

    let gone = store.forget_scope(alice).await?;
    assert_eq!((gone.links, gone.jobs), (3, 2), "forget removes what the reads showed");
    assert!(store.links_in_scope(alice, 100).await?.is_empty());
    assert!(store.jobs_in_scope(alice, 100).await?.is_empty());
    assert_eq!(store.links_in_scope(bob, 100).await?.len(), 1, "bob is kept");
    assert_eq!(store.jobs_in_scope(bob, 100).await?.len(), 1, "bob's job is kept");
    Ok(())
}

/// `links_after` pages through one kind in byte order, never into another kind.
pub async fn links_after_pages_through_a_kind(
    store: &dyn PrivacyAndData,
) -> Result<(), StoreError> {
    for key in ["b/2", "a/1", "b/10", "é"] {
        store.put_link(&link(LinkKind::LastInbound, key, key, "s")).await?;
    }
    store.put_link(&link(LinkKind::Contact, "a/0", "x", "s")).await?;
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let page = store.links_after(LinkKind::LastInbound, &after, 2).await?;
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2, "the limit holds");
        after = page.last().map(|l| l.key.as_str().to_owned()).unwrap_or_default();
        seen.extend(page.into_iter().map(|l| l.key.as_str().to_owned()));
    }
    assert_eq!(seen, ["a/1", "b/10", "b/2", "é"], "every key once, in byte order");
    Ok(())
}

fn entry(n: i64, action: PrivacyAction, subject: Option<&str>) -> AuditEntry {
    AuditEntry {
        at: t0() + Duration::milliseconds(n * 1001),
        action,
        requested_by: format!("operator {n}"),
        subject: subject.map(str::to_owned),
        removed: format!("{n} link(s)"),
        outcome: "completed".into(),
    }
}

/// The audit trail keeps every entry as given, hands them back newest first (paged with
/// `before`), and data deletion leaves it alone.
pub async fn the_audit_trail_keeps_every_entry(
    store: &dyn PrivacyAndData,
) -> Result<(), StoreError> {
    assert!(store.audit_log(None, 10).await?.is_empty(), "a fresh store has no entries");
    let entries = [
        entry(1, PrivacyAction::Export, Some("h1")),
        entry(2, PrivacyAction::Forget, Some("h1")),
        entry(3, PrivacyAction::DataDeletion, Some("h2")),
        entry(4, PrivacyAction::Retention, None),
    ];
    let mut ids = Vec::new();
    for e in &entries {
        ids.push(store.record_audit(e).await?);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    store.forget_scope("h1").await?;

    let all = store.audit_log(None, 10).await?;
    let back: Vec<&AuditEntry> = all.iter().map(|r| &r.entry).collect();
    let expected: Vec<&AuditEntry> = entries.iter().rev().collect();
    assert_eq!(back, expected, "every entry, newest first, as recorded");
    let page = store.audit_log(Some(ids[2]), 1).await?;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, ids[1], "the page below an id starts right under it");
    Ok(())
}

/// Expands to one `#[tokio::test]` per privacy store check; the argument evaluates to a
/// future of a fresh, migrated store (or `Option` of one, as for
/// [`store_conformance_tests!`](crate::store_conformance_tests)).
#[macro_export]
macro_rules! privacy_store_conformance_tests {
    ($fresh:expr) => {
        $crate::__privacy_store_check!($fresh, scope_reads_show_what_forget_removes);
        $crate::__privacy_store_check!($fresh, links_after_pages_through_a_kind);
        $crate::__privacy_store_check!($fresh, the_audit_trail_keeps_every_entry);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __privacy_store_check {
    ($fresh:expr, $check:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let Some(store) = $crate::testkit::store_suite::FreshStore::into_store($fresh.await)
            else {
                return;
            };
            if let Err(e) = $crate::testkit::privacy_store_suite::$check(&store).await {
                panic!("{}: the store failed: {e:?}", stringify!($check));
            }
        }
    };
}
