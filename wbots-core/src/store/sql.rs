//! What the SQL stores (SQLite, PostgreSQL) share: time and limit encoding, the error
//! classification, and decoding job and link rows. Only the SQL text and the integer width
//! of a column (`I`: `i64` in SQLite, `i32` in PostgreSQL) differ between them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{ClaimedJob, JobRecord, JobState, Lease, Link, LinkKey, LinkKind};
use crate::error::StoreError;
use crate::ids::JobId;

/// A time as stored: ms since the epoch.
pub(super) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stored time; out of range reads as the earliest time (ready at once).
pub(super) fn from_ms(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(v).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A lease length in ms, saturating (a `Duration::MAX` lease must not overflow).
pub(super) fn lease_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A row limit as bound.
pub(super) fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Sorts a database failure into "may work later" or "the data is wrong", keeping it as
/// the source.
pub(super) fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_) => StoreError::corrupt(e.to_string()).caused_by(e),
        _ => StoreError::unavailable(e.to_string()).caused_by(e),
    }
}

/// The columns [`record`] reads.
pub(super) const JOB_COLUMNS: &str = "id, state, idempotency_key, ordering_key, attempts, last_error, payload, created_at, not_before";

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

/// A job row (selected with [`JOB_COLUMNS`]) as an operator sees it.
pub(super) fn record<'r, R, I>(row: &'r R) -> Result<JobRecord, StoreError>
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

/// A claimed job row (`id, lease_token, idempotency_key, ordering_key, scope, attempts,
/// claims, payload, created_at`; `claims` counts this claim) and its priority.
pub(super) fn claimed<'r, R, I>(row: &'r R) -> Result<(I, ClaimedJob), StoreError>
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
pub(super) fn link<'r, R>(row: &'r R, kind: LinkKind) -> Result<Link, StoreError>
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
