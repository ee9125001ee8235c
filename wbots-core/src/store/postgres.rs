//! [`PostgresStore`] (feature `postgres`): the store for several replicas.
//!
//! Jobs are claimed with `FOR UPDATE SKIP LOCKED` inside one statement, so replicas never
//! wait on each other's claims and never take the same job; the claim's outer `WHERE`
//! re-checks readiness, so a row another replica claimed between this statement's snapshot
//! and its lock is skipped too. A crashed replica's jobs are taken over when their lease
//! expires.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};

use super::sql::{JOB_COLUMNS, claimed, db_err, lease_ms, limit_i64, link, ms, record};
use super::{
    ClaimedJob, Enqueued, Forgotten, JobQueue, JobRecord, JobState, Lease, Link, LinkKey,
    LinkPrefix, LinkStore, LinkWrite, NewJob, QueueStats, Store,
};
use crate::error::StoreError;
use crate::ids::JobId;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A store in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
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
        Ok(Self { pool })
    }

    /// A store over an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool, for embedders who share it.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn held(tx: &mut Transaction<'_, Postgres>, lease: &Lease) -> Result<(), StoreError> {
        let found = sqlx::query("SELECT 1 FROM jobs WHERE id = $1 AND state = 'running' AND lease_token = $2 FOR UPDATE")
            .bind(lease.job.0)
            .bind(&lease.token)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
        found.map(|_| ()).ok_or(StoreError::LeaseLost(lease.job))
    }
}

async fn apply(tx: &mut Transaction<'_, Postgres>, write: &LinkWrite) -> Result<(), StoreError> {
    let q = match write {
        LinkWrite::Insert(l) => sqlx::query("INSERT INTO links (kind, key, value, scope) VALUES ($1, $2, $3, $4) ON CONFLICT (kind, key) DO NOTHING")
            .bind(l.key.kind().as_str())
            .bind(l.key.as_str())
            .bind(&l.value)
            .bind(&l.scope),
        LinkWrite::Set(l) => sqlx::query("INSERT INTO links (kind, key, value, scope) VALUES ($1, $2, $3, $4) ON CONFLICT (kind, key) DO UPDATE SET value = EXCLUDED.value, scope = EXCLUDED.scope")
            .bind(l.key.kind().as_str())
            .bind(l.key.as_str())
            .bind(&l.value)
            .bind(&l.scope),
        LinkWrite::Delete(key) => {
            sqlx::query("DELETE FROM links WHERE kind = $1 AND key = $2").bind(key.kind().as_str()).bind(key.as_str())
        }
    };
    q.execute(&mut **tx).await.map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::migration(e.to_string()).caused_by(e))
    }
    async fn ping(&self) -> Result<(), StoreError> {
        let latest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
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
        // Deleted rows stay in the table files as dead tuples until (auto)vacuum reclaims
        // them; the README tells operators so.
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let links = sqlx::query("DELETE FROM links WHERE scope = $1")
            .bind(scope)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let jobs = sqlx::query("DELETE FROM jobs WHERE scope = $1")
            .bind(scope)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Forgotten { links: links.rows_affected(), jobs: jobs.rows_affected() })
    }
}

#[async_trait]
impl JobQueue for PostgresStore {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // Ids come from a sequence, so two transactions enqueueing for one conversation
        // could commit in the other order than their ids, and a claim in between would take
        // the later job as the head. Holding the conversation's lock until commit makes ids
        // and commits follow one order. Taken in hash order, so batches never deadlock.
        let keys: Vec<&str> = jobs.iter().map(|j| j.ordering_key.as_str()).collect();
        sqlx::query(
            "SELECT pg_advisory_xact_lock(h) FROM (
                 SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h
             ) AS ordered",
        )
        .bind(&keys)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let now = ms(Utc::now());
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO jobs (idempotency_key, ordering_key, scope, priority, payload, created_at, not_before)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
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
                        sqlx::query_scalar("SELECT id FROM jobs WHERE idempotency_key = $1")
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
        let rows = sqlx::query(
            // A job may run when it is the head of its ordering key (no active job before
            // it). Queued jobs are walked in hand-out order through `jobs_ready` and each
            // head check is one probe of `jobs_active`, so a claim costs about `limit` rows
            // however long the backlog. A running job is always a head.
            "WITH candidates AS (
                 (SELECT id, priority FROM jobs
                  WHERE state = 'running' AND lease_until < $1
                  ORDER BY id LIMIT $2)
                 UNION ALL
                 (SELECT j.id, j.priority FROM jobs j
                  WHERE j.state = 'queued' AND j.not_before <= $1
                    AND NOT EXISTS (SELECT 1 FROM jobs p
                                    WHERE p.ordering_key = j.ordering_key
                                      AND p.state IN ('queued', 'running') AND p.id < j.id)
                  ORDER BY j.priority DESC, j.id LIMIT $2)
             ), ready AS (
                 SELECT id FROM candidates ORDER BY priority DESC, id LIMIT $2
             ), locked AS (
                 SELECT id FROM jobs WHERE id IN (SELECT id FROM ready) FOR UPDATE SKIP LOCKED
             )
             UPDATE jobs SET state = 'running', lease_until = $3, claims = claims + 1, lease_token = md5(random()::text || clock_timestamp()::text || id::text)
             WHERE id IN (SELECT id FROM locked)
               AND ((state = 'queued' AND not_before <= $1) OR (state = 'running' AND lease_until < $1))
             RETURNING id, lease_token, idempotency_key, ordering_key, scope, attempts, claims, payload, created_at, priority",
        )
        .bind(now_ms)
        .bind(limit_i64(limit))
        .bind(until)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.push(claimed::<_, i32>(row)?);
        }
        // RETURNING has no order; hand jobs out as the queue ranks them.
        out.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.lease.job.cmp(&b.1.lease.job)));
        Ok(out.into_iter().map(|(_, j)| j).collect())
    }
    async fn extend_lease(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        lease_for: Duration,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE jobs SET lease_until = $3 WHERE id = $1 AND state = 'running' AND lease_token = $2")
            .bind(lease.job.0)
            .bind(&lease.token)
            .bind(ms(now).saturating_add(lease_ms(lease_for)))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 { Err(StoreError::LeaseLost(lease.job)) } else { Ok(()) }
    }
    async fn release_all_leases(&self) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', lease_token = NULL, lease_until = NULL WHERE state = 'running'",
        )
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }
    async fn complete(&self, lease: &Lease, writes: &[LinkWrite]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        Self::held(&mut tx, lease).await?;
        sqlx::query("UPDATE jobs SET state = 'done', payload = NULL, lease_token = NULL, lease_until = NULL WHERE id = $1")
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
            "UPDATE jobs SET state = 'queued', attempts = attempts + 1, last_error = $3, not_before = $4,
                             lease_token = NULL, lease_until = NULL
             WHERE id = $1 AND state = 'running' AND lease_token = $2",
        )
        .bind(lease.job.0)
        .bind(&lease.token)
        .bind(error)
        .bind(ms(not_before))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 { Err(StoreError::LeaseLost(lease.job)) } else { Ok(()) }
    }
    async fn wedge(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'dead', attempts = attempts + 1, last_error = $3, lease_token = NULL, lease_until = NULL
             WHERE id = $1 AND state = 'running' AND lease_token = $2",
        )
        .bind(lease.job.0)
        .bind(&lease.token)
        .bind(reason)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 { Err(StoreError::LeaseLost(lease.job)) } else { Ok(()) }
    }
    async fn requeue(&self, job: JobId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE jobs SET state = 'queued', attempts = 0, not_before = $2 WHERE id = $1 AND state = 'dead'")
            .bind(job.0)
            .bind(ms(now))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 { Err(StoreError::NoSuchJob(job)) } else { Ok(()) }
    }
    async fn purge_dead(&self, job: Option<JobId>) -> Result<u64, StoreError> {
        let done = match job {
            Some(id) => {
                sqlx::query("DELETE FROM jobs WHERE state = 'dead' AND id = $1")
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
        let done = sqlx::query("DELETE FROM jobs WHERE state = 'done' AND created_at < $1")
            .bind(ms(before))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }
    async fn job(&self, job: JobId) -> Result<Option<JobRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(job.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(record::<_, i32>).transpose()
    }
    async fn jobs(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE state = $1 ORDER BY id LIMIT $2"
        ))
        .bind(state.as_str())
        .bind(limit_i64(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter().map(record::<_, i32>).collect()
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
}

#[async_trait]
impl LinkStore for PostgresStore {
    async fn get_link(&self, key: &LinkKey) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT value FROM links WHERE kind = $1 AND key = $2")
            .bind(key.kind().as_str())
            .bind(key.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)
    }
    async fn put_link(&self, link: &Link) -> Result<String, StoreError> {
        // An upsert that touches nothing but returns the stored row: one round trip, and the
        // winner of a race is whatever is stored.
        sqlx::query_scalar(
            "INSERT INTO links (kind, key, value, scope) VALUES ($1, $2, $3, $4)
             ON CONFLICT (kind, key) DO UPDATE SET value = links.value
             RETURNING value",
        )
        .bind(link.key.kind().as_str())
        .bind(link.key.as_str())
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
    async fn delete_link(&self, key: &LinkKey) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM links WHERE kind = $1 AND key = $2")
            .bind(key.kind().as_str())
            .bind(key.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected() > 0)
    }
    async fn links_with_prefix(
        &self,
        range: &LinkPrefix,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError> {
        let (kind, prefix) = (range.kind(), range.as_str());
        let pattern =
            format!("{}%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let rows = sqlx::query("SELECT key, value, scope FROM links WHERE kind = $1 AND key LIKE $2 ORDER BY key LIMIT $3")
            .bind(kind.as_str())
            .bind(pattern)
            .bind(limit_i64(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(|r| link(r, kind)).collect()
    }
}
