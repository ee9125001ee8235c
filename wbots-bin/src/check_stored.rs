//! `wbots check`, the stored channels: each one's status (flagged with its reason) and its
//! token's expiry with the days left. Reads the descriptions only: no key, no token.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use wbots_core::store::{
    ChannelStatus, ChannelStore, ConnectedChannel, SqliteStore, StoredChannel,
};

use crate::config::Config;

/// What `check` prints about the stored channels: `ok`/`warn` lines, and problems.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub ok: Vec<String>,
    pub warnings: Vec<String>,
    pub problems: Vec<String>,
}

/// Reads the stored channels of `config`'s store, without migrating it. A store that
/// cannot be read is a warning, as for the flags: a fresh installation has no store yet.
pub(crate) async fn findings(config: &Config, now: DateTime<Utc>) -> Findings {
    let mut found = Findings::default();
    match stored(config.store.url.expose()).await {
        Ok(stored) => {
            for s in stored {
                describe(&s.channel, now, config.upkeep.refresh_days_left, &mut found);
            }
        }
        Err(e) => found.warnings.push(format!("store: stored channels not read ({e})")),
    }
    found
}

/// The stored channels at `url` (descriptions and sealed credentials only).
async fn stored(url: &str) -> Result<Vec<StoredChannel>, String> {
    let store: Arc<dyn ChannelStore> = if url.starts_with("sqlite:") {
        Arc::new(SqliteStore::connect(url).await.map_err(|e| e.to_string())?)
    } else {
        #[cfg(feature = "postgres")]
        {
            Arc::new(
                wbots_core::store::PostgresStore::connect(url).await.map_err(|e| e.to_string())?,
            )
        }
        #[cfg(not(feature = "postgres"))]
        return Err("this wbots cannot open the store store.url names".to_owned());
    };
    store.channels().await.map_err(|e| e.to_string())
}

/// One stored channel's line.
fn describe(c: &ConnectedChannel, now: DateTime<Utc>, refresh_days: u64, found: &mut Findings) {
    let address = &c.address;
    let expiry = c.token_expires_at.map(|at| {
        let days = (at - now).num_days();
        (at, days, format!("token expires {} ({days} days left)", at.format("%Y-%m-%d %H:%M UTC")))
    });
    match &c.status {
        ChannelStatus::Flagged { reason } => found.problems.push(format!(
            "stored {address}: reconnect required: {reason}; connect it again (`wbots channels remove {}`, then `wbots channels add`)",
            address.account
        )),
        ChannelStatus::Disconnected => {
            found.warnings.push(format!("stored {address}: disconnected (not served)"))
        }
        ChannelStatus::Active => match expiry {
            Some((at, _, text)) if at <= now => found
                .problems
                .push(format!("stored {address}: {text}: expired; connect it again")),
            Some((_, days, text)) if days < i64::try_from(refresh_days).unwrap_or(i64::MAX) => {
                found.warnings.push(format!(
                    "stored {address}: active, {text}: due for a refresh by `wbots serve`"
                ))
            }
            Some((_, _, text)) => found.ok.push(format!("stored {address}: active, {text}")),
            None => found.ok.push(format!("stored {address}: active, token without an expiry date")),
        },
    }
}
