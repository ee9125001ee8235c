//! The privacy side's SQL ([`PrivacyStore`](crate::store::PrivacyStore)), shared by both
//! SQL stores as the queue's is (see [`statements`](super::statements)): statements and row
//! decoding. Both schemas (`0004_privacy_audit.sql`) have the same columns, times in ms.

use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{db_err, from_ms};
use crate::error::StoreError;
use crate::store::privacy::{AuditEntry, AuditRecord, PrivacyAction};
use crate::store::{Link, LinkKey, LinkKind};

/// `$1` scope, `$2` limit: what `forget_scope` would remove of the links.
pub(in crate::store) const LINKS_IN_SCOPE: &str = "SELECT kind, key, value, scope FROM links
     WHERE scope = $1 ORDER BY kind, key LIMIT $2";

/// `$1` scope, `$2` limit: what `forget_scope` would remove of the jobs.
pub(in crate::store) const JOBS_IN_SCOPE: &str = "SELECT id, state, idempotency_key,
     ordering_key, attempts, last_error, payload, created_at, not_before FROM jobs
     WHERE scope = $1 ORDER BY id LIMIT $2";

/// `$1` kind, `$2` the last key seen, `$3` limit: the primary key bounds the scan (byte
/// order on both sides, as in `LINKS_IN_RANGE`).
pub(in crate::store) const LINKS_AFTER: &str = "SELECT key, value, scope FROM links
     WHERE kind = $1 AND key > $2 ORDER BY key LIMIT $3";

/// `$1` at, `$2` action, `$3` requested by, `$4` subject, `$5` removed, `$6` outcome.
pub(in crate::store) const INSERT_AUDIT: &str =
    "INSERT INTO privacy_audit (at, action, requested_by, subject, removed, outcome)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";

/// `$1` the id to stay below, `$2` limit: newest first.
pub(in crate::store) const AUDIT_BEFORE: &str =
    "SELECT id, at, action, requested_by, subject, removed, outcome FROM privacy_audit
     WHERE id < $1 ORDER BY id DESC LIMIT $2";

fn get<'r, R, T>(row: &'r R, column: &str) -> Result<T, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(column).map_err(db_err)
}

/// A row of [`LINKS_IN_SCOPE`] (it names its kind).
pub(in crate::store) fn scoped_link<'r, R>(row: &'r R) -> Result<Link, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let kind: String = get(row, "kind")?;
    let kind =
        LinkKind::parse(&kind).ok_or_else(|| StoreError::corrupt(format!("link kind {kind:?}")))?;
    Ok(Link {
        key: LinkKey::from_stored(kind, get::<R, String>(row, "key")?),
        value: get(row, "value")?,
        scope: get(row, "scope")?,
    })
}

/// A row of [`AUDIT_BEFORE`].
pub(in crate::store) fn audit<'r, R>(row: &'r R) -> Result<AuditRecord, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
{
    let action: String = get(row, "action")?;
    Ok(AuditRecord {
        id: get(row, "id")?,
        entry: AuditEntry {
            at: from_ms(get(row, "at")?),
            action: PrivacyAction::parse(&action)
                .ok_or_else(|| StoreError::corrupt(format!("audit action {action:?}")))?,
            requested_by: get(row, "requested_by")?,
            subject: get(row, "subject")?,
            removed: get(row, "removed")?,
            outcome: get(row, "outcome")?,
        },
    })
}

/// The id [`AUDIT_BEFORE`] stays below.
pub(in crate::store) fn before(id: Option<i64>) -> i64 {
    id.unwrap_or(i64::MAX)
}
