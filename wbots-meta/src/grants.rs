//! Who granted a connected channel's access: the app-scoped Meta user id of the person whose
//! Facebook Login (or Instagram Login) gave the bridge the channel's token, kept with the
//! channel (one `channel_grant` link per channel, [`record`]) so that Meta's data-deletion
//! and deauthorize callbacks, which name the person by that id (meta-login.md §6.1), find
//! the channels their grant serves ([`withdraw`]).
//!
//! Withdrawing a person's grant deletes what the bridge holds about them there — the id
//! itself and the Meta token obtained through their login (Meta invalidates it anyway when
//! the person removes the app) — and leaves each channel stored as needing a reconnect,
//! with a plain reason: flagged in the engine (its sends stop at once, with the reason)
//! and its agents told with a private note, as the token upkeep does for a dead token.
//! Connecting the channel again (anyone's login) stores a new grant.

use std::sync::Arc;

use wbots_core::store::{
    ChannelError, ChannelRecord, ChannelStatus, ChannelStore, Credentials, Link, LinkKey, LinkKind,
    LinkPrefix, LinkStore, LoginKind, SealedChannels,
};
use wbots_core::{Bridge, ChannelAddress, FlagOrigin, Secret, StoreError};

/// How often one channel's update is tried again when it changed meanwhile.
const ATTEMPTS: usize = 8;

/// At most this many grants are read by one callback (one per connected channel).
const MAX_GRANTS: usize = 100_000;

/// What agents and the channel list read when a person's grant was withdrawn.
pub const WITHDRAWN_REASON: &str = "the person who connected it asked Meta to delete their data or removed the app, so the bridge deleted the access they had granted: connect it again";

/// Records that `person` (their app-scoped Meta user id) granted the access `address` is
/// served with, replacing whoever granted it before (a reconnect is a new grant).
///
/// # Errors
/// The store's.
pub async fn record(
    links: &dyn LinkStore,
    address: &ChannelAddress,
    person: &str,
) -> Result<(), StoreError> {
    links.set_link(&Link::new(LinkKey::channel_grant(address), person)).await
}

/// The stored channels whose access `person` granted: those their login connected, and an
/// Instagram-Login account that is itself the id Meta sent (which id Meta's callbacks name
/// for Instagram Login is not determined, meta-login.md §6.2: either is matched).
async fn granted_by(
    links: &dyn LinkStore,
    channels: &SealedChannels<Arc<dyn ChannelStore>>,
    person: &str,
) -> Result<Vec<ChannelRecord>, ChannelError> {
    let all = LinkPrefix::all(LinkKind::ChannelGrant);
    let grants: Vec<String> = links
        .links_with_prefix(&all, MAX_GRANTS)
        .await?
        .into_iter()
        .filter(|l| l.value == person)
        .map(|l| l.key.as_str().to_owned())
        .collect();
    let mut found = Vec::new();
    for record in channels.list().await? {
        let address = &record.channel.address;
        let by_grant = grants.iter().any(|g| *g == address.to_string());
        let itself =
            record.channel.login == LoginKind::Instagram && address.account.as_str() == person;
        if by_grant || itself {
            found.push(record);
        }
    }
    Ok(found)
}

/// Withdraws `person`'s grants: for each channel their login connected, its Meta token is
/// deleted and it is stored as needing a reconnect, the agents are told and the channel
/// flagged (unless it is disconnected already), and the record of the grant is deleted —
/// in that order, so a failure part-way is finished by Meta calling again.
/// Returns the channels it withdrew.
///
/// # Errors
/// The store's (Meta should call again).
pub async fn withdraw(
    bridge: &Bridge,
    channels: &SealedChannels<Arc<dyn ChannelStore>>,
    person: &str,
) -> Result<Vec<ChannelAddress>, ChannelError> {
    let links = bridge.store().as_ref();
    let mut withdrawn = Vec::new();
    for record in granted_by(links, channels, person).await? {
        let address = record.channel.address.clone();
        let served = record.channel.status != ChannelStatus::Disconnected;
        // Stored as needing a reconnect before the engine's flag is set: a replica reloading
        // its routes meanwhile must not find the channel active, which lifts that flag.
        forget_token(links, channels, record, served, person).await?;
        if served {
            bridge.needs_reconnect(&address, FlagOrigin::GrantWithdrawn, WITHDRAWN_REASON).await?;
        }
        links.delete_link(&LinkKey::channel_grant(&address)).await?;
        tracing::info!(channel = %address, "a person's grant was withdrawn: its token is deleted and the channel needs a reconnect");
        withdrawn.push(address);
    }
    Ok(withdrawn)
}

/// Stores the channel without its Meta token (an empty one: the channel source serves it
/// with none) and, when `served`, flagged with [`WITHDRAWN_REASON`]. The Chatwoot side of
/// the credentials is the account's, not the person's: it stays.
async fn forget_token(
    links: &dyn LinkStore,
    channels: &SealedChannels<Arc<dyn ChannelStore>>,
    mut record: ChannelRecord,
    served: bool,
    person: &str,
) -> Result<(), ChannelError> {
    let address = record.channel.address.clone();
    for _ in 0..ATTEMPTS {
        if served {
            record.channel.status = ChannelStatus::Flagged { reason: WITHDRAWN_REASON.to_owned() };
        }
        record.channel.token_expires_at = None;
        let credentials =
            Credentials { access_token: Secret::new(String::new()), ..record.credentials.clone() };
        match channels.update(record.revision, &record.channel, &credentials).await {
            Ok(_) => return Ok(()),
            Err(ChannelError::Stale(_)) => {}
            Err(e) => return Err(e),
        }
        // Changed meanwhile (the upkeep, a reconnect): read it again. Reconnected by
        // someone else since, it holds their grant now: left alone.
        match channels.get(&address).await? {
            Some(current) => record = current,
            None => return Ok(()),
        }
        let grant = links.get_link(&LinkKey::channel_grant(&address)).await?;
        let itself =
            record.channel.login == LoginKind::Instagram && address.account.as_str() == person;
        if grant.as_deref() != Some(person) && !itself {
            return Ok(());
        }
    }
    Err(ChannelError::Stale(address))
}
