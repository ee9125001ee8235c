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
