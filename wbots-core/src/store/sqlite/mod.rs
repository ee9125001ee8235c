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

mod binds;
mod channels;
mod files;
mod group_commit;
mod migrations;
mod open;
mod privacy;
mod readers;
mod rows;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, named_params};

use self::binds::{execute, keyed, leased, query, query_one};
use self::group_commit::{GroupCommit, Lane};
use self::open::{Role, Target};
use self::readers::Readers;

use super::sql::statements::{
    APPLIED_MIGRATION, COMPLETE, DELETE_LINK, EXTEND_LEASE, FORGET_JOBS, FORGET_LINKS, GET_LINK,
    JOB, JOB_ID_BY_KEY, JOBS_IN_STATE, LINKS_FROM, LINKS_IN_RANGE, POSTPONE, PRUNE_DONE,
    PURGE_DEAD_ALL, PURGE_DEAD_ONE, PUT_LINK, RELEASE_ALL_LEASES, REQUEUE, RETRY_LATER, STATS,
    WEDGE, claimed_columns,
};
use super::sql::{self, lease_ms, limit_i64, ms};
use super::{
    ClaimedJob, Enqueued, Forgotten, JobQueue, JobRecord, JobState, Lane as JobLane, Lease, Link,
    LinkKey, LinkPrefix, LinkStore, LinkWrite, NewJob, QueueStats, Store,
};
use crate::error::StoreError;
use crate::ids::JobId;

/// A store in one SQLite file.
///
/// SQLite lets one writer in at a time, and a connection that finds the lock taken sleeps
/// in its busy handler (up to 100 ms a turn) instead of queueing. So every write goes
/// through one connection, owned by one thread where writers wait in turn without sleeping
/// and share commits (`group_commit`), and reads use their own connections (WAL lets them
/// run beside the writer; `readers`). The database is driven through rusqlite, in plain
/// calls: each statement costs no hand-off between threads.
///
/// Opened with [`SqliteStore::connect_exclusive`], the store is the only one on its file:
/// a second process is refused while this one lives.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    commits: GroupCommit,
    /// Read connections; `None` in memory, where everything runs on the writer's one
    /// connection (an in-memory database exists per connection).
    readers: Option<Arc<Readers>>,
    /// Request budgets, in memory: a SQLite store serves one process (`connect_exclusive`),
    /// so nothing needs them on disk, and a Chatwoot call costs no write.
    budgets: Arc<crate::store::MemoryBuckets>,
    /// The exclusive lock on `<db>.lock`, when taken; released when the last clone drops
    /// and the writer has closed its connection (the writer thread holds it too).
    _lock: Option<Arc<std::fs::File>>,
}

/// Sorts a database failure into "may work later" or "the data is wrong", keeping it as
/// the source.
pub(super) fn db_err(e: rusqlite::Error) -> StoreError {
    use rusqlite::Error as E;
    match &e {
        E::FromSqlConversionFailure(..)
        | E::IntegralValueOutOfRange(..)
        | E::InvalidColumnType(..)
        | E::InvalidColumnName(_)
        | E::InvalidColumnIndex(_)
        | E::Utf8Error(_) => StoreError::corrupt(e.to_string()).caused_by(e),
        _ => StoreError::unavailable(e.to_string()).caused_by(e),
    }
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
        let target = open::parse(url)?;
        let mut lock = None;
        if let Target::File(db) = &target {
            if exclusive {
                lock = Some(Arc::new(files::lock(db)?));
            }
            files::prepare(db)?;
        }
        // Opening a file touches the disk: off the runtime's threads.
        let opened = target.clone();
        let writer = tokio::task::spawn_blocking(move || open::connect(&opened, Role::Writer))
            .await
            .map_err(|e| StoreError::unavailable(format!("opening SQLite failed: {e}")))??;
        let readers = match target {
            Target::Memory => None,
            Target::File(_) => Some(Arc::new(Readers::new(target))),
        };
        let commits = GroupCommit::start(writer, lock.clone())?;
        Ok(Self { commits, readers, budgets: Arc::default(), _lock: lock })
    }

    /// A small read (a row by its key): on the caller's thread, on a read connection.
    async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.readers {
            Some(readers) => readers.read(read),
            None => self.commits.bare(move |conn| read(conn)).await,
        }
    }

    /// A read that may return many rows: on tokio's blocking pool.
    async fn read_apart<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.readers {
            Some(readers) => readers.read_apart(read).await,
            None => self.commits.bare(move |conn| read(conn)).await,
        }
    }

    /// Copies the write-ahead log into the database and truncates it to nothing, so rows
    /// deleted (and zeroed, `secure_delete`) leave no older copy in the `-wal` file.
    async fn empty_the_wal(&self) -> Result<(), StoreError> {
        // (busy, frames in the log, frames checkpointed); busy = 1 when a reader kept the
        // log from being emptied even after the busy timeout. Without WAL (in memory) the
        // log columns are -1 and there is nothing to empty. On the writer's connection,
        // between batches: a checkpoint cannot run inside a transaction.
        let busy: i64 = self
            .commits
            .bare(|conn| {
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
                    .map_err(db_err)
            })
            .await?;
        if busy != 0 {
            return Err(StoreError::unavailable(
                "the deletion is committed, but the write-ahead log could not be emptied yet \
                 (readers busy); ask again",
            ));
        }
        Ok(())
    }

    /// Closes the store: the writer stops after the batch in progress (writes still
    /// waiting hear an error) and its connection closes, then the read connections. The
    /// store is unusable afterwards.
    pub async fn close(&self) {
        self.commits.stop();
        self.commits.stopped().await;
        if let Some(readers) = &self.readers {
            readers.close();
        }
    }
}

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

fn claim_heads(
    conn: &Connection,
    now_ms: i64,
    until: i64,
    limit: usize,
    lane: Option<JobLane>,
) -> Result<Vec<ClaimedJob>, StoreError> {
    let limit = limit_i64(limit);
    let claimed = match lane {
        None => query(
            conn,
            CLAIM,
            named_params! {"$1": now_ms, "$2": limit, "$3": until},
            rows::claimed,
        )?,
        Some(lane) => query(
            conn,
            CLAIM_LANE,
            named_params! {"$1": now_ms, "$2": limit, "$3": until, "$4": lane.as_str()},
            rows::claimed,
        )?,
    };
    Ok(rows::in_queue_order(claimed))
}

#[async_trait]
impl Store for SqliteStore {
    fn privacy(&self) -> Option<&dyn super::PrivacyStore> {
        Some(self)
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        // On the writer's connection, between batches: each migration is its own
        // transaction.
        self.commits.bare(migrations::run).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        let applied = self
            .read(|conn| {
                conn.query_row(APPLIED_MIGRATION, [], |row| row.get::<_, Option<i64>>(0))
                    .map_err(db_err)
            })
            .await;
        sql::migrated(&migrations::MIGRATOR, applied)
    }
    async fn forget_scope(&self, scope: &str) -> Result<Forgotten, StoreError> {
        let scope = scope.to_owned();
        let forgotten = self
            .commits
            .write(move |tx| {
                let links = execute(tx, FORGET_LINKS, named_params! {"$1": scope})?;
                let jobs = execute(tx, FORGET_JOBS, named_params! {"$1": scope})?;
                Ok(Forgotten { links, jobs })
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
            .write_in(Lane::Urgent, move |tx| {
                let now = ms(Utc::now());
                let mut out = Vec::with_capacity(jobs.len());
                for job in &jobs {
                    out.push(match binds::insert_job(tx, job, now)? {
                        Some(id) => Enqueued::New(JobId(id)),
                        None => {
                            let key = named_params! {"$1": job.idempotency_key};
                            let id = query_one(tx, JOB_ID_BY_KEY, key, rows::first)?;
                            Enqueued::Duplicate(JobId(id.ok_or_else(|| {
                                StoreError::corrupt(format!(
                                    "job {:?} was neither stored nor found",
                                    job.idempotency_key
                                ))
                            })?))
                        }
                    });
                }
                Ok(out)
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
        self.commits.write(move |tx| claim_heads(tx, now_ms, until, limit, None)).await
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
        self.commits.write(move |tx| claim_heads(tx, now_ms, until, limit, Some(lane))).await
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
            .write(move |tx| {
                let changed = leased(tx, EXTEND_LEASE, &lease, named_params! {"$3": until})?;
                sql::lease_held(changed, &lease)
            })
            .await
    }
    async fn release_all_leases(&self) -> Result<u64, StoreError> {
        self.commits.write(move |tx| execute(tx, RELEASE_ALL_LEASES, &[])).await
    }
    async fn complete(&self, lease: &Lease, writes: &[LinkWrite]) -> Result<(), StoreError> {
        let (lease, writes) = (lease.clone(), writes.to_vec());
        self.commits
            .write(move |tx| {
                // Guarded by the lease: a lost lease changes nothing (see group_commit).
                sql::lease_held(leased(tx, COMPLETE, &lease, &[])?, &lease)?;
                binds::link_writes(tx, &writes)
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
            .write(move |tx| {
                let more = named_params! {"$3": error, "$4": ms(not_before)};
                sql::lease_held(leased(tx, RETRY_LATER, &lease, more)?, &lease)
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
            .write(move |tx| {
                let more = named_params! {"$3": note, "$4": ms(not_before)};
                sql::lease_held(leased(tx, POSTPONE, &lease, more)?, &lease)
            })
            .await
    }
    async fn wedge(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        let (lease, reason) = (lease.clone(), reason.to_owned());
        self.commits
            .write(move |tx| {
                let more = named_params! {"$3": reason};
                sql::lease_held(leased(tx, WEDGE, &lease, more)?, &lease)
            })
            .await
    }
    async fn requeue(&self, job: JobId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.commits
            .write(move |tx| {
                let changed = execute(tx, REQUEUE, named_params! {"$1": job.0, "$2": ms(now)})?;
                sql::dead_job_found(changed, job)
            })
            .await
    }
    async fn purge_dead(&self, job: Option<JobId>) -> Result<u64, StoreError> {
        self.commits
            .write(move |tx| match job {
                Some(id) => execute(tx, PURGE_DEAD_ONE, named_params! {"$1": id.0}),
                None => execute(tx, PURGE_DEAD_ALL, &[]),
            })
            .await
    }
    async fn prune_done(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.commits
            .write(move |tx| execute(tx, PRUNE_DONE, named_params! {"$1": ms(before)}))
            .await
    }
    async fn job(&self, job: JobId) -> Result<Option<JobRecord>, StoreError> {
        self.read(move |conn| query_one(conn, JOB, named_params! {"$1": job.0}, rows::record)).await
    }
    async fn jobs(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let limit = limit_i64(limit);
        self.read_apart(move |conn| {
            let params = named_params! {"$1": state.as_str(), "$2": limit};
            query(conn, JOBS_IN_STATE, params, rows::record)
        })
        .await
    }
    async fn stats(&self) -> Result<QueueStats, StoreError> {
        self.read_apart(|conn| {
            let counts = query(conn, STATS, &[], |row| {
                Ok((rows::first(row)?, row.get::<_, i64>(1).map_err(db_err)?))
            })?;
            Ok(rows::queue_stats(counts))
        })
        .await
    }
}

#[async_trait]
impl LinkStore for SqliteStore {
    async fn get_link(&self, key: &LinkKey) -> Result<Option<String>, StoreError> {
        let key = key.clone();
        self.read(move |conn| keyed(&key, |p| query_one(conn, GET_LINK, p, rows::first))).await
    }
    async fn put_link(&self, link: &Link) -> Result<String, StoreError> {
        let link = link.clone();
        self.commits
            .write(move |tx| {
                let kind = link.key.kind().as_str();
                let params = named_params! {
                    "$1": kind, "$2": link.key.as_str(), "$3": link.value, "$4": link.scope,
                };
                query_one(tx, PUT_LINK, params, rows::first)?
                    .ok_or_else(|| StoreError::corrupt("a link upsert returned no row"))
            })
            .await
    }
    async fn set_link(&self, link: &Link) -> Result<(), StoreError> {
        let write = [LinkWrite::Set(link.clone())];
        self.commits.write(move |tx| binds::link_writes(tx, &write)).await
    }
    async fn delete_link(&self, key: &LinkKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.commits.write(move |tx| Ok(keyed(&key, |p| execute(tx, DELETE_LINK, p))? > 0)).await
    }
    async fn links_with_prefix(
        &self,
        range: &LinkPrefix,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError> {
        let (kind, prefix) = (range.kind(), range.as_str().to_owned());
        let limit = limit_i64(limit);
        self.read_apart(move |conn| {
            let decode = |row: &rusqlite::Row<'_>| rows::link(row, kind);
            let k = kind.as_str();
            match sql::prefix_end(&prefix) {
                Some(end) => query(
                    conn,
                    LINKS_IN_RANGE,
                    named_params! {"$1": k, "$2": prefix, "$3": end, "$4": limit},
                    decode,
                ),
                None => query(
                    conn,
                    LINKS_FROM,
                    named_params! {"$1": k, "$2": prefix, "$3": limit},
                    decode,
                ),
            }
        })
        .await
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
