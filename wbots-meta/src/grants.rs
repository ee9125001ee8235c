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
//!
//! A grant is kept with the time it was made (`{person} {ms}`), and a request withdraws only
//! grants made before it was issued (Meta's `issued_at`, with [`CLOCK_ALLOWANCE`] for the
//! two clocks): Meta calls again after a refusal (a 503 while the store was down), and a
//! late call must not delete the token of a person who has connected again since.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use wbots_core::store::{
    ChannelError, ChannelRecord, ChannelStatus, ChannelStore, Credentials, Link, LinkKey, LinkKind,
    LinkPrefix, LinkStore, LoginKind, SealedChannels,
};
use wbots_core::{Bridge, ChannelAddress, FlagOrigin, Secret, StoreError};

/// How often one channel's update is tried again when it changed meanwhile.
const ATTEMPTS: usize = 8;

/// At most this many grants are read by one callback (one per connected channel).
const MAX_GRANTS: usize = 100_000;

/// How much later than a request's `issued_at` a grant may be recorded and still be taken
/// as made before it: Meta's clock and the bridge's are not the same clock.
pub const CLOCK_ALLOWANCE: chrono::Duration = chrono::Duration::minutes(5);

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
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let value = format!("{person} {}", at.timestamp_millis());
    links.set_link(&Link::new(LinkKey::channel_grant(address), value)).await
}

/// A stored grant's person and time (ms; 0 for a grant recorded without one, which any
/// request withdraws).
fn grant_of(value: &str) -> (&str, i64) {
    match value.split_once(' ') {
        Some((person, ms)) => (person, ms.parse().unwrap_or(0)),
        None => (value, 0),
    }
}

/// Whether a grant made at `granted_ms` is older than a request issued at `asked` (none
/// given: every grant is).
fn before(granted_ms: i64, asked: Option<DateTime<Utc>>) -> bool {
    asked.is_none_or(|asked| granted_ms < (asked + CLOCK_ALLOWANCE).timestamp_millis())
}

/// The stored channels whose access `person` granted: those their login connected, and an
/// Instagram-Login account that is itself the id Meta sent (which id Meta's callbacks name
/// for Instagram Login is not determined, meta-login.md §6.2: either is matched).
async fn granted_by(
    links: &dyn LinkStore,
    channels: &SealedChannels<Arc<dyn ChannelStore>>,
    person: &str,
    asked: Option<DateTime<Utc>>,
) -> Result<Vec<ChannelRecord>, ChannelError> {
    let all = LinkPrefix::all(LinkKind::ChannelGrant);
    // Every grant's channel with its person and time.
    let grants: Vec<(String, String, i64)> = links
        .links_with_prefix(&all, MAX_GRANTS)
        .await?
        .into_iter()
        .map(|l| {
            let (who, ms) = grant_of(&l.value);
            (l.key.as_str().to_owned(), who.to_owned(), ms)
        })
        .collect();
    let mut found = Vec::new();
    for record in channels.list().await? {
        let address = &record.channel.address;
        let grant = grants.iter().find(|(key, _, _)| *key == address.to_string());
        let by_grant = grant.is_some_and(|(_, who, ms)| who == person && before(*ms, asked));
        // An Instagram-Login account named by its own id: unless someone connected it
        // again after the request.
        let itself = record.channel.login == LoginKind::Instagram
            && address.account.as_str() == person
            && grant.is_none_or(|(_, _, ms)| before(*ms, asked));
        if by_grant || itself {
            found.push(record);
        }
    }
    Ok(found)
}

/// Withdraws `person`'s grants made before `asked` (the request's `issued_at`; see the
/// module's docs): for each channel their login connected, its Meta token is
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
    asked: Option<DateTime<Utc>>,
) -> Result<Vec<ChannelAddress>, ChannelError> {
    let links = bridge.store().as_ref();
    let mut withdrawn = Vec::new();
    for record in granted_by(links, channels, person, asked).await? {
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
        let theirs = grant.as_deref().map(grant_of).is_some_and(|(who, _)| who == person);
        let itself =
            record.channel.login == LoginKind::Instagram && address.account.as_str() == person;
        if !theirs && !itself {
            return Ok(());
        }
    }
    Err(ChannelError::Stale(address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_withdraws_the_grants_made_before_it_only() {
        let asked = DateTime::from_timestamp(1_764_000_000, 0);
        let ms = |s: i64| s * 1000;
        assert_eq!(grant_of("asid-1 1764000000000"), ("asid-1", 1_764_000_000_000));
        assert_eq!(grant_of("asid-1"), ("asid-1", 0), "recorded without a time: any request");
        assert!(before(ms(1_763_999_000), asked), "granted before the request");
        assert!(before(ms(1_764_000_120), asked), "two minutes after: the clocks' allowance");
        assert!(!before(ms(1_764_003_600), asked), "an hour after: connected again since");
        assert!(before(ms(1_764_003_600), None), "a request without issued_at: every grant");
    }
}
