//! The store conformance suite: the [`Store`] contract, checked the same way on every
//! backend (memory, SQLite, PostgreSQL, yours).
//!
//! ```no_run
//! // In a test file: one test per check, here on the memory store.
//! wbots_core::store_conformance_tests!(async { wbots_core::store::MemoryStore::new() });
//! # fn main() {}
//! ```
//! The argument is a future of a fresh, migrated, empty store; it is awaited once per
//! check. Every check constructs its own `now`, never sleeps, and leaves nothing behind
//! that another check could see.
//!
//! A check cannot pass by accident: every store call's error is returned from the check
//! (`?`) or fails it where it happens — none is swallowed into a default — and the macro
//! fails the test with that error.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use crate::error::StoreError;
use crate::store::{
    BudgetRate, Enqueued, JobState, Lane, Link, LinkKey, LinkKind, LinkPrefix, LinkWrite, NewJob,
    RateBudgets, Store,
};

/// A fixed point in time the checks count from.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).single().unwrap_or_else(Utc::now)
}

fn at(secs: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(secs)
}

const LEASE: Duration = Duration::from_secs(60);

/// A job with the given keys and a payload naming it.
pub fn job(key: &str, ordering: &str) -> NewJob {
    NewJob {
        idempotency_key: key.to_owned(),
        ordering_key: ordering.to_owned(),
        scope: None,
        priority: 0,
        lane: crate::store::Lane::Inbound,
        payload: format!("{{\"job\":\"{key}\"}}"),
        not_before: None,
    }
}

/// A key as the store sees it: the checks exercise the store's handling of raw keys
/// (wildcard characters, byte order), not the engine's key formats.
fn key(kind: LinkKind, key: &str) -> LinkKey {
    LinkKey::from_stored(kind, key)
}

fn link(kind: LinkKind, k: &str, value: impl Into<String>) -> Link {
    Link::new(key(kind, k), value)
}

async fn claim_all(store: &dyn Store, now: DateTime<Utc>) -> Vec<crate::store::ClaimedJob> {
    store.claim(now, LEASE, 100).await.unwrap_or_else(|e| panic!("claim: {e}"))
}

fn keys(jobs: &[crate::store::ClaimedJob]) -> Vec<String> {
    jobs.iter().map(|j| j.idempotency_key.clone()).collect()
}

/// A lane's claim hands out only its own jobs, and only heads: a job queued behind another
/// lane's job of its conversation waits for it (order per conversation holds across lanes),
/// while the other lane's backlog never holds up a conversation of its own.
pub async fn claim_lane_takes_only_its_own_heads(store: &dyn Store) -> Result<(), StoreError> {
    let outbound = |k: &str, o: &str| NewJob { lane: Lane::Outbound, ..job(k, o) };
    store
        .enqueue(&[
            job("a1-in", "conv-a"),
            outbound("a2-out", "conv-a"),
            job("b1-in", "conv-b"),
            outbound("c1-out", "conv-c"),
            job("d1-in", "conv-d"),
        ])
        .await?;
    let now = at(0);
    let out = store.claim_lane(now, LEASE, 10, Lane::Outbound).await?;
    assert_eq!(keys(&out), ["c1-out"], "a2-out waits behind a1-in of its conversation");
    let inbound = store.claim_lane(now, LEASE, 10, Lane::Inbound).await?;
    assert_eq!(keys(&inbound), ["a1-in", "b1-in", "d1-in"]);
    assert!(store.claim_lane(now, LEASE, 10, Lane::Outbound).await?.is_empty());
    store.complete(&inbound[0].lease, &[]).await?;
    let out = store.claim_lane(now, LEASE, 10, Lane::Outbound).await?;
    assert_eq!(keys(&out), ["a2-out"], "the head of conv-a is now the outbound job");
    // An expired lease is taken over in its own lane only.
    let later = at(LEASE.as_secs() as i64 + 1);
    let taken = store.claim_lane(later, LEASE, 10, Lane::Outbound).await?;
    assert_eq!(keys(&taken), ["a2-out", "c1-out"]);
    let taken = store.claim_lane(later, LEASE, 10, Lane::Inbound).await?;
    assert_eq!(keys(&taken), ["b1-in", "d1-in"]);
    Ok(())
}

/// A postponed job waits, holding its conversation's place, and comes back with no attempt
/// counted (a budget wait is not a failure) but known to have run before.
pub async fn a_postponed_job_counts_no_attempt(store: &dyn Store) -> Result<(), StoreError> {
    store.enqueue(&[job("p1", "conv"), job("p2", "conv")]).await?;
    let claimed = store.claim(at(0), LEASE, 10).await?;
    assert_eq!(keys(&claimed), ["p1"]);
    store.postpone(&claimed[0].lease, at(10), "waiting: budget").await?;
    assert!(store.claim(at(5), LEASE, 10).await?.is_empty(), "p2 waits behind p1");
    let again = store.claim(at(10), LEASE, 10).await?;
    assert_eq!(keys(&again), ["p1"]);
    assert_eq!(again[0].attempts, 0);
    assert!(again[0].may_have_run_before());
    // The old lease cannot postpone it any more.
    let stale = store.postpone(&claimed[0].lease, at(20), "stale").await;
    assert!(matches!(stale, Err(StoreError::LeaseLost(_))), "{stale:?}");
    Ok(())
}

/// A budget gives its burst at once, then its rate; buckets are apart by name; time going
/// back refills nothing.
pub async fn a_budget_gives_its_burst_then_its_rate(
    budgets: &dyn RateBudgets,
) -> Result<(), StoreError> {
    let rate = BudgetRate::per_minute(600); // 10 a second, a burst of 10
    let ms = |n: i64| t0() + chrono::Duration::milliseconds(n);
    assert_eq!(budgets.take_tokens("cw", ms(0), rate, 25).await?.granted, 10);
    let spent = budgets.take_tokens("cw", ms(0), rate, 1).await?;
    assert_eq!((spent.granted, spent.next_in), (0, Duration::from_millis(100)));
    assert_eq!(budgets.take_tokens("cw", ms(250), rate, 5).await?.granted, 2);
    assert_eq!(budgets.take_tokens("cw", ms(100), rate, 5).await?.granted, 0);
    let spent = budgets.take_tokens("cw", ms(250), rate, 1).await?;
    assert_eq!(spent.next_in, Duration::from_millis(50), "half a token left");
    assert_eq!(budgets.take_tokens("other", ms(0), rate, 3).await?.granted, 3);
    assert_eq!(budgets.take_tokens("cw", ms(60_000), rate, 100).await?.granted, 10);
    // A replica whose clock runs an hour ahead empties the bucket; the others, on the right
    // time, are not stalled for that hour: the bucket's time comes back to theirs.
    assert_eq!(budgets.take_tokens("cw", ms(3_660_000), rate, 100).await?.granted, 10);
    assert_eq!(budgets.take_tokens("cw", ms(61_000), rate, 1).await?.granted, 0);
    assert_eq!(budgets.take_tokens("cw", ms(62_000), rate, 100).await?.granted, 10);
    Ok(())
}

/// Takers racing on one bucket never share a token: together they get the burst, no more.
pub async fn racing_takers_share_one_budget(
    budgets: Arc<dyn RateBudgets>,
) -> Result<(), StoreError> {
    let rate = BudgetRate::per_minute(1200); // a burst of 20
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let budgets = budgets.clone();
        tasks.spawn(async move {
            let mut got = 0;
            for _ in 0..10 {
                got += budgets.take_tokens("shared", t0(), rate, 1).await?.granted;
            }
            Ok::<u32, StoreError>(got)
        });
    }
    let mut total = 0;
    while let Some(got) = tasks.join_next().await {
        total += got.map_err(|e| StoreError::unavailable(e.to_string()))??;
    }
    assert_eq!(total, 20);
    Ok(())
}

/// Enqueueing a known idempotency key creates no work and reports the existing job — within
/// one batch and across batches.
pub async fn enqueue_deduplicates_by_key(store: &dyn Store) -> Result<(), StoreError> {
    let first = store.enqueue(&[job("a", "k"), job("b", "k"), job("a", "k")]).await?;
    assert!(
        matches!(first[0], Enqueued::New(_)) && matches!(first[1], Enqueued::New(_)),
        "{first:?}"
    );
    assert_eq!(first[2], Enqueued::Duplicate(first[0].id()), "a duplicate within the batch");
    let again = store.enqueue(&[job("a", "other")]).await?;
    assert_eq!(again, vec![Enqueued::Duplicate(first[0].id())]);
    let stats = store.stats().await?;
    assert_eq!(stats.queued, 2);
    Ok(())
}

/// A claim honours `not_before`.
pub async fn claim_honours_not_before(store: &dyn Store) -> Result<(), StoreError> {
    let mut later = job("later", "k1");
    later.not_before = Some(at(30));
    store.enqueue(&[later, job("now", "k2")]).await?;
    assert_eq!(keys(&claim_all(store, at(0)).await), vec!["now"]);
    assert_eq!(keys(&claim_all(store, at(30)).await), vec!["later"]);
    Ok(())
}

/// Ready jobs come by priority, then in enqueue order; `limit` is respected.
pub async fn claim_orders_by_priority_then_fifo(store: &dyn Store) -> Result<(), StoreError> {
    let mut urgent = job("urgent", "k3");
    urgent.priority = 10;
    let mut lazy = job("lazy", "k4");
    lazy.priority = -5;
    store.enqueue(&[job("first", "k1"), lazy, job("second", "k2"), urgent]).await?;
    let two = store.claim(at(0), LEASE, 2).await?;
    assert_eq!(keys(&two), vec!["urgent", "first"]);
    assert_eq!(keys(&claim_all(store, at(0)).await), vec!["second", "lazy"]);
    Ok(())
}

/// Only the oldest unfinished job of an ordering key is handed out, and only once.
pub async fn claim_hands_out_one_job_per_ordering_key(store: &dyn Store) -> Result<(), StoreError> {
    store.enqueue(&[job("a1", "a"), job("a2", "a"), job("b1", "b")]).await?;
    let first = claim_all(store, at(0)).await;
    assert_eq!(keys(&first), vec!["a1", "b1"]);
    assert!(
        claim_all(store, at(1)).await.is_empty(),
        "a2 waits for a1; nothing is handed out twice"
    );
    let Some(a1) = first.iter().find(|j| j.idempotency_key == "a1") else {
        panic!("a1 was not claimed: {first:?}");
    };
    store.complete(&a1.lease, &[]).await?;
    assert_eq!(keys(&claim_all(store, at(2)).await), vec!["a2"]);
    Ok(())
}

/// A job waiting for its retry holds back the later jobs of its key; other keys proceed.
pub async fn a_retrying_job_holds_back_its_key_only(store: &dyn Store) -> Result<(), StoreError> {
    store.enqueue(&[job("a1", "a"), job("a2", "a"), job("b1", "b")]).await?;
    let claimed = claim_all(store, at(0)).await;
    for j in &claimed {
        if j.idempotency_key == "a1" {
            store
                .retry_later(&j.lease, at(100), "flaky")
                .await
                .unwrap_or_else(|e| panic!("retry_later: {e}"));
        } else {
            store.complete(&j.lease, &[]).await.unwrap_or_else(|e| panic!("complete: {e}"));
        }
    }
    assert!(claim_all(store, at(50)).await.is_empty(), "a2 must not overtake a1");
    let retried = claim_all(store, at(100)).await;
    assert_eq!(keys(&retried), vec!["a1"]);
    assert_eq!(retried[0].attempts, 1);
    Ok(())
}

/// A dead job does not block its key.
pub async fn dead_jobs_do_not_block_their_key(store: &dyn Store) -> Result<(), StoreError> {
    store.enqueue(&[job("a1", "a"), job("a2", "a")]).await?;
    let claimed = claim_all(store, at(0)).await;
    store
        .wedge(&claimed[0].lease, "permanent: rejected")
        .await
        .unwrap_or_else(|e| panic!("wedge: {e}"));
    assert_eq!(keys(&claim_all(store, at(1)).await), vec!["a2"]);
    Ok(())
}

/// Past its lease a job is taken over with a new token; the old token is refused for
/// every operation and changes nothing.
pub async fn an_expired_lease_is_taken_over_and_the_stale_token_refused(
    store: &dyn Store,
) -> Result<(), StoreError> {
    store.enqueue(&[job("a", "k")]).await?;
    let first = claim_all(store, at(0)).await.remove(0);
    assert!(claim_all(store, at(59)).await.is_empty(), "still leased");
    let second = claim_all(store, at(61)).await.remove(0);
    assert_eq!(second.id(), first.id());
    assert_ne!(second.lease.token, first.lease.token);
    assert_eq!(second.attempts, first.attempts, "a takeover is not a failed attempt");
    assert_eq!(
        (first.previous_claims, second.previous_claims),
        (0, 1),
        "but it is counted as an earlier claim"
    );
    assert!(second.may_have_run_before());

    let stale = &first.lease;
    let lost = |r: Result<(), StoreError>, what: &str| {
        assert!(matches!(r, Err(StoreError::LeaseLost(_))), "{what} with a stale token: {r:?}");
    };
    lost(
        store.complete(stale, &[LinkWrite::Set(link(LinkKind::Contact, "x", "stale"))]).await,
        "complete",
    );
    lost(store.retry_later(stale, at(70), "stale").await, "retry_later");
    lost(store.wedge(stale, "stale").await, "wedge");
    lost(store.extend_lease(stale, at(62), LEASE).await, "extend_lease");
    assert_eq!(
        store.get_link(&key(LinkKind::Contact, "x")).await?,
        None,
        "a refused complete writes no link"
    );
    let record = store.job(first.id()).await?;
    assert_eq!(record.map(|r| r.state), Some(JobState::Running));

    store
        .extend_lease(&second.lease, at(62), LEASE)
        .await
        .unwrap_or_else(|e| panic!("extend: {e}"));
    assert!(
        claim_all(store, at(121)).await.is_empty(),
        "the extended lease holds past the original expiry"
    );
    store.complete(&second.lease, &[]).await.unwrap_or_else(|e| panic!("complete: {e}"));
    Ok(())
}

/// `complete` marks the job done, clears its payload and applies its link writes, all at
/// once; `Latest` keeps the larger of two times.
pub async fn complete_applies_links_atomically(store: &dyn Store) -> Result<(), StoreError> {
    store.put_link(&link(LinkKind::Conversation, "gone", "1")).await?;
    store.put_link(&link(LinkKind::Contact, "kept", "first")).await?;
    store.put_link(&link(LinkKind::ChannelLastIn, "newer", "200")).await?;
    store.put_link(&link(LinkKind::ChannelLastIn, "older", "9")).await?;
    store.enqueue(&[job("a", "k")]).await?;
    let claimed = claim_all(store, at(0)).await.remove(0);
    let writes = [
        LinkWrite::Insert(link(LinkKind::PlatformMessage, "m1", "x")),
        LinkWrite::Insert(link(LinkKind::Contact, "kept", "second")),
        LinkWrite::Set(link(LinkKind::LastInbound, "t", "5")),
        LinkWrite::Delete(key(LinkKind::Conversation, "gone")),
        LinkWrite::Latest(link(LinkKind::ChannelLastIn, "newer", "100")),
        LinkWrite::Latest(link(LinkKind::ChannelLastIn, "older", "10")),
        LinkWrite::Latest(link(LinkKind::ChannelLastOut, "new", "7")),
    ];
    store.complete(&claimed.lease, &writes).await.unwrap_or_else(|e| panic!("complete: {e}"));
    let latest = |k: &'static str| key(LinkKind::ChannelLastIn, k);
    assert_eq!(
        store.get_link(&latest("newer")).await?.as_deref(),
        Some("200"),
        "Latest keeps a larger stored time"
    );
    assert_eq!(
        store.get_link(&latest("older")).await?.as_deref(),
        Some("10"),
        "Latest replaces a smaller time, compared as numbers (\"9\" < \"10\")"
    );
    assert_eq!(
        store.get_link(&key(LinkKind::ChannelLastOut, "new")).await?.as_deref(),
        Some("7"),
        "Latest inserts a new key"
    );
    assert_eq!(store.get_link(&key(LinkKind::PlatformMessage, "m1")).await?.as_deref(), Some("x"));
    assert_eq!(
        store.get_link(&key(LinkKind::Contact, "kept")).await?.as_deref(),
        Some("first"),
        "Insert keeps the existing value"
    );
    assert_eq!(store.get_link(&key(LinkKind::LastInbound, "t")).await?.as_deref(), Some("5"));
    assert_eq!(store.get_link(&key(LinkKind::Conversation, "gone")).await?, None);
    let record = store.job(claimed.id()).await?;
    assert_eq!(record.as_ref().map(|r| r.state), Some(JobState::Done));
    assert_eq!(record.and_then(|r| r.payload), None, "a done job keeps no payload");

    // Writes to one key apply in their order; several sets apply together.
    store.enqueue(&[job("b", "k")]).await?;
    let claimed = claim_all(store, at(1)).await.remove(0);
    let writes = [
        LinkWrite::Set(link(LinkKind::LastInbound, "t", "6")),
        LinkWrite::Delete(key(LinkKind::LastInbound, "t")),
        LinkWrite::Insert(link(LinkKind::LastInbound, "t", "7")),
        LinkWrite::Set(link(LinkKind::LastInbound, "u", "8")),
        LinkWrite::Set(link(LinkKind::LastInbound, "v", "9")),
    ];
    store.complete(&claimed.lease, &writes).await.unwrap_or_else(|e| panic!("complete: {e}"));
    assert_eq!(
        store.get_link(&key(LinkKind::LastInbound, "t")).await?.as_deref(),
        Some("7"),
        "set, delete, insert of one key, in that order"
    );
    assert_eq!(store.get_link(&key(LinkKind::LastInbound, "u")).await?.as_deref(), Some("8"));
    assert_eq!(store.get_link(&key(LinkKind::LastInbound, "v")).await?.as_deref(), Some("9"));
    Ok(())
}

/// `retry_later` counts the attempt and keeps the error; `wedge` dead-letters with the
/// reason; `requeue` brings a dead job back with a fresh budget; `purge_dead` deletes.
pub async fn dead_letters_can_be_listed_requeued_and_purged(
    store: &dyn Store,
) -> Result<(), StoreError> {
    store.enqueue(&[job("a", "ka"), job("b", "kb")]).await?;
    let claimed = claim_all(store, at(0)).await;
    store.retry_later(&claimed[0].lease, at(1), "503 from the inbox").await?;
    let a = store.job(claimed[0].id()).await?;
    assert_eq!(
        a.as_ref().map(|r| (r.attempts, r.last_error.clone())),
        Some((1, Some("503 from the inbox".into())))
    );
    assert_eq!(a.map(|r| r.not_before), Some(at(1)));
    store.wedge(&claimed[1].lease, "token invalid (190)").await?;

    let dead = store.jobs(JobState::Dead, 10).await?;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].last_error.as_deref(), Some("token invalid (190)"));
    assert!(dead[0].payload.is_some(), "a dead job keeps its payload for the retry");
    assert_eq!(store.stats().await.map(|s| (s.queued, s.dead))?, (1, 1));

    store.requeue(dead[0].id, at(5)).await.unwrap_or_else(|e| panic!("requeue: {e}"));
    assert!(
        matches!(store.requeue(dead[0].id, at(5)).await, Err(StoreError::NoSuchJob(_))),
        "only dead jobs are requeued"
    );
    let again = claim_all(store, at(5)).await;
    let Some(b) = again.iter().find(|j| j.idempotency_key == "b") else {
        panic!("the requeued job was not claimed: {again:?}");
    };
    assert_eq!(b.attempts, 0);
    store.wedge(&b.lease, "still broken").await?;
    assert_eq!(store.purge_dead(None).await?, 1);
    assert_eq!(store.stats().await?.dead, 0);
    let reused = store.enqueue(&[job("b", "kb")]).await?;
    assert!(matches!(reused[0], Enqueued::New(_)), "a purged job's key may be reused");
    Ok(())
}

/// `put_link` keeps the first value and returns the winner; `set_link` overwrites;
/// `delete_link` removes; `links_with_prefix` scans one kind by prefix, in key order.
pub async fn links_behave(store: &dyn Store) -> Result<(), StoreError> {
    let kind = LinkKind::Contact;
    assert_eq!(store.put_link(&link(kind, "u1", "first")).await?.as_str(), "first");
    assert_eq!(store.put_link(&link(kind, "u1", "second")).await?.as_str(), "first");
    store.set_link(&link(kind, "u1", "third")).await?;
    assert_eq!(store.get_link(&key(kind, "u1")).await?.as_deref(), Some("third"));
    assert!(store.delete_link(&key(kind, "u1")).await?, "it existed");
    assert!(!store.delete_link(&key(kind, "u1")).await?, "it is gone");

    for key in ["p/2", "p/1", "p/10", "q/1", "p_x", "p%"] {
        store.put_link(&link(LinkKind::Unread, key, key)).await?;
    }
    store.put_link(&link(LinkKind::Reaction, "p/0", "other kind")).await?;
    let found =
        store.links_with_prefix(&LinkPrefix::from_stored(LinkKind::Unread, "p/"), 10).await?;
    let keys: Vec<&str> = found.iter().map(|l| l.key.as_str()).collect();
    assert_eq!(keys, vec!["p/1", "p/10", "p/2"], "byte order, only that kind and prefix");
    assert_eq!(
        store.links_with_prefix(&LinkPrefix::from_stored(LinkKind::Unread, "p/"), 2).await?.len(),
        2
    );
    assert_eq!(
        store.links_with_prefix(&LinkPrefix::from_stored(LinkKind::Unread, "p%"), 10).await?.len(),
        1,
        "no wildcards"
    );
    Ok(())
}

/// Two racing `put_link`s agree on one winner.
pub async fn racing_put_links_agree_on_the_winner(store: Arc<dyn Store>) -> Result<(), StoreError> {
    let mut handles = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            store.put_link(&link(LinkKind::Contact, "race", format!("v{i}"))).await
        }));
    }
    // Every racer must succeed: a store that fails under contention fails the check (a
    // racer's error is returned, a racer's panic resumed), not merely drops out of it.
    let mut winners = HashSet::new();
    for h in handles {
        match h.await {
            Ok(stored) => winners.insert(stored?),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let stored = store.get_link(&key(LinkKind::Contact, "race")).await?;
    assert_eq!(stored.as_ref(), winners.iter().next());
    Ok(())
}

/// A scope's links and jobs go — queued, running, dead and done ones, with their
/// idempotency keys — and other scopes stay: nothing the store keeps names the person
/// afterwards. A worker still running one of the person's jobs has lost its lease.
pub async fn forget_scope_purges_one_persons_links_and_jobs(
    store: &dyn Store,
) -> Result<(), StoreError> {
    let mine =
        |k: &str| NewJob { scope: Some("page/alice".into()), ..job(k, &format!("alice/{k}")) };
    store
        .enqueue(&[
            mine("done"),
            mine("dead"),
            mine("running"),
            NewJob { scope: Some("page/bob".into()), ..job("bob", "bob") },
        ])
        .await?;
    let claimed = claim_all(store, at(0)).await;
    assert_eq!(claimed.len(), 4);
    let mut running = None;
    for j in claimed {
        match j.idempotency_key.as_str() {
            "dead" => store.wedge(&j.lease, "refused").await?,
            "running" => running = Some(j),
            _ => store.complete(&j.lease, &[]).await?,
        }
    }
    store.enqueue(&[mine("queued")]).await?;
    store.put_link(&link(LinkKind::Contact, "page/alice", "c1").scoped("page/alice")).await?;
    store.put_link(&link(LinkKind::Contact, "page/bob", "c2").scoped("page/bob")).await?;

    let gone = store.forget_scope("page/alice").await.unwrap_or_else(|e| panic!("forget: {e}"));
    assert_eq!(gone.links, 1);
    assert_eq!(gone.jobs, 4, "done, dead, running and queued");
    assert_eq!(store.get_link(&key(LinkKind::Contact, "page/alice")).await?, None);
    assert!(store.get_link(&key(LinkKind::Contact, "page/bob")).await?.is_some());
    let stats = store.stats().await?;
    assert_eq!((stats.queued, stats.running, stats.done, stats.dead), (0, 0, 1, 0), "bob's job");
    let done = store.jobs(JobState::Done, 10).await?;
    assert_eq!(done.iter().map(|j| j.idempotency_key.as_str()).collect::<Vec<_>>(), ["bob"]);
    let Some(j) = running else { panic!("the running job was not claimed") };
    assert!(
        matches!(store.complete(&j.lease, &[]).await, Err(StoreError::LeaseLost(_))),
        "the running job is gone"
    );
    assert_eq!(store.job(j.id()).await?, None);
    let again = store.enqueue(&[mine("done")]).await?;
    assert!(matches!(again[0], Enqueued::New(_)), "no key of the person's is kept");
    Ok(())
}

/// A heartbeat keeps a job with its worker past the first lease, as long as it beats —
/// even a beat a little late, while no one took the job over; once the beats stop, the
/// job is taken over when the last extension runs out, and the old lease is refused.
pub async fn a_heartbeat_keeps_a_job_until_it_stops(store: &dyn Store) -> Result<(), StoreError> {
    store.enqueue(&[job("long", "k")]).await?;
    let held = claim_all(store, at(0)).await.remove(0);
    let beat = |now: i64| {
        let lease = held.lease.clone();
        async move {
            store
                .extend_lease(&lease, at(now), LEASE)
                .await
                .unwrap_or_else(|e| panic!("beat at {now}: {e}"))
        }
    };
    beat(50).await;
    assert!(claim_all(store, at(100)).await.is_empty(), "extended to 110");
    beat(100).await;
    assert!(claim_all(store, at(150)).await.is_empty(), "extended to 160");
    // Expired at 160, but nobody claimed it since: a late beat still holds it.
    beat(170).await;
    assert!(claim_all(store, at(229)).await.is_empty(), "extended to 230");
    let taken = claim_all(store, at(231)).await;
    assert_eq!(keys(&taken), vec!["long"], "taken over once the beats stopped");
    assert_eq!(taken[0].previous_claims, 1);
    assert!(matches!(
        store.extend_lease(&held.lease, at(232), LEASE).await,
        Err(StoreError::LeaseLost(_))
    ));
    store.complete(&taken[0].lease, &[]).await.unwrap_or_else(|e| panic!("complete: {e}"));
    Ok(())
}

/// `release_all_leases` hands a dead holder's jobs over at once, long before their leases
/// would expire: they are ready again, counted as claimed before, order per key is kept,
/// and the dead holder's tokens are refused.
pub async fn release_all_leases_takes_over_a_dead_holders_jobs_at_once(
    store: &dyn Store,
) -> Result<(), StoreError> {
    store.enqueue(&[job("a", "k1"), job("b", "k2"), job("c", "k1"), job("d", "k3")]).await?;
    let hour = Duration::from_secs(3600);
    let dead_holder = store.claim(at(0), hour, 2).await?;
    assert_eq!(keys(&dead_holder), vec!["a", "b"]);

    assert_eq!(store.release_all_leases().await?, 2);
    let stats = store.stats().await?;
    assert_eq!((stats.queued, stats.running), (4, 0));
    let taken = store.claim(at(2), hour, 10).await?;
    assert_eq!(keys(&taken), vec!["a", "b", "d"], "c still waits behind a");
    let claims: Vec<u32> = taken.iter().map(|j| j.previous_claims).collect();
    assert_eq!(claims, vec![1, 1, 0], "a and b may have run before");
    assert!(taken.iter().all(|j| j.attempts == 0), "a takeover is not a failed attempt");
    for stale in &dead_holder {
        assert!(
            matches!(store.complete(&stale.lease, &[]).await, Err(StoreError::LeaseLost(_))),
            "the dead holder's token for {} is refused",
            stale.idempotency_key
        );
    }
    for j in &taken {
        store.complete(&j.lease, &[]).await.unwrap_or_else(|e| panic!("complete: {e}"));
    }
    assert_eq!(keys(&store.claim(at(3), hour, 10).await?), vec!["c"]);
    Ok(())
}

/// Eight concurrent workers over 200 jobs on 20 keys: no two jobs of one key are ever held
/// at once, every job completes exactly once, each key's jobs complete in enqueue order.
pub async fn concurrent_claimers_keep_keys_exclusive_and_ordered(
    store: Arc<dyn Store>,
) -> Result<(), StoreError> {
    let jobs: Vec<NewJob> =
        (0..200).map(|i| job(&format!("j{i:03}"), &format!("key{}", i % 20))).collect();
    store.enqueue(&jobs).await?;
    let held: Arc<Mutex<HashSet<String>>> = Arc::default();
    let done: Arc<Mutex<HashMap<String, Vec<String>>>> = Arc::default();
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (store, held, done) = (store.clone(), held.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut idle = 0;
            while idle < 50 {
                let claimed = store
                    .claim(Utc::now(), LEASE, 3)
                    .await
                    .unwrap_or_else(|e| panic!("claim: {e}"));
                if claimed.is_empty() {
                    idle += 1;
                    tokio::task::yield_now().await;
                    continue;
                }
                idle = 0;
                for j in claimed {
                    {
                        let mut h = held.lock().unwrap_or_else(|e| e.into_inner());
                        assert!(
                            h.insert(j.ordering_key.clone()),
                            "two jobs of {} held at once",
                            j.ordering_key
                        );
                    }
                    tokio::task::yield_now().await;
                    {
                        // Recorded before the store releases the key, so order is observed
                        // exactly as the store allowed it.
                        let mut d = done.lock().unwrap_or_else(|e| e.into_inner());
                        d.entry(j.ordering_key.clone())
                            .or_default()
                            .push(j.idempotency_key.clone());
                        held.lock().unwrap_or_else(|e| e.into_inner()).remove(&j.ordering_key);
                    }
                    store.complete(&j.lease, &[]).await.unwrap_or_else(|e| panic!("complete: {e}"));
                }
            }
        }));
    }
    for w in workers {
        if let Err(e) = w.await {
            std::panic::resume_unwind(e.into_panic());
        }
    }
    let done = done.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let total: usize = done.values().map(Vec::len).sum();
    assert_eq!(total, 200, "every job exactly once");
    for (key, order) in done {
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "order within {key}");
        assert_eq!(order.len(), 10);
    }
    assert_eq!(store.stats().await?.done, 200);
    Ok(())
}

/// Done jobs older than the retention go, with their keys; younger ones and unfinished ones
/// stay.
pub async fn prune_removes_only_old_done_jobs(store: &dyn Store) -> Result<(), StoreError> {
    store.enqueue(&[job("old-done", "a"), job("old-queued", "b")]).await?;
    let claimed = store.claim(at(0), LEASE, 10).await?;
    assert_eq!(keys(&claimed), vec!["old-done", "old-queued"]);
    store.complete(&claimed[0].lease, &[]).await?;
    store.retry_later(&claimed[1].lease, at(0), "later").await?;
    let far_future = Utc::now() + chrono::Duration::days(3650);
    assert_eq!(
        store.prune_done(Utc::now() - chrono::Duration::days(1)).await?,
        0,
        "nothing is old enough yet"
    );
    assert_eq!(store.prune_done(far_future).await?, 1);
    let stats = store.stats().await?;
    assert_eq!((stats.done, stats.queued), (0, 1));
    let again = store.enqueue(&[job("old-done", "a")]).await?;
    assert!(matches!(again[0], Enqueued::New(_)), "a pruned key is free again");
    Ok(())
}

/// Absurd leases saturate instead of overflowing.
pub async fn huge_leases_do_not_overflow(store: &dyn Store) -> Result<(), StoreError> {
    store.enqueue(&[job("a", "k")]).await?;
    let claimed = store
        .claim(at(0), Duration::MAX, 1)
        .await
        .unwrap_or_else(|e| panic!("claim with Duration::MAX: {e}"));
    assert_eq!(claimed.len(), 1);
    store
        .extend_lease(&claimed[0].lease, at(1), Duration::MAX)
        .await
        .unwrap_or_else(|e| panic!("extend: {e}"));
    assert!(store.claim(at(1_000_000_000), LEASE, 1).await?.is_empty(), "still held");
    Ok(())
}

/// A migrated store answers `ping`.
pub async fn ping_after_migrate(store: &dyn Store) -> Result<(), StoreError> {
    store.migrate().await.unwrap_or_else(|e| panic!("migrate twice: {e}"));
    store.ping().await.unwrap_or_else(|e| panic!("ping: {e}"));
    Ok(())
}

/// What the factory of [`store_conformance_tests!`](crate::store_conformance_tests) may give: a store, or `None` where the
/// store's server is not available on this machine (each check then returns at once; the
/// factory says why, once).
pub trait FreshStore {
    /// The store under test.
    type Store: Store + 'static;
    /// The store, if there is one.
    fn into_store(self) -> Option<Self::Store>;
}

impl<S: Store + 'static> FreshStore for S {
    type Store = S;
    fn into_store(self) -> Option<S> {
        Some(self)
    }
}

impl<S: Store + 'static> FreshStore for Option<S> {
    type Store = S;
    fn into_store(self) -> Option<S> {
        self
    }
}

/// Expands to one `#[tokio::test]` per store check. The argument is an expression that
/// evaluates to a future of a fresh, migrated store (any `S: Store`, or `Option<S>` where a
/// server may be missing: see [`FreshStore`]); it is evaluated once per test.
#[macro_export]
macro_rules! store_conformance_tests {
    ($fresh:expr) => {
        $crate::__store_check!($fresh, enqueue_deduplicates_by_key);
        $crate::__store_check!($fresh, claim_honours_not_before);
        $crate::__store_check!($fresh, claim_orders_by_priority_then_fifo);
        $crate::__store_check!($fresh, claim_hands_out_one_job_per_ordering_key);
        $crate::__store_check!($fresh, claim_lane_takes_only_its_own_heads);
        $crate::__store_check!($fresh, a_postponed_job_counts_no_attempt);
        $crate::__store_check!($fresh, a_retrying_job_holds_back_its_key_only);
        $crate::__store_check!($fresh, dead_jobs_do_not_block_their_key);
        $crate::__store_check!($fresh, an_expired_lease_is_taken_over_and_the_stale_token_refused);
        $crate::__store_check!($fresh, complete_applies_links_atomically);
        $crate::__store_check!($fresh, dead_letters_can_be_listed_requeued_and_purged);
        $crate::__store_check!($fresh, links_behave);
        $crate::__store_check!($fresh, forget_scope_purges_one_persons_links_and_jobs);
        $crate::__store_check!($fresh, a_heartbeat_keeps_a_job_until_it_stops);
        $crate::__store_check!($fresh, release_all_leases_takes_over_a_dead_holders_jobs_at_once);
        $crate::__store_check!($fresh, ping_after_migrate);
        $crate::__store_check!($fresh, huge_leases_do_not_overflow);
        $crate::__store_check!($fresh, prune_removes_only_old_done_jobs);
        $crate::__store_check!(arc $fresh, racing_put_links_agree_on_the_winner);
        $crate::__store_check!(arc $fresh, concurrent_claimers_keep_keys_exclusive_and_ordered);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __store_check {
    ($fresh:expr, $check:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let Some(store) = $crate::testkit::store_suite::FreshStore::into_store($fresh.await)
            else {
                return;
            };
            if let Err(e) = $crate::testkit::store_suite::$check(&store).await {
                panic!("{}: the store failed: {e:?}", stringify!($check));
            }
        }
    };
    (arc $fresh:expr, $check:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $check() {
            let Some(store) = $crate::testkit::store_suite::FreshStore::into_store($fresh.await)
            else {
                return;
            };
            let store: ::std::sync::Arc<dyn $crate::store::Store> = ::std::sync::Arc::new(store);
            if let Err(e) = $crate::testkit::store_suite::$check(store).await {
                panic!("{}: the store failed: {e:?}", stringify!($check));
            }
        }
    };
}
