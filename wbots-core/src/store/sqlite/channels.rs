//! [`SqliteStore`]'s connected channels: the shared statements (`sql::channels`), writes
//! group-committed on the one writer connection like every other write.

use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::SqliteStore;
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
use crate::store::sql::{db_err, rows};

async fn next_revision(conn: &mut SqliteConnection) -> Result<Revision, StoreError> {
    let row = sqlx::query(NEXT_REVISION).fetch_one(&mut *conn).await.map_err(db_err)?;
    sql::revision(rows::first(&row)?)
}

/// A refused write (`Exists`, `Stale`, `NotFound`) changed nothing but the revision
/// counter, so it answers inside an `Ok` and the rest of its batch commits; revisions may
/// have gaps.
type Refusable<T> = Result<Result<T, ChannelError>, StoreError>;

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
            .write(move |conn| {
                Box::pin(async move {
                    let revision = next_revision(conn).await?;
                    let stored = sql::channel(INSERT_CHANNEL, &channel, &credentials, revision)?
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    Ok(match stored {
                        Some(_) => Ok(revision),
                        None => Err(ChannelError::Exists(channel.address.clone())),
                    })
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
            .write(move |conn| {
                Box::pin(async move {
                    let revision = next_revision(conn).await?;
                    let done = sql::channel(UPDATE_CHANNEL, &channel, &credentials, revision)?
                        .bind(sql::bound(expected))
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    if done.rows_affected() > 0 {
                        return Ok(Ok(revision));
                    }
                    let current = sql::address(sqlx::query(CHANNEL), &channel.address)
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    Ok(Err(match current {
                        Some(_) => ChannelError::Stale(channel.address.clone()),
                        None => ChannelError::NotFound(channel.address.clone()),
                    }))
                })
            })
            .await;
        written?
    }
    async fn remove_channel(&self, address: &ChannelAddress) -> Result<bool, ChannelError> {
        let address = address.clone();
        let removed = self
            .commits
            .write(move |conn| {
                Box::pin(async move {
                    let revision = next_revision(conn).await?;
                    let done = sql::address(sqlx::query(REMOVE_CHANNEL), &address)
                        .bind(sql::bound(revision))
                        .execute(&mut *conn)
                        .await
                        .map_err(db_err)?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await?;
        Ok(removed)
    }
    async fn channel(
        &self,
        address: &ChannelAddress,
    ) -> Result<Option<StoredChannel>, ChannelError> {
        let row = sql::address(sqlx::query(CHANNEL), address)
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err)?;
        Ok(row.as_ref().map(sql::stored).transpose()?)
    }
    async fn channels(&self) -> Result<Vec<StoredChannel>, ChannelError> {
        let found = sqlx::query(CHANNELS).fetch_all(&self.reader).await.map_err(db_err)?;
        Ok(found.iter().map(sql::stored).collect::<Result<_, _>>()?)
    }
    async fn channel_changes(&self, since: Revision) -> Result<ChannelChanges, ChannelError> {
        let found = sqlx::query(CHANNEL_CHANGES)
            .bind(sql::bound(since))
            .fetch_all(&self.reader)
            .await
            .map_err(db_err)?;
        let changes: Vec<ChannelChange> =
            found.iter().map(sql::change).collect::<Result<_, _>>()?;
        Ok(ChannelChanges { revision: sql::newest(&changes, since), changes })
    }
}
