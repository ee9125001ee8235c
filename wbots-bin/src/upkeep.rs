//! The Meta side of the engine's channel upkeep ([`ChannelUpkeep`]): what `wbots serve`
//! does, once per `upkeep.every_seconds` and account, to keep tokens alive.
//!
//! - A stored Instagram-Login channel whose token expires within
//!   `upkeep.refresh_days_left` gets a refreshed token (Meta: 60-day tokens, refreshable
//!   once at least 24 hours old; meta-login.md §5.5). The new token and its expiry are
//!   stored at the revision read, so the channel source serves the new token; a channel
//!   changed meanwhile is read again.
//! - A Page token (Messenger, or Instagram through Facebook Login), stored or in
//!   `[[channels]]`, is checked with `debug_token` (needs `meta.app_id`, §1.5); an expired
//!   or revoked one needs reconnecting.
//! - A dead token (a refresh Meta refuses for good, a check that says so) flags the channel:
//!   the engine flags it and tells agents; a stored one is also stored `flagged` with the
//!   reason, which `wbots channels list` and `wbots check` show.
//!
//! Channels stored as flagged or disconnected are left alone: they need an operator.
//! Instagram-Login tokens in `[[channels]]` are not refreshed (the bridge cannot write the
//! configuration): connect such accounts with `wbots channels add --token-expires-at`.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracing::{info, warn};
use wbots_core::store::{
    ChannelError, ChannelRecord, ChannelStatus, ChannelStore, LoginKind, SealedChannels,
};
use wbots_core::{
    ChannelAddress, ChannelUpkeep, DeliveryError, DeliveryErrorKind, Secret, UpkeepOutcome,
};
use wbots_meta::{MetaConnections, TokenState};

use crate::config::{ChannelKindConfig, Config, LoginConfig};

/// How often a refresh is stored again when the channel changed meanwhile (each loss means
/// another writer's change went through).
const STORE_ATTEMPTS: usize = 8;

type Channels = SealedChannels<Arc<dyn ChannelStore>>;

/// Keeps the bridge's Meta tokens alive; see the module docs.
pub(crate) struct MetaUpkeep {
    meta: MetaConnections,
    /// Whether Page tokens can be checked (`debug_token` takes the app token).
    checks_pages: bool,
    refresh_within: chrono::Duration,
    /// The `[[channels]]` tokens, by account.
    statics: HashMap<ChannelAddress, (Secret, LoginConfig)>,
    /// The channel store `serve` opened (`None` without `store.secret_key`): the same
    /// store object, never a second opening of the file (SQLite's locks are per process).
    stored: Option<Channels>,
}

impl std::fmt::Debug for MetaUpkeep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaUpkeep")
            .field("checks_pages", &self.checks_pages)
            .field("refresh_within", &self.refresh_within)
            .field("static_channels", &self.statics.len())
            .finish_non_exhaustive()
    }
}

impl MetaUpkeep {
    /// The upkeep of `config`'s channels, static and (with `stored`) stored.
    pub(crate) fn new(config: &Config, stored: Option<Channels>) -> Result<Self, String> {
        let meta = MetaConnections::new(config.meta.clone()).map_err(|e| format!("meta: {e}"))?;
        let statics = config
            .channels
            .iter()
            .map(|ch| {
                let login = match ch.kind {
                    ChannelKindConfig::Messenger => LoginConfig::Facebook,
                    ChannelKindConfig::Instagram => ch.login.unwrap_or_default(),
                };
                (crate::app::address(ch.kind, &ch.id), (ch.access_token.clone(), login))
            })
            .collect();
        let days = i64::try_from(config.upkeep.refresh_days_left).unwrap_or(i64::MAX);
        Ok(Self {
            meta,
            checks_pages: config.meta.app_id.as_deref().is_some_and(|id| !id.is_empty()),
            refresh_within: chrono::Duration::try_days(days).unwrap_or(chrono::Duration::MAX),
            statics,
            stored,
        })
    }

    /// The stored channels, or `None` without a key (then none can be stored: `serve`
    /// refuses to start with stored channels and no key).
    async fn channels(&self) -> Result<Option<&Channels>, DeliveryError> {
        Ok(self.stored.as_ref())
    }

    /// A stored channel's upkeep.
    async fn stored(
        &self,
        channels: &Channels,
        record: ChannelRecord,
        now: DateTime<Utc>,
    ) -> Result<UpkeepOutcome, DeliveryError> {
        if record.channel.status != ChannelStatus::Active {
            return Ok(UpkeepOutcome::Healthy);
        }
        let address = record.channel.address.clone();
        let outcome = match record.channel.login {
            LoginKind::Instagram => self.refresh(channels, record, now).await?,
            LoginKind::Facebook => self.check_page(&record.credentials.access_token, now).await?,
        };
        if let UpkeepOutcome::NeedsReconnect { reason } = &outcome {
            let status = ChannelStatus::Flagged { reason: reason.clone() };
            channels.set_status(&address, status).await.map_err(store_failed)?;
        }
        Ok(outcome)
    }

    /// Refreshes an Instagram-Login token that expires within the window, and stores it.
    async fn refresh(
        &self,
        channels: &Channels,
        mut record: ChannelRecord,
        now: DateTime<Utc>,
    ) -> Result<UpkeepOutcome, DeliveryError> {
        let Some(expires_at) = record.channel.token_expires_at else {
            // No expiry stored: nothing tells when to refresh (`channels add
            // --token-expires-at` records it).
            return Ok(UpkeepOutcome::Healthy);
        };
        if expires_at - now > self.refresh_within {
            return Ok(UpkeepOutcome::Healthy);
        }
        let old = record.credentials.access_token.clone();
        let fresh = match self.meta.refresh_instagram_token(&old).await {
            Ok(fresh) => fresh,
            Err(e)
                if e.is_permanent()
                    && (e.kind() == DeliveryErrorKind::Unauthorized || expires_at <= now) =>
            {
                return Ok(UpkeepOutcome::NeedsReconnect {
                    reason: format!(
                        "Meta refused to refresh the Instagram token ({})",
                        e.message()
                    ),
                });
            }
            Err(e) => return Err(e),
        };
        let expires = fresh.expires_at(now);
        for _ in 0..STORE_ATTEMPTS {
            record.credentials.access_token = fresh.access_token.clone();
            record.channel.token_expires_at = expires;
            match channels.update(record.revision, &record.channel, &record.credentials).await {
                Ok(_) => {
                    info!(account = %record.channel.address, expires_at = ?expires, "Instagram token refreshed and stored");
                    return Ok(UpkeepOutcome::Renewed { expires_at: expires });
                }
                Err(ChannelError::Stale(_)) => {}
                Err(e) => return Err(store_failed(e)),
            }
            // Changed meanwhile: read it again. Another token put in since (an operator
            // reconnected it) wins over the refreshed one, as does a status change.
            let address = record.channel.address.clone();
            let Some(current) = channels.get(&address).await.map_err(store_failed)? else {
                return Ok(UpkeepOutcome::Healthy);
            };
            if current.credentials.access_token != old
                || current.channel.status != ChannelStatus::Active
            {
                return Ok(UpkeepOutcome::Healthy);
            }
            record = current;
        }
        Err(unavailable("the channel kept changing while its refreshed token was stored"))
    }

    /// What Meta says of a Page token.
    async fn check_page(
        &self,
        token: &Secret,
        now: DateTime<Utc>,
    ) -> Result<UpkeepOutcome, DeliveryError> {
        if !self.checks_pages {
            return Ok(UpkeepOutcome::Healthy);
        }
        let state = match self.meta.check_token(token, now).await {
            Ok(state) => state,
            // The check itself is refused (the app token: `meta.app_id` or `app_secret`
            // wrong): nothing is known of the Page token, and retrying will not help. Said
            // each period, not dead-lettered each period.
            Err(e) if e.is_permanent() => {
                warn!(error = %e, "Page tokens cannot be checked: Meta refused the app's own token (meta.app_id, meta.app_secret)");
                return Ok(UpkeepOutcome::Healthy);
            }
            Err(e) => return Err(e),
        };
        Ok(match state {
            TokenState::Valid { .. } => UpkeepOutcome::Healthy,
            TokenState::Expired { .. } => {
                UpkeepOutcome::NeedsReconnect { reason: "the Page token expired".to_owned() }
            }
            TokenState::Revoked { reason } => UpkeepOutcome::NeedsReconnect {
                reason: format!("Meta no longer accepts the Page token ({reason})"),
            },
        })
    }
}

#[async_trait]
impl ChannelUpkeep for MetaUpkeep {
    async fn accounts(&self) -> Result<Vec<ChannelAddress>, DeliveryError> {
        let Some(channels) = self.channels().await? else { return Ok(Vec::new()) };
        let stored = channels.store().channels().await.map_err(store_failed)?;
        Ok(stored
            .into_iter()
            .filter(|s| s.channel.status == ChannelStatus::Active)
            .map(|s| s.channel.address)
            .collect())
    }

    async fn upkeep(
        &self,
        address: &ChannelAddress,
        now: DateTime<Utc>,
    ) -> Result<UpkeepOutcome, DeliveryError> {
        if let Some(channels) = self.channels().await? {
            if let Some(record) = channels.get(address).await.map_err(store_failed)? {
                return self.stored(channels, record, now).await;
            }
        }
        match self.statics.get(address) {
            Some((token, LoginConfig::Facebook)) => self.check_page(token, now).await,
            // Not refreshable from here (see the module docs); its sends show when it dies.
            Some((_, LoginConfig::Instagram)) => Ok(UpkeepOutcome::Healthy),
            None => {
                warn!(account = %address, "upkeep of an account neither stored nor configured; skipped");
                Ok(UpkeepOutcome::Healthy)
            }
        }
    }
}

fn unavailable(message: impl Into<String>) -> DeliveryError {
    DeliveryError::temporary(DeliveryErrorKind::Unavailable, message)
}

/// A channel-store failure: credentials that cannot be opened (a missing or wrong key)
/// will not open on a retry either; anything else may.
fn store_failed(e: ChannelError) -> DeliveryError {
    match e {
        ChannelError::Credentials { .. } => {
            DeliveryError::permanent(DeliveryErrorKind::Other, e.to_string())
        }
        other => unavailable(other.to_string()),
    }
}

#[cfg(test)]
mod tests;
