//! Connected channels: the Pages and Instagram accounts businesses connect, each into its
//! Chatwoot inbox, kept beside the job queue and the links ([`ChannelStore`]).
//!
//! Two layers, so no store can keep a token in clear: a [`ChannelStore`] keeps records
//! whose credentials are already sealed ([`SealedCredentials`], opaque bytes), and
//! [`SealedChannels`](super::SealedChannels) seals and opens them with a
//! [`KeyRing`](crate::KeyRing) — the one place that sees tokens, and the one place to
//! rotate keys (`rekey`).

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use url::Url;

use crate::error::StoreError;
use crate::ids::ChannelAddress;
use crate::key_ring::sealed_with;
use crate::{SealError, Secret};

/// A position in the store-wide history of channel changes: every insert, update and
/// removal takes the next revision, so "what changed since N" is one query, and a replica
/// polling with the last revision it saw misses nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Revision(pub u64);

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// How the business logged in when it connected the account: which Graph API serves it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LoginKind {
    /// Facebook Login: a Page token (Messenger, or Instagram through its linked Page).
    #[default]
    Facebook,
    /// Instagram Login: an Instagram user token (Instagram only).
    Instagram,
}

impl LoginKind {
    /// Its stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Facebook => "facebook",
            Self::Instagram => "instagram",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "facebook" => Some(Self::Facebook),
            "instagram" => Some(Self::Instagram),
            _ => None,
        }
    }
}

/// Whether the bridge serves a channel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum ChannelStatus {
    /// Served.
    #[default]
    Active,
    /// Kept but needs an operator (a token Meta refused, a refresh that failed): why.
    Flagged {
        /// What went wrong, fit to show an operator.
        reason: String,
    },
    /// Disconnected by the business or an operator: not served.
    Disconnected,
}

impl ChannelStatus {
    /// Its stable name, as stored (`active`, `flagged`, `disconnected`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Flagged { .. } => "flagged",
            Self::Disconnected => "disconnected",
        }
    }

    /// The status from its stored name and reason.
    pub fn from_stored(name: &str, reason: Option<String>) -> Option<Self> {
        match name {
            "active" => Some(Self::Active),
            "flagged" => Some(Self::Flagged { reason: reason.unwrap_or_default() }),
            "disconnected" => Some(Self::Disconnected),
            _ => None,
        }
    }

    /// The reason of a flagged channel.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Flagged { reason } => Some(reason),
            _ => None,
        }
    }
}

/// Where a channel's conversations go: a Chatwoot installation, account and inbox. The
/// installation and account are inherited from the bridge's `[chatwoot]` when absent.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChatwootTarget {
    /// The installation's base URL, if not the bridge's.
    pub url: Option<Url>,
    /// The account, if not the bridge's.
    pub account_id: Option<u64>,
    /// The API-channel inbox.
    pub inbox_id: u64,
}

/// What the bridge knows about a connected channel, its credentials aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectedChannel {
    /// The platform and the platform's account id (Page id, Instagram account id): the
    /// channel's identity, unique in the store.
    pub address: ChannelAddress,
    /// The Facebook Page the account is reached through (Instagram through Facebook
    /// Login), if any.
    pub page_id: Option<String>,
    /// How the business logged in.
    pub login: LoginKind,
    /// Where its conversations go.
    pub chatwoot: ChatwootTarget,
    /// Whether it is served.
    pub status: ChannelStatus,
    /// When the Meta token expires, if it does (Instagram Login tokens: 60 days).
    pub token_expires_at: Option<DateTime<Utc>>,
    /// Who connected it (an operator's or a business user's name or e-mail).
    pub connected_by: String,
    /// When it was connected.
    pub connected_at: DateTime<Utc>,
}

/// A channel's secrets: what a store must never keep in clear.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// The Meta token (Page token, or Instagram user token).
    pub access_token: Secret,
    /// The Chatwoot API token for the channel's account, if not the bridge's.
    pub chatwoot_token: Option<Secret>,
    /// The path token of the webhook Chatwoot calls for the channel's account
    /// (`/webhooks/{account}/{token}`), if not the bridge's: with its own API token an
    /// account has its own webhook, and one business's token never opens another's.
    pub chatwoot_webhook_token: Option<Secret>,
}

/// [`Credentials`] sealed by a [`KeyRing`](crate::KeyRing), as a store keeps them: opaque
/// bytes that name the key that sealed them. `Debug` shows that key and the length only.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedCredentials(Vec<u8>);

impl SealedCredentials {
    /// Sealed bytes, as stored.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The sealed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SealedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match sealed_with(&self.0) {
            Ok(key) => write!(f, "SealedCredentials(key {key}, {} bytes)", self.0.len()),
            Err(_) => write!(f, "SealedCredentials(malformed, {} bytes)", self.0.len()),
        }
    }
}

/// A channel as a [`ChannelStore`] keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredChannel {
    /// The channel.
    pub channel: ConnectedChannel,
    /// Its credentials, sealed.
    pub credentials: SealedCredentials,
    /// The revision of its last change.
    pub revision: Revision,
}

/// One entry of [`ChannelChanges`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelChange<C = StoredChannel> {
    /// Added or changed: the channel as it is now.
    Stored(C),
    /// Removed at `revision`.
    Removed {
        /// The channel that is gone.
        address: ChannelAddress,
        /// When.
        revision: Revision,
    },
}

/// What changed after a revision: the current state of every channel that changed (one
/// entry per channel, however often it changed), in revision order, and the revision to
/// ask from next time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelChanges<C = StoredChannel> {
    /// The changes, oldest first.
    pub changes: Vec<ChannelChange<C>>,
    /// The newest revision seen; pass it to the next call.
    pub revision: Revision,
}

/// Why a channel could not be written or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// A channel with this address is stored already.
    #[error("channel {0} is connected already")]
    Exists(ChannelAddress),
    /// The channel changed since the revision the write was based on: read it again.
    #[error("channel {0} changed meanwhile; read it again")]
    Stale(ChannelAddress),
    /// No such channel.
    #[error("no channel {0}")]
    NotFound(ChannelAddress),
    /// The credentials could not be sealed or opened (a wrong or missing key, altered
    /// data).
    #[error("credentials of channel {address}: {source}")]
    Credentials {
        /// The channel.
        address: ChannelAddress,
        /// What failed.
        #[source]
        source: SealError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The connected channels, credentials sealed: a store beside the job queue and the links.
///
/// # Contract
/// A channel is named by its [`ChannelAddress`] (platform and account id), unique in the
/// store. Every method is atomic.
///
/// **Revisions.** Every successful insert, update and removal takes the next store-wide
/// [`Revision`] (strictly increasing; gaps allowed), and commits in revision order: once a
/// reader sees revision `n`, every change before `n` is visible too. `channel_changes(n)`
/// returns the current state of every channel whose last change is after `n` — a removed
/// one as [`ChannelChange::Removed`] — in revision order, with the newest revision among
/// them (or `n`), so a replica polling with the revision it last saw misses no change.
///
/// **Writes.** `insert_channel` refuses a stored address ([`ChannelError::Exists`]); a
/// removed one may be inserted again. `update_channel` replaces a channel only while its
/// revision is still `expected` (optimistic concurrency: of two writers that read the same
/// revision, one wins and the other gets [`ChannelError::Stale`]), and
/// [`ChannelError::NotFound`] when there is none. `remove_channel` deletes the credentials
/// and keeps the address (for `channel_changes`).
///
/// **Secrets.** A store keeps [`SealedCredentials`] as given and returns them byte for
/// byte; it never sees a token.
///
/// # Wrappers
/// As for [`Store`](super::Store): forward every method; `Arc<T>` is a channel store
/// wherever `T` is.
///
/// # Conformance
/// `wbots_core::channel_store_conformance_tests!` (feature `testkit`).
#[async_trait]
pub trait ChannelStore: Send + Sync + fmt::Debug + 'static {
    /// Stores a new channel; its revision.
    async fn insert_channel(
        &self,
        channel: &ConnectedChannel,
        credentials: &SealedCredentials,
    ) -> Result<Revision, ChannelError>;

    /// Replaces the channel at `channel.address` if its revision is still `expected`; the
    /// new revision.
    async fn update_channel(
        &self,
        expected: Revision,
        channel: &ConnectedChannel,
        credentials: &SealedCredentials,
    ) -> Result<Revision, ChannelError>;

    /// Removes a channel and its credentials; whether it was stored.
    async fn remove_channel(&self, address: &ChannelAddress) -> Result<bool, ChannelError>;

    /// One channel.
    async fn channel(
        &self,
        address: &ChannelAddress,
    ) -> Result<Option<StoredChannel>, ChannelError>;

    /// Every stored channel, by address (kind, then account id, in byte order).
    async fn channels(&self) -> Result<Vec<StoredChannel>, ChannelError>;

    /// What changed after `since`; see the trait docs.
    async fn channel_changes(&self, since: Revision) -> Result<ChannelChanges, ChannelError>;
}
