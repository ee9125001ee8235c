//! PostgreSQL group commit as its users see it: writes sent at once share transactions, yet
//! each caller hears its own outcome — a lost lease or a bad write fails alone while the
//! rest of its batch commits, a batch chosen as a deadlock's victim still gets every write
//! through, and two replicas on one database lose, double and reorder nothing.

#![cfg(feature = "postgres")]

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use wbots_core::StoreError;
use wbots_core::store::{
    Enqueued, JobQueue, JobState, Lane, Link, LinkKey, LinkStore, LinkWrite, NewJob, PostgresStore,
    Store,
};

fn job(key: &str, conversation: &str) -> NewJob {
    NewJob {
        idempotency_key: key.into(),
        ordering_key: conversation.into(),
        scope: None,
        priority: 0,
        lane: Lane::Inbound,
        payload: "{}".into(),
        not_before: None,
    }
}

fn link(key: &str, value: &str) -> Link {
    Link { key: LinkKey::data_deletion(key), value: value.into(), scope: None }
}

async fn store() -> Option<Arc<PostgresStore>> {
    let url = wbots_test_services::postgres_url()?;
    Some(Arc::new(wbots_core::testkit::fresh_postgres(&url).await.unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_lease_fails_alone_while_its_batch_commits() {
    let Some(store) = store().await else { return };
    let jobs: Vec<NewJob> = (0..40).map(|i| job(&format!("k{i}"), &format!("o{i}"))).collect();
    store.enqueue(&jobs).await.unwrap();
    let claimed = store.claim(Utc::now(), Duration::from_secs(60), 40).await.unwrap();
    assert_eq!(claimed.len(), 40);
    // Every other completion carries a forged token; all are sent at once so they share
    // batches with the good ones and with new enqueues.
    let mut tasks = Vec::new();
    for (i, c) in claimed.into_iter().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut lease = c.lease.clone();
            if i % 2 == 1 {
                lease.token = "forged".into();
            }
            let writes = [LinkWrite::Set(link(&format!("l{i}"), "v"))];
            let new = [job(&format!("new{i}"), &format!("n{i}"))];
            let (done, more) = tokio::join!(store.complete(&lease, &writes), store.enqueue(&new));
            (i, done, more)
        }));
    }
    for t in tasks {
        let (i, done, more) = t.await.unwrap();
        assert!(more.is_ok(), "enqueue {i} failed: {more:?}");
        if i % 2 == 1 {
            assert!(matches!(done, Err(StoreError::LeaseLost(_))), "{i}: {done:?}");
        } else {
            assert!(done.is_ok(), "{i}: {done:?}");
        }
        // A lost lease wrote none of its completion's links.
        let stored = store.get_link(&LinkKey::data_deletion(&format!("l{i}"))).await.unwrap();
        assert_eq!(stored.is_some(), i % 2 == 0, "link of completion {i}");
    }
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.done, stats.running, stats.queued), (20, 20, 40));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_postgres_refuses_fails_alone_while_its_batch_commits() {
    let Some(store) = store().await else { return };
    // PostgreSQL's text cannot hold a NUL character: this enqueue is refused by the server,
    // which aborts whatever transaction it runs in.
    let mut refused = job("bad", "conv-bad");
    refused.payload = "{\"text\":\"a\u{0}b\"}".into();
    let mut tasks = Vec::new();
    for i in 0..30 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.enqueue(&[job(&format!("k{i}"), &format!("conv-{}", i % 5))]).await
        }));
    }
    let bad = tokio::spawn({
        let store = store.clone();
        async move { store.enqueue(&[refused]).await }
    });
    for (i, t) in tasks.into_iter().enumerate() {
        let enqueued = t.await.unwrap();
        assert!(matches!(enqueued.as_deref(), Ok([Enqueued::New(_)])), "{i}: {enqueued:?}");
    }
    let bad = bad.await.unwrap();
    assert!(matches!(bad, Err(StoreError::Unavailable { .. })), "{bad:?}");
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.queued, 30, "every other enqueue committed, the refused one did not");
}

/// A deadlock between a batch and another transaction (as between two replicas' batches):
/// PostgreSQL aborts the batch, which then runs each of its writes alone, and every caller
/// succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_chosen_as_a_deadlocks_victim_still_commits_every_write() {
    let Some(store) = store().await else { return };
    store.set_link(&link("a", "0")).await.unwrap();
    store.set_link(&link("b", "0")).await.unwrap();
    store.enqueue(&[job("j", "conv")]).await.unwrap();
    let claimed = store.claim(Utc::now(), Duration::from_secs(60), 1).await.unwrap();
    let lease = claimed[0].lease.clone();

    // Another replica's transaction holds link b.
    let mut other = store.pool().begin().await.unwrap();
    sqlx::query("UPDATE links SET value = 'other' WHERE key = 'b'")
        .execute(&mut *other)
        .await
        .unwrap();
    // The batch locks a, then waits for b...
    let completion = tokio::spawn({
        let store = store.clone();
        async move {
            let writes = [LinkWrite::Set(link("a", "done")), LinkWrite::Set(link("b", "done"))];
            store.complete(&lease, &writes).await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...while the other waits for a: a deadlock. The batch waited first, so its deadlock
    // check runs first and PostgreSQL aborts it.
    let other_write =
        sqlx::query("UPDATE links SET value = 'other' WHERE key = 'a'").execute(&mut *other).await;
    assert!(other_write.is_ok(), "the batch should have been the victim: {other_write:?}");
    other.commit().await.unwrap();

    completion.await.unwrap().unwrap();
    let job = store.job(claimed[0].lease.job).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Done);
    for key in ["a", "b"] {
        let value = store.get_link(&LinkKey::data_deletion(key)).await.unwrap();
        assert_eq!(value.as_deref(), Some("done"), "the completion ran again after the other");
    }
}

/// Two stores on one database are two replicas. Both take webhooks for the same
/// conversations (some events delivered to both) and both run workers whose completions
/// write two shared links, so their batches lock rows against each other in either order
/// and deadlock now and then; every write still goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_database_lose_double_and_reorder_nothing() {
    let Some(url) = wbots_test_services::postgres_url() else { return };
    let db = wbots_core::testkit::fresh_postgres_database(&url).await.unwrap();
    // Deadlocks are found after `deadlock_timeout` (1 s by default): sooner, for a quick test.
    let name = db.rsplit('/').next().unwrap_or_default();
    let admin = PostgresStore::connect(&url).await.unwrap();
    sqlx::query(&format!("ALTER DATABASE {name} SET deadlock_timeout = '50ms'"))
        .execute(admin.pool())
        .await
        .unwrap();
    let first = Arc::new(PostgresStore::connect(&db).await.unwrap());
    first.migrate().await.unwrap();
    let second = Arc::new(PostgresStore::connect(&db).await.unwrap());
    let replicas = [first.clone(), second.clone()];

    const CONVERSATIONS: usize = 5;
    const EVENTS: usize = 24;
    let total = 2 * CONVERSATIONS * EVENTS;
    // Each replica enqueues its own events of every conversation, one after another.
    let mut enqueuers = Vec::new();
    for (r, store) in replicas.iter().enumerate() {
        for c in 0..CONVERSATIONS {
            let store = store.clone();
            enqueuers.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                let conv = format!("conv-{c}");
                for e in 0..EVENTS {
                    let got = store.enqueue(&[job(&format!("r{r}-c{c}-e{e}"), &conv)]).await;
                    let Ok([Enqueued::New(id)]) = got.as_deref() else { panic!("{got:?}") };
                    ids.push((r, c, e, *id));
                }
                ids
            }));
        }
    }
    // Workers on both replicas; each records a job before completing it, so a
    // conversation's record follows the order its jobs ran in (the next is claimable only
    // once this one's completion committed).
    let ran = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for (r, store) in replicas.iter().enumerate() {
        for _ in 0..3 {
            let (store, ran) = (store.clone(), ran.clone());
            workers.push(tokio::spawn(async move {
                while ran.lock().unwrap().len() < total {
                    let claimed = store.claim(Utc::now(), Duration::from_secs(300), 4).await;
                    let claimed = claimed.unwrap();
                    if claimed.is_empty() {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                    for c in claimed {
                        let id = c.lease.job.0;
                        // One shared link a completion: alone, a completion locks one
                        // shared row and cannot deadlock; batched, they can.
                        let shared = if id % 2 == 0 { "shared-x" } else { "shared-y" };
                        let writes = [
                            LinkWrite::Set(link(shared, &id.to_string())),
                            LinkWrite::Insert(link(&format!("seen-{}", c.idempotency_key), "1")),
                        ];
                        ran.lock().unwrap().push((c.ordering_key, id, c.idempotency_key));
                        let completed = store.complete(&c.lease, &writes).await;
                        assert!(completed.is_ok(), "replica {r}: {completed:?}");
                    }
                }
            }));
        }
    }
    let mut enqueued = Vec::new();
    for e in enqueuers {
        enqueued.extend(e.await.unwrap());
    }
    // Every fourth event of replica 0 is delivered to replica 1 too (a platform's retry),
    // all at once: each is known there, as the same job.
    let mut retries = Vec::new();
    for &(r, c, e, id) in &enqueued {
        if r == 0 && e % 4 == 0 {
            let second = second.clone();
            retries.push(tokio::spawn(async move {
                let again = [job(&format!("r0-c{c}-e{e}"), &format!("conv-{c}"))];
                (second.enqueue(&again).await, id)
            }));
        }
    }
    for retry in retries {
        let (again, id) = retry.await.unwrap();
        assert_eq!(again.ok(), Some(vec![Enqueued::Duplicate(id)]));
    }
    let all = async {
        for w in workers {
            w.await.unwrap();
        }
    };
    // A guard against a hang (something lost), not a measure of speed.
    tokio::time::timeout(Duration::from_secs(120), all).await.unwrap();

    // Nothing lost, nothing doubled.
    let ran = ran.lock().unwrap().clone();
    let keys: HashSet<&str> = ran.iter().map(|(_, _, k)| k.as_str()).collect();
    assert_eq!((keys.len(), ran.len()), (total, total), "a job lost or run twice");
    let stats = first.stats().await.unwrap();
    assert_eq!((stats.done, stats.queued, stats.running, stats.dead), (total as u64, 0, 0, 0));
    // Each replica's events of a conversation got ids in the order it sent them...
    let mut sent: BTreeMap<(usize, usize), Vec<i64>> = BTreeMap::new();
    for (r, c, _, id) in enqueued {
        sent.entry((r, c)).or_default().push(id.0);
    }
    for ((r, c), ids) in &sent {
        assert!(ids.is_sorted(), "replica {r} conversation {c}: ids out of order {ids:?}");
    }
    // ...and each conversation's jobs ran in id order.
    let mut by_conversation: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (conv, id, _) in &ran {
        by_conversation.entry(conv.as_str()).or_default().push(*id);
    }
    for (conv, ids) in by_conversation {
        assert!(ids.is_sorted(), "{conv} ran out of order: {ids:?}");
    }
}
