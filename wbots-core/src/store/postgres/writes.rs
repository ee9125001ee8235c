//! The writes [`PostgresStore`](super::PostgresStore) group-commits, as values rather than
//! closures: a batch reads its enqueues' ordering keys before it runs anything (to lock
//! them all at once), and a write is run again, alone, after its batch failed.
//!
//! The hot writes live here: a webhook's enqueue, a worker's claim, completion, retry,
//! postponement, lease extension and wedge, and the link writes. Every one is safe to run
//! again after a rollback (nothing of it committed), and a lease-guarded one that finds its
//! lease gone answers [`StoreError::LeaseLost`] having changed nothing.

use sqlx::PgConnection;

use super::{CLAIM, CLAIM_LANE, CLAIM_LANE_HEADS, Int, LOCK_ORDERING_KEYS};
use crate::error::StoreError;
use crate::ids::JobId;
use crate::store::sql::statements::{
    COMPLETE, DELETE_LINK, EXTEND_LEASE, JOB_ID_BY_KEY, POSTPONE, PUT_LINK, RETRY_LATER, WEDGE,
};
use crate::store::sql::{self, binds, db_err, limit_i64, rows};
use crate::store::{ClaimedJob, Enqueued, Lane, Lease, Link, LinkKey, LinkWrite, NewJob};

/// One write waiting for its batch; times in ms.
#[derive(Debug)]
pub(super) enum Write {
    /// Ordering keys locked by the batch (see [`lock_ordering_keys`]), not here.
    Enqueue(Vec<NewJob>),
    Claim {
        now: i64,
        until: i64,
        limit: usize,
        lane: Option<Lane>,
        /// Whether to look for expired leases too (`takeover.rs`); a claim in any lane
        /// always does.
        takeover: bool,
    },
    ExtendLease {
        lease: Lease,
        until: i64,
    },
    Complete {
        lease: Lease,
        writes: Vec<LinkWrite>,
    },
    RetryLater {
        lease: Lease,
        not_before: i64,
        error: String,
    },
    Postpone {
        lease: Lease,
        not_before: i64,
        note: String,
    },
    Wedge {
        lease: Lease,
        reason: String,
    },
    PutLink(Link),
    SetLink(LinkWrite),
    DeleteLink(LinkKey),
}

/// What a write answers.
#[derive(Debug)]
pub(super) enum Written {
    Enqueued(Vec<Enqueued>),
    Claimed(Vec<ClaimedJob>),
    Done,
    Value(String),
    Deleted(bool),
}

impl Write {
    /// Whether a webhook's answer waits on it (see `group_commit`).
    pub(super) fn urgent(&self) -> bool {
        matches!(self, Write::Enqueue(_))
    }

    /// The ordering keys it enqueues for.
    pub(super) fn ordering_keys(&self) -> impl Iterator<Item = &str> {
        let jobs: &[NewJob] = match self {
            Write::Enqueue(jobs) => jobs,
            _ => &[],
        };
        jobs.iter().map(|j| j.ordering_key.as_str())
    }

    /// Runs it in the open transaction on `conn`; an enqueue's keys must be locked already.
    pub(super) async fn run(&self, conn: &mut PgConnection) -> Result<Written, StoreError> {
        match self {
            Write::Enqueue(jobs) => enqueue(conn, jobs).await.map(Written::Enqueued),
            Write::Claim { now, until, limit, lane, takeover } => {
                claim(conn, *now, *until, *limit, *lane, *takeover).await.map(Written::Claimed)
            }
            Write::ExtendLease { lease, until } => {
                guarded(conn, lease, binds::lease(sqlx::query(EXTEND_LEASE), lease).bind(until))
                    .await
            }
            Write::Complete { lease, writes } => {
                guarded(conn, lease, binds::lease(sqlx::query(COMPLETE), lease)).await?;
                for q in binds::link_writes(writes) {
                    q.execute(&mut *conn).await.map_err(db_err)?;
                }
                Ok(Written::Done)
            }
            Write::RetryLater { lease, not_before, error } => {
                let q = binds::lease(sqlx::query(RETRY_LATER), lease).bind(error).bind(not_before);
                guarded(conn, lease, q).await
            }
            Write::Postpone { lease, not_before, note } => {
                let q = binds::lease(sqlx::query(POSTPONE), lease).bind(note).bind(not_before);
                guarded(conn, lease, q).await
            }
            Write::Wedge { lease, reason } => {
                guarded(conn, lease, binds::lease(sqlx::query(WEDGE), lease).bind(reason)).await
            }
            Write::PutLink(link) => {
                let row = binds::link(sqlx::query(PUT_LINK), link)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(db_err)?;
                rows::first(&row).map(Written::Value)
            }
            Write::SetLink(write) => {
                binds::link_write(write).execute(&mut *conn).await.map_err(db_err)?;
                Ok(Written::Done)
            }
            Write::DeleteLink(key) => {
                let done = binds::key(sqlx::query(DELETE_LINK), key)
                    .execute(&mut *conn)
                    .await
                    .map_err(db_err)?;
                Ok(Written::Deleted(done.rows_affected() > 0))
            }
        }
    }
}

/// Takes the advisory locks of `keys` (the ordering keys of every enqueue of a batch) in
/// hash order, before the batch inserts anything: two batches (two replicas, or two writer
/// connections) then never wait on each other's ordering keys in a cycle, and ids follow
/// commit order per ordering key (see [`LOCK_ORDERING_KEYS`]).
pub(super) async fn lock_ordering_keys(
    conn: &mut PgConnection,
    keys: &[&str],
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(LOCK_ORDERING_KEYS).bind(keys).execute(conn).await.map_err(db_err).map(drop)
}

async fn enqueue(conn: &mut PgConnection, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
    let now = sql::ms(chrono::Utc::now());
    let mut out = Vec::with_capacity(jobs.len());
    for job in jobs {
        let inserted = binds::new_job(job, now).fetch_optional(&mut *conn).await.map_err(db_err)?;
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
}

async fn claim(
    conn: &mut PgConnection,
    now: i64,
    until: i64,
    limit: usize,
    lane: Option<Lane>,
    takeover: bool,
) -> Result<Vec<ClaimedJob>, StoreError> {
    let statement = match (lane, takeover) {
        (Some(_), true) => CLAIM_LANE,
        (Some(_), false) => CLAIM_LANE_HEADS,
        (None, _) => CLAIM,
    };
    // Planned afresh each time (an unnamed statement), for the table as it is now. A
    // prepared statement's plan is kept per connection: one made while the table held a
    // few rows updated its claimed rows by a sequential scan, and kept doing so when the
    // table held 20,000 (seen in the load harness with `auto_explain`: 38 ms a claim until
    // autovacuum's ANALYZE replaced the plan). Planning it costs ~0.4 ms (`EXPLAIN`).
    let query =
        sqlx::query(statement).persistent(false).bind(now).bind(limit_i64(limit)).bind(until);
    let query = match lane {
        Some(lane) => query.bind(lane.as_str()),
        None => query,
    };
    let found = query.fetch_all(conn).await.map_err(db_err)?;
    rows::claimed_in_queue_order::<_, Int>(&found)
}

/// Runs a lease-guarded update: no row changed means the lease is gone, and nothing was.
async fn guarded(
    conn: &mut PgConnection,
    lease: &Lease,
    query: binds::Q<'_, sqlx::Postgres>,
) -> Result<Written, StoreError> {
    let done = query.execute(conn).await.map_err(db_err)?.rows_affected();
    sql::lease_held(done, lease).map(|()| Written::Done)
}
