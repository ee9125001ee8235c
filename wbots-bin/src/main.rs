//! The `wbots` binary.

// Wired into the subcommands once the adapters land (see issue 5).
#[allow(dead_code)]
mod cli;
#[allow(dead_code)]
mod config;
#[allow(dead_code)]
mod data_deletion;
#[allow(dead_code)]
mod jobs;
#[allow(dead_code)]
mod metrics;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    let _ = cli;
}
