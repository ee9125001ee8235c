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
    /// Manage the channels connected in the store (beside the static `[[channels]]`).
    Channels {
        /// What to do.
        #[command(subcommand)]
        action: ChannelsAction,
    },
    /// People's rights over their data: export what is kept about a person, forget them,
    /// apply the retention settings of `[privacy]`, and list the audit trail.
    Privacy {
        /// What to do.
        #[command(subcommand)]
        action: PrivacyAction,
    },
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

/// `wbots channels …`
#[derive(Debug, Subcommand)]
pub(crate) enum ChannelsAction {
    /// List the connected channels (stored and configured): status, token expiry, inbox,
    /// who connected them and when. Never prints a token.
    List {
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Connect a Page or Instagram account: its token is sealed with `store.secret_key`.
    ///
    /// Tokens are read from standard input rather than the command line (where `ps` and the
    /// shell history see them) with `--access-token -` or `--access-token-stdin`, and
    /// `--chatwoot-token-stdin`: one token per line, the Meta token first.
    Add(AddChannel),
    /// Disconnect a channel: unsubscribes it from the app's webhooks, marks it disconnected
    /// and deletes its credentials.
    Remove {
        /// The Page or Instagram account id.
        id: String,
        /// Which platform, when the id is connected on both.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        /// Also forget what the bridge keeps about its customers: the links (contacts,
        /// conversations, messages) and jobs of that account.
        #[arg(long)]
        forget: bool,
        /// Also delete its Chatwoot inbox, with the inbox's conversations.
        #[arg(long)]
        delete_inbox: bool,
        /// Do not unsubscribe the Page or account from the app's webhooks (when Meta cannot
        /// be reached, or the app was removed there already).
        #[arg(long)]
        no_unsubscribe: bool,
    },
}

/// `wbots channels add …`
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("token").required(true).args(["access_token", "access_token_stdin"])))]
pub(crate) struct AddChannel {
    /// `messenger` or `instagram`.
    #[arg(long, value_enum)]
    pub kind: KindArg,
    /// The Page id or Instagram account id (Meta's `entry.id`).
    #[arg(long)]
    pub id: String,
    /// The Meta token (Page token, or Instagram token); `-` reads it from standard input.
    #[arg(long, value_name = "TOKEN")]
    pub access_token: Option<String>,
    /// Read the Meta token from standard input (same as `--access-token -`).
    #[arg(long)]
    pub access_token_stdin: bool,
    /// The Chatwoot API-channel inbox its conversations go to.
    #[arg(long)]
    pub inbox_id: u64,
    /// How the business logged in (Instagram only): `facebook` (through its Page) or
    /// `instagram` (Instagram Login).
    #[arg(long, value_enum)]
    pub login: Option<LoginArg>,
    /// Instagram through Facebook Login: the Page it is linked to.
    #[arg(long)]
    pub page_id: Option<String>,
    /// The Chatwoot account, if not `chatwoot.account_id`.
    #[arg(long)]
    pub chatwoot_account: Option<u64>,
    /// The Chatwoot installation, if not `chatwoot.url` (needs `--chatwoot-token-stdin`).
    #[arg(long, requires = "chatwoot_token_stdin")]
    pub chatwoot_url: Option<url::Url>,
    /// Read the Chatwoot API token for this channel's account from standard input (after
    /// the Meta token when both come from there).
    #[arg(long)]
    pub chatwoot_token_stdin: bool,
    /// Who connects it (shown by `list`).
    #[arg(long, default_value = "command line")]
    pub connected_by: String,
    /// When the Meta token expires (RFC 3339), if it does: Instagram-Login tokens last 60
    /// days.
    #[arg(long)]
    pub token_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A channel's platform on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum KindArg {
    /// A Facebook Page.
    Messenger,
    /// An Instagram professional account.
    Instagram,
}

/// How the business logged in, on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LoginArg {
    /// Facebook Login (a Page token).
    Facebook,
    /// Instagram Login (an Instagram token).
    Instagram,
}

/// `wbots privacy …` (`privacy.rs`).
#[derive(Debug, Subcommand)]
pub(crate) enum PrivacyAction {
    /// Print everything the bridge and Chatwoot (through the bridge's inboxes) hold about a
    /// person: one JSON document, each item saying where it came from.
    Export {
        /// Who.
        #[command(flatten)]
        person: PersonArgs,
        /// A readable HTML page instead of JSON.
        #[arg(long)]
        html: bool,
    },
    /// Delete what the bridge keeps about a person (links, jobs), and with `--chatwoot`
    /// their contact in Chatwoot with its conversations. Running it again is harmless.
    Forget {
        /// Who.
        #[command(flatten)]
        person: PersonArgs,
        /// Also delete the Chatwoot contact (and with it its conversations).
        #[arg(long)]
        chatwoot: bool,
    },
    /// Apply `privacy.retention_days` (the bridge's records) and, with `--chatwoot`,
    /// `privacy.chatwoot_retention_days` (Chatwoot conversations).
    Retention {
        /// List what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also delete Chatwoot conversations idle past `privacy.chatwoot_retention_days`.
        #[arg(long)]
        chatwoot: bool,
        /// Who runs it (kept in the audit trail).
        #[arg(long, default_value = "command line")]
        requested_by: String,
    },
    /// List the audit trail of exports, deletions and retention runs, newest first.
    Log {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// The person a privacy command is about.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("who").required(true).args(["user", "contact"])))]
pub(crate) struct PersonArgs {
    /// The Page or Instagram account id they wrote to.
    #[arg(long)]
    pub channel: String,
    /// Which platform, when the id is connected on both.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// Their id on the platform (the page-scoped or Instagram-scoped id).
    #[arg(long)]
    pub user: Option<String>,
    /// Their Chatwoot contact id.
    #[arg(long)]
    pub contact: Option<u64>,
    /// Who asks (kept in the audit trail).
    #[arg(long, default_value = "command line")]
    pub requested_by: String,
}
