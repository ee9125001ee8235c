//! The `wbots` binary: bridges Facebook Messenger and Instagram Direct into a Chatwoot
//! inbox. Thin by design: the libraries do the work; this reads config, installs logging and
//! metrics, and runs the subcommands.

// Everything here is private to the binary: `pub(crate)` says so (the workspace-wide lint
// waits for the library crates being reshaped beside this change).
#![warn(unreachable_pub)]

mod app;
mod check;
mod check_chatwoot;
mod cli;
mod config;
mod flags;
mod http_server;
mod jobs;
mod logging;
mod metrics;
mod request_log;
mod sandbox;
mod serve;
mod setup;
mod store;

use std::process::ExitCode;

use clap::Parser;

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
        Err(message) => {
            eprintln!("wbots: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    if let Command::Sandbox = cli.command {
        logging::init(config::LogFormat::Text, "warn");
        return sandbox::run().await;
    }
    let config = load(&cli.config)?;
    logging::init(config.log.format, &config.log.level);
    match cli.command {
        Command::Serve => serve::run(config).await,
        Command::Migrate => {
            let store = store::open(config.store.url.expose())
                .await
                .map_err(|e| format!("store.url: {e}"))?;
            store.migrate().await.map_err(|e| e.to_string())?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => check::run(&config).await,
        Command::Setup => setup::run(&config).await,
        Command::Jobs { action } => {
            let store = store::open(config.store.url.expose())
                .await
                .map_err(|e| format!("store.url: {e}"))?;
            store.migrate().await.map_err(|e| e.to_string())?;
            jobs::run(store.as_ref(), action, &mut std::io::stdout()).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Sandbox => Ok(ExitCode::SUCCESS),
    }
}

fn load(path: &std::path::Path) -> Result<Config, String> {
    Config::load(path, Config::env()).map_err(|e| {
        if path.exists() {
            format!("invalid configuration in {}: {e}", path.display())
        } else {
            format!(
                "invalid configuration: {e} (the file {} does not exist; pass --config FILE or set WBOTS_CONFIG)",
                path.display()
            )
        }
    })
}
