//! Channel flags as `wbots check` reads them: from the store the bridge runs on, with a
//! flag set under an older token cleared (the configuration holds a new one).

use wbots_core::{Bridge, ChannelAddress};

use crate::app;
use crate::config::Config;

/// The flags of the configured channels. A store that cannot be read is reported once as
/// a warning line, not as a problem: a fresh installation has no store yet.
pub(crate) struct ChannelFlags {
    bridge: Option<Bridge>,
}

impl ChannelFlags {
    /// Opens the configured store (without migrating it).
    pub(crate) async fn open(config: &Config) -> Self {
        let bridge = match crate::store::open(config.store.url.expose()).await {
            Ok(store) => app::bridge(config, store, &[], None, None),
            Err(e) => Err(e.to_string()),
        };
        match bridge {
            Ok(b) => Self { bridge: Some(b) },
            Err(e) => {
                println!("warn store: channel flags not read ({e})");
                Self { bridge: None }
            }
        }
    }

    /// Why `address` is flagged, if it is.
    pub(crate) async fn reason(&mut self, address: &ChannelAddress) -> Option<String> {
        let bridge = self.bridge.as_ref()?;
        match bridge.channel_flag(address).await {
            Ok(flag) => flag,
            Err(e) => {
                println!("warn store: channel flags not read ({e}); has `wbots serve` run yet?");
                self.bridge = None;
                None
            }
        }
    }
}
