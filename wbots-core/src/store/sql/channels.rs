//! The connected channels' SQL, shared by both SQL stores as the queue's is (see
//! [`statements`](super::statements)): statements, binding and row decoding. Both schemas
//! (`0003_channels.sql`) have the same columns, every integer 8 bytes wide.

use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Row, Type};
use url::Url;

use super::{from_ms, ms};
use crate::error::StoreError;
use crate::ids::{ChannelAddress, ChannelKind};
use crate::store::channels::{
    ChannelChange, ChannelStatus, ChatwootTarget, ConnectedChannel, LoginKind, Revision,
    SealedCredentials, StoredChannel,
};

/// The columns [`change`] reads.
macro_rules! channel_columns {
    () => {
        "kind, account, page_id, login, chatwoot_url, chatwoot_account, chatwoot_inbox, status,
         status_reason, token_expires_at, connected_by, connected_at, credentials, removed,
         revision"
    };
}

/// Takes the next store-wide revision. The row stays locked until commit (PostgreSQL; in
/// SQLite the one writer holds the database), so channel writes commit in revision order.
pub(in crate::store) const NEXT_REVISION: &str =
    "UPDATE channel_revision SET value = value + 1 WHERE id = 1 RETURNING value";

/// [`channel`]'s `$1`–`$14`. Stores over a removed channel's row (re-connecting it), never
/// over a live one: no row returned means the address is taken.
pub(in crate::store) const INSERT_CHANNEL: &str =
    "INSERT INTO channels (kind, account, page_id, login, chatwoot_url, chatwoot_account,
         chatwoot_inbox, status, status_reason, token_expires_at, connected_by, connected_at,
         credentials, revision)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     ON CONFLICT (kind, account) DO UPDATE SET page_id = excluded.page_id,
         login = excluded.login, chatwoot_url = excluded.chatwoot_url,
         chatwoot_account = excluded.chatwoot_account, chatwoot_inbox = excluded.chatwoot_inbox,
         status = excluded.status, status_reason = excluded.status_reason,
         token_expires_at = excluded.token_expires_at, connected_by = excluded.connected_by,
         connected_at = excluded.connected_at, credentials = excluded.credentials,
         removed = FALSE, revision = excluded.revision
     WHERE channels.removed
     RETURNING revision";

/// [`channel`]'s `$1`–`$14`, then `$15` the revision the caller read: no row changed means
/// it changed since, or is gone.
pub(in crate::store) const UPDATE_CHANNEL: &str =
    "UPDATE channels SET page_id = $3, login = $4, chatwoot_url = $5, chatwoot_account = $6,
         chatwoot_inbox = $7, status = $8, status_reason = $9, token_expires_at = $10,
         connected_by = $11, connected_at = $12, credentials = $13, revision = $14
     WHERE kind = $1 AND account = $2 AND NOT removed AND revision = $15";

/// `$1` kind, `$2` account, `$3` revision: the credentials go, the address stays.
pub(in crate::store) const REMOVE_CHANNEL: &str =
    "UPDATE channels SET removed = TRUE, credentials = NULL, revision = $3
     WHERE kind = $1 AND account = $2 AND NOT removed";

/// `$1` kind, `$2` account.
pub(in crate::store) const CHANNEL: &str = concat!(
    "SELECT ",
    channel_columns!(),
    " FROM channels WHERE kind = $1 AND account = $2 AND NOT removed"
);

pub(in crate::store) const CHANNELS: &str = concat!(
    "SELECT ",
    channel_columns!(),
    " FROM channels WHERE NOT removed ORDER BY kind, account"
);

/// `$1` since.
pub(in crate::store) const CHANNEL_CHANGES: &str =
    concat!("SELECT ", channel_columns!(), " FROM channels WHERE revision > $1 ORDER BY revision");

/// A query for database `DB`.
type Q<'q, DB> = Query<'q, DB, <DB as Database>::Arguments<'q>>;

fn int(n: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(n)
        .map_err(|_| StoreError::corrupt(format!("{what} {n} is beyond the store's range")))
}

/// `$1` kind, `$2` account.
pub(in crate::store) fn address<'q, DB>(query: Q<'q, DB>, address: &'q ChannelAddress) -> Q<'q, DB>
where
    DB: Database,
    &'q str: Encode<'q, DB> + Type<DB>,
{
    query.bind(address.kind.as_str()).bind(address.account.as_str())
}

/// `$1`–`$14`: the channel, its sealed credentials and its new revision.
pub(in crate::store) fn channel<'q, DB>(
    query: &'q str,
    channel: &'q ConnectedChannel,
    credentials: &'q SealedCredentials,
    revision: Revision,
) -> Result<Q<'q, DB>, StoreError>
where
    DB: Database,
    i64: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    &'q [u8]: Encode<'q, DB> + Type<DB>,
{
    let account = channel.chatwoot.account_id.map(|a| int(a, "Chatwoot account")).transpose()?;
    Ok(address(sqlx::query(query), &channel.address)
        .bind(channel.page_id.as_deref())
        .bind(channel.login.as_str())
        .bind(channel.chatwoot.url.as_ref().map(Url::as_str))
        .bind(account)
        .bind(int(channel.chatwoot.inbox_id, "Chatwoot inbox")?)
        .bind(channel.status.as_str())
        .bind(channel.status.reason())
        .bind(channel.token_expires_at.map(ms))
        .bind(channel.connected_by.as_str())
        .bind(ms(channel.connected_at))
        .bind(credentials.as_bytes())
        .bind(int(revision.0, "revision")?))
}

fn get<'r, R, T>(row: &'r R, column: &str) -> Result<T, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(column).map_err(super::db_err)
}

fn unsigned(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::corrupt(format!("{what} {v}")))
}

/// A revision as read back.
pub(in crate::store) fn revision(v: i64) -> Result<Revision, StoreError> {
    unsigned(v, "channel revision").map(Revision)
}

/// A channel row ([`channel_columns!`]): the channel, or the removal it records.
pub(in crate::store) fn change<'r, R>(row: &'r R) -> Result<ChannelChange, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    Option<Vec<u8>>: Decode<'r, R::Database> + Type<R::Database>,
{
    let kind: String = get(row, "kind")?;
    let address =
        ChannelAddress::new(ChannelKind::from(kind.as_str()), get::<R, String>(row, "account")?);
    let revision = revision(get(row, "revision")?)?;
    if get::<R, bool>(row, "removed")? {
        return Ok(ChannelChange::Removed { address, revision });
    }
    let corrupt = |what: &str| StoreError::corrupt(format!("channel {address}: {what}"));
    let login: String = get(row, "login")?;
    let status: String = get(row, "status")?;
    let url = get::<R, Option<String>>(row, "chatwoot_url")?
        .map(|u| Url::parse(&u).map_err(|_| corrupt("chatwoot_url is not a URL")))
        .transpose()?;
    let credentials =
        get::<R, Option<Vec<u8>>>(row, "credentials")?.ok_or_else(|| corrupt("no credentials"))?;
    let channel = ConnectedChannel {
        page_id: get(row, "page_id")?,
        login: LoginKind::parse(&login).ok_or_else(|| corrupt("login"))?,
        chatwoot: ChatwootTarget {
            url,
            account_id: get::<R, Option<i64>>(row, "chatwoot_account")?
                .map(|a| unsigned(a, "Chatwoot account"))
                .transpose()?,
            inbox_id: unsigned(get(row, "chatwoot_inbox")?, "Chatwoot inbox")?,
        },
        status: ChannelStatus::from_stored(&status, get(row, "status_reason")?)
            .ok_or_else(|| corrupt("status"))?,
        token_expires_at: get::<R, Option<i64>>(row, "token_expires_at")?.map(from_ms),
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

/// A row of [`CHANNEL`] or [`CHANNELS`] (never a removed one).
pub(in crate::store) fn stored<'r, R>(row: &'r R) -> Result<StoredChannel, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Option<i64>: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Option<String>: Decode<'r, R::Database> + Type<R::Database>,
    Option<Vec<u8>>: Decode<'r, R::Database> + Type<R::Database>,
{
    match change(row)? {
        ChannelChange::Stored(stored) => Ok(stored),
        ChannelChange::Removed { address, .. } => {
            Err(StoreError::corrupt(format!("channel {address} was read back removed")))
        }
    }
}

/// A revision as bound.
pub(in crate::store) fn bound(revision: Revision) -> i64 {
    i64::try_from(revision.0).unwrap_or(i64::MAX)
}

/// The newest revision among `changes` (in revision order), or `since` when there are
/// none: where the caller's next poll starts. Safe because writes commit in revision order
/// ([`NEXT_REVISION`]): no change below it can appear later.
pub(in crate::store) fn newest(changes: &[ChannelChange], since: Revision) -> Revision {
    changes.last().map_or(since, |change| match change {
        ChannelChange::Stored(stored) => stored.revision,
        ChannelChange::Removed { revision, .. } => *revision,
    })
}
