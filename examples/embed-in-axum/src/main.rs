//! Runs the host service. Configuration from the environment (the service's choice):
//! `APP_LISTEN`, `APP_DB`, `META_APP_SECRET`, `META_VERIFY_TOKEN`, `META_PAGE_ID`,
//! `META_PAGE_TOKEN`, `CHATWOOT_URL`, `CHATWOOT_TOKEN`, `CHATWOOT_ACCOUNT`, `CHATWOOT_INBOX`,
//! `CHATWOOT_WEBHOOK_TOKEN`, `APP_PUBLIC_URL` (optional: the bridge's public URL, `/bridge`
//! included).

use example_embed_in_axum::{AppConfig, run};
use tokio_util::sync::CancellationToken;
use wbots_core::Secret;

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let config = AppConfig {
        sqlite_path: var("APP_DB").unwrap_or_else(|_| "host-service.db".into()).into(),
        meta_app_secret: Secret::new(var("META_APP_SECRET")?),
        meta_verify_token: Secret::new(var("META_VERIFY_TOKEN")?),
        graph_url: "https://graph.facebook.com".parse().map_err(|e| format!("{e}"))?,
        page_id: var("META_PAGE_ID")?,
        page_token: Secret::new(var("META_PAGE_TOKEN")?),
        chatwoot_url: var("CHATWOOT_URL")?.parse().map_err(|e| format!("CHATWOOT_URL: {e}"))?,
        chatwoot_token: Secret::new(var("CHATWOOT_TOKEN")?),
        chatwoot_account: var("CHATWOOT_ACCOUNT")?
            .parse()
            .map_err(|e| format!("CHATWOOT_ACCOUNT: {e}"))?,
        inbox_id: var("CHATWOOT_INBOX")?.parse().map_err(|e| format!("CHATWOOT_INBOX: {e}"))?,
        chatwoot_webhook_token: Secret::new(var("CHATWOOT_WEBHOOK_TOKEN")?),
        public_url: match var("APP_PUBLIC_URL") {
            Ok(url) => Some(url.parse().map_err(|e| format!("APP_PUBLIC_URL: {e}"))?),
            Err(_) => None,
        },
    };
    let listener = tokio::net::TcpListener::bind(
        var("APP_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into()),
    )
    .await
    .map_err(|e| e.to_string())?;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });
    run(config, listener, shutdown).await
}
