//! Fresh PostgreSQL databases for tests (features `testkit` + `postgres`).

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::error::StoreError;
use crate::store::{PostgresStore, Store};

/// Creates a database with a unique name on the server of `admin_url` (a URL whose user
/// may `CREATE DATABASE`) and returns a migrated store on it, so parallel tests never share
/// state. The database is left behind: CI's server is thrown away after the run.
pub async fn fresh_postgres(admin_url: &str) -> Result<PostgresStore, StoreError> {
    let url = fresh_postgres_database(admin_url).await?;
    let store = PostgresStore::connect(&url).await?;
    store.migrate().await?;
    Ok(store)
}

/// Creates an empty database with a unique name on the server of `admin_url` and returns
/// its URL, for a process that connects and migrates by itself (the load harness's
/// `wbots serve`).
pub async fn fresh_postgres_database(admin_url: &str) -> Result<String, StoreError> {
    let name = format!("wbots_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(admin_url).await.map_err(|e| {
        StoreError::unavailable(format!("cannot reach the test server: {e}")).caused_by(e)
    })?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .map_err(|e| StoreError::unavailable(format!("cannot create {name}: {e}")).caused_by(e))?;
    match admin_url.rsplit_once('/') {
        Some((server, _)) => Ok(format!("{server}/{name}")),
        None => Err(StoreError::unavailable("the admin URL names no database")),
    }
}
