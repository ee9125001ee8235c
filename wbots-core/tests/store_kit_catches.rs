//! The store suite cannot pass by accident: against a store whose every call fails, every
//! check fails (returns the store's error, or panics with it) — none swallows the error
//! into a default and goes on to pass.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use wbots_core::StoreError;
use wbots_core::store::{MemoryStore, Store};
use wbots_core::testkit::SwitchableStore;
use wbots_core::testkit::store_suite as suite;

type Check = fn(Arc<dyn Store>) -> Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

macro_rules! by_ref {
    ($($check:ident),* $(,)?) => {
        [$((stringify!($check), (|s: Arc<dyn Store>| {
            Box::pin(async move { suite::$check(&*s).await })
        }) as Check)),*]
    };
}

macro_rules! by_arc {
    ($($check:ident),* $(,)?) => {
        [$((stringify!($check), (|s: Arc<dyn Store>| Box::pin(suite::$check(s))) as Check)),*]
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_check_fails_on_a_store_that_fails() {
    let checks = by_ref![
        enqueue_deduplicates_by_key,
        claim_honours_not_before,
        claim_orders_by_priority_then_fifo,
        claim_hands_out_one_job_per_ordering_key,
        a_retrying_job_holds_back_its_key_only,
        dead_jobs_do_not_block_their_key,
        an_expired_lease_is_taken_over_and_the_stale_token_refused,
        complete_applies_links_atomically,
        dead_letters_can_be_listed_requeued_and_purged,
        links_behave,
        forget_scope_purges_one_persons_links_and_jobs,
        a_heartbeat_keeps_a_job_until_it_stops,
        release_all_leases_takes_over_a_dead_holders_jobs_at_once,
        ping_after_migrate,
        huge_leases_do_not_overflow,
        prune_removes_only_old_done_jobs,
    ]
    .into_iter()
    .chain(by_arc![
        racing_put_links_agree_on_the_winner,
        concurrent_claimers_keep_keys_exclusive_and_ordered,
    ]);
    let mut passed = Vec::new();
    for (name, check) in checks {
        let store = SwitchableStore::new(MemoryStore::new());
        store.set_available(false);
        let store: Arc<dyn Store> = Arc::new(store);
        // A check fails by returning the error or by panicking; a panic is caught here.
        match tokio::spawn(check(store)).await {
            Ok(Ok(())) => passed.push(name),
            Ok(Err(e)) => assert!(e.is_transient(), "{name}: {e}"),
            Err(e) => assert!(e.is_panic(), "{name}: {e}"),
        }
    }
    assert!(passed.is_empty(), "checks that passed against a failing store: {passed:?}");
}

/// A store whose every second `put_link` fails, as one failing under contention would.
#[derive(Debug, Default)]
struct FlakyPuts {
    inner: MemoryStore,
    calls: std::sync::atomic::AtomicUsize,
}

mod flaky {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use async_trait::async_trait;
    use chrono::{DateTime, Utc};
    use wbots_core::JobId;
    use wbots_core::StoreError;
    use wbots_core::store::{
        ClaimedJob, Enqueued, Forgotten, JobQueue, JobRecord, JobState, Lane, Lease, Link, LinkKey,
        LinkPrefix, LinkStore, LinkWrite, NewJob, QueueStats, Store,
    };

    use super::FlakyPuts;

    #[deny(clippy::missing_trait_methods)]
    #[async_trait]
    impl Store for FlakyPuts {
        async fn migrate(&self) -> Result<(), StoreError> {
            self.inner.migrate().await
        }
        async fn ping(&self) -> Result<(), StoreError> {
            self.inner.ping().await
        }
        async fn forget_scope(&self, scope: &str) -> Result<Forgotten, StoreError> {
            self.inner.forget_scope(scope).await
        }
        fn privacy(&self) -> Option<&dyn wbots_core::store::PrivacyStore> {
            self.inner.privacy()
        }
    }

    #[deny(clippy::missing_trait_methods)]
    #[async_trait]
    impl JobQueue for FlakyPuts {
        async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
            self.inner.enqueue(jobs).await
        }
        async fn claim(
            &self,
            now: DateTime<Utc>,
            lease_for: Duration,
            limit: usize,
        ) -> Result<Vec<ClaimedJob>, StoreError> {
            self.inner.claim(now, lease_for, limit).await
        }
        async fn claim_lane(
            &self,
            now: DateTime<Utc>,
            lease_for: Duration,
            limit: usize,
            lane: Lane,
        ) -> Result<Vec<ClaimedJob>, StoreError> {
            self.inner.claim_lane(now, lease_for, limit, lane).await
        }
        async fn extend_lease(
            &self,
            lease: &Lease,
            now: DateTime<Utc>,
            lease_for: Duration,
        ) -> Result<(), StoreError> {
            self.inner.extend_lease(lease, now, lease_for).await
        }
        async fn release_all_leases(&self) -> Result<u64, StoreError> {
            self.inner.release_all_leases().await
        }
        async fn complete(&self, lease: &Lease, writes: &[LinkWrite]) -> Result<(), StoreError> {
            self.inner.complete(lease, writes).await
        }
        async fn retry_later(
            &self,
            lease: &Lease,
            not_before: DateTime<Utc>,
            error: &str,
        ) -> Result<(), StoreError> {
            self.inner.retry_later(lease, not_before, error).await
        }
        async fn postpone(
            &self,
            lease: &Lease,
            not_before: DateTime<Utc>,
            note: &str,
        ) -> Result<(), StoreError> {
            self.inner.postpone(lease, not_before, note).await
        }
        async fn wedge(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
            self.inner.wedge(lease, reason).await
        }
        async fn requeue(&self, job: JobId, now: DateTime<Utc>) -> Result<(), StoreError> {
            self.inner.requeue(job, now).await
        }
        async fn purge_dead(&self, job: Option<JobId>) -> Result<u64, StoreError> {
            self.inner.purge_dead(job).await
        }
        async fn prune_done(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
            self.inner.prune_done(before).await
        }
        async fn job(&self, job: JobId) -> Result<Option<JobRecord>, StoreError> {
            self.inner.job(job).await
        }
        async fn jobs(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
            self.inner.jobs(state, limit).await
        }
        async fn stats(&self) -> Result<QueueStats, StoreError> {
            self.inner.stats().await
        }
    }

    #[deny(clippy::missing_trait_methods)]
    #[async_trait]
    impl LinkStore for FlakyPuts {
        async fn get_link(&self, key: &LinkKey) -> Result<Option<String>, StoreError> {
            self.inner.get_link(key).await
        }
        async fn put_link(&self, link: &Link) -> Result<String, StoreError> {
            if self.calls.fetch_add(1, Ordering::SeqCst) % 2 == 1 {
                return Err(StoreError::unavailable("busy"));
            }
            self.inner.put_link(link).await
        }
        async fn set_link(&self, link: &Link) -> Result<(), StoreError> {
            self.inner.set_link(link).await
        }
        async fn delete_link(&self, key: &LinkKey) -> Result<bool, StoreError> {
            self.inner.delete_link(key).await
        }
        async fn links_with_prefix(
            &self,
            prefix: &LinkPrefix,
            limit: usize,
        ) -> Result<Vec<Link>, StoreError> {
            self.inner.links_with_prefix(prefix, limit).await
        }
    }
}

/// Racers that errored count as failures: a store whose puts fail under contention does
/// not pass because the racers that got through agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_racing_check_counts_racers_that_failed() {
    let store: Arc<dyn Store> = Arc::new(FlakyPuts::default());
    let outcome = suite::racing_put_links_agree_on_the_winner(store).await;
    assert!(matches!(outcome, Err(StoreError::Unavailable { .. })), "{outcome:?}");
}
