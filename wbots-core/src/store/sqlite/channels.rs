//! [`SqliteStore`]'s connected channels: the shared statements (`sql::channels`), writes
//! group-committed on the one writer connection like every other write; a lookup by
//! address read in place, the listings on the blocking pool.

use async_trait::async_trait;
use rusqlite::{Connection, ToSql, named_params};
use url::Url;

use super::binds::{execute, query, query_one};
use super::{SqliteStore, rows};
use crate::error::StoreError;
use crate::ids::ChannelAddress;
use crate::store::channels::{
    ChannelChange, ChannelChanges, ChannelError, ChannelStore, ConnectedChannel, Revision,
    SealedCredentials, StoredChannel,
};
use crate::store::sql::channels::{
    self as sql, CHANNEL, CHANNEL_CHANGES, CHANNELS, INSERT_CHANNEL, NEXT_REVISION, REMOVE_CHANNEL,
    UPDATE_CHANNEL,
};
use crate::store::sql::ms;

fn next_revision(conn: &Connection) -> Result<Revision, StoreError> {
    let value = query_one(conn, NEXT_REVISION, &[], rows::first)?
        .ok_or_else(|| StoreError::corrupt("the channel revision counter is missing"))?;
    sql::revision(value)
}

fn int(n: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(n)
        .map_err(|_| StoreError::corrupt(format!("{what} {n} is beyond the store's range")))
}

/// Runs `statement` with the channel, its sealed credentials and its new revision bound
/// (`$1`–`$14`, as `sql::channels::channel` binds them), then `more`; the rows it returns
/// (`RETURNING`), or none.
fn with_channel(
    conn: &Connection,
    statement: &str,
    channel: &ConnectedChannel,
    credentials: &SealedCredentials,
    revision: Revision,
    more: &[(&str, &dyn ToSql)],
) -> Result<Vec<i64>, StoreError> {
    let account = channel.chatwoot.account_id.map(|a| int(a, "Chatwoot account")).transpose()?;
    let inbox = int(channel.chatwoot.inbox_id, "Chatwoot inbox")?;
    let revision = int(revision.0, "revision")?;
    let (kind, url) =
        (channel.address.kind.as_str(), channel.chatwoot.url.as_ref().map(Url::as_str));
    let (status, reason) = (channel.status.as_str(), channel.status.reason());
    let (expires, connected_at) = (channel.token_expires_at.map(ms), ms(channel.connected_at));
    let (account_name, login) = (channel.address.account.as_str(), channel.login.as_str());
    let sealed = credentials.as_bytes();
    let mut params: Vec<(&str, &dyn ToSql)> = named_params! {
        "$1": kind, "$2": account_name, "$3": channel.page_id, "$4": login, "$5": url,
        "$6": account, "$7": inbox, "$8": status, "$9": reason, "$10": expires,
        "$11": channel.connected_by, "$12": connected_at, "$13": sealed, "$14": revision,
    }
    .to_vec();
    params.extend_from_slice(more);
    if statement == UPDATE_CHANNEL {
        // No RETURNING: how many rows changed.
        return Ok(vec![i64::try_from(execute(conn, statement, &params)?).unwrap_or(i64::MAX)]);
    }
    query(conn, statement, &params, rows::first)
}

/// A refused write (`Exists`, `Stale`, `NotFound`) changed nothing but the revision
/// counter, so it answers inside an `Ok` and the rest of its batch commits; revisions may
/// have gaps.
type Refusable<T> = Result<Result<T, ChannelError>, StoreError>;

fn by_address<T>(
    conn: &Connection,
    address: &ChannelAddress,
    decode: impl FnMut(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let (kind, account) = (address.kind.as_str(), address.account.as_str());
    query_one(conn, CHANNEL, named_params! {"$1": kind, "$2": account}, decode)
}

#[async_trait]
impl ChannelStore for SqliteStore {
    async fn insert_channel(
        &self,
        channel: &ConnectedChannel,
        credentials: &SealedCredentials,
    ) -> Result<Revision, ChannelError> {
        let (channel, credentials) = (channel.clone(), credentials.clone());
        let written: Refusable<Revision> = self
            .commits
            .write(move |tx| {
                let revision = next_revision(tx)?;
                let stored =
                    with_channel(tx, INSERT_CHANNEL, &channel, &credentials, revision, &[])?;
                Ok(match stored.first() {
                    Some(_) => Ok(revision),
                    None => Err(ChannelError::Exists(channel.address.clone())),
                })
            })
            .await;
        written?
    }
    async fn update_channel(
        &self,
        expected: Revision,
        channel: &ConnectedChannel,
        credentials: &SealedCredentials,
    ) -> Result<Revision, ChannelError> {
        let (channel, credentials) = (channel.clone(), credentials.clone());
        let written: Refusable<Revision> = self
            .commits
            .write(move |tx| {
                let revision = next_revision(tx)?;
                let expected = sql::bound(expected);
                let more = named_params! {"$15": expected};
                let changed =
                    with_channel(tx, UPDATE_CHANNEL, &channel, &credentials, revision, more)?;
                if changed.first().is_some_and(|n| *n > 0) {
                    return Ok(Ok(revision));
                }
                let current = by_address(tx, &channel.address, |_| Ok(()))?;
                Ok(Err(match current {
                    Some(()) => ChannelError::Stale(channel.address.clone()),
                    None => ChannelError::NotFound(channel.address.clone()),
                }))
            })
            .await;
        written?
    }
    async fn remove_channel(&self, address: &ChannelAddress) -> Result<bool, ChannelError> {
        let address = address.clone();
        let removed = self
            .commits
            .write(move |tx| {
                let revision = sql::bound(next_revision(tx)?);
                let (kind, account) = (address.kind.as_str(), address.account.as_str());
                let params = named_params! {"$1": kind, "$2": account, "$3": revision};
                Ok(execute(tx, REMOVE_CHANNEL, params)? > 0)
            })
            .await?;
        Ok(removed)
    }
    async fn channel(
        &self,
        address: &ChannelAddress,
    ) -> Result<Option<StoredChannel>, ChannelError> {
        let address = address.clone();
        Ok(self.read(move |conn| by_address(conn, &address, rows::stored)).await?)
    }
    async fn channels(&self) -> Result<Vec<StoredChannel>, ChannelError> {
        Ok(self.read_apart(|conn| query(conn, CHANNELS, &[], rows::stored)).await?)
    }
    async fn channel_changes(&self, since: Revision) -> Result<ChannelChanges, ChannelError> {
        let bound = sql::bound(since);
        let changes: Vec<ChannelChange> = self
            .read_apart(move |conn| {
                query(conn, CHANNEL_CHANGES, named_params! {"$1": bound}, rows::change)
            })
            .await?;
        Ok(ChannelChanges { revision: sql::newest(&changes, since), changes })
    }
}
