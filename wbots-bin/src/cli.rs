//! The command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// wbots: bridges Facebook Messenger and Instagram Direct into a Chatwoot inbox.
#[derive(Debug, Parser)]
#[command(name = "wbots", version, about, long_about = None)]
pub(crate) struct Cli {
    /// The configuration file.
    #[arg(long, short, global = true, env = "WBOTS_CONFIG", default_value = "wbots.toml")]
    pub config: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the bridge: apply pending migrations, serve webhooks, run the workers.
    Serve,
    /// Apply pending store migrations and exit.
    Migrate,
    /// Validate the configuration, reach Chatwoot and the Graph API with the tokens, and
    /// print one line per problem (exit status 1 when there is any).
    Check,
    /// Create the Chatwoot API inboxes for configured channels, or set their webhook URL.
    Setup,
    /// Inspect and act on the job queue's dead letters.
    Jobs {
        /// What to do with them.
        #[command(subcommand)]
        action: JobsAction,
    },
    /// Print a fresh key for `store.secret_key` (base64, 32 bytes). Needs no configuration.
    Keygen,
    /// Reseal every stored channel's credentials with the first key of `store.secret_key`,
    /// after which the other keys may be removed.
    Rekey,
    /// Run the whole bridge against simulated Meta and Chatwoot servers and walk a scripted
    /// conversation through it. Needs no accounts and no configuration file.
    #[cfg(feature = "sandbox")]
    Sandbox,
}

/// `wbots jobs …`
#[derive(Debug, Subcommand)]
pub(crate) enum JobsAction {
    /// List dead letters (and queue counts).
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Put dead letters back in the queue: the ids given, or all with `--all`.
    Retry {
        /// Job ids.
        ids: Vec<i64>,
        /// Every dead letter.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
    /// Delete dead letters: the ids given, or all with `--all`.
    Purge {
        /// Job ids.
        ids: Vec<i64>,
        /// Every dead letter.
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}
