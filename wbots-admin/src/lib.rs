//! The connect page of wbots: a small server-rendered web app where a business signs in
//! with its Chatwoot identity and connects its Facebook Pages and Instagram accounts
//! through Meta's own login, into the Chatwoot accounts it administers.
//!
//! [`router`] is an axum [`Router`] to mount under a path (`/admin` in `wbots serve`);
//! [`public_router`] holds the public `/data-deletion` page. Pages are HTML rendered with
//! minijinja (auto-escaping), work without JavaScript, and carry strict security headers.
//!
//! - **Sign-in** ([`signin`]): a Chatwoot personal access token (checked with
//!   `/api/v1/profile`) or e-mail and password through Chatwoot's own sign-in, MFA step
//!   included. The password is passed on and dropped: never stored, never logged.
//!   Attempts are rate-limited ([`limits`]).
//! - **Sessions** ([`session`]): kept in memory, named by a random id in a private
//!   (encrypted, authenticated) HttpOnly, SameSite=Lax cookie that expires; each has a CSRF
//!   token every form carries, and the pending OAuth `state` (single use, expiring). They
//!   hold the person's Chatwoot token and the Meta tokens just granted, so they stay off
//!   disk: every request of a sign-in must reach the process that holds it (one replica
//!   serves the router, or sticky sessions).
//! - **Rights**: a person acts only in accounts where Chatwoot says they are an
//!   administrator, and that the operator allows ([`AdminConfig::allowed_accounts`],
//!   [`AdminConfig::allowed_emails`]).
//!
//! A library: it reads no environment and no file, and never exits.

#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;
use url::Url;
use wbots_chatwoot::people::People;
use wbots_core::store::{ChannelStore, LinkStore, SealedChannels};
use wbots_core::{ChannelAddress, Secret};
use wbots_meta::{MetaConnections, MetaLogin};

mod callback;
mod channels;
mod connect;
mod deletion;
mod facebook;
mod guard;
mod instagram;
pub mod limits;
mod render;
pub mod session;
pub mod signin;

/// Where Chatwoot must send an inbox's webhooks: the embedder knows its routes.
pub trait WebhookUrls: Send + Sync {
    /// The webhook URL of API inbox `inbox` of `account`; `token` is the inbox's own path
    /// token when it has one (an account other than the bridge's, served with the
    /// connecting administrator's Chatwoot token).
    fn for_inbox(&self, account: u64, inbox: u64, token: Option<&Secret>) -> String;
}

/// The channels the embedder serves outside the channel store (the binary's
/// `[[channels]]`): *Disconnect* keeps a Page's (or an Instagram-Login account's) webhook
/// subscription while one of them is reached through it.
pub trait OtherChannels: Send + Sync {
    /// A channel served outside the store that is, or may be, reached through `node`
    /// subscribed with `login` (its address, for the log); `None`: none.
    fn reached_through(&self, node: &str, login: wbots_meta::Login) -> Option<String>;
}

/// What the operator decides about the connect page.
#[derive(Clone)]
pub struct AdminConfig {
    /// The bridge's public base URL (`https://bridge.example.com`): Meta redirects the
    /// browser back to `{public_url}{mount}/meta/callback` and
    /// `{public_url}{mount}/instagram/callback`.
    pub public_url: Url,
    /// Where the router is mounted (`/admin`).
    pub mount: String,
    /// The operator's privacy policy, linked from every page.
    pub privacy_policy_url: Option<Url>,
    /// Accounts people may connect channels into; empty: any they administer.
    pub allowed_accounts: Vec<u64>,
    /// People (e-mails, case-insensitive) who may sign in; empty: any administrator.
    pub allowed_emails: Vec<String>,
    /// The bridge's own Chatwoot account (`chatwoot.account_id`): its channels use the
    /// bridge's Chatwoot token; channels of other accounts keep the connecting person's.
    pub bridge_account: u64,
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// The webhook URLs of new or pointed inboxes.
    pub webhook_urls: Arc<dyn WebhookUrls>,
    /// The channels served outside the store, whose subscriptions *Disconnect* keeps.
    pub other_channels: Arc<dyn OtherChannels>,
    /// The channels the bridge's configuration serves (`[[channels]]`): managed there,
    /// never stored by the page (a stored twin of one would stop the bridge's next start).
    pub configured: Vec<ChannelAddress>,
    /// Chatwoot's reply window for the inboxes channels are connected into (hours after
    /// the customer's last message, `agent_reply_time_window`): 24, or 168 when the bridge
    /// sends with Meta's Human Agent tag, so Chatwoot stops agents writing a reply Meta
    /// would refuse. `None`: the inboxes' window is left as it is.
    pub reply_window_hours: Option<u32>,
}

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminConfig")
            .field("public_url", &self.public_url.as_str())
            .field("mount", &self.mount)
            .field("allowed_accounts", &self.allowed_accounts)
            .field("allowed_emails", &self.allowed_emails.len())
            .field("bridge_account", &self.bridge_account)
            .finish_non_exhaustive()
    }
}

impl AdminConfig {
    /// The absolute URL of a path under the mount (`/meta/callback`).
    pub fn absolute(&self, path: &str) -> String {
        format!("{}{}{path}", self.public_url.as_str().trim_end_matches('/'), self.mount)
    }
}

/// The services the pages call.
pub struct AdminServices {
    /// Meta's login calls.
    pub meta: MetaLogin,
    /// Unsubscribing on disconnect.
    pub connections: MetaConnections,
    /// Chatwoot's people and inboxes.
    pub people: People,
    /// The channel store, sealed.
    pub channels: SealedChannels<Arc<dyn ChannelStore>>,
    /// The engine's links: each channel's last message in and out
    /// ([`ChannelActivity`](wbots_core::store::ChannelActivity)) are read there, and who
    /// granted each channel's access is written there (`wbots_meta::grants`).
    pub links: Arc<dyn LinkStore>,
}

impl fmt::Debug for AdminServices {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminServices").finish_non_exhaustive()
    }
}

/// The state every page handler shares.
#[derive(Clone)]
pub(crate) struct Admin {
    pub config: Arc<AdminConfig>,
    pub services: Arc<AdminServices>,
    pub sessions: Arc<session::Sessions>,
    pub limits: Arc<limits::SignInLimits>,
    pub pages: Arc<render::Pages>,
    pub cookie_key: axum_extra::extract::cookie::Key,
}

impl axum::extract::FromRef<Admin> for axum_extra::extract::cookie::Key {
    fn from_ref(admin: &Admin) -> Self {
        admin.cookie_key.clone()
    }
}

/// The largest form the pages accept: a connect form with hundreds of Pages is a few
/// kilobytes; anything bigger is not a person using the page.
const FORM_BYTES: usize = 64 * 1024;
/// How long one request may take, body included: a slow client cannot hold a connection
/// (the listener may be the one Meta's webhooks use). Generous, because finishing a
/// connect makes several calls to Meta and Chatwoot for each Page ticked.
const REQUEST_TIME: Duration = Duration::from_secs(90);

/// The connect page's routes, relative to where they are mounted
/// ([`AdminConfig::mount`]). The cookie key is made at random here: sessions live in this
/// process's memory, so a restart ends them whatever the key.
pub fn router(config: AdminConfig, services: AdminServices) -> Router {
    let dialogs = services.meta.dialog_hosts();
    let headers = Arc::new(guard::PageHeaders {
        csp: guard::csp(&dialogs.iter().collect::<Vec<_>>()),
        https: config.public_url.scheme() == "https",
    });
    let admin = Admin {
        config: Arc::new(config),
        services: Arc::new(services),
        sessions: Arc::new(session::Sessions::default()),
        limits: Arc::new(limits::SignInLimits::default()),
        pages: Arc::new(render::Pages::new()),
        cookie_key: axum_extra::extract::cookie::Key::generate(),
    };
    Router::new()
        .route("/", get(channels::list))
        .route("/sign-in", get(signin::page).post(signin::submit))
        .route("/sign-in/mfa", post(signin::mfa))
        .route("/sign-out", post(signin::sign_out))
        .route("/channels/disconnect", post(channels::disconnect))
        .route("/channels/reconnect", post(channels::reconnect))
        .route("/meta/start", post(facebook::start))
        .route("/meta/callback", get(facebook::callback))
        .route("/instagram/start", post(instagram::start))
        .route("/instagram/callback", get(instagram::callback))
        .route("/connect", get(connect::pick).post(connect::submit))
        .fallback(render::not_found)
        .layer(axum::middleware::from_fn_with_state(headers, guard::security_headers))
        .layer(axum::extract::DefaultBodyLimit::max(FORM_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIME))
        .with_state(admin)
}

/// The public pages Meta's app settings point to: `/data-deletion` (instructions, and a
/// status lookup by confirmation code) — mounted at the root.
pub fn public_router(privacy_policy_url: Option<Url>) -> Router {
    deletion::router(privacy_policy_url)
        .layer(axum::extract::DefaultBodyLimit::max(FORM_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIME))
}
