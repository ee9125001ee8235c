//! `wbots check`, the stored channels: each one's status (flagged with its reason) and its
//! token's expiry with the days left. Reads the descriptions only: no key, no token.

use chrono::{DateTime, Utc};
use wbots_core::store::{ChannelStatus, ConnectedChannel};

use crate::config::Config;

/// What `check` prints about the stored channels: `ok`/`warn` lines, and problems.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    pub ok: Vec<String>,
    pub warnings: Vec<String>,
    pub problems: Vec<String>,
}

/// Reads the stored channels of `config`'s store; a store that cannot be read is a problem.
pub(crate) async fn findings(config: &Config, now: DateTime<Utc>) -> Findings {
    let mut found = Findings::default();
    let stored = match crate::channels::open(config.store.url.expose()).await {
        Ok(stores) => stores.channels.channels().await.map_err(anyhow::Error::from),
        Err(e) => Err(e),
    };
    match stored {
        Ok(stored) => {
            for s in stored {
                describe(&s.channel, now, config.upkeep.refresh_days_left, &mut found);
            }
        }
        Err(e) => found.problems.push(format!("store: the stored channels: {e:#}")),
    }
    found
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
