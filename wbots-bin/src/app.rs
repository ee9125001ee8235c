//! Building the bridge and its HTTP routes from the configuration.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tower_http::timeout::TimeoutLayer;
use wbots_chatwoot::ChatwootInbox;
use wbots_core::router::RouterOptions;
use wbots_core::store::Store;
use wbots_core::{
    Backoff, Binding, Bridge, ChannelAddress, ContactId, DeliveryError, EngineConfig,
};
use wbots_meta::callbacks::{CallbackConfig, ContactEraser};
use wbots_meta::{Login, MetaAccount, MetaChannel, Platform};

use crate::config::{ChannelKindConfig, Config, LoginConfig};

/// The Meta channel of the configuration.
pub(crate) fn meta_channel(config: &Config) -> Result<MetaChannel, String> {
    let mut builder = MetaChannel::builder(config.meta.clone());
    for ch in &config.channels {
        let account = match ch.kind {
            ChannelKindConfig::Messenger => {
                MetaAccount::messenger(ch.id.clone(), ch.access_token.clone())
            }
            ChannelKindConfig::Instagram => {
                let login = match ch.login.unwrap_or_default() {
                    LoginConfig::Facebook => Login::Facebook,
                    LoginConfig::Instagram => Login::Instagram,
                };
                MetaAccount::instagram(ch.id.clone(), ch.access_token.clone(), login)
                    .with_page_id(ch.page_id.clone())
            }
        };
        builder = builder.account(account.with_human_agent_tag(ch.human_agent_tag));
    }
    builder.build().map_err(|e| e.to_string())
}

/// The Chatwoot inbox of the configuration.
pub(crate) fn chatwoot_inbox(config: &Config) -> Result<ChatwootInbox, String> {
    ChatwootInbox::builder(config.chatwoot.clone()).build().map_err(|e| e.to_string())
}

/// The address of a `[[channels]]` entry.
pub(crate) fn address(kind: ChannelKindConfig, id: &str) -> ChannelAddress {
    let kind = match kind {
        ChannelKindConfig::Messenger => Platform::Messenger,
        ChannelKindConfig::Instagram => Platform::Instagram,
    };
    ChannelAddress::new(kind.channel_kind(), id)
}

/// The bridge of the configuration, over `store`.
pub(crate) fn bridge(config: &Config, store: Arc<dyn Store>) -> Result<Bridge, String> {
    let meta = meta_channel(config)?;
    let inbox = chatwoot_inbox(config)?;
    let backoff =
        Backoff { max: Duration::from_secs(config.engine.retry_max_seconds), ..Backoff::default() };
    let mut engine = EngineConfig::default()
        .with_workers(config.engine.workers)
        .with_max_attempts(config.engine.max_attempts)
        .with_lease(Duration::from_secs(config.engine.lease_seconds))
        .with_backoff(backoff)
        .with_sweep_every(
            Some(Duration::from_secs(config.engine.sweep_every_seconds)).filter(|d| !d.is_zero()),
        )
        .with_sweep_lookback(Duration::from_secs(config.engine.sweep_lookback_hours * 3600))
        .with_echo_grace(Duration::from_secs(config.engine.echo_grace_seconds))
        .with_person_retention(config.privacy.person_retention());
    if let Some(app) = &config.meta.app_id {
        engine = engine.with_own_app_id(app.clone());
    }
    let mut builder =
        Bridge::builder(store, Arc::new(inbox)).with_channel(Arc::new(meta)).with_config(engine);
    for ch in &config.channels {
        builder = builder.with_binding(Binding {
            address: address(ch.kind, &ch.id),
            inbox: ch.inbox_id.to_string().into(),
            reopen: ch.reopen,
        });
    }
    builder.build().map_err(|e| e.to_string())
}

/// Deletes Chatwoot contacts for Meta's data-deletion callback
/// (`chatwoot.delete_contacts_on_data_deletion`).
struct ChatwootContacts(wbots_chatwoot::ChatwootInbox);

#[async_trait::async_trait]
impl ContactEraser for ChatwootContacts {
    async fn delete_contact(&self, contact: &ContactId) -> Result<(), DeliveryError> {
        self.0.delete_contact(contact).await
    }
}

/// Every HTTP route of `wbots serve` (without `/metrics`, which may listen elsewhere).
pub(crate) fn router(config: &Config, bridge: Bridge) -> Router {
    let secrets = std::iter::once(config.meta.app_secret.clone())
        .chain(config.meta.instagram_app_secret.clone())
        .collect();
    let mut callbacks = CallbackConfig::new(bridge.clone(), secrets)
        .with_public_url(config.server.public_url.clone());
    if let Some(chatwoot) = chatwoot_inbox(config).ok().filter(|c| c.deletes_contacts()) {
        callbacks = callbacks.with_contact_eraser(Arc::new(ChatwootContacts(chatwoot)));
    }
    let deletion = wbots_meta::callbacks::router(crate::privacy::callbacks(config, callbacks));
    let routes = wbots_core::router::router(
        bridge,
        RouterOptions::default().with_max_body_bytes(config.server.max_body_bytes),
    )
    .merge(deletion)
    .layer(TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        Duration::from_secs(30),
    ));
    crate::request_log::layer(routes)
}
