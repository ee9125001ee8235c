//! [`PostgresStore`] (feature `postgres`): the store for several replicas.
//!
//! The hot writes (enqueue, claim, completion, retry, postponement, lease extension, wedge,
//! link writes) are group-committed (see `group_commit`): the writes waiting at one moment
//! share one transaction and one commit on a writer connection, webhooks' enqueues first,
//! and a batch that fails is rolled back and its writes run again one by one, so only a
//! write that fails alone hears an error. Durability is unchanged (`synchronous_commit`
//! stays on: a write's caller hears back after its batch's WAL flush). Rare writes
//! (operators' requeue/purge, upkeep's pruning and lease release, data deletion, channels,
//! the audit trail) run each in its own transaction on the pool: they would hold their
//! rows' locks for a whole batch and gain nothing from sharing a commit. So does the rate
//! budget (`take_tokens`): its row lock is what orders replicas, and holding it for a
//! batch would make every replica's budget wait on that batch.
//!
//! Jobs are claimed with `FOR UPDATE SKIP LOCKED` inside one statement, so replicas never
//! wait on each other's claims and never take the same job; the claim's outer `WHERE`
//! re-checks readiness, so a row another replica claimed between this statement's snapshot
//! and its lock is skipped too. A crashed replica's jobs are taken over when their lease
//! expires.

mod channels;
// The fresh databases come from the test kit, as in the other PostgreSQL tests.
#[cfg(all(test, feature = "testkit"))]
mod claim_plan_tests;
mod group_commit;
mod privacy;
mod takeover;
mod writes;

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row};

use self::group_commit::GroupCommit;
use self::takeover::Takeovers;
use self::writes::{Write, Written};
use super::sql::statements::{
    APPLIED_MIGRATION, FORGET_JOBS, FORGET_LINKS, GET_LINK, JOB, JOBS_IN_STATE, LINKS_FROM,
    LINKS_IN_RANGE, PRUNE_DONE, PURGE_DEAD_ALL, PURGE_DEAD_ONE, RELEASE_ALL_LEASES, REQUEUE, STATS,
    claimed_columns,
};
use super::sql::{self, binds, db_err, lease_ms, limit_i64, ms, rows};
use super::{
    ClaimedJob, Enqueued, Forgotten, JobQueue, JobRecord, JobState, Lane, Lease, Link, LinkKey,
    LinkPrefix, LinkStore, LinkWrite, NewJob, QueueStats, Store,
};
use crate::error::StoreError;
use crate::ids::JobId;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A store in PostgreSQL.
///
/// Its group-commit writers each hold one connection of the pool while the store lives
/// (see `group_commit::WRITERS`); reads and rare writes use the rest.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    commits: GroupCommit,
    takeovers: Takeovers,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host/db`). Does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(|e: sqlx::Error| {
            StoreError::unavailable(format!("invalid Postgres URL: {e}")).caused_by(e)
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await
            .map_err(db_err)?;
        Ok(Self::from_pool(pool))
    }

    /// A store over an existing pool. Its writers start with its first write, inside the
    /// caller's Tokio runtime, and each keeps one of the pool's connections.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { commits: GroupCommit::new(pool.clone()), pool, takeovers: Takeovers::default() }
    }

    /// The pool, for embedders who share it.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Claims through group commit, in `lane` or any.
    async fn claim_in(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
        lane: Option<Lane>,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let now = ms(now);
        let until = now.saturating_add(lease_ms(lease_for));
        let takeover = lane.is_none_or(|lane| self.takeovers.due(now, lane));
        match self.commits.write(Write::Claim { now, until, limit, lane, takeover }).await? {
            Written::Claimed(jobs) => Ok(jobs),
            other => Err(mismatch(&other)),
        }
    }

    /// Runs a write that answers nothing through group commit.
    async fn done(&self, write: Write) -> Result<(), StoreError> {
        match self.commits.write(write).await? {
            Written::Done => Ok(()),
            other => Err(mismatch(&other)),
        }
    }

    /// Runs one statement on the pool; how many rows it changed.
    async fn execute(&self, query: binds::Q<'_, Postgres>) -> Result<u64, StoreError> {
        Ok(query.execute(&self.pool).await.map_err(db_err)?.rows_affected())
    }
}

/// A write answered with another kind of answer than its own: a bug in this store.
/// (The answer itself is not told: it may hold a job's payload.)
fn mismatch(_answer: &Written) -> StoreError {
    StoreError::corrupt("the PostgreSQL writer answered another kind of write")
}

/// PostgreSQL's `INTEGER` is 4 bytes, and sqlx decodes strictly by type (see `sql::rows`).
type Int = i32;

/// The claim, PostgreSQL's own form. A job may run when it is the head of its ordering key
/// (no active job before it). Queued jobs are walked in hand-out order through
/// `jobs_ready` and each head check is one probe of `jobs_active`, so a claim costs about
/// `limit` rows however long the backlog. A running job is always a head.
///
/// Unlike SQLite's, replicas claim at once here: `FOR UPDATE SKIP LOCKED` keeps them off
/// each other's rows without waiting, and the outer `WHERE` re-checks readiness, so a row
/// another replica claimed between this statement's snapshot and its lock is skipped. The
/// token from `md5(random())` (PostgreSQL has no `randomblob`).
///
/// Written so that its only sensible plan reads about `limit` rows whatever the planner's
/// statistics say (PostgreSQL has no `INDEXED BY`). Statistics taken before a backlog —
/// a fresh database before autovacuum's first ANALYZE, or an outage's backlog on a table
/// analyzed when nothing was queued — estimate `jobs_active` at a row or two, and the
/// plain forms (`NOT EXISTS (… p.id < j.id)`, `id IN (…) AND (state = 'queued' AND …)`)
/// then got plans reading every active job per head check and again for the update:
/// ~80 ms a claim with 20,000 jobs queued (`EXPLAIN ANALYZE`, custom and generic plans),
/// one replica's throughput halved in the load harness until autovacuum caught up. So:
/// the head check asks for the key's first active job (`ORDER BY p.id LIMIT 1`, which only
/// an index probe on `ordering_key` answers cheaply), the update finds its rows by
/// `id = ANY(ARRAY(…))` (the primary key), and its readiness re-check is a `CASE` the
/// planner cannot match to `jobs_active`'s predicate (so it cannot pick that index and
/// filter every active row). Two more cases, found in the harness with `auto_explain`: the
/// look for expired leases reads the index entries of every job run since the last vacuum,
/// so most claims leave it out (`takeover`, the macro's first part: [`CLAIM_LANE_HEADS`],
/// `takeover.rs`); and a plan kept from when the table held a few rows updated by a
/// sequential scan, so claims are planned afresh each time (`writes.rs`). Tests:
/// `postgres/claim_plan_tests.rs`.
macro_rules! claim_statement {
    (takeover: $takeover:literal, lane: $lane:literal) => {
        concat!(
            "WITH candidates AS (",
            $takeover,
            "(SELECT j.id, j.priority FROM jobs j
          WHERE ",
            $lane,
            "j.state = 'queued' AND j.not_before <= $1
            AND j.id = (SELECT p.id FROM jobs p
                        WHERE p.ordering_key = j.ordering_key
                          AND p.state IN ('queued', 'running')
                        ORDER BY p.id LIMIT 1)
          ORDER BY j.priority DESC, j.id LIMIT $2)
     ), ready AS (
         SELECT id FROM candidates ORDER BY priority DESC, id LIMIT $2
     ), locked AS (
         SELECT id FROM jobs WHERE id IN (SELECT id FROM ready) FOR UPDATE SKIP LOCKED
     )
     UPDATE jobs SET state = 'running', lease_until = $3, claims = claims + 1,
                     lease_token = md5(random()::text || clock_timestamp()::text || id::text)
     WHERE id = ANY(ARRAY(SELECT id FROM locked))
       AND CASE state WHEN 'queued' THEN not_before <= $1
                      WHEN 'running' THEN lease_until < $1 ELSE false END
     RETURNING ",
            claimed_columns!()
        )
    };
}

/// The claim that also takes over expired leases (see [`claim_statement`]).
const CLAIM: &str = claim_statement!(
    takeover: "(SELECT id, priority FROM jobs
          WHERE state = 'running' AND lease_until < $1
          ORDER BY id LIMIT $2)
         UNION ALL
         ",
    lane: ""
);

/// [`CLAIM`] within one lane (`$4`): the head check still sees every lane's jobs; the walk
/// uses `jobs_ready_by_lane`, so a lane with nothing ready costs nothing however long the
/// other lane's backlog.
const CLAIM_LANE: &str = claim_statement!(
    takeover: "(SELECT id, priority FROM jobs
          WHERE state = 'running' AND lease_until < $1 AND lane = $4
          ORDER BY id LIMIT $2)
         UNION ALL
         ",
    lane: "j.lane = $4 AND "
);

/// [`CLAIM_LANE`] without looking for expired leases: what most of the workers' claims run
/// (`takeover.rs`). A claim in any lane (`Bridge::run_until_idle`, not the serve loop)
/// always looks: without the takeover branch beside it, PostgreSQL walks `jobs_ready` with
/// a bitmap scan, which reads every queued row version left since the last vacuum
/// (`claim_plan_tests.rs`).
const CLAIM_LANE_HEADS: &str = claim_statement!(takeover: "", lane: "j.lane = $4 AND ");

/// Ids come from a sequence, so two transactions enqueueing for one conversation could
/// commit in the other order than their ids, and a claim in between would take the later
/// job as the head. Holding the conversation's lock until commit makes ids and commits
/// follow one order. Taken in hash order, so batches never deadlock. (SQLite needs none:
/// one writer commits in id order.)
const LOCK_ORDERING_KEYS: &str = "SELECT pg_advisory_xact_lock(h) FROM (
         SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h
     ) AS ordered";

#[async_trait]
impl Store for PostgresStore {
    fn privacy(&self) -> Option<&dyn super::PrivacyStore> {
        Some(self)
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        sql::migrate(&MIGRATOR, &self.pool).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        let applied = sqlx::query_scalar(APPLIED_MIGRATION).fetch_one(&self.pool).await;
        sql::migrated(&MIGRATOR, applied)
    }
    async fn forget_scope(&self, scope: &str) -> Result<Forgotten, StoreError> {
        // Deleted rows stay in the table files as dead tuples until (auto)vacuum reclaims
        // them; the README tells operators so.
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let links = sqlx::query(FORGET_LINKS).bind(scope).execute(&mut *tx).await;
        let links = links.map_err(db_err)?.rows_affected();
        let jobs = sqlx::query(FORGET_JOBS).bind(scope).execute(&mut *tx).await;
        let jobs = jobs.map_err(db_err)?.rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(Forgotten { links, jobs })
    }
}

#[async_trait]
impl JobQueue for PostgresStore {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        match self.commits.write(Write::Enqueue(jobs.to_vec())).await? {
            Written::Enqueued(out) => Ok(out),
            other => Err(mismatch(&other)),
        }
    }
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        self.claim_in(now, lease_for, limit, None).await
    }
    async fn claim_lane(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
        lane: Lane,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        self.claim_in(now, lease_for, limit, Some(lane)).await
    }
    async fn extend_lease(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        lease_for: Duration,
    ) -> Result<(), StoreError> {
        let until = ms(now).saturating_add(lease_ms(lease_for));
        self.done(Write::ExtendLease { lease: lease.clone(), until }).await
    }
    async fn release_all_leases(&self) -> Result<u64, StoreError> {
        self.execute(sqlx::query(RELEASE_ALL_LEASES)).await
    }
    async fn complete(&self, lease: &Lease, writes: &[LinkWrite]) -> Result<(), StoreError> {
        self.done(Write::Complete { lease: lease.clone(), writes: writes.to_vec() }).await
    }
    async fn retry_later(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let (lease, error) = (lease.clone(), error.to_owned());
        self.done(Write::RetryLater { lease, not_before: ms(not_before), error }).await
    }
    async fn postpone(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        note: &str,
    ) -> Result<(), StoreError> {
        let (lease, note) = (lease.clone(), note.to_owned());
        self.done(Write::Postpone { lease, not_before: ms(not_before), note }).await
    }
    async fn wedge(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        self.done(Write::Wedge { lease: lease.clone(), reason: reason.to_owned() }).await
    }
    async fn requeue(&self, job: JobId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let done = self.execute(sqlx::query(REQUEUE).bind(job.0).bind(ms(now))).await?;
        sql::dead_job_found(done, job)
    }
    async fn purge_dead(&self, job: Option<JobId>) -> Result<u64, StoreError> {
        self.execute(match job {
            Some(id) => sqlx::query(PURGE_DEAD_ONE).bind(id.0),
            None => sqlx::query(PURGE_DEAD_ALL),
        })
        .await
    }
    async fn prune_done(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.execute(sqlx::query(PRUNE_DONE).bind(ms(before))).await
    }
    async fn job(&self, job: JobId) -> Result<Option<JobRecord>, StoreError> {
        let row = sqlx::query(JOB).bind(job.0).fetch_optional(&self.pool).await.map_err(db_err)?;
        row.as_ref().map(rows::record::<_, Int>).transpose()
    }
    async fn jobs(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let found = sqlx::query(JOBS_IN_STATE)
            .bind(state.as_str())
            .bind(limit_i64(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        found.iter().map(rows::record::<_, Int>).collect()
    }
    async fn stats(&self) -> Result<QueueStats, StoreError> {
        let found = sqlx::query(STATS).fetch_all(&self.pool).await.map_err(db_err)?;
        rows::queue_stats(&found)
    }
}

#[async_trait]
impl LinkStore for PostgresStore {
    async fn get_link(&self, key: &LinkKey) -> Result<Option<String>, StoreError> {
        let row = binds::key(sqlx::query(GET_LINK), key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(rows::first).transpose()
    }
    async fn put_link(&self, link: &Link) -> Result<String, StoreError> {
        match self.commits.write(Write::PutLink(link.clone())).await? {
            Written::Value(value) => Ok(value),
            other => Err(mismatch(&other)),
        }
    }
    async fn set_link(&self, link: &Link) -> Result<(), StoreError> {
        self.done(Write::SetLink(LinkWrite::Set(link.clone()))).await
    }
    async fn delete_link(&self, key: &LinkKey) -> Result<bool, StoreError> {
        match self.commits.write(Write::DeleteLink(key.clone())).await? {
            Written::Deleted(found) => Ok(found),
            other => Err(mismatch(&other)),
        }
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
        let found = query.bind(limit_i64(limit)).fetch_all(&self.pool).await.map_err(db_err)?;
        found.iter().map(|r| rows::link(r, kind)).collect()
    }
}

/// The bucket refilled for the time since its last use (never backwards), up to its
/// capacity: `$2` now (ms), `$3` units a millisecond (the rate per minute), `$4` capacity.
macro_rules! refilled {
    () => {
        "(CASE WHEN b.units + (CASE WHEN $2 > b.at THEN $2 - b.at ELSE 0 END) * $3 > $4 THEN $4
               ELSE b.units + (CASE WHEN $2 > b.at THEN $2 - b.at ELSE 0 END) * $3 END)"
    };
}

/// Takes up to `$5` tokens from bucket `$1` in one statement: the row lock orders replicas,
/// so none takes a token twice. A new bucket starts full: `$6` units left and `$7` granted,
/// computed by the caller. `$8` units a token. A last use more than a minute ahead of `$2`
/// (`CLOCK_SKEW_MS`: a replica whose clock ran ahead) is taken back to `$2`.
const TAKE_TOKENS: &str = concat!(
    "INSERT INTO rate_budgets AS b (name, units, at, granted) VALUES ($1, $6, $2, $7)
     ON CONFLICT (name) DO UPDATE SET
         granted = CASE WHEN ",
    refilled!(),
    " / $8 >= $5 THEN $5 ELSE ",
    refilled!(),
    " / $8 END,
         units = ",
    refilled!(),
    " - (CASE WHEN ",
    refilled!(),
    " / $8 >= $5 THEN $5 ELSE ",
    refilled!(),
    " / $8 END) * $8,
         at = CASE WHEN $2 > b.at OR b.at > $2 + 60000 THEN $2 ELSE b.at END
     RETURNING granted, units"
);

#[async_trait]
impl crate::store::RateBudgets for PostgresStore {
    async fn take_tokens(
        &self,
        name: &str,
        now: DateTime<Utc>,
        rate: crate::store::BudgetRate,
        want: u32,
    ) -> Result<crate::store::Tokens, StoreError> {
        use crate::store::{TokenBucket, UNITS_PER_TOKEN};
        let now_ms = ms(now);
        // What a new (full) bucket gives, so the insert branch needs no arithmetic.
        let first = TokenBucket::full(rate, now_ms).take(now_ms, rate, want);
        let capacity = i64::from(rate.burst.max(1)) * UNITS_PER_TOKEN;
        let left_first = capacity - i64::from(first.granted) * UNITS_PER_TOKEN;
        let row = sqlx::query(TAKE_TOKENS)
            .bind(name)
            .bind(now_ms)
            .bind(i64::from(rate.per_minute.max(1)))
            .bind(capacity)
            .bind(i64::from(want))
            .bind(left_first)
            .bind(i64::from(first.granted))
            .bind(UNITS_PER_TOKEN)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        let granted: i64 = row.try_get("granted").map_err(db_err)?;
        let units: i64 = row.try_get("units").map_err(db_err)?;
        Ok(crate::store::Tokens {
            granted: u32::try_from(granted.max(0)).unwrap_or(0),
            next_in: crate::store::next_in(units, rate, granted),
        })
    }
}
