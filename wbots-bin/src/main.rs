//! The `wbots` binary: bridges Facebook Messenger and Instagram Direct into a Chatwoot
//! inbox. Thin by design: the libraries do the work; this reads config, installs logging and
//! metrics, and runs the subcommands.

// Everything here is private to the binary: `pub(crate)` says so (the workspace-wide lint
// waits for the library crates being reshaped beside this change).

mod admin;
mod app;
mod channel_source;
mod channels;
mod channels_forget;
mod channels_list;
mod channels_remove;
mod channels_webhook;
mod check;
mod check_chatwoot;
mod check_stored;
mod cli;
mod config;
mod flags;
mod http_server;
mod jobs;
mod keys;
mod logging;
mod metrics;
mod privacy;
mod privacy_config;
mod privacy_export;
mod privacy_forget;
mod privacy_log;
mod privacy_retention;
mod request_log;
#[cfg(feature = "sandbox")]
mod sandbox;
mod serve;
mod setup;
mod store;
mod store_keys;
mod upkeep;

use std::process::ExitCode;

use clap::Parser;

use anyhow::Context as _;

use crate::cli::{Cli, Command};
use crate::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("wbots: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            // `{:#}`: the context, then each cause, on one line.
            eprintln!("wbots: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The subcommand. Errors end the process: anyhow carries them, with their context, to
/// `main`, which prints them; the library crates keep their typed errors.
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    #[cfg(feature = "sandbox")]
    if let Command::Sandbox = cli.command {
        logging::init(config::LogFormat::Text, "warn");
        return sandbox::run().await.map_err(anyhow::Error::msg);
    }
    if let Command::Keygen = cli.command {
        return Ok(keys::keygen());
    }
    let config = load(&cli.config)?;
    logging::init(config.log.format, &config.log.level);
    match cli.command {
        Command::Serve => serve::run(config).await.map_err(anyhow::Error::msg),
        Command::Migrate => {
            let store = store::open(config.store.url.expose()).await.context("store.url")?;
            store.migrate().await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => check::run(&config).await.map_err(anyhow::Error::msg),
        Command::Setup => setup::run(&config).await.map_err(anyhow::Error::msg),
        Command::Jobs { action } => {
            let store = store::open(config.store.url.expose()).await.context("store.url")?;
            store.migrate().await?;
            jobs::run(store.as_ref(), action, &mut std::io::stdout())
                .await
                .map_err(anyhow::Error::msg)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Channels { action } => {
            channels::run(&config, action, &mut std::io::stdin().lock(), &mut std::io::stdout())
                .await
        }
        Command::Privacy { action } => privacy::run(&config, action, &mut std::io::stdout()).await,
        Command::Rekey => keys::rekey(&config).await,
        Command::Keygen => Ok(ExitCode::SUCCESS),
        #[cfg(feature = "sandbox")]
        Command::Sandbox => Ok(ExitCode::SUCCESS),
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    Config::load(path, Config::env()).map_err(|e| {
        if path.exists() {
            anyhow::Error::new(e).context(format!("invalid configuration in {}", path.display()))
        } else {
            anyhow::anyhow!(
                "invalid configuration: {e} (the file {} does not exist; pass --config FILE or set WBOTS_CONFIG)",
                path.display()
            )
        }
    })
}
