//! `[admin]`: the connect page (`wbots-admin`) in `wbots serve` — mounted under `/admin`
//! on the webhook listener, or alone on `server.admin_listen` — and the public
//! `/data-deletion` page. Its services come from the configuration: the Meta app
//! (`[meta]`), the Chatwoot installation (`chatwoot.url`), the channel store sealed
//! with `store.secret_key`, and the store's links (each channel's last message in and out).
//!
//! The session cookie's key is made at random by `wbots-admin` when the page starts, not
//! derived from `store.secret_key`: sessions live in the process's memory, so a restart
//! ends them whatever the key, and a key that never leaves memory cannot leak or need
//! rotating.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;
use wbots_admin::{AdminConfig, AdminServices, OtherChannels, WebhookUrls};
use wbots_chatwoot::people::People;
use wbots_core::store::{ChannelStatus, ChatwootTarget, ConnectedChannel, LinkStore, LoginKind};
use wbots_core::{ChannelAddress, Secret};
use wbots_meta::{LoginUrls, MetaConnections, MetaLogin};

use crate::channel_source::{Channels, adapter_name};
use crate::config::Config;
use crate::http_server::Limits;

/// Where the connect page is mounted.
const MOUNT: &str = "/admin";

/// `[admin]`
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdminSection {
    /// Serve the connect page. Off unless asked: it is a public sign-in page.
    #[serde(default)]
    pub enabled: bool,
    /// The operator's privacy policy, linked from every page.
    #[serde(default)]
    pub privacy_policy_url: Option<Url>,
    /// Chatwoot accounts channels may be connected into; empty: any the person administers.
    #[serde(default)]
    pub allowed_accounts: Vec<u64>,
    /// E-mails of the people who may sign in; empty: any administrator.
    #[serde(default)]
    pub allowed_emails: Vec<String>,
    /// Hours a session lasts.
    #[serde(default = "default_session_hours")]
    pub session_hours: u64,
    /// The Instagram app id (Instagram › API setup with Instagram login) for Instagram
    /// Login; its secret is `meta.instagram_app_secret`. Without it, only Facebook Login.
    #[serde(default)]
    pub instagram_app_id: Option<String>,
    /// Facebook Login's dialog host.
    #[serde(default = "default_facebook_dialog")]
    pub facebook_dialog_url: Url,
    /// Instagram Login's authorize host.
    #[serde(default = "default_instagram_authorize")]
    pub instagram_authorize_url: Url,
    /// Instagram Login's token host.
    #[serde(default = "default_instagram_api")]
    pub instagram_api_url: Url,
    /// The channels connected through the page send agents' replies with Meta's
    /// `HUMAN_AGENT` tag (up to 7 days after the customer's last message, instead of 24
    /// hours), as `[[channels]] human_agent_tag` does for a configured one. Meta grants the
    /// Human Agent permission to the app, so it is one setting for every connected channel.
    #[serde(default)]
    pub human_agent_tag: bool,
    /// When a customer writes into a resolved conversation of a connected channel:
    /// `reopen` (default) or `new`, as `[[channels]] reopen`.
    #[serde(default)]
    pub reopen: wbots_core::ReopenPolicy,
}

fn default_session_hours() -> u64 {
    8
}

fn default_facebook_dialog() -> Url {
    LoginUrls::default().facebook_dialog
}

fn default_instagram_authorize() -> Url {
    LoginUrls::default().instagram_authorize
}

fn default_instagram_api() -> Url {
    LoginUrls::default().instagram_api
}

impl Default for AdminSection {
    fn default() -> Self {
        Self {
            enabled: false,
            privacy_policy_url: None,
            allowed_accounts: Vec::new(),
            allowed_emails: Vec::new(),
            session_hours: default_session_hours(),
            instagram_app_id: None,
            facebook_dialog_url: default_facebook_dialog(),
            instagram_authorize_url: default_instagram_authorize(),
            instagram_api_url: default_instagram_api(),
            human_agent_tag: false,
            reopen: wbots_core::ReopenPolicy::default(),
        }
    }
}

/// The bridge's Chatwoot webhook routes (`channel_source`): an inbox of the bridge's own
/// account at `/webhooks/chatwoot[/{chatwoot.webhook_token}]`; an inbox served with its
/// own Chatwoot token by its own adapter at `/webhooks/{adapter name}/{its path token}`.
struct BridgeWebhooks {
    config: Config,
    public_url: String,
}

impl WebhookUrls for BridgeWebhooks {
    fn for_inbox(&self, account: u64, inbox: u64, token: Option<&Secret>) -> String {
        let bridge = &self.config.chatwoot;
        let channel = ConnectedChannel {
            address: ChannelAddress::new("meta", "any"),
            page_id: None,
            login: LoginKind::Facebook,
            chatwoot: ChatwootTarget {
                url: None,
                account_id: (account != bridge.account_id).then_some(account),
                inbox_id: inbox,
            },
            status: ChannelStatus::Active,
            token_expires_at: None,
            connected_by: String::new(),
            connected_at: chrono::Utc::now(),
        };
        let name = adapter_name(&self.config, &channel, token.is_some());
        let (name, token) = match name {
            Some(name) if token.is_some() => (name, token),
            // Served by the bridge's own adapter, authenticated as it is.
            _ => ("chatwoot".to_owned(), bridge.webhook_token.as_ref()),
        };
        match token {
            Some(t) => format!("{}/webhooks/{name}/{}", self.public_url, t.expose()),
            None => format!("{}/webhooks/{name}", self.public_url),
        }
    }
}

/// The `[[channels]]` of the configuration, whose subscriptions *Disconnect* keeps (the
/// same rule as `channels remove`).
struct Configured(Config);

impl OtherChannels for Configured {
    fn reached_through(&self, node: &str, login: wbots_meta::Login) -> Option<String> {
        crate::channels_remove::configured_through(&self.0, node, login)
    }
}

/// The routes to serve: the connect page under `/admin` (`None` when `admin.enabled` is
/// off) and the public `/data-deletion` page (always).
pub(crate) fn routes(
    config: &Config,
    channels: Option<Channels>,
    links: Arc<dyn LinkStore>,
) -> Result<(Option<Router>, Router), String> {
    let section = &config.admin;
    let public = wbots_admin::public_router(section.privacy_policy_url.clone());
    if !section.enabled {
        return Ok((None, public));
    }
    let public_url = config.server.public_url.clone().ok_or(
        "admin.enabled: server.public_url is needed (Meta sends the browser back to {public_url}/admin/meta/callback)",
    )?;
    if !public_url.path().trim_end_matches('/').is_empty() {
        // Its redirects and cookie paths are `/admin…` on the host: behind a path prefix the
        // browser would leave the page at every step.
        return Err("admin.enabled: server.public_url must have no path (the connect page lives at /admin on the bridge's host)".to_owned());
    }
    if config.meta.app_id.as_deref().is_none_or(str::is_empty) {
        return Err("admin.enabled: meta.app_id is needed for Facebook Login".to_owned());
    }
    if config.chatwoot.webhook_token.is_none() {
        // Inboxes the page makes in the bridge's own account are new inboxes with signing
        // secrets of their own, which the bridge does not know: only the path token
        // authenticates their webhooks.
        return Err("admin.enabled: chatwoot.webhook_token is needed (inboxes the page creates in the bridge's account send their webhooks to /webhooks/chatwoot/{webhook_token})".to_owned());
    }
    let channels = channels.ok_or("admin.enabled: store.secret_key is needed (connected channels' tokens are sealed with it; `wbots keygen` prints one)")?;
    let urls = LoginUrls {
        facebook_dialog: section.facebook_dialog_url.clone(),
        instagram_authorize: section.instagram_authorize_url.clone(),
        instagram_api: section.instagram_api_url.clone(),
    };
    let built = |e: wbots_core::BuildError| format!("admin: {e}");
    let services = AdminServices {
        meta: MetaLogin::new(config.meta.clone(), urls, section.instagram_app_id.clone())
            .map_err(built)?,
        connections: MetaConnections::new(config.meta.clone()).map_err(built)?,
        people: People::new(config.chatwoot.url.clone()).map_err(built)?,
        channels,
        links,
    };
    let root = public_url.as_str().trim_end_matches('/').to_owned();
    let admin = AdminConfig {
        public_url,
        mount: MOUNT.to_owned(),
        privacy_policy_url: section.privacy_policy_url.clone(),
        allowed_accounts: section.allowed_accounts.clone(),
        allowed_emails: section.allowed_emails.clone(),
        bridge_account: config.chatwoot.account_id,
        session_ttl: Duration::from_secs(section.session_hours.max(1) * 3600),
        webhook_urls: Arc::new(BridgeWebhooks { config: config.clone(), public_url: root }),
        other_channels: Arc::new(Configured(config.clone())),
        configured: config.channels.iter().map(|c| crate::app::address(c.kind, &c.id)).collect(),
        // As `wbots setup` sets a configured channel's inbox (`setup.rs`).
        reply_window_hours: Some(if section.human_agent_tag { 168 } else { 24 }),
    };
    let page = Router::new().nest(MOUNT, wbots_admin::router(admin, services));
    Ok((Some(crate::request_log::layer(page)), public))
}

/// Adds the pages to `app` (the webhook listener): `/data-deletion` always, the connect
/// page too unless it has a listener of its own (`server.admin_listen`), which is then
/// served until `stop` — its task is returned.
pub(crate) async fn mount(
    config: &Config,
    channels: Option<Channels>,
    links: Arc<dyn LinkStore>,
    app: Router,
    limits: Limits,
    stop: CancellationToken,
) -> Result<(Router, Option<JoinHandle<()>>), String> {
    let (page, public) = routes(config, channels, links)?;
    let app = app.merge(public);
    let Some(page) = page else { return Ok((app, None)) };
    let Some(addr) = config.server.admin_listen else { return Ok((app.merge(page), None)) };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("server.admin_listen: cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, "serving the connect page (/admin)");
    Ok((app, Some(tokio::spawn(crate::http_server::serve(listener, page, limits, stop)))))
}
