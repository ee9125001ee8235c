//! [`SqliteStore`] (feature `sqlite`, the default): the embedded store of one process.
//!
//! WAL journal with `synchronous = FULL`: a webhook is acknowledged only after its events
//! are stored, and `NORMAL` may lose the last transactions on power loss — an acknowledged
//! event lost that way would never be redelivered. Claims run inside `BEGIN IMMEDIATE`, so
//! two claimers never read the same queue head.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::{
    ClaimedJob, Enqueued, Forgotten, JobRecord, JobState, Lease, Link, LinkKind, LinkWrite, NewJob,
    QueueStats, Store,
};
use crate::error::StoreError;
use crate::ids::JobId;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A store in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn lease_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Unavailable(e.to_string()),
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`: `sqlite://wbots.db` (relative to
    /// the working directory), `sqlite:///var/lib/wbots/wbots.db`, or `sqlite::memory:`.
    /// Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let memory = url.contains(":memory:");
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Unavailable(format!("invalid SQLite URL {url:?}: {e}")))?
            .create_if_missing(true)
            .journal_mode(if memory { SqliteJournalMode::Memory } else { SqliteJournalMode::Wal })
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // An in-memory database exists per connection: keep exactly one.
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 8 })
            .min_connections(if memory { 1 } else { 0 })
            .idle_timeout(if memory { None } else { Some(Duration::from_secs(600)) })
            .max_lifetime(if memory { None } else { Some(Duration::from_secs(3600)) })
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(db_err)?;
        Ok(Self { pool })
    }

    /// Closes the pool (all connections). The store is unusable afterwards.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Begins a write transaction that holds SQLite's write lock from its first statement,
    /// so a read-then-write (a claim) cannot interleave with another writer.
    async fn begin_immediate(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)
    }

    async fn held(tx: &mut Transaction<'_, Sqlite>, lease: &Lease) -> Result<(), StoreError> {
        let found = sqlx::query(
            "SELECT 1 FROM jobs WHERE id = ? AND state = 'running' AND lease_token = ?",
        )
        .bind(lease.job.0)
        .bind(&lease.token)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
        found.map(|_| ()).ok_or(StoreError::LeaseLost(lease.job))
    }
}

fn record(row: &SqliteRow) -> Result<JobRecord, StoreError> {
    let state: String = row.try_get("state").map_err(db_err)?;
    Ok(JobRecord {
        id: JobId(row.try_get("id").map_err(db_err)?),
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("job state {state:?}")))?,
        idempotency_key: row.try_get("idempotency_key").map_err(db_err)?,
        ordering_key: row.try_get("ordering_key").map_err(db_err)?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts").map_err(db_err)?).unwrap_or(0),
        last_error: row.try_get("last_error").map_err(db_err)?,
        payload: row.try_get("payload").map_err(db_err)?,
        created_at: from_ms(row.try_get("created_at").map_err(db_err)?),
        not_before: from_ms(row.try_get("not_before").map_err(db_err)?),
    })
}

const JOB_COLUMNS: &str = "id, state, idempotency_key, ordering_key, attempts, last_error, payload, created_at, not_before";

async fn apply(tx: &mut Transaction<'_, Sqlite>, write: &LinkWrite) -> Result<(), StoreError> {
    let q = match write {
        LinkWrite::Insert(l) => sqlx::query("INSERT INTO links (kind, key, value, scope) VALUES (?, ?, ?, ?) ON CONFLICT (kind, key) DO NOTHING")
            .bind(l.kind.as_str())
            .bind(&l.key)
            .bind(&l.value)
            .bind(&l.scope),
        LinkWrite::Set(l) => sqlx::query("INSERT INTO links (kind, key, value, scope) VALUES (?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, scope = excluded.scope")
            .bind(l.kind.as_str())
            .bind(&l.key)
            .bind(&l.value)
            .bind(&l.scope),
        LinkWrite::Delete { kind, key } => {
            sqlx::query("DELETE FROM links WHERE kind = ? AND key = ?").bind(kind.as_str()).bind(key)
        }
    };
    q.execute(&mut **tx).await.map_err(db_err)?;
    Ok(())
}

fn ok_if_changed(rows: u64, lease: &Lease) -> Result<(), StoreError> {
    if rows == 0 { Err(StoreError::LeaseLost(lease.job)) } else { Ok(()) }
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(|e| StoreError::Migration(e.to_string()))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .map_err(|e| StoreError::Migration(format!("migrations not applied: {e}")))?;
        if applied.unwrap_or(0) < latest {
            return Err(StoreError::Migration(format!(
                "migrations pending: at {}, need {latest}; run `wbots migrate`",
                applied.unwrap_or(0)
            )));
        }
        Ok(())
    }

    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        let mut tx = self.begin_immediate().await?;
        let now = ms(Utc::now());
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO jobs (idempotency_key, ordering_key, scope, priority, payload, created_at, not_before)
                 VALUES (?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            )
            .bind(&job.idempotency_key)
            .bind(&job.ordering_key)
            .bind(&job.scope)
            .bind(job.priority)
            .bind(&job.payload)
            .bind(now)
            .bind(job.not_before.map(ms).unwrap_or(i64::MIN))
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
            match inserted {
                Some(id) => out.push(Enqueued::New(JobId(id))),
                None => {
                    let id: i64 =
                        sqlx::query_scalar("SELECT id FROM jobs WHERE idempotency_key = ?")
                            .bind(&job.idempotency_key)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(db_err)?;
                    out.push(Enqueued::Duplicate(JobId(id)));
                }
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let now_ms = ms(now);
        let until = now_ms.saturating_add(lease_ms(lease_for));
        let mut tx = self.begin_immediate().await?;
        // The head of each ordering key is its smallest active id (the partial index serves
        // the MIN); only heads that are ready are handed out.
        let heads = sqlx::query(
            "SELECT j.id, j.priority FROM jobs j
             JOIN (SELECT ordering_key, MIN(id) AS head FROM jobs
                   WHERE state IN ('queued', 'running') GROUP BY ordering_key) h ON j.id = h.head
             WHERE (j.state = 'queued' AND j.not_before <= ?1) OR (j.state = 'running' AND j.lease_until < ?1)
             ORDER BY j.priority DESC, j.id
             LIMIT ?2",
        )
        .bind(now_ms)
        .bind(limit_i64(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut out = Vec::with_capacity(heads.len());
        for head in heads {
            let id: i64 = head.try_get("id").map_err(db_err)?;
            let token = uuid::Uuid::new_v4().to_string();
            let row = sqlx::query(
                "UPDATE jobs SET state = 'running', lease_until = ?, lease_token = ?, claims = claims + 1 WHERE id = ?
                 RETURNING idempotency_key, ordering_key, scope, attempts, claims, payload, created_at",
            )
            .bind(until)
            .bind(&token)
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            out.push(ClaimedJob {
                lease: Lease { job: JobId(id), token },
                idempotency_key: row.try_get("idempotency_key").map_err(db_err)?,
                ordering_key: row.try_get("ordering_key").map_err(db_err)?,
                scope: row.try_get("scope").map_err(db_err)?,
                attempts: u32::try_from(row.try_get::<i64, _>("attempts").map_err(db_err)?)
                    .unwrap_or(0),
                previous_claims: u32::try_from(
                    row.try_get::<i64, _>("claims").map_err(db_err)? - 1,
                )
                .unwrap_or(0),
                payload: row
                    .try_get::<Option<String>, _>("payload")
                    .map_err(db_err)?
                    .unwrap_or_default(),
                created_at: from_ms(row.try_get("created_at").map_err(db_err)?),
            });
        }
        tx.commit().await.map_err(db_err)?;
        Ok(out)
    }

    async fn extend_lease(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        lease_for: Duration,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE jobs SET lease_until = ? WHERE id = ? AND state = 'running' AND lease_token = ?")
            .bind(ms(now).saturating_add(lease_ms(lease_for)))
            .bind(lease.job.0)
            .bind(&lease.token)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        ok_if_changed(done.rows_affected(), lease)
    }

    async fn complete(&self, lease: &Lease, writes: &[LinkWrite]) -> Result<(), StoreError> {
        let mut tx = self.begin_immediate().await?;
        Self::held(&mut tx, lease).await?;
        sqlx::query("UPDATE jobs SET state = 'done', payload = NULL, lease_token = NULL, lease_until = NULL WHERE id = ?")
            .bind(lease.job.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for w in writes {
            apply(&mut tx, w).await?;
        }
        tx.commit().await.map_err(db_err)
    }

    async fn retry_later(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = attempts + 1, last_error = ?, not_before = ?,
                             lease_token = NULL, lease_until = NULL
             WHERE id = ? AND state = 'running' AND lease_token = ?",
        )
        .bind(error)
        .bind(ms(not_before))
        .bind(lease.job.0)
        .bind(&lease.token)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        ok_if_changed(done.rows_affected(), lease)
    }

    async fn wedge(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'dead', attempts = attempts + 1, last_error = ?, lease_token = NULL, lease_until = NULL
             WHERE id = ? AND state = 'running' AND lease_token = ?",
        )
        .bind(reason)
        .bind(lease.job.0)
        .bind(&lease.token)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        ok_if_changed(done.rows_affected(), lease)
    }

    async fn requeue(&self, job: JobId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE jobs SET state = 'queued', attempts = 0, not_before = ? WHERE id = ? AND state = 'dead'")
            .bind(ms(now))
            .bind(job.0)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 { Err(StoreError::NoSuchJob(job)) } else { Ok(()) }
    }

    async fn purge_dead(&self, job: Option<JobId>) -> Result<u64, StoreError> {
        let done = match job {
            Some(id) => {
                sqlx::query("DELETE FROM jobs WHERE state = 'dead' AND id = ?")
                    .bind(id.0)
                    .execute(&self.pool)
                    .await
            }
            None => sqlx::query("DELETE FROM jobs WHERE state = 'dead'").execute(&self.pool).await,
        }
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn prune_done(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM jobs WHERE state = 'done' AND created_at < ?")
            .bind(ms(before))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn job(&self, job: JobId) -> Result<Option<JobRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"))
            .bind(job.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(record).transpose()
    }

    async fn jobs(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE state = ? ORDER BY id LIMIT ?"
        ))
        .bind(state.as_str())
        .bind(limit_i64(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(record).collect()
    }

    async fn stats(&self) -> Result<QueueStats, StoreError> {
        let rows = sqlx::query("SELECT state, count(*) AS n FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut stats = QueueStats::default();
        for row in rows {
            let n = u64::try_from(row.try_get::<i64, _>("n").map_err(db_err)?).unwrap_or(0);
            match JobState::parse(&row.try_get::<String, _>("state").map_err(db_err)?) {
                Some(JobState::Queued) => stats.queued = n,
                Some(JobState::Running) => stats.running = n,
                Some(JobState::Done) => stats.done = n,
                Some(JobState::Dead) => stats.dead = n,
                None => {}
            }
        }
        Ok(stats)
    }

    async fn get_link(&self, kind: LinkKind, key: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT value FROM links WHERE kind = ? AND key = ?")
            .bind(kind.as_str())
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }

    async fn put_link(&self, link: &Link) -> Result<String, StoreError> {
        // The no-op update makes RETURNING yield the stored row when the key exists: the
        // winner of a race, in one statement.
        sqlx::query_scalar(
            "INSERT INTO links (kind, key, value, scope) VALUES (?, ?, ?, ?)
             ON CONFLICT (kind, key) DO UPDATE SET value = links.value
             RETURNING value",
        )
        .bind(link.kind.as_str())
        .bind(&link.key)
        .bind(&link.value)
        .bind(&link.scope)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)
    }

    async fn set_link(&self, link: &Link) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        apply(&mut tx, &LinkWrite::Set(link.clone())).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn delete_link(&self, kind: LinkKind, key: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM links WHERE kind = ? AND key = ?")
            .bind(kind.as_str())
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn links_with_prefix(
        &self,
        kind: LinkKind,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError> {
        // substr compares bytes exactly (no LIKE case folding or wildcards); the range
        // condition lets the primary key narrow the scan first.
        let rows = sqlx::query(
            "SELECT key, value, scope FROM links
             WHERE kind = ?1 AND key >= ?2 AND substr(key, 1, length(?2)) = ?2
             ORDER BY key LIMIT ?3",
        )
        .bind(kind.as_str())
        .bind(prefix)
        .bind(limit_i64(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(Link {
                    kind,
                    key: r.try_get("key").map_err(db_err)?,
                    value: r.try_get("value").map_err(db_err)?,
                    scope: r.try_get("scope").map_err(db_err)?,
                })
            })
            .collect()
    }

    async fn forget_scope(&self, scope: &str) -> Result<Forgotten, StoreError> {
        let mut tx = self.begin_immediate().await?;
        let links = sqlx::query("DELETE FROM links WHERE scope = ?")
            .bind(scope)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let deleted = sqlx::query("DELETE FROM jobs WHERE scope = ? AND state <> 'done'")
            .bind(scope)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let cleared =
            sqlx::query("UPDATE jobs SET payload = NULL WHERE scope = ? AND state = 'done'")
                .bind(scope)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Forgotten {
            links: links.rows_affected(),
            jobs: deleted.rows_affected() + cleared.rows_affected(),
        })
    }
}
