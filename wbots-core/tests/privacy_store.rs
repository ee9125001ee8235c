//! Every store passes the same privacy conformance suite (a person's data by scope, the
//! audit trail of migration 0004).

mod memory {
    wbots_core::privacy_store_conformance_tests!(async { wbots_core::store::MemoryStore::new() });
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use wbots_core::store::{SqliteStore, Store};

    async fn fresh() -> SqliteStore {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap().keep();
        let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("wbots.db").display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    wbots_core::privacy_store_conformance_tests!(fresh());
}

#[cfg(feature = "postgres")]
mod postgres {
    async fn fresh() -> Option<wbots_core::store::PostgresStore> {
        let url = wbots_test_services::postgres_url()?;
        Some(wbots_core::testkit::fresh_postgres(&url).await.unwrap())
    }

    wbots_core::privacy_store_conformance_tests!(fresh());
}
