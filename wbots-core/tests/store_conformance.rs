//! Every store passes the same conformance suite.

/// The request budgets (`RateBudgets`) of each store, through the same checks.
macro_rules! rate_budget_tests {
    ($fresh:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_budget_gives_its_burst_then_its_rate() {
            let Some(store) =
                wbots_core::testkit::store_suite::FreshStore::into_store($fresh.await)
            else {
                return;
            };
            wbots_core::testkit::store_suite::a_budget_gives_its_burst_then_its_rate(&store)
                .await
                .unwrap();
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn racing_takers_share_one_budget() {
            let Some(store) =
                wbots_core::testkit::store_suite::FreshStore::into_store($fresh.await)
            else {
                return;
            };
            wbots_core::testkit::store_suite::racing_takers_share_one_budget(std::sync::Arc::new(
                store,
            ))
            .await
            .unwrap();
        }
    };
}

mod memory {
    wbots_core::store_conformance_tests!(async { wbots_core::store::MemoryStore::new() });
    rate_budget_tests!(async { wbots_core::store::MemoryStore::new() });
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use wbots_core::store::{JobQueue, LinkStore, SqliteStore, Store};

    async fn fresh() -> SqliteStore {
        // Kept so the file outlives the store, under cargo's own scratch directory
        // (target/tmp), which `cargo clean` removes.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap().keep();
        let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("wbots.db").display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    wbots_core::store_conformance_tests!(fresh());
    rate_budget_tests!(fresh());

    #[tokio::test]
    async fn in_memory_databases_work_too() {
        let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        wbots_core::testkit::store_suite::enqueue_deduplicates_by_key(&store).await.unwrap();
    }

    #[tokio::test]
    async fn data_survives_closing_and_reopening_the_file() {
        use wbots_core::store::{JobState, Link, LinkKey};
        use wbots_core::testkit::store_suite::{job, t0};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("wbots.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store.enqueue(&[job("a", "k"), job("b", "k2")]).await.unwrap();
        let claimed = store.claim(t0(), std::time::Duration::from_secs(60), 10).await.unwrap();
        store.wedge(&claimed[1].lease, "dead for good").await.unwrap();
        let page =
            wbots_core::ChannelAddress::new(wbots_core::ChannelKind::new("messenger"), "page");
        let alice = LinkKey::contact(&page, &"alice".into());
        store.put_link(&Link::new(alice.clone(), "c1")).await.unwrap();
        store.close().await;

        let reopened = SqliteStore::connect(&url).await.unwrap();
        reopened.ping().await.unwrap();
        assert_eq!(reopened.get_link(&alice).await.unwrap().as_deref(), Some("c1"));
        let stats = reopened.stats().await.unwrap();
        assert_eq!((stats.running, stats.dead), (1, 1));
        assert_eq!(
            reopened.jobs(JobState::Dead, 10).await.unwrap()[0].last_error.as_deref(),
            Some("dead for good")
        );
        // The running job's lease expires and another process takes it over.
        let later = t0() + chrono::Duration::seconds(61);
        let taken = reopened.claim(later, std::time::Duration::from_secs(60), 10).await.unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].idempotency_key, "a");
    }

    #[tokio::test]
    async fn a_store_error_keeps_the_database_error_as_its_source() {
        let dir = tempfile::tempdir().unwrap();
        // A directory is no database: opening it fails (in the file checks or the driver).
        let err = SqliteStore::connect(&format!("sqlite://{}", dir.path().display()))
            .await
            .expect_err("a directory is not a database");
        let source = std::error::Error::source(&err).expect("the driver's error is kept");
        assert!(source.is::<rusqlite::Error>() || source.is::<std::io::Error>(), "{source:?}");
        assert!(err.is_transient(), "{err}");
    }

    #[tokio::test]
    async fn an_unmigrated_database_is_not_ready() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::connect(&format!("sqlite://{}", dir.path().join("new.db").display()))
                .await
                .unwrap();
        assert!(store.ping().await.is_err());
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    /// A fresh database on the test server, or `None` (the check is skipped, one line says
    /// why) where PostgreSQL is not installed.
    async fn fresh() -> Option<wbots_core::store::PostgresStore> {
        let url = wbots_test_services::postgres_url()?;
        Some(wbots_core::testkit::fresh_postgres(&url).await.unwrap())
    }

    wbots_core::store_conformance_tests!(fresh());
    rate_budget_tests!(fresh());
}
