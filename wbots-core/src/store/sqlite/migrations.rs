//! The schema's migrations (`migrations/sqlite`), applied through rusqlite and recorded
//! exactly as sqlx's migrator records them (its `_sqlx_migrations` table and rows, from
//! `sqlx-sqlite`'s `migrate.rs`): a database migrated by an older wbots (sqlx's migrator)
//! opens unchanged, and one migrated here is still accepted by an older wbots.

use rusqlite::{Connection, OptionalExtension, named_params};

use crate::error::StoreError;

/// The migrations, embedded at build time (version, description, SQL, checksum).
pub(super) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// sqlx's table, as `sqlx-sqlite` 0.8 creates it.
const TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

fn failed(message: String) -> StoreError {
    StoreError::migration(message)
}

/// Applies the migrations not yet applied, each in its own transaction, with sqlx's
/// checks: a migration left half applied (dirty), one applied that this build does not
/// know (the database is newer), or one changed since it was applied is refused.
pub(super) fn run(conn: &mut Connection) -> Result<(), StoreError> {
    let err = |e: rusqlite::Error| failed(e.to_string()).caused_by(e);
    conn.execute_batch(TABLE).map_err(err)?;
    let dirty: Option<i64> = conn
        .query_row(
            "SELECT version FROM _sqlx_migrations WHERE success = false ORDER BY version LIMIT 1",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(err)?;
    if let Some(version) = dirty {
        return Err(failed(format!(
            "migration {version} is partially applied; try cleaning up the database manually"
        )));
    }
    let applied: Vec<(i64, Vec<u8>)> = {
        let mut statement = conn
            .prepare("SELECT version, checksum FROM _sqlx_migrations ORDER BY version")
            .map_err(err)?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)?
    };
    for (version, _) in &applied {
        if !MIGRATOR.iter().any(|m| m.version == *version) {
            return Err(failed(format!(
                "migration {version} was previously applied but is missing in the resolved \
                 migrations (the database is newer than this wbots)"
            )));
        }
    }
    for migration in MIGRATOR.iter().filter(|m| !m.migration_type.is_down_migration()) {
        match applied.iter().find(|(v, _)| *v == migration.version) {
            Some((_, checksum)) if checksum[..] != migration.checksum[..] => {
                return Err(failed(format!(
                    "migration {} was previously applied but has been modified",
                    migration.version
                )));
            }
            Some(_) => {}
            None => apply(conn, migration).map_err(|e| {
                failed(format!("while executing migration {}: {e}", migration.version)).caused_by(e)
            })?,
        }
    }
    Ok(())
}

/// Applies one migration and records it, in one transaction; its execution time as sqlx
/// records it (ns), after.
fn apply(conn: &mut Connection, m: &sqlx::migrate::Migration) -> Result<(), rusqlite::Error> {
    let start = std::time::Instant::now();
    let tx = conn.transaction()?;
    tx.execute_batch(&m.sql)?;
    tx.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES ($1, $2, TRUE, $3, -1)",
        named_params! {"$1": m.version, "$2": &*m.description, "$3": &*m.checksum},
    )?;
    tx.commit()?;
    let nanos = i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX);
    conn.execute(
        "UPDATE _sqlx_migrations SET execution_time = $1 WHERE version = $2",
        named_params! {"$1": nanos, "$2": m.version},
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use sqlx::Connection as _;
    use sqlx::sqlite::SqliteConnection;

    use super::MIGRATOR;
    use crate::store::{SqliteStore, Store};

    async fn sqlx_connection(url: &str) -> SqliteConnection {
        SqliteConnection::connect(url).await.unwrap()
    }

    fn url(dir: &tempfile::TempDir) -> String {
        format!("sqlite://{}", dir.path().join("m.db").display())
    }

    #[tokio::test]
    async fn a_database_sqlx_migrated_partly_is_finished_here_and_sqlx_still_accepts_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = url(&dir);
        {
            // What an older wbots left: sqlx's migrator, up to the third migration.
            let older = sqlx::migrate::Migrator {
                migrations: Cow::Owned(MIGRATOR.iter().take(3).cloned().collect()),
                ..sqlx::migrate::Migrator::DEFAULT
            };
            let mut conn = sqlx_connection(&format!("{url}?mode=rwc")).await;
            older.run(&mut conn).await.unwrap();
            conn.close().await.unwrap();
        }
        let store = SqliteStore::connect(&url).await.unwrap();
        assert!(store.ping().await.is_err(), "two migrations are pending");
        store.migrate().await.unwrap();
        store.ping().await.unwrap();
        // Again: nothing left to apply, nothing refused.
        store.migrate().await.unwrap();
        store.close().await;
        // A downgrade: sqlx's migrator finds every migration applied, checksums equal.
        let mut conn = sqlx_connection(&url).await;
        MIGRATOR.run(&mut conn).await.unwrap();
        let rows: Vec<(i64, bool, i64)> = sqlx::query_as(
            "SELECT version, success, execution_time FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let versions: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), versions);
        assert!(rows.iter().all(|r| r.1 && r.2 >= 0), "{rows:?}");
    }

    #[tokio::test]
    async fn a_database_migrated_by_a_newer_wbots_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url = url(&dir);
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store.close().await;
        let mut conn = sqlx_connection(&url).await;
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (99999999999999, 'from the future', TRUE, x'00', 1)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        let store = SqliteStore::connect(&url).await.unwrap();
        let refused = store.migrate().await.expect_err("an unknown migration is refused");
        assert!(refused.to_string().contains("99999999999999"), "{refused}");
    }
}
