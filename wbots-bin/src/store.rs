//! Opening the store named by `store.url`: for operators' commands, and for `serve`.

use std::sync::Arc;

use wbots_core::StoreError;
use wbots_core::store::{ChannelStore, JobQueue, RateBudgets, SqliteStore, Store};

/// One store seen both ways: as connected channels, and as job queue and links. The same
/// object underneath (SQLite: one store per file per process).
pub(crate) struct Stores {
    pub channels: Arc<dyn ChannelStore>,
    pub data: Arc<dyn Store>,
    /// Request budgets (Chatwoot's), shared by the replicas on PostgreSQL.
    pub budgets: Arc<dyn RateBudgets>,
}

impl Stores {
    fn of<S: Store + ChannelStore + RateBudgets>(store: S) -> Self {
        let store = Arc::new(store);
        Self { channels: store.clone(), budgets: store.clone(), data: store }
    }
}

/// Opens (without migrating) the store at `url`: `sqlite://…` or `postgres://…`.
pub(crate) async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(SqliteStore::connect(url).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        return Ok(Arc::new(wbots_core::store::PostgresStore::connect(url).await?));
        #[cfg(not(feature = "postgres"))]
        return Err(StoreError::unavailable("this wbots was built without the postgres feature"));
    }
    Err(StoreError::unavailable(format!(
        "store.url: unknown scheme in {:?}",
        url.split(':').next().unwrap_or("")
    )))
}

/// Opens the store `serve` runs its workers on, migrated and ready: a SQLite store under
/// its exclusive lock (a second `serve` on the file is refused), with the leases of the
/// process that served it before released — that process is dead, so its conversations
/// resume at once instead of after their leases. PostgreSQL is shared by replicas: a dead
/// one's jobs are taken over when their (short, heartbeat-extended) leases expire.
pub(crate) async fn open_for_serving(url: &str) -> Result<Stores, String> {
    if url.starts_with("sqlite:") {
        let store =
            SqliteStore::connect_exclusive(url).await.map_err(|e| format!("store.url: {e}"))?;
        store.migrate().await.map_err(|e| format!("store migrations: {e}"))?;
        let released = store
            .release_all_leases()
            .await
            .map_err(|e| format!("store: releasing the previous process's jobs: {e}"))?;
        if released > 0 {
            tracing::info!(jobs = released, "took over the jobs the previous process was running");
        }
        return Ok(Stores::of(store));
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = wbots_core::store::PostgresStore::connect(url)
            .await
            .map_err(|e| format!("store.url: {e}"))?;
        store.migrate().await.map_err(|e| format!("store migrations: {e}"))?;
        return Ok(Stores::of(store));
    }
    // An unknown scheme, or PostgreSQL in a build without it: `open` says which.
    match open(url).await {
        Err(e) => Err(format!("store.url: {e}")),
        Ok(_) => Err("store.url: this wbots cannot serve from the store it names".to_owned()),
    }
}
