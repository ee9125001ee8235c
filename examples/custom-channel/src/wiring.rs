//! The Telegram channel wired to the Chatwoot inbox: the same engine, store and routes the
//! Meta channels use.

use std::sync::Arc;

use wbots_chatwoot::ChatwootInbox;
use wbots_core::store::Store;
use wbots_core::{Binding, Bridge, ReopenPolicy};

use crate::TelegramChannel;

/// A bridge from one Telegram bot into one Chatwoot API inbox.
pub fn bridge(
    telegram: TelegramChannel,
    chatwoot: ChatwootInbox,
    inbox_id: u64,
    store: Arc<dyn Store>,
) -> Result<Bridge, String> {
    let address = telegram.address().clone();
    Bridge::builder(store, Arc::new(chatwoot))
        .with_channel(Arc::new(telegram))
        .with_binding(Binding {
            address,
            inbox: inbox_id.to_string().into(),
            reopen: ReopenPolicy::Reopen,
        })
        .build()
        .map_err(|e| e.to_string())
}
