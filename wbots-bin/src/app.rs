//! Building the bridge and its HTTP routes from the configuration.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tower_http::timeout::TimeoutLayer;
use wbots_chatwoot::ChatwootInbox;
use wbots_core::router::RouterOptions;
use wbots_core::store::{ChannelRecord, Store};
use wbots_core::{
    Backoff, Binding, Bridge, ChannelAddress, ContactId, DeliveryError, EngineConfig, RouteRefresh,
};
use wbots_meta::callbacks::{CallbackConfig, ContactEraser};
use wbots_meta::{Login, MetaAccount, MetaChannel, MetaChannelBuilder, Platform};

use crate::channel_source::Channels;
use crate::config::{ChannelKindConfig, Config, LoginConfig};

/// The Meta channel of the configuration's `[[channels]]`.
pub(crate) fn meta_channel(config: &Config) -> Result<MetaChannel, String> {
    meta_builder(config).build().map_err(|e| e.to_string())
}

/// A Meta channel builder with the configuration's `[[channels]]` accounts, to which the
/// stored channels are added (`channel_source`).
pub(crate) fn meta_builder(config: &Config) -> MetaChannelBuilder {
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
    builder
}

/// The bindings of the configuration's `[[channels]]` (into the `[chatwoot]` account).
pub(crate) fn static_bindings(config: &Config) -> Vec<Binding> {
    config
        .channels
        .iter()
        .map(|ch| Binding {
            address: address(ch.kind, &ch.id),
            inbox: ch.inbox_id.to_string().into(),
            reopen: ch.reopen,
        })
        .collect()
}

/// The Chatwoot inbox of the configuration.
pub(crate) fn chatwoot_inbox(config: &Config) -> Result<ChatwootInbox, String> {
    chatwoot_builder(config, config.chatwoot.clone()).build().map_err(|e| e.to_string())
}

/// A Chatwoot adapter's builder for `adapter` (the bridge's own or a connected channel's),
/// drawing on the store's request budgets when `serve` set them.
pub(crate) fn chatwoot_builder(
    config: &Config,
    adapter: wbots_chatwoot::ChatwootConfig,
) -> wbots_chatwoot::ChatwootInboxBuilder {
    let builder = ChatwootInbox::builder(adapter);
    match &config.rate_budgets {
        Some(budgets) => builder.with_rate_budgets(budgets.clone()),
        None => builder,
    }
}

/// The address of a `[[channels]]` entry.
pub(crate) fn address(kind: ChannelKindConfig, id: &str) -> ChannelAddress {
    let kind = match kind {
        ChannelKindConfig::Messenger => Platform::Messenger,
        ChannelKindConfig::Instagram => Platform::Instagram,
    };
    ChannelAddress::new(kind.channel_kind(), id)
}

/// The bridge of the configuration and the `stored` channels, over `store`.
pub(crate) fn bridge(
    config: &Config,
    store: Arc<dyn Store>,
    stored: &[ChannelRecord],
    channels: Option<&Channels>,
    refresh: Option<Arc<dyn RouteRefresh>>,
) -> Result<Bridge, String> {
    let routes = crate::channel_source::routes(config, stored)?;
    let backoff =
        Backoff { max: Duration::from_secs(config.engine.retry_max_seconds), ..Backoff::default() };
    let mut engine = EngineConfig::default()
        .with_workers(config.engine.workers)
        .with_outbound_workers(config.engine.outbound_workers)
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
    let upkeep_every = Duration::from_secs(config.upkeep.every_seconds);
    engine = engine.with_upkeep_every(Some(upkeep_every).filter(|d| !d.is_zero()));
    let mut inboxes = routes.inboxes.into_iter();
    let first = inboxes.next().ok_or("no Chatwoot inbox adapter")?;
    let mut builder = Bridge::builder(store, first).with_config(engine);
    let upkeep = crate::upkeep::MetaUpkeep::new(config, channels.cloned())?;
    builder = builder.with_upkeep(Arc::new(upkeep));
    for inbox in inboxes {
        builder = builder.with_inbox(inbox);
    }
    for channel in routes.channels {
        builder = builder.with_channel(channel);
    }
    for binding in routes.bindings {
        builder = builder.with_binding(binding);
    }
    if let Some(refresh) = refresh {
        builder = builder.with_route_refresh(refresh);
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
/// `connected`: the channel store `serve` serves from (`None` without `store.secret_key`),
/// whose grants Meta's callbacks withdraw.
pub(crate) fn router(
    config: &Config,
    bridge: Bridge,
    connected: Option<crate::channel_source::Channels>,
) -> Router {
    let secrets = std::iter::once(config.meta.app_secret.clone())
        .chain(config.meta.instagram_app_secret.clone())
        .collect();
    let mut callbacks = CallbackConfig::new(bridge.clone(), secrets)
        .with_public_url(config.server.public_url.clone());
    if let Some(chatwoot) = chatwoot_inbox(config).ok().filter(|c| c.deletes_contacts()) {
        callbacks = callbacks.with_contact_eraser(Arc::new(ChatwootContacts(chatwoot)));
    }
    if let Some(channels) = connected {
        callbacks = callbacks.with_connected_channels(channels);
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
