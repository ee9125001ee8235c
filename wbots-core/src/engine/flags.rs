//! Channel flags: a business account the platform will not serve until it is reconnected
//! (token refused, app removed, policy block). A flagged channel fails sends at once with
//! `reconnect required: <reason>` instead of calling the platform; a new credential in the
//! configuration clears the flag (its fingerprint differs from the one flagged).

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::context::Context;
use crate::error::{DeliveryError, DeliveryErrorKind, StoreError};
use crate::ids::ChannelAddress;
use crate::store::{Link, LinkKey};

/// The error code of a send refused because its channel is flagged, so the failure is not
/// taken for a fresh refusal by the platform (no second flag, no second note).
pub(crate) const FLAGGED_CODE: &str = "channel_flagged";

/// Why a channel was flagged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlagOrigin {
    /// The platform refused the credential.
    Credential,
    /// The account removed the app (Meta's deauthorize callback).
    AppRemoved,
    /// The platform blocked the account (Meta's policy enforcement).
    Policy,
    /// The person whose grant the channel's credential came from asked Meta to delete
    /// their data or removed the app, and the bridge deleted that credential. No
    /// credential served now is the flagged one, so the flag holds until the channel is
    /// connected again (whoever stores it active clears the flag).
    GrantWithdrawn,
}

/// The stored value of a [`LinkKey::channel_flag`] link.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredFlag {
    reason: String,
    origin: FlagOrigin,
    /// The channel's credential fingerprint when the flag was set.
    credential: Option<String>,
}

fn fingerprint(cx: &Context, address: &ChannelAddress) -> Option<String> {
    cx.routes.get(address).and_then(|r| r.channel.credential_fingerprint(address))
}

/// Flags `address`: its sends fail at once until it is reconnected.
pub(crate) async fn flag(
    cx: &Context,
    address: &ChannelAddress,
    origin: FlagOrigin,
    reason: &str,
) -> Result<(), StoreError> {
    // A withdrawn grant's flag names no credential: replicas still serving the deleted
    // token until their next look at the store must not take it for a new one.
    let credential = match origin {
        FlagOrigin::GrantWithdrawn => None,
        _ => fingerprint(cx, address),
    };
    let flag = StoredFlag { reason: reason.to_owned(), origin, credential };
    let value = serde_json::to_string(&flag).unwrap_or_default();
    cx.store.set_link(&Link::new(LinkKey::channel_flag(address), value)).await?;
    warn!(account = %address, reason, "channel flagged: sends fail until it is reconnected");
    Ok(())
}

/// Why `address` is flagged, if it is. A flag set under another credential than the one
/// configured now is cleared here: the operator put in a new token.
pub(crate) async fn current(
    cx: &Context,
    address: &ChannelAddress,
) -> Result<Option<String>, StoreError> {
    let Some(raw) = cx.store.get_link(&LinkKey::channel_flag(address)).await? else {
        return Ok(None);
    };
    // A flag written before flags were JSON has no fingerprint: treat it as stale, the
    // next send finds out whether the credential still fails.
    let flag: Option<StoredFlag> = serde_json::from_str(&raw).ok();
    let now = fingerprint(cx, address);
    match flag {
        Some(f) if f.credential.is_none() || f.credential == now => Ok(Some(f.reason)),
        _ => {
            cx.store.delete_link(&LinkKey::channel_flag(address)).await?;
            info!(account = %address, "the channel has a new credential: its flag is cleared");
            Ok(None)
        }
    }
}

/// Clears the flag of `address` when it was set for `origin` (an unblock lifts a policy
/// block, not a refused token).
pub(crate) async fn clear(
    cx: &Context,
    address: &ChannelAddress,
    origin: FlagOrigin,
) -> Result<(), StoreError> {
    let key = LinkKey::channel_flag(address);
    let Some(raw) = cx.store.get_link(&key).await? else {
        return Ok(());
    };
    if serde_json::from_str::<StoredFlag>(&raw).is_ok_and(|f| f.origin == origin) {
        cx.store.delete_link(&key).await?;
        info!(account = %address, "channel flag lifted");
    }
    Ok(())
}

/// Reads every bound channel's flag once, clearing those a new credential replaced.
pub(crate) async fn refresh(cx: &Context) {
    let addresses: Vec<ChannelAddress> = cx.routes.bindings().map(|b| b.address.clone()).collect();
    for address in addresses {
        if let Err(e) = current(cx, &address).await {
            warn!(error = %e, "could not read the channel flags");
        }
    }
}

/// The send refusal of a flagged channel, given its flag.
pub(crate) fn refusal(flag: Option<&str>) -> Result<(), DeliveryError> {
    match flag {
        Some(reason) => Err(DeliveryError::permanent(
            DeliveryErrorKind::Unauthorized,
            format!("reconnect required: {reason}"),
        )
        .with_code(FLAGGED_CODE)),
        None => Ok(()),
    }
}
