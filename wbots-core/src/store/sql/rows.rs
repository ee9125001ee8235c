//! Decoding the rows the [`statements`](super::statements) return, for either database.
//! Only the integer width of a column differs (`I`: `i64` in SQLite, `i32` for
//! PostgreSQL's `INTEGER`).

use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{db_err, from_ms};
use crate::error::StoreError;
use crate::ids::JobId;
use crate::store::{ClaimedJob, JobRecord, JobState, Lease, Link, LinkKey, LinkKind, QueueStats};

fn get<'r, R, T>(row: &'r R, column: &str) -> Result<T, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(column).map_err(db_err)
}

fn count<'r, R, I>(row: &'r R, column: &str) -> Result<u32, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    I: Decode<'r, R::Database> + Type<R::Database> + TryInto<u32>,
{
    Ok(get::<R, I>(row, column)?.try_into().unwrap_or(0))
}

/// A job row (the statements' `job_columns!`) as an operator sees it.
pub(in crate::store) fn record<'r, R, I>(row: &'r R) -> Result<JobRecord, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    I: Decode<'r, R::Database> + Type<R::Database> + TryInto<u32>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let state: String = get(row, "state")?;
    Ok(JobRecord {
        id: JobId(get(row, "id")?),
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::corrupt(format!("job state {state:?}")))?,
        idempotency_key: get(row, "idempotency_key")?,
        ordering_key: get(row, "ordering_key")?,
        attempts: count::<R, I>(row, "attempts")?,
        last_error: get(row, "last_error")?,
        payload: get(row, "payload")?,
        created_at: from_ms(get(row, "created_at")?),
        not_before: from_ms(get(row, "not_before")?),
    })
}

/// A claimed job row (the statements' `claimed_columns!`; `claims` counts this claim) and
/// its priority.
pub(in crate::store) fn claimed<'r, R, I>(row: &'r R) -> Result<(I, ClaimedJob), StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    I: Decode<'r, R::Database> + Type<R::Database> + TryInto<u32>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok((
        get::<R, I>(row, "priority")?,
        ClaimedJob {
            lease: Lease { job: JobId(get(row, "id")?), token: get(row, "lease_token")? },
            idempotency_key: get(row, "idempotency_key")?,
            ordering_key: get(row, "ordering_key")?,
            scope: get(row, "scope")?,
            attempts: count::<R, I>(row, "attempts")?,
            previous_claims: count::<R, I>(row, "claims")?.saturating_sub(1),
            payload: get::<R, Option<String>>(row, "payload")?.unwrap_or_default(),
            created_at: from_ms(get(row, "created_at")?),
        },
    ))
}

/// A link row (`key, value, scope`) of `kind`.
pub(in crate::store) fn link<'r, R>(row: &'r R, kind: LinkKind) -> Result<Link, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(Link {
        key: LinkKey::from_stored(kind, get::<R, String>(row, "key")?),
        value: get(row, "value")?,
        scope: get(row, "scope")?,
    })
}

/// The rows of [`STATS`](super::statements::STATS) as counts.
pub(in crate::store) fn queue_stats<'r, R>(rows: &'r [R]) -> Result<QueueStats, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut stats = QueueStats::default();
    for row in rows {
        let n = u64::try_from(get::<R, i64>(row, "n")?).unwrap_or(0);
        match JobState::parse(&get::<R, String>(row, "state")?) {
            Some(JobState::Queued) => stats.queued = n,
            Some(JobState::Running) => stats.running = n,
            Some(JobState::Done) => stats.done = n,
            Some(JobState::Dead) => stats.dead = n,
            None => {}
        }
    }
    Ok(stats)
}

/// Claimed rows decoded, in the order the queue hands jobs out (priority, then FIFO):
/// `RETURNING` has no order.
pub(in crate::store) fn claimed_in_queue_order<'r, R, I>(
    rows: &'r [R],
) -> Result<Vec<ClaimedJob>, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    I: Decode<'r, R::Database> + Type<R::Database> + TryInto<u32> + Ord,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut out = rows.iter().map(claimed::<R, I>).collect::<Result<Vec<_>, _>>()?;
    out.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.lease.job.cmp(&b.1.lease.job)));
    Ok(out.into_iter().map(|(_, job)| job).collect())
}

/// The one value a statement returns in its first column (`RETURNING value`, `SELECT id`).
pub(in crate::store) fn first<'r, R, T>(row: &'r R) -> Result<T, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(0).map_err(db_err)
}
