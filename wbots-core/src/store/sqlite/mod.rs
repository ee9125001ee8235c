//! [`SqliteStore`] (feature `sqlite`, the default): the embedded store of one process.
//!
//! WAL journal with `synchronous = FULL`: a webhook is acknowledged only after its events
//! are stored, and `NORMAL` may lose the last transactions on power loss — an acknowledged
//! event lost that way would never be redelivered. Writes are group-committed (see
//! `group_commit`): each runs inside `BEGIN IMMEDIATE` on the one writer connection, so two
//! claimers never read the same queue head, and the writes waiting at one moment share one
//! fsync.
//!
//! `secure_delete` is on: deleted rows are overwritten with zeros, and a data-deletion
//! request also empties the write-ahead log (`forget_scope`), so a forgotten person's id is
//! in none of the store's files afterwards. The files are 0600 (see `files`).

mod files;
mod group_commit;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};

use self::group_commit::{GroupCommit, Lane};

use super::sql::{JOB_COLUMNS, claimed, db_err, lease_ms, limit_i64, link, ms, record};
use super::{
    ClaimedJob, Enqueued, Forgotten, JobQueue, JobRecord, JobState, Lease, Link, LinkKey,
    LinkPrefix, LinkStore, LinkWrite, NewJob, QueueStats, Store,
};
use crate::error::StoreError;
use crate::ids::JobId;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A store in one SQLite file.
///
/// SQLite lets one writer in at a time, and a connection that finds the lock taken sleeps
/// in its busy handler (up to 100 ms a turn) instead of queueing. So every write goes
/// through one connection, where writers wait in turn without sleeping and share commits,
/// and reads use their own connections (WAL lets them run beside the writer).
///
/// Opened with [`SqliteStore::connect_exclusive`], the store is the only one on its file:
/// a second process is refused while this one lives.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    commits: GroupCommit,
    /// The exclusive lock on `<db>.lock`, when taken; released when the last clone drops.
    _lock: Option<Arc<std::fs::File>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`: `sqlite://wbots.db` (relative to
    /// the working directory), `sqlite:///var/lib/wbots/wbots.db`, or `sqlite::memory:`.
    /// Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open(url, false).await
    }

    /// Like [`SqliteStore::connect`], and takes the exclusive lock on `<db>.lock` first,
    /// held until the store (every clone) is dropped or the process ends: the process that
    /// runs workers on the file. A second one is refused with [`StoreError::InUse`], so
    /// whatever jobs the file shows running belong to a dead process and may be taken over
    /// at once ([`JobQueue::release_all_leases`](crate::store::JobQueue::release_all_leases)). Operators' tools use `connect` beside it.
    pub async fn connect_exclusive(url: &str) -> Result<Self, StoreError> {
        Self::open(url, true).await
    }

    async fn open(url: &str, exclusive: bool) -> Result<Self, StoreError> {
        let memory = url.contains(":memory:");
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| {
                StoreError::unavailable(format!("invalid SQLite URL {url:?}: {e}")).caused_by(e)
            })?
            .create_if_missing(true)
            .journal_mode(if memory { SqliteJournalMode::Memory } else { SqliteJournalMode::Wal })
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("secure_delete", "ON");
        let mut lock = None;
        if !memory {
            let db = options.get_filename().to_owned();
            if exclusive {
                lock = Some(Arc::new(files::lock(&db)?));
            }
            files::prepare(&db)?;
        }
        let pool = |connections: u32| {
            SqlitePoolOptions::new()
                .max_connections(connections)
                .min_connections(0)
                .idle_timeout(Some(Duration::from_secs(600)))
                .max_lifetime(Some(Duration::from_secs(3600)))
                .acquire_timeout(Duration::from_secs(10))
        };
        let (writer, reader) = if memory {
            // An in-memory database exists per connection: keep exactly one, for both roles.
            let only = pool(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(db_err)?;
            (only.clone(), only)
        } else {
            let writer = pool(1).connect_with(options.clone()).await.map_err(db_err)?;
            (writer, pool(4).connect_with(options).await.map_err(db_err)?)
        };
        let commits = GroupCommit::start(writer.clone());
        Ok(Self { writer, reader, commits, _lock: lock })
    }

    /// Copies the write-ahead log into the database and truncates it to nothing, so rows
    /// deleted (and zeroed, `secure_delete`) leave no older copy in the `-wal` file.
    async fn empty_the_wal(&self) -> Result<(), StoreError> {
        // (busy, frames in the log, frames checkpointed); busy = 1 when a reader kept the
        // log from being emptied even after the busy timeout. Without WAL (in memory) the
        // log columns are -1 and there is nothing to empty.
        let row = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.writer)
            .await
            .map_err(db_err)?;
        let busy: i64 = row.try_get(0).map_err(db_err)?;
        if busy != 0 {
            return Err(StoreError::unavailable(
                "the deletion is committed, but the write-ahead log could not be emptied yet \
                 (readers busy); ask again",
            ));
        }
        Ok(())
    }

    /// Closes the pool (all connections). The store is unusable afterwards.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

async fn apply(conn: &mut SqliteConnection, write: &LinkWrite) -> Result<(), StoreError> {
    let q = match write {
        LinkWrite::Insert(l) => sqlx::query("INSERT INTO links (kind, key, value, scope) VALUES (?, ?, ?, ?) ON CONFLICT (kind, key) DO NOTHING")
            .bind(l.key.kind().as_str())
            .bind(l.key.as_str())
            .bind(&l.value)
            .bind(&l.scope),
        LinkWrite::Set(l) => sqlx::query("INSERT INTO links (kind, key, value, scope) VALUES (?, ?, ?, ?) ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, scope = excluded.scope")
            .bind(l.key.kind().as_str())
            .bind(l.key.as_str())
            .bind(&l.value)
            .bind(&l.scope),
        LinkWrite::Delete(key) => {
            sqlx::query("DELETE FROM links WHERE kind = ? AND key = ?").bind(key.kind().as_str()).bind(key.as_str())
        }
    };
    q.execute(&mut *conn).await.map_err(db_err)?;
    Ok(())
}

/// A lease-guarded update changed nothing: the lease is no longer held.
fn ok_if_changed(rows: u64, lease: &Lease) -> Result<(), StoreError> {
    if rows == 0 { Err(StoreError::LeaseLost(lease.job)) } else { Ok(()) }
}

/// Claims up to `limit` queue heads in one statement.
///
/// A job may run when it is the head of its ordering key (no active job before it). Queued
/// jobs are walked in hand-out order through `jobs_ready` and each head check is one probe
/// of `jobs_active`, so a claim costs about `limit` rows however long the backlog. Expired
/// leases are taken over first (a running job is always a head). `INDEXED BY`: without
/// ANALYZE statistics SQLite would pick `jobs_by_state` and sort the whole backlog instead.
async fn claim_heads(
    conn: &mut SqliteConnection,
    now_ms: i64,
    until: i64,
    limit: usize,
) -> Result<Vec<ClaimedJob>, StoreError> {
    let rows = sqlx::query(
        "UPDATE jobs SET state = 'running', lease_until = ?3, claims = claims + 1,
                         lease_token = lower(hex(randomblob(16)))
         WHERE id IN (
             SELECT id FROM (
                 SELECT id, priority FROM jobs WHERE state = 'running' AND lease_until < ?1
                 UNION ALL
                 SELECT id, priority FROM (
                     SELECT j.id, j.priority FROM jobs j INDEXED BY jobs_ready
                     WHERE j.state = 'queued' AND j.not_before <= ?1
                       AND NOT EXISTS (SELECT 1 FROM jobs p
                                       WHERE p.ordering_key = j.ordering_key
                                         AND p.state IN ('queued', 'running') AND p.id < j.id)
                     ORDER BY j.priority DESC, j.id
                     LIMIT ?2)
             )
             ORDER BY priority DESC, id
             LIMIT ?2)
         RETURNING id, priority, lease_token, idempotency_key, ordering_key, scope, attempts,
                   claims, payload, created_at",
    )
    .bind(now_ms)
    .bind(limit_i64(limit))
    .bind(until)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(claimed::<_, i64>(row)?);
    }
    // RETURNING has no order; hand jobs out as the queue ranks them.
    out.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.lease.job.cmp(&b.1.lease.job)));
    Ok(out.into_iter().map(|(_, job)| job).collect())
}

#[async_trait]
impl Store for SqliteStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.writer)
            .await
            .map_err(|e| StoreError::migration(e.to_string()).caused_by(e))
    }
    async fn ping(&self) -> Result<(), StoreError> {
        let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.reader)
                .await
                .map_err(|e| {
                    StoreError::migration(format!("migrations not applied: {e}")).caused_by(e)
                })?;
        if applied.unwrap_or(0) < latest {
            return Err(StoreError::migration(format!(
                "migrations pending: at {}, need {latest}; run `wbots migrate`",
                applied.unwrap_or(0)
            )));
        }
        Ok(())
    }
    async fn forget_scope(&self, scope: &str) -> Result<Forgotten, StoreError> {
        let scope = scope.to_owned();
        let forgotten = self
            .commits
            .write(move |conn| {
                Box::pin(async move {
                    let links = sqlx::query("DELETE FROM links WHERE scope = ?")
                        .bind(&scope)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    let jobs = sqlx::query("DELETE FROM jobs WHERE scope = ?")
                        .bind(&scope)
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    Ok(Forgotten { links: links.rows_affected(), jobs: jobs.rows_affected() })
                })
            })
            .await?;
        // The rows are zeroed in the pages the transaction wrote, but older copies of those
        // pages are still in the write-ahead log until it is emptied.
        self.empty_the_wal().await?;
        Ok(forgotten)
    }
}

#[async_trait]
impl JobQueue for SqliteStore {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        let jobs = jobs.to_vec();
        self.commits.write_in(Lane::Urgent, move |conn| Box::pin(async move {
        let now = ms(Utc::now());
        let mut out = Vec::with_capacity(jobs.len());
        for job in &jobs {
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
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
            match inserted {
                Some(id) => out.push(Enqueued::New(JobId(id))),
                None => {
                    let id: i64 =
                        sqlx::query_scalar("SELECT id FROM jobs WHERE idempotency_key = ?")
                            .bind(&job.idempotency_key)
                            .fetch_one(&mut *conn)
                            .await
                            .map_err(db_err)?;
                    out.push(Enqueued::Duplicate(JobId(id)));
                }
            }
        }
        Ok(out)
        })).await
    }
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let now_ms = ms(now);
        let until = now_ms.saturating_add(lease_ms(lease_for));
        self.commits.write(move |conn| Box::pin(claim_heads(conn, now_ms, until, limit))).await
    }
    async fn extend_lease(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        lease_for: Duration,
    ) -> Result<(), StoreError> {
        let lease = lease.clone();
        let until = ms(now).saturating_add(lease_ms(lease_for));
        self.commits.write(move |conn| Box::pin(async move {
            let done = sqlx::query("UPDATE jobs SET lease_until = ? WHERE id = ? AND state = 'running' AND lease_token = ?")
                .bind(until)
                .bind(lease.job.0)
                .bind(&lease.token)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            ok_if_changed(done.rows_affected(), &lease)
        })).await
    }
    async fn release_all_leases(&self) -> Result<u64, StoreError> {
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE jobs SET state = 'queued', lease_token = NULL, lease_until = NULL
                         WHERE state = 'running'",
                    )
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    Ok(done.rows_affected())
                })
            })
            .await
    }
    async fn complete(&self, lease: &Lease, writes: &[LinkWrite]) -> Result<(), StoreError> {
        let (lease, writes) = (lease.clone(), writes.to_vec());
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    // Guarded by the lease: a lost lease changes nothing (see group_commit).
                    let done = sqlx::query(
                        "UPDATE jobs SET state = 'done', payload = NULL, lease_token = NULL, lease_until = NULL
                         WHERE id = ? AND state = 'running' AND lease_token = ?",
                    )
                    .bind(lease.job.0)
                    .bind(&lease.token)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                    ok_if_changed(done.rows_affected(), &lease)?;
                    for w in &writes {
                        apply(conn, w).await?;
                    }
                    Ok(())
                })
            })
            .await
    }
    async fn retry_later(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let (lease, error) = (lease.clone(), error.to_owned());
        self.commits.write(move |conn| Box::pin(async move {
            let done = sqlx::query(
                "UPDATE jobs SET state = 'queued', attempts = attempts + 1, last_error = ?, not_before = ?,
                                 lease_token = NULL, lease_until = NULL
                 WHERE id = ? AND state = 'running' AND lease_token = ?",
            )
            .bind(&error)
            .bind(ms(not_before))
            .bind(lease.job.0)
            .bind(&lease.token)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
            ok_if_changed(done.rows_affected(), &lease)
        })).await
    }
    async fn wedge(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        let (lease, reason) = (lease.clone(), reason.to_owned());
        self.commits.write(move |conn| Box::pin(async move {
            let done = sqlx::query(
                "UPDATE jobs SET state = 'dead', attempts = attempts + 1, last_error = ?, lease_token = NULL, lease_until = NULL
                 WHERE id = ? AND state = 'running' AND lease_token = ?",
            )
            .bind(&reason)
            .bind(lease.job.0)
            .bind(&lease.token)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
            ok_if_changed(done.rows_affected(), &lease)
        })).await
    }
    async fn requeue(&self, job: JobId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.commits.write(move |conn| Box::pin(async move {
            let done = sqlx::query("UPDATE jobs SET state = 'queued', attempts = 0, not_before = ? WHERE id = ? AND state = 'dead'")
                .bind(ms(now))
                .bind(job.0)
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
            if done.rows_affected() == 0 { Err(StoreError::NoSuchJob(job)) } else { Ok(()) }
        })).await
    }
    async fn purge_dead(&self, job: Option<JobId>) -> Result<u64, StoreError> {
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    let done = match job {
                        Some(id) => {
                            sqlx::query("DELETE FROM jobs WHERE state = 'dead' AND id = ?")
                                .bind(id.0)
                                .execute(&mut *conn)
                                .await
                        }
                        None => {
                            sqlx::query("DELETE FROM jobs WHERE state = 'dead'")
                                .execute(&mut *conn)
                                .await
                        }
                    }
                    .map_err(db_err)?;
                    Ok(done.rows_affected())
                })
            })
            .await
    }
    async fn prune_done(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    let done =
                        sqlx::query("DELETE FROM jobs WHERE state = 'done' AND created_at < ?")
                            .bind(ms(before))
                            .execute(&mut *conn)
                            .await
                            .map_err(db_err)?;
                    Ok(done.rows_affected())
                })
            })
            .await
    }
    async fn job(&self, job: JobId) -> Result<Option<JobRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"))
            .bind(job.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        row.as_ref().map(record::<_, i64>).transpose()
    }
    async fn jobs(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE state = ? ORDER BY id LIMIT ?"
        ))
        .bind(state.as_str())
        .bind(limit_i64(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter().map(record::<_, i64>).collect()
    }
    async fn stats(&self) -> Result<QueueStats, StoreError> {
        let rows = sqlx::query("SELECT state, count(*) AS n FROM jobs GROUP BY state")
            .fetch_all(&self.reader)
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
}

#[async_trait]
impl LinkStore for SqliteStore {
    async fn get_link(&self, key: &LinkKey) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT value FROM links WHERE kind = ? AND key = ?")
            .bind(key.kind().as_str())
            .bind(key.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)
    }
    async fn put_link(&self, link: &Link) -> Result<String, StoreError> {
        let link = link.clone();
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    // The no-op update makes RETURNING yield the stored row when the key exists: the
                    // winner of a race, in one statement.
                    sqlx::query_scalar(
                        "INSERT INTO links (kind, key, value, scope) VALUES (?, ?, ?, ?)
                 ON CONFLICT (kind, key) DO UPDATE SET value = links.value
                 RETURNING value",
                    )
                    .bind(link.key.kind().as_str())
                    .bind(link.key.as_str())
                    .bind(&link.value)
                    .bind(&link.scope)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)
                })
            })
            .await
    }
    async fn set_link(&self, link: &Link) -> Result<(), StoreError> {
        let write = LinkWrite::Set(link.clone());
        self.commits.write(move |conn| Box::pin(async move { apply(conn, &write).await })).await
    }
    async fn delete_link(&self, key: &LinkKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    let done = sqlx::query("DELETE FROM links WHERE kind = ? AND key = ?")
                        .bind(key.kind().as_str())
                        .bind(key.as_str())
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await
    }
    async fn links_with_prefix(
        &self,
        range: &LinkPrefix,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError> {
        let (kind, prefix) = (range.kind(), range.as_str());
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
        .fetch_all(&self.reader)
        .await
        .map_err(db_err)?;
        rows.iter().map(|r| link(r, kind)).collect()
    }
}
