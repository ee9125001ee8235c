//! Decoding the rows the shared statements return, from rusqlite: the same columns and
//! meanings as `sql::rows`, `sql::channels` and `sql::privacy` decode for PostgreSQL.

use rusqlite::Row;
use rusqlite::types::FromSql;
use url::Url;

use super::db_err;
use crate::error::StoreError;
use crate::ids::{ChannelAddress, ChannelKind, JobId};
use crate::store::channels::{
    ChannelChange, ChannelStatus, ChatwootTarget, ConnectedChannel, LoginKind, SealedCredentials,
    StoredChannel,
};
use crate::store::privacy::{AuditEntry, AuditRecord, PrivacyAction};
use crate::store::sql::channels::revision;
use crate::store::sql::from_ms;
use crate::store::{ClaimedJob, JobRecord, JobState, Lease, Link, LinkKey, LinkKind, QueueStats};

fn get<T: FromSql>(row: &Row<'_>, column: &str) -> Result<T, StoreError> {
    row.get(column).map_err(db_err)
}

/// A count; SQLite's integers are all 8 bytes.
fn count(row: &Row<'_>, column: &str) -> Result<u32, StoreError> {
    Ok(get::<i64>(row, column)?.try_into().unwrap_or(0))
}

/// The one value of a statement's first column (`RETURNING value`, `SELECT id`).
pub(super) fn first<T: FromSql>(row: &Row<'_>) -> Result<T, StoreError> {
    row.get(0).map_err(db_err)
}

/// A job row (the statements' `job_columns!`) as an operator sees it.
pub(super) fn record(row: &Row<'_>) -> Result<JobRecord, StoreError> {
    let state: String = get(row, "state")?;
    Ok(JobRecord {
        id: JobId(get(row, "id")?),
        state: JobState::parse(&state)
            .ok_or_else(|| StoreError::corrupt(format!("job state {state:?}")))?,
        idempotency_key: get(row, "idempotency_key")?,
        ordering_key: get(row, "ordering_key")?,
        attempts: count(row, "attempts")?,
        last_error: get(row, "last_error")?,
        payload: get(row, "payload")?,
        created_at: from_ms(get(row, "created_at")?),
        not_before: from_ms(get(row, "not_before")?),
    })
}

/// A claimed job row (the statements' `claimed_columns!`; `claims` counts this claim) and
/// its priority.
pub(super) fn claimed(row: &Row<'_>) -> Result<(i64, ClaimedJob), StoreError> {
    Ok((
        get(row, "priority")?,
        ClaimedJob {
            lease: Lease { job: JobId(get(row, "id")?), token: get(row, "lease_token")? },
            idempotency_key: get(row, "idempotency_key")?,
            ordering_key: get(row, "ordering_key")?,
            scope: get(row, "scope")?,
            attempts: count(row, "attempts")?,
            previous_claims: count(row, "claims")?.saturating_sub(1),
            payload: get::<Option<String>>(row, "payload")?.unwrap_or_default(),
            created_at: from_ms(get(row, "created_at")?),
        },
    ))
}

/// Claimed rows in the order the queue hands jobs out (priority, then FIFO): `RETURNING`
/// has no order.
pub(super) fn in_queue_order(mut claimed: Vec<(i64, ClaimedJob)>) -> Vec<ClaimedJob> {
    claimed.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.lease.job.cmp(&b.1.lease.job)));
    claimed.into_iter().map(|(_, job)| job).collect()
}

/// A link row (`key, value, scope`) of `kind`.
pub(super) fn link(row: &Row<'_>, kind: LinkKind) -> Result<Link, StoreError> {
    Ok(Link {
        key: LinkKey::from_stored(kind, get::<String>(row, "key")?),
        value: get(row, "value")?,
        scope: get(row, "scope")?,
    })
}

/// A link row that names its kind (`kind, key, value, scope`).
pub(super) fn scoped_link(row: &Row<'_>) -> Result<Link, StoreError> {
    let kind: String = get(row, "kind")?;
    let kind =
        LinkKind::parse(&kind).ok_or_else(|| StoreError::corrupt(format!("link kind {kind:?}")))?;
    link(row, kind)
}

/// The rows of `STATS` (`state, n`) as counts.
pub(super) fn queue_stats(rows: Vec<(String, i64)>) -> QueueStats {
    let mut stats = QueueStats::default();
    for (state, n) in rows {
        let n = u64::try_from(n).unwrap_or(0);
        match JobState::parse(&state) {
            Some(JobState::Queued) => stats.queued = n,
            Some(JobState::Running) => stats.running = n,
            Some(JobState::Done) => stats.done = n,
            Some(JobState::Dead) => stats.dead = n,
            None => {}
        }
    }
    stats
}

/// A row of `AUDIT_BEFORE`.
pub(super) fn audit(row: &Row<'_>) -> Result<AuditRecord, StoreError> {
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

fn unsigned(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::corrupt(format!("{what} {v}")))
}

/// A channel row (`sql::channels`' `channel_columns!`): the channel, or the removal it
/// records.
pub(super) fn change(row: &Row<'_>) -> Result<ChannelChange, StoreError> {
    let kind: String = get(row, "kind")?;
    let address =
        ChannelAddress::new(ChannelKind::from(kind.as_str()), get::<String>(row, "account")?);
    let revision = revision(get(row, "revision")?)?;
    if get::<bool>(row, "removed")? {
        return Ok(ChannelChange::Removed { address, revision });
    }
    let corrupt = |what: &str| StoreError::corrupt(format!("channel {address}: {what}"));
    let login: String = get(row, "login")?;
    let status: String = get(row, "status")?;
    let url = get::<Option<String>>(row, "chatwoot_url")?
        .map(|u| Url::parse(&u).map_err(|_| corrupt("chatwoot_url is not a URL")))
        .transpose()?;
    let credentials =
        get::<Option<Vec<u8>>>(row, "credentials")?.ok_or_else(|| corrupt("no credentials"))?;
    let channel = ConnectedChannel {
        page_id: get(row, "page_id")?,
        login: LoginKind::parse(&login).ok_or_else(|| corrupt("login"))?,
        chatwoot: ChatwootTarget {
            url,
            account_id: get::<Option<i64>>(row, "chatwoot_account")?
                .map(|a| unsigned(a, "Chatwoot account"))
                .transpose()?,
            inbox_id: unsigned(get(row, "chatwoot_inbox")?, "Chatwoot inbox")?,
        },
        status: ChannelStatus::from_stored(&status, get(row, "status_reason")?)
            .ok_or_else(|| corrupt("status"))?,
        token_expires_at: get::<Option<i64>>(row, "token_expires_at")?.map(from_ms),
        connected_by: get(row, "connected_by")?,
        connected_at: from_ms(get(row, "connected_at")?),
        address,
    };
    Ok(ChannelChange::Stored(StoredChannel {
        channel,
        credentials: SealedCredentials::from_bytes(credentials),
        revision,
    }))
}

/// A row of `CHANNEL` or `CHANNELS` (never a removed one).
pub(super) fn stored(row: &Row<'_>) -> Result<StoredChannel, StoreError> {
    match change(row)? {
        ChannelChange::Stored(stored) => Ok(stored),
        ChannelChange::Removed { address, .. } => {
            Err(StoreError::corrupt(format!("channel {address} was read back removed")))
        }
    }
}
