//! A Telegram ↔ Chatwoot bridge in one binary. Environment: `TELEGRAM_TOKEN`,
//! `TELEGRAM_WEBHOOK_SECRET`, `CHATWOOT_URL`, `CHATWOOT_TOKEN`, `CHATWOOT_ACCOUNT`,
//! `CHATWOOT_INBOX`, `CHATWOOT_WEBHOOK_TOKEN`, optional `LISTEN` (default 127.0.0.1:8090) and
//! `DATABASE` (default `telegram-bridge.db`). Register the bot's webhook at
//! `{public URL}/webhooks/telegram` with the secret token, and the inbox's at
//! `{public URL}/webhooks/chatwoot/{CHATWOOT_WEBHOOK_TOKEN}`.

use std::sync::Arc;

use example_custom_channel::TelegramChannel;
use tokio_util::sync::CancellationToken;
use wbots_chatwoot::{ChatwootConfig, ChatwootInbox};
use wbots_core::Secret;
use wbots_core::router::{RouterOptions, router};
use wbots_core::store::{SqliteStore, Store};

fn var(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set"))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let telegram = TelegramChannel::new(
        Secret::new(var("TELEGRAM_TOKEN")?),
        Secret::new(var("TELEGRAM_WEBHOOK_SECRET")?),
    )?;
    let chatwoot = ChatwootInbox::builder(
        ChatwootConfig::new(
            var("CHATWOOT_URL")?.parse().map_err(|e| format!("CHATWOOT_URL: {e}"))?,
            Secret::new(var("CHATWOOT_TOKEN")?),
            var("CHATWOOT_ACCOUNT")?.parse().map_err(|e| format!("CHATWOOT_ACCOUNT: {e}"))?,
        )
        .with_webhook_token(Secret::new(var("CHATWOOT_WEBHOOK_TOKEN")?)),
    )
    .build()
    .map_err(|e| e.to_string())?;
    let inbox: u64 = var("CHATWOOT_INBOX")?.parse().map_err(|e| format!("CHATWOOT_INBOX: {e}"))?;
    let store = SqliteStore::connect(&format!(
        "sqlite://{}",
        std::env::var("DATABASE").unwrap_or_else(|_| "telegram-bridge.db".into())
    ))
    .await
    .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let bridge = example_custom_channel::wiring::bridge(
        telegram,
        chatwoot,
        inbox,
        Arc::new(store) as Arc<dyn Store>,
    )?;
    let listener = tokio::net::TcpListener::bind(
        std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8090".into()),
    )
    .await
    .map_err(|e| e.to_string())?;
    let shutdown = CancellationToken::new();
    let workers = tokio::spawn({
        let (b, s) = (bridge.clone(), shutdown.clone());
        async move { b.run(s).await }
    });
    let stop = shutdown.clone();
    axum::serve(listener, router(bridge, RouterOptions::default()))
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
        })
        .await
        .map_err(|e| e.to_string())?;
    workers.await.map_err(|e| e.to_string())
}
