//! [`SealedChannels`]: a [`ChannelStore`] whose credentials are sealed on the way in and
//! opened on the way out with a [`KeyRing`] — the only code that sees a channel's tokens.

use std::sync::Arc;

use serde::Deserialize;

use super::channels::{
    ChannelChange, ChannelChanges, ChannelError, ChannelStatus, ChannelStore, ConnectedChannel,
    Credentials, Revision, SealedCredentials, StoredChannel,
};
use crate::ids::ChannelAddress;
use crate::{KeyRing, Secret};

/// How often an optimistic read-modify-write is tried again when another writer changed
/// the channel in between: each loss means another writer's change went through, so this
/// bounds how many writers may race on one channel at once. No sleep: the next try reads
/// the winner's revision.
const ATTEMPTS: usize = 16;

/// A channel with its credentials open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelRecord {
    /// The channel.
    pub channel: ConnectedChannel,
    /// Its credentials (each a [`Secret`]: never printed).
    pub credentials: Credentials,
    /// The revision of its last change.
    pub revision: Revision,
}

/// What [`SealedChannels::rekey`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rekeyed {
    /// Credentials sealed anew with the first key.
    pub resealed: u64,
    /// Credentials sealed with the first key already.
    pub current: u64,
}

/// The credentials as sealed: JSON, tokens in clear — only ever inside the sealed bytes.
#[derive(Deserialize)]
struct Plain {
    access_token: String,
    #[serde(default)]
    chatwoot_token: Option<String>,
    #[serde(default)]
    chatwoot_webhook_token: Option<String>,
}

/// The connected channels of a [`ChannelStore`], credentials sealed with a [`KeyRing`].
///
/// Sealed credentials are bound to their channel's address: bytes copied from one channel
/// to another fail to open ([`SealError::Rejected`](crate::SealError::Rejected)).
#[derive(Debug, Clone)]
pub struct SealedChannels<S> {
    store: S,
    keys: Arc<KeyRing>,
}

impl<S: ChannelStore> SealedChannels<S> {
    /// Channels in `store`, sealed with `keys`.
    pub fn new(store: S, keys: Arc<KeyRing>) -> Self {
        Self { store, keys }
    }

    /// The store underneath (sealed credentials only).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Stores a new channel ([`ChannelError::Exists`] if its address is stored).
    pub async fn add(
        &self,
        channel: &ConnectedChannel,
        credentials: &Credentials,
    ) -> Result<Revision, ChannelError> {
        let sealed = self.seal(&channel.address, credentials)?;
        self.store.insert_channel(channel, &sealed).await
    }

    /// Replaces a channel read at revision `expected` ([`ChannelError::Stale`] if it changed
    /// since).
    pub async fn update(
        &self,
        expected: Revision,
        channel: &ConnectedChannel,
        credentials: &Credentials,
    ) -> Result<Revision, ChannelError> {
        let sealed = self.seal(&channel.address, credentials)?;
        self.store.update_channel(expected, channel, &sealed).await
    }

    /// Sets a channel's status, whatever else changes meanwhile (the credentials stay
    /// sealed: no key needed). [`ChannelError::NotFound`] if there is no such channel.
    pub async fn set_status(
        &self,
        address: &ChannelAddress,
        status: ChannelStatus,
    ) -> Result<Revision, ChannelError> {
        for _ in 0..ATTEMPTS {
            let Some(mut stored) = self.store.channel(address).await? else {
                return Err(ChannelError::NotFound(address.clone()));
            };
            stored.channel.status = status.clone();
            match self
                .store
                .update_channel(stored.revision, &stored.channel, &stored.credentials)
                .await
            {
                Err(ChannelError::Stale(_)) => continue,
                done => return done,
            }
        }
        Err(ChannelError::Stale(address.clone()))
    }

    /// Removes a channel and its credentials; whether it was stored.
    pub async fn remove(&self, address: &ChannelAddress) -> Result<bool, ChannelError> {
        self.store.remove_channel(address).await
    }

    /// One channel, credentials open.
    pub async fn get(
        &self,
        address: &ChannelAddress,
    ) -> Result<Option<ChannelRecord>, ChannelError> {
        self.store.channel(address).await?.map(|s| self.open(s)).transpose()
    }

    /// Every channel, credentials open, by address.
    pub async fn list(&self) -> Result<Vec<ChannelRecord>, ChannelError> {
        self.store.channels().await?.into_iter().map(|s| self.open(s)).collect()
    }

    /// Every channel, by address, each opened on its own: one whose credentials cannot be
    /// opened (a key removed too early, altered bytes) is an error in its place and does
    /// not hide the others — what a server serving every channel it can needs.
    pub async fn list_each(
        &self,
    ) -> Result<Vec<Result<ChannelRecord, ChannelError>>, ChannelError> {
        Ok(self.store.channels().await?.into_iter().map(|s| self.open(s)).collect())
    }

    /// What changed after `since`, credentials open; see [`ChannelStore`].
    pub async fn changes_since(
        &self,
        since: Revision,
    ) -> Result<ChannelChanges<ChannelRecord>, ChannelError> {
        let found = self.store.channel_changes(since).await?;
        let changes = found
            .changes
            .into_iter()
            .map(|change| match change {
                ChannelChange::Stored(s) => self.open(s).map(ChannelChange::Stored),
                ChannelChange::Removed { address, revision } => {
                    Ok(ChannelChange::Removed { address, revision })
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(ChannelChanges { changes, revision: found.revision })
    }

    /// Seals every channel's credentials anew with the first key, so the other keys can be
    /// removed afterwards. Needs every key that sealed a stored credential; a channel
    /// changed meanwhile is read again.
    pub async fn rekey(&self) -> Result<Rekeyed, ChannelError> {
        let mut done = Rekeyed::default();
        for listed in self.store.channels().await? {
            let mut stored = Some(listed);
            for attempt in 0.. {
                let Some(current) = stored.take() else { break };
                if self.keys.is_current(current.credentials.as_bytes()) {
                    done.current += 1;
                    break;
                }
                if attempt == ATTEMPTS {
                    return Err(ChannelError::Stale(current.channel.address));
                }
                let address = current.channel.address.clone();
                let credentials = self.open(current.clone())?.credentials;
                let sealed = self.seal(&address, &credentials)?;
                match self.store.update_channel(current.revision, &current.channel, &sealed).await {
                    Ok(_) => done.resealed += 1,
                    // Changed meanwhile (perhaps resealed by another rekey): look again.
                    Err(ChannelError::Stale(_)) => stored = self.store.channel(&address).await?,
                    // Removed meanwhile: nothing left to reseal.
                    Err(ChannelError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(done)
    }

    fn seal(
        &self,
        address: &ChannelAddress,
        credentials: &Credentials,
    ) -> Result<SealedCredentials, ChannelError> {
        let plain = serde_json::json!({
            "access_token": credentials.access_token.expose(),
            "chatwoot_token": credentials.chatwoot_token.as_ref().map(Secret::expose),
            "chatwoot_webhook_token": credentials.chatwoot_webhook_token.as_ref().map(Secret::expose),
        });
        self.keys
            .seal(plain.to_string().as_bytes(), context(address).as_bytes())
            .map(SealedCredentials::from_bytes)
            .map_err(|source| ChannelError::Credentials { address: address.clone(), source })
    }

    fn open(&self, stored: StoredChannel) -> Result<ChannelRecord, ChannelError> {
        let address = &stored.channel.address;
        let failed = |source| ChannelError::Credentials { address: address.clone(), source };
        let bytes = self
            .keys
            .open(stored.credentials.as_bytes(), context(address).as_bytes())
            .map_err(failed)?;
        // Authenticated, so written by `seal`: unreadable JSON means a different format.
        let plain: Plain = serde_json::from_slice(&bytes)
            .map_err(|_| failed(crate::SealError::Malformed("not credentials")))?;
        Ok(ChannelRecord {
            credentials: Credentials {
                access_token: Secret::new(plain.access_token),
                chatwoot_token: plain.chatwoot_token.map(Secret::new),
                chatwoot_webhook_token: plain.chatwoot_webhook_token.map(Secret::new),
            },
            channel: stored.channel,
            revision: stored.revision,
        })
    }
}

/// What sealed credentials are bound to: their channel's address.
fn context(address: &ChannelAddress) -> String {
    address.to_string()
}
