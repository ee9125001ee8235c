//! The [`MemoryStore`]'s connected channels: the reference implementation of
//! [`ChannelStore`].

use std::collections::BTreeMap;
use std::sync::MutexGuard;

use async_trait::async_trait;

use super::MemoryStore;
use super::channels::{
    ChannelChange, ChannelChanges, ChannelError, ChannelStore, ConnectedChannel, Revision,
    SealedCredentials, StoredChannel,
};
use crate::ids::ChannelAddress;

/// Every channel ever stored, by (kind, account id) as strings — the order the SQL stores
/// list them in — a removed one kept as a tombstone for `channel_changes`.
#[derive(Debug, Default)]
pub(super) struct Channels {
    revision: u64,
    rows: BTreeMap<(String, String), Row>,
}

#[derive(Debug)]
struct Row {
    revision: Revision,
    address: ChannelAddress,
    /// `None` once removed.
    live: Option<(ConnectedChannel, SealedCredentials)>,
}

impl Row {
    fn stored(&self) -> Option<StoredChannel> {
        self.live.as_ref().map(|(channel, credentials)| StoredChannel {
            channel: channel.clone(),
            credentials: credentials.clone(),
            revision: self.revision,
        })
    }
}

fn key(address: &ChannelAddress) -> (String, String) {
    (address.kind.as_str().to_owned(), address.account.as_str().to_owned())
}

impl Channels {
    fn next_revision(&mut self) -> Revision {
        self.revision += 1;
        Revision(self.revision)
    }
}

impl MemoryStore {
    fn channel_table(&self) -> MutexGuard<'_, Channels> {
        // Every method checks before it changes anything, so a panic leaves the table whole.
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl ChannelStore for MemoryStore {
    async fn insert_channel(
        &self,
        channel: &ConnectedChannel,
        credentials: &SealedCredentials,
    ) -> Result<Revision, ChannelError> {
        let mut t = self.channel_table();
        let k = key(&channel.address);
        if t.rows.get(&k).is_some_and(|row| row.live.is_some()) {
            return Err(ChannelError::Exists(channel.address.clone()));
        }
        let revision = t.next_revision();
        let live = Some((channel.clone(), credentials.clone()));
        t.rows.insert(k, Row { revision, address: channel.address.clone(), live });
        Ok(revision)
    }
    async fn update_channel(
        &self,
        expected: Revision,
        channel: &ConnectedChannel,
        credentials: &SealedCredentials,
    ) -> Result<Revision, ChannelError> {
        let mut t = self.channel_table();
        let k = key(&channel.address);
        match t.rows.get(&k) {
            Some(row) if row.live.is_some() && row.revision == expected => {}
            Some(row) if row.live.is_some() => {
                return Err(ChannelError::Stale(channel.address.clone()));
            }
            _ => return Err(ChannelError::NotFound(channel.address.clone())),
        }
        let revision = t.next_revision();
        let live = Some((channel.clone(), credentials.clone()));
        t.rows.insert(k, Row { revision, address: channel.address.clone(), live });
        Ok(revision)
    }
    async fn remove_channel(&self, address: &ChannelAddress) -> Result<bool, ChannelError> {
        let mut t = self.channel_table();
        let k = key(address);
        if t.rows.get(&k).is_none_or(|row| row.live.is_none()) {
            return Ok(false);
        }
        let revision = t.next_revision();
        t.rows.insert(k, Row { revision, address: address.clone(), live: None });
        Ok(true)
    }
    async fn channel(
        &self,
        address: &ChannelAddress,
    ) -> Result<Option<StoredChannel>, ChannelError> {
        Ok(self.channel_table().rows.get(&key(address)).and_then(Row::stored))
    }
    async fn channels(&self) -> Result<Vec<StoredChannel>, ChannelError> {
        Ok(self.channel_table().rows.values().filter_map(Row::stored).collect())
    }
    async fn channel_changes(&self, since: Revision) -> Result<ChannelChanges, ChannelError> {
        let t = self.channel_table();
        let mut rows: Vec<&Row> = t.rows.values().filter(|row| row.revision > since).collect();
        rows.sort_by_key(|row| row.revision);
        let revision = rows.last().map_or(since, |row| row.revision);
        let changes = rows
            .into_iter()
            .map(|row| match row.stored() {
                Some(stored) => ChannelChange::Stored(stored),
                None => {
                    ChannelChange::Removed { address: row.address.clone(), revision: row.revision }
                }
            })
            .collect();
        Ok(ChannelChanges { changes, revision })
    }
}
