//! `wbots keygen` and `wbots rekey`, and the start-up check that a store holding connected
//! channels comes with the key that opens them (`channel_source` serves them).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use wbots_core::KeyRing;
use wbots_core::store::{ChannelStore, SealedChannels, SqliteStore, Store};

use crate::config::Config;

/// `wbots keygen`: prints a fresh key for `store.secret_key`.
pub(crate) fn keygen() -> ExitCode {
    // The one place a key is printed: on the operator's request, to their terminal.
    println!("{}", KeyRing::generate_key().expose());
    ExitCode::SUCCESS
}

/// `wbots rekey`: reseals every stored channel's credentials with the first key of
/// `store.secret_key`, so the other keys can be removed.
pub(crate) async fn rekey(config: &Config) -> anyhow::Result<ExitCode> {
    let ring = crate::store_keys::key_ring(&config.store.secret_key)
        .context("store.secret_key")?
        .ok_or_else(|| {
        anyhow!(
            "store.secret_key is not set: rekey needs the new key first and the old ones after it"
        )
    })?;
    let first = ring.sealing_key();
    let store = open(config.store.url.expose()).await?;
    let done = SealedChannels::new(store, ring).rekey().await.context("rekey")?;
    println!(
        "resealed {} channel credentials with key {first}; {} already were",
        done.resealed, done.current
    );
    println!("every stored credential now opens with key {first} alone");
    Ok(ExitCode::SUCCESS)
}

/// At start: stored channels need `store.secret_key` — without it their credentials could
/// never be opened, so say so now rather than when one is served.
///
/// Runs before `serve` opens its store, and closes what it opened: SQLite's locks are POSIX
/// locks, held per process, so a second store on the same file inside the serving process
/// would drop them when it opens and closes the file (`SqliteStore::connect` checks the
/// files' modes), and another process (`wbots jobs`) could then reset the write-ahead log
/// under the server.
pub(crate) async fn check_at_start(config: &Config) -> anyhow::Result<()> {
    if !config.store.secret_key.is_empty() {
        return Ok(());
    }
    let url = config.store.url.expose();
    let stored = if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url).await.context("store.url")?;
        store.migrate().await.context("store migrations")?;
        let stored = store.channels().await;
        store.close().await;
        stored?.len()
    } else {
        open(url).await?.channels().await?.len()
    };
    if stored > 0 {
        return Err(anyhow!(
            "the store holds {stored} connected channel(s) whose credentials are sealed, but store.secret_key is not set: set it (or WBOTS_STORE__SECRET_KEY) to the key they were sealed with"
        ));
    }
    Ok(())
}

/// The channel store at `url`, migrated. Beside a running `serve` (SQLite: not the
/// exclusive opening).
async fn open(url: &str) -> anyhow::Result<Arc<dyn ChannelStore>> {
    if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(url).await.context("store.url")?;
        store.migrate().await.context("store migrations")?;
        return Ok(Arc::new(store));
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = wbots_core::store::PostgresStore::connect(url).await.context("store.url")?;
        store.migrate().await.context("store migrations")?;
        return Ok(Arc::new(store));
    }
    Err(anyhow!("store.url: this wbots cannot open the store it names"))
}
