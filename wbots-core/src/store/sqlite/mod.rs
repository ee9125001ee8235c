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

mod channels;
mod files;
mod group_commit;
mod privacy;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqliteConnection};

use self::group_commit::{GroupCommit, Lane};

use super::sql::statements::{
    APPLIED_MIGRATION, COMPLETE, DELETE_LINK, EXTEND_LEASE, FORGET_JOBS, FORGET_LINKS, GET_LINK,
    JOB, JOB_ID_BY_KEY, JOBS_IN_STATE, LINKS_FROM, LINKS_IN_RANGE, POSTPONE, PRUNE_DONE,
    PURGE_DEAD_ALL, PURGE_DEAD_ONE, PUT_LINK, RELEASE_ALL_LEASES, REQUEUE, RETRY_LATER, STATS,
    WEDGE, claimed_columns,
};
use super::sql::{self, binds, db_err, lease_ms, limit_i64, ms, rows};
use super::{
    ClaimedJob, Enqueued, Forgotten, JobQueue, JobRecord, JobState, Lane as JobLane, Lease, Link,
    LinkKey, LinkPrefix, LinkStore, LinkWrite, NewJob, QueueStats, Store,
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
    /// Request budgets, in memory: a SQLite store serves one process (`connect_exclusive`),
    /// so nothing needs them on disk, and a Chatwoot call costs no write.
    budgets: Arc<crate::store::MemoryBuckets>,
    /// The exclusive lock on `<db>.lock`, when taken; released when the last clone drops.
    _lock: Option<Arc<std::fs::File>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url`: `sqlite://wbots.db` (relative to
    /// the working directory), `sqlite:///var/lib/wbots/wbots.db`, or `sqlite::memory:`.
    /// Does not migrate.
    ///
    /// One store per file per process: clone it rather than connect again. SQLite's locks
    /// are POSIX locks, held per process, and connecting checks the files' modes by opening
    /// and closing them — which drops the locks the process's first store holds, so another
    /// process could then reset the write-ahead log under it.
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
        Ok(Self { writer, reader, commits, budgets: Arc::default(), _lock: lock })
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

/// SQLite's integers are all 8 bytes (see `sql::rows`).
type Int = i64;

/// Claims up to `limit` queue heads in one statement.
///
/// A job may run when it is the head of its ordering key (no active job before it). Queued
/// jobs are walked in hand-out order through `jobs_ready` and each head check is one probe
/// of `jobs_active`, so a claim costs about `limit` rows however long the backlog. Expired
/// leases are taken over first (a running job is always a head).
///
/// SQLite's own form, unlike PostgreSQL's: `INDEXED BY`, because without ANALYZE
/// statistics SQLite would pick `jobs_by_state` and sort the whole backlog instead; no row
/// locks, because the one writer connection runs claims one at a time (`BEGIN IMMEDIATE`);
/// the token from `randomblob`.
const CLAIM: &str = concat!(
    "UPDATE jobs SET state = 'running', lease_until = $3, claims = claims + 1,
                     lease_token = lower(hex(randomblob(16)))
     WHERE id IN (
         SELECT id FROM (
             SELECT id, priority FROM jobs WHERE state = 'running' AND lease_until < $1
             UNION ALL
             SELECT id, priority FROM (
                 SELECT j.id, j.priority FROM jobs j INDEXED BY jobs_ready
                 WHERE j.state = 'queued' AND j.not_before <= $1
                   AND NOT EXISTS (SELECT 1 FROM jobs p
                                   WHERE p.ordering_key = j.ordering_key
                                     AND p.state IN ('queued', 'running') AND p.id < j.id)
                 ORDER BY j.priority DESC, j.id
                 LIMIT $2)
         )
         ORDER BY priority DESC, id
         LIMIT $2)
     RETURNING ",
    claimed_columns!()
);

/// [`CLAIM`] within one lane (`$4`): the head check still sees every lane's jobs, and the
/// walk goes through `jobs_ready_by_lane`, so a lane with nothing ready costs nothing
/// however long the other lane's backlog.
const CLAIM_LANE: &str = concat!(
    "UPDATE jobs SET state = 'running', lease_until = $3, claims = claims + 1,
                     lease_token = lower(hex(randomblob(16)))
     WHERE id IN (
         SELECT id FROM (
             SELECT id, priority FROM jobs WHERE state = 'running' AND lease_until < $1 AND lane = $4
             UNION ALL
             SELECT id, priority FROM (
                 SELECT j.id, j.priority FROM jobs j INDEXED BY jobs_ready_by_lane
                 WHERE j.lane = $4 AND j.state = 'queued' AND j.not_before <= $1
                   AND NOT EXISTS (SELECT 1 FROM jobs p
                                   WHERE p.ordering_key = j.ordering_key
                                     AND p.state IN ('queued', 'running') AND p.id < j.id)
                 ORDER BY j.priority DESC, j.id
                 LIMIT $2)
         )
         ORDER BY priority DESC, id
         LIMIT $2)
     RETURNING ",
    claimed_columns!()
);

async fn claim_heads(
    conn: &mut SqliteConnection,
    now_ms: i64,
    until: i64,
    limit: usize,
    lane: Option<JobLane>,
) -> Result<Vec<ClaimedJob>, StoreError> {
    let query = match lane {
        None => sqlx::query(CLAIM),
        Some(_) => sqlx::query(CLAIM_LANE),
    };
    let query = query.bind(now_ms).bind(limit_i64(limit)).bind(until);
    let query = match lane {
        None => query,
        Some(lane) => query.bind(lane.as_str()),
    };
    let rows = query.fetch_all(&mut *conn).await.map_err(db_err)?;
    rows::claimed_in_queue_order::<_, Int>(&rows)
}

/// Runs one write statement on the writer connection; how many rows it changed.
async fn execute(
    conn: &mut SqliteConnection,
    query: binds::Q<'_, Sqlite>,
) -> Result<u64, StoreError> {
    Ok(query.execute(conn).await.map_err(db_err)?.rows_affected())
}

#[async_trait]
impl Store for SqliteStore {
    fn privacy(&self) -> Option<&dyn super::PrivacyStore> {
        Some(self)
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        sql::migrate(&MIGRATOR, &self.writer).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        let applied = sqlx::query_scalar(APPLIED_MIGRATION).fetch_one(&self.reader).await;
        sql::migrated(&MIGRATOR, applied)
    }
    async fn forget_scope(&self, scope: &str) -> Result<Forgotten, StoreError> {
        let scope = scope.to_owned();
        let forgotten = self
            .commits
            .write(move |conn| {
                Box::pin(async move {
                    let links = execute(conn, sqlx::query(FORGET_LINKS).bind(&scope)).await?;
                    let jobs = execute(conn, sqlx::query(FORGET_JOBS).bind(&scope)).await?;
                    Ok(Forgotten { links, jobs })
                })
            })
            .await?;
        // SQLite only: the rows are zeroed in the pages the transaction wrote, but older
        // copies of those pages are still in the write-ahead log until it is emptied.
        self.empty_the_wal().await?;
        Ok(forgotten)
    }
}

#[async_trait]
impl JobQueue for SqliteStore {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        let jobs = jobs.to_vec();
        // No lock needed for order (PostgreSQL takes one): one writer, one commit order.
        self.commits
            .write_in(Lane::Urgent, move |conn| {
                Box::pin(async move {
                    let now = ms(Utc::now());
                    let mut out = Vec::with_capacity(jobs.len());
                    for job in &jobs {
                        let inserted = binds::new_job(job, now)
                            .fetch_optional(&mut *conn)
                            .await
                            .map_err(db_err)?;
                        out.push(match inserted {
                            Some(row) => Enqueued::New(JobId(rows::first(&row)?)),
                            None => Enqueued::Duplicate(JobId(
                                sqlx::query_scalar(JOB_ID_BY_KEY)
                                    .bind(&job.idempotency_key)
                                    .fetch_one(&mut *conn)
                                    .await
                                    .map_err(db_err)?,
                            )),
                        });
                    }
                    Ok(out)
                })
            })
            .await
    }
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let now_ms = ms(now);
        let until = now_ms.saturating_add(lease_ms(lease_for));
        self.commits
            .write(move |conn| Box::pin(claim_heads(conn, now_ms, until, limit, None)))
            .await
    }
    async fn claim_lane(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
        lane: JobLane,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let now_ms = ms(now);
        let until = now_ms.saturating_add(lease_ms(lease_for));
        self.commits
            .write(move |conn| Box::pin(claim_heads(conn, now_ms, until, limit, Some(lane))))
            .await
    }
    async fn extend_lease(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        lease_for: Duration,
    ) -> Result<(), StoreError> {
        let lease = lease.clone();
        let until = ms(now).saturating_add(lease_ms(lease_for));
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    let q = binds::lease(sqlx::query(EXTEND_LEASE), &lease).bind(until);
                    sql::lease_held(execute(conn, q).await?, &lease)
                })
            })
            .await
    }
    async fn release_all_leases(&self) -> Result<u64, StoreError> {
        self.commits
            .write(move |conn| Box::pin(execute(conn, sqlx::query(RELEASE_ALL_LEASES))))
            .await
    }
    async fn complete(&self, lease: &Lease, writes: &[LinkWrite]) -> Result<(), StoreError> {
        let (lease, writes) = (lease.clone(), writes.to_vec());
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    // Guarded by the lease: a lost lease changes nothing (see group_commit).
                    let done = execute(conn, binds::lease(sqlx::query(COMPLETE), &lease)).await?;
                    sql::lease_held(done, &lease)?;
                    for q in binds::link_writes(&writes) {
                        execute(conn, q).await?;
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
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    let q = binds::lease(sqlx::query(RETRY_LATER), &lease)
                        .bind(&error)
                        .bind(ms(not_before));
                    sql::lease_held(execute(conn, q).await?, &lease)
                })
            })
            .await
    }
    async fn postpone(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        note: &str,
    ) -> Result<(), StoreError> {
        let (lease, note) = (lease.clone(), note.to_owned());
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    let q = binds::lease(sqlx::query(POSTPONE), &lease)
                        .bind(&note)
                        .bind(ms(not_before));
                    sql::lease_held(execute(conn, q).await?, &lease)
                })
            })
            .await
    }
    async fn wedge(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        let (lease, reason) = (lease.clone(), reason.to_owned());
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    let q = binds::lease(sqlx::query(WEDGE), &lease).bind(&reason);
                    sql::lease_held(execute(conn, q).await?, &lease)
                })
            })
            .await
    }
    async fn requeue(&self, job: JobId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    let q = sqlx::query(REQUEUE).bind(job.0).bind(ms(now));
                    sql::dead_job_found(execute(conn, q).await?, job)
                })
            })
            .await
    }
    async fn purge_dead(&self, job: Option<JobId>) -> Result<u64, StoreError> {
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    let q = match job {
                        Some(id) => sqlx::query(PURGE_DEAD_ONE).bind(id.0),
                        None => sqlx::query(PURGE_DEAD_ALL),
                    };
                    execute(conn, q).await
                })
            })
            .await
    }
    async fn prune_done(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.commits
            .write(move |conn| Box::pin(execute(conn, sqlx::query(PRUNE_DONE).bind(ms(before)))))
            .await
    }
    async fn job(&self, job: JobId) -> Result<Option<JobRecord>, StoreError> {
        let row =
            sqlx::query(JOB).bind(job.0).fetch_optional(&self.reader).await.map_err(db_err)?;
        row.as_ref().map(rows::record::<_, Int>).transpose()
    }
    async fn jobs(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let found = sqlx::query(JOBS_IN_STATE)
            .bind(state.as_str())
            .bind(limit_i64(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        found.iter().map(rows::record::<_, Int>).collect()
    }
    async fn stats(&self) -> Result<QueueStats, StoreError> {
        let found = sqlx::query(STATS).fetch_all(&self.reader).await.map_err(db_err)?;
        rows::queue_stats(&found)
    }
}

#[async_trait]
impl LinkStore for SqliteStore {
    async fn get_link(&self, key: &LinkKey) -> Result<Option<String>, StoreError> {
        let row = binds::key(sqlx::query(GET_LINK), key)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::first).transpose()
    }
    async fn put_link(&self, link: &Link) -> Result<String, StoreError> {
        let link = link.clone();
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    let row = binds::link(sqlx::query(PUT_LINK), &link)
                        .fetch_one(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    rows::first(&row)
                })
            })
            .await
    }
    async fn set_link(&self, link: &Link) -> Result<(), StoreError> {
        let write = LinkWrite::Set(link.clone());
        self.commits
            .write(move |conn| {
                Box::pin(async move { execute(conn, binds::link_write(&write)).await.map(drop) })
            })
            .await
    }
    async fn delete_link(&self, key: &LinkKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.commits
            .write(move |conn| {
                Box::pin(async move {
                    Ok(execute(conn, binds::key(sqlx::query(DELETE_LINK), &key)).await? > 0)
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
        let query = match sql::prefix_end(prefix) {
            Some(end) => sqlx::query(LINKS_IN_RANGE).bind(kind.as_str()).bind(prefix).bind(end),
            None => sqlx::query(LINKS_FROM).bind(kind.as_str()).bind(prefix),
        };
        let found = query.bind(limit_i64(limit)).fetch_all(&self.reader).await.map_err(db_err)?;
        found.iter().map(|r| rows::link(r, kind)).collect()
    }
}

#[async_trait]
impl crate::store::RateBudgets for SqliteStore {
    async fn take_tokens(
        &self,
        name: &str,
        now: DateTime<Utc>,
        rate: crate::store::BudgetRate,
        want: u32,
    ) -> Result<crate::store::Tokens, StoreError> {
        Ok(self.budgets.take(name, now, rate, want))
    }
}
