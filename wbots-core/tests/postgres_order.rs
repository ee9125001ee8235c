//! PostgreSQL hands out ids from a sequence, so two enqueues for one conversation could commit
//! in the other order than their ids. The store serialises them per conversation; this test
//! plays the race by hand: an earlier job's transaction still open while a later one arrives.

#![cfg(feature = "postgres")]

use std::time::Duration;

use wbots_core::store::{JobQueue, NewJob};

fn job(key: &str, id: &str) -> NewJob {
    NewJob {
        idempotency_key: id.into(),
        ordering_key: key.into(),
        scope: None,
        priority: 0,
        lane: wbots_core::store::Lane::Inbound,
        payload: "{}".into(),
        not_before: None,
    }
}

#[tokio::test]
async fn a_later_job_cannot_overtake_an_earlier_one_still_committing() {
    let Some(url) = wbots_test_services::postgres_url() else {
        return;
    };
    let store = wbots_core::testkit::fresh_postgres(&url).await.unwrap();
    // The first enqueue, as the store runs it, stopped before its commit.
    let mut first = store.pool().begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('conv-1', 0))")
        .execute(&mut *first)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO jobs (idempotency_key, ordering_key, payload, created_at, not_before)
         VALUES ('first', 'conv-1', '{}', 0, 0)",
    )
    .execute(&mut *first)
    .await
    .unwrap();

    let second = tokio::spawn({
        let store = store.clone();
        async move { store.enqueue(&[job("conv-1", "second")]).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = chrono::Utc::now();
    let early = store.claim(now, Duration::from_secs(60), 10).await.unwrap();
    assert!(early.is_empty(), "the later job was handed out first: {early:?}");

    first.commit().await.unwrap();
    second.await.unwrap().unwrap();
    let claimed = store.claim(chrono::Utc::now(), Duration::from_secs(60), 10).await.unwrap();
    let keys: Vec<&str> = claimed.iter().map(|c| c.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["first"], "only the head of the conversation runs, and it is the first");
}
