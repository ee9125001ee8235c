//! When a channel last carried a message each way, for the people who run it (the connect
//! page's list, `wbots channels list`). The engine writes both times in the same commit as
//! the message's own links (`LinkWrite::Latest`, so the newest time wins whatever order
//! jobs complete in); they name the channel only, never a customer.

use chrono::{DateTime, Utc};

use super::{LinkKey, LinkStore};
use crate::error::StoreError;
use crate::ids::ChannelAddress;

/// A channel's last message in each direction; `None`: none yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelActivity {
    /// When the last customer message came in (its time on the platform).
    pub last_in: Option<DateTime<Utc>>,
    /// When the last agent message went out (accepted by the platform, or sent from the
    /// platform's own apps and echoed back).
    pub last_out: Option<DateTime<Utc>>,
}

impl ChannelActivity {
    /// Reads a channel's activity.
    pub async fn of(links: &dyn LinkStore, address: &ChannelAddress) -> Result<Self, StoreError> {
        let time = |raw: Option<String>| {
            raw.and_then(|r| r.parse::<i64>().ok()).and_then(DateTime::from_timestamp_millis)
        };
        Ok(Self {
            last_in: time(links.get_link(&LinkKey::channel_last_in(address)).await?),
            last_out: time(links.get_link(&LinkKey::channel_last_out(address)).await?),
        })
    }
}
