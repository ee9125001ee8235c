//! An existing axum service — its own state, its own routes — that mounts the wbots bridge
//! under `/bridge`, keeps the bridge's state in a SQLite file of its choosing, runs the
//! bridge's workers next to its server, and shuts both down cleanly.
//!
//! The service's configuration is its own struct; the bridge pieces are built from it with
//! the adapters' builders. Nothing here reads the environment: `main.rs` does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use url::Url;
use wbots_chatwoot::{ChatwootConfig, ChatwootInbox};
use wbots_core::router::{RouterOptions, router};
use wbots_core::store::{JobQueue, SqliteStore, Store};
use wbots_core::{Binding, Bridge, ChannelAddress, ReopenPolicy, Secret};
use wbots_meta::callbacks::{self, CallbackConfig};
use wbots_meta::{MetaAccount, MetaChannel, MetaConfig};

/// The host service's own configuration.
#[derive(Clone, Debug)]
pub struct AppConfig {
    /// Where the service keeps the bridge's state.
    pub sqlite_path: std::path::PathBuf,
    /// Meta app secret and verify token.
    pub meta_app_secret: Secret,
    /// The handshake token.
    pub meta_verify_token: Secret,
    /// The Graph API (a fake in tests).
    pub graph_url: Url,
    /// The one Page this service bridges.
    pub page_id: String,
    /// Its token.
    pub page_token: Secret,
    /// Chatwoot.
    pub chatwoot_url: Url,
    /// Chatwoot token.
    pub chatwoot_token: Secret,
    /// Chatwoot account.
    pub chatwoot_account: u64,
    /// The API inbox.
    pub inbox_id: u64,
    /// Path token of the inbox webhook.
    pub chatwoot_webhook_token: Secret,
    /// Where the bridge's routes are reached from outside, prefix included
    /// (`https://host/bridge`): the status URL of a data-deletion request is built on it.
    pub public_url: Option<Url>,
}

/// The host service's own state: here, a visit counter.
#[derive(Clone, Debug, Default)]
pub struct AppState {
    /// Requests to `/hello`.
    pub hits: Arc<AtomicU64>,
}

async fn hello(State(state): State<AppState>) -> String {
    let n = state.hits.fetch_add(1, Ordering::Relaxed) + 1;
    format!("hello #{n} from the host service\n")
}

/// Builds the bridge from the service's configuration.
pub async fn build_bridge(config: &AppConfig) -> Result<Bridge, String> {
    // Exclusive: this service is the one process on the file (a second is refused), so the
    // jobs it finds running were a crashed predecessor's and resume at once.
    let store =
        SqliteStore::connect_exclusive(&format!("sqlite://{}", config.sqlite_path.display()))
            .await
            .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    store.release_all_leases().await.map_err(|e| e.to_string())?;
    let meta = MetaChannel::builder(
        MetaConfig::new(config.meta_app_secret.clone(), config.meta_verify_token.clone())
            .with_graph_urls(config.graph_url.clone()),
    )
    .account(MetaAccount::messenger(config.page_id.clone(), config.page_token.clone()))
    .build()
    .map_err(|e| e.to_string())?;
    let inbox = ChatwootInbox::builder(
        ChatwootConfig::new(
            config.chatwoot_url.clone(),
            config.chatwoot_token.clone(),
            config.chatwoot_account,
        )
        .with_webhook_token(config.chatwoot_webhook_token.clone()),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let store: Arc<dyn Store> = Arc::new(store);
    Bridge::builder(store, Arc::new(inbox))
        .with_channel(Arc::new(meta))
        .with_binding(Binding {
            address: ChannelAddress::new(wbots_meta::MESSENGER, config.page_id.as_str()),
            inbox: config.inbox_id.to_string().into(),
            reopen: ReopenPolicy::Reopen,
        })
        .build()
        .map_err(|e| e.to_string())
}

/// The service's router: its own routes, and under `/bridge` the bridge with Meta's
/// data-deletion and deauthorize callbacks (Meta requires them of a published app).
pub fn app(state: AppState, bridge: Bridge, config: &AppConfig) -> Router {
    let callbacks = callbacks::router(
        CallbackConfig::new(bridge.clone(), vec![config.meta_app_secret.clone()])
            .with_public_url(config.public_url.clone()),
    );
    Router::new()
        .route("/hello", get(hello))
        .with_state(state)
        .nest("/bridge", router(bridge, RouterOptions::default()).merge(callbacks))
}

/// Serves until `shutdown` is cancelled, then stops accepting, lets the bridge finish the
/// jobs in flight, and returns.
pub async fn run(
    config: AppConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), String> {
    let bridge = build_bridge(&config).await?;
    let workers = tokio::spawn({
        let bridge = bridge.clone();
        let stop = shutdown.clone();
        async move { bridge.run(stop).await }
    });
    let stop = shutdown.clone();
    axum::serve(listener, app(AppState::default(), bridge, &config))
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .map_err(|e| e.to_string())?;
    workers.await.map_err(|e| e.to_string())?;
    tracing::info!("host service and bridge stopped");
    Ok(())
}
