//! Opening the store named by `store.url`.

use std::sync::Arc;

use wbots_core::StoreError;
use wbots_core::store::{SqliteStore, Store};

/// Opens (without migrating) the store at `url`: `sqlite://…` or `postgres://…`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        return Ok(Arc::new(SqliteStore::connect(url).await?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        return Ok(Arc::new(wbots_core::store::PostgresStore::connect(url).await?));
        #[cfg(not(feature = "postgres"))]
        return Err(StoreError::Unavailable(
            "this wbots was built without the postgres feature".into(),
        ));
    }
    Err(StoreError::Unavailable(format!(
        "store.url: unknown scheme in {:?}",
        url.split(':').next().unwrap_or("")
    )))
}
