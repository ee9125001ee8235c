//! [`PostgresStore`]'s connected channels: the shared statements (`sql::channels`), each
//! write in its own transaction, which holds the revision counter's row lock until it
//! commits — so replicas' writes commit in revision order.

use async_trait::async_trait;
use sqlx::{Postgres, Transaction};

use super::PostgresStore;
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

async fn next_revision(tx: &mut Transaction<'_, Postgres>) -> Result<Revision, StoreError> {
    let row = sqlx::query(NEXT_REVISION).fetch_one(&mut **tx).await.map_err(db_err)?;
    sql::revision(rows::first(&row)?)
}

#[async_trait]
impl ChannelStore for PostgresStore {
    async fn insert_channel(
        &self,
        channel: &ConnectedChannel,
        credentials: &SealedCredentials,
    ) -> Result<Revision, ChannelError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let revision = next_revision(&mut tx).await?;
        let stored = sql::channel(INSERT_CHANNEL, channel, credentials, revision)?
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        if stored.is_none() {
            // Dropped uncommitted: rolled back, the revision with it.
            return Err(ChannelError::Exists(channel.address.clone()));
        }
        tx.commit().await.map_err(db_err)?;
        Ok(revision)
    }
    async fn update_channel(
        &self,
        expected: Revision,
        channel: &ConnectedChannel,
        credentials: &SealedCredentials,
    ) -> Result<Revision, ChannelError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let revision = next_revision(&mut tx).await?;
        let done = sql::channel(UPDATE_CHANNEL, channel, credentials, revision)?
            .bind(sql::bound(expected))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            let current = sql::address(sqlx::query(CHANNEL), &channel.address)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
            return Err(match current {
                Some(_) => ChannelError::Stale(channel.address.clone()),
                None => ChannelError::NotFound(channel.address.clone()),
            });
        }
        tx.commit().await.map_err(db_err)?;
        Ok(revision)
    }
    async fn remove_channel(&self, address: &ChannelAddress) -> Result<bool, ChannelError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let revision = next_revision(&mut tx).await?;
        let done = sql::address(sqlx::query(REMOVE_CHANNEL), address)
            .bind(sql::bound(revision))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }
    async fn channel(
        &self,
        address: &ChannelAddress,
    ) -> Result<Option<StoredChannel>, ChannelError> {
        let row = sql::address(sqlx::query(CHANNEL), address)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.as_ref().map(sql::stored).transpose()?)
    }
    async fn channels(&self) -> Result<Vec<StoredChannel>, ChannelError> {
        let found = sqlx::query(CHANNELS).fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(found.iter().map(sql::stored).collect::<Result<_, _>>()?)
    }
    async fn channel_changes(&self, since: Revision) -> Result<ChannelChanges, ChannelError> {
        let found = sqlx::query(CHANNEL_CHANGES)
            .bind(sql::bound(since))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let changes: Vec<ChannelChange> =
            found.iter().map(sql::change).collect::<Result<_, _>>()?;
        Ok(ChannelChanges { revision: sql::newest(&changes, since), changes })
    }
}
