//! `wbots channels list | add | remove`: the operators' side of the channel store, over
//! [`SealedChannels`] with the key ring of `store.secret_key`. Tokens come in (from the
//! command line or standard input) and are sealed at once; nothing here prints one.

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use chrono::Utc;
use wbots_core::store::{
    ChannelError, ChannelStatus, ChannelStore, ChatwootTarget, ConnectedChannel, Credentials,
    LoginKind, SealedChannels, SqliteStore, Store,
};
use wbots_core::{ChannelAddress, KeyRing, Secret};

use crate::app;
use crate::cli::{AddChannel, ChannelsAction, KindArg, LoginArg};
use crate::config::{ChannelKindConfig, Config};
use crate::store::Stores;

/// Runs a `wbots channels` subcommand, printing to `out`; tokens are read from `stdin`.
pub(crate) async fn run(
    config: &Config,
    action: ChannelsAction,
    stdin: &mut dyn BufRead,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<ExitCode> {
    let ring = key_ring(config, &action)?;
    let stores = open(config.store.url.expose()).await?;
    let channels = SealedChannels::new(stores.channels.clone(), ring.clone());
    match action {
        ChannelsAction::List { json } => {
            crate::channels_list::print(config, &channels, stores.data.as_ref(), json, out).await?;
        }
        ChannelsAction::Add(add) => {
            let (channel, mut credentials) = new_channel(config, &add, stdin)?;
            let address = channel.address.clone();
            let adapter = crate::channels_webhook::assign_token(
                config,
                &channels,
                &channel,
                &mut credentials,
            )
            .await?;
            match channels.add(&channel, &credentials).await {
                Ok(_) => {
                    writeln!(out, "connected {address} into inbox {}", add.inbox_id)?;
                    if let Some(name) = adapter {
                        crate::channels_webhook::point_inbox(
                            config,
                            &name,
                            &channel,
                            &credentials,
                            out,
                        )
                        .await?;
                    }
                }
                Err(ChannelError::Exists(_)) => bail!(
                    "{address} is connected already: `wbots channels remove {}` first",
                    address.account
                ),
                Err(e) => return Err(e).context("storing the channel"),
            }
        }
        ChannelsAction::Remove { id, kind, forget, delete_inbox, no_unsubscribe } => {
            let address = stored_address(&channels, &id, kind).await?;
            let options =
                crate::channels_remove::RemoveOptions { forget, delete_inbox, no_unsubscribe };
            crate::channels_remove::run(config, &channels, &stores, &address, options, out).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The key ring of `store.secret_key`; every subcommand needs it (`list` to tell which
/// credentials it opens).
fn key_ring(config: &Config, action: &ChannelsAction) -> anyhow::Result<Arc<KeyRing>> {
    let what = match action {
        ChannelsAction::List { .. } => "listing connected channels",
        ChannelsAction::Add(_) => "connecting a channel (its token is sealed with it)",
        ChannelsAction::Remove { .. } => "disconnecting a channel",
    };
    crate::store_keys::key_ring(&config.store.secret_key)
        .context("store.secret_key")?
        .ok_or_else(|| {
            anyhow!(
                "store.secret_key is not set: {what} needs it (`wbots keygen` prints one; set it in [store] or WBOTS_STORE__SECRET_KEY)"
            )
        })
}

/// The channel `add` describes, and its credentials (read from stdin where asked).
fn new_channel(
    config: &Config,
    add: &AddChannel,
    stdin: &mut dyn BufRead,
) -> anyhow::Result<(ConnectedChannel, Credentials)> {
    let kind = match add.kind {
        KindArg::Messenger => ChannelKindConfig::Messenger,
        KindArg::Instagram => ChannelKindConfig::Instagram,
    };
    // Meta's ids are digits; anything beyond letters, digits, `_`, `-` and `.` would make
    // the account's keys (`kind:account/…`) overlap another's.
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if add.id.is_empty() || !add.id.chars().all(plain) {
        bail!("--id must be a Page or Instagram account id (digits), not {:?}", add.id);
    }
    let address = app::address(kind, &add.id);
    if let Some(clash) = config.channels.iter().find(|c| app::address(c.kind, &c.id) == address) {
        bail!(
            "{address} is configured statically in [[channels]] (inbox {}): remove it from the configuration first, or leave it there",
            clash.inbox_id
        );
    }
    let login = match (add.kind, add.login) {
        (KindArg::Messenger, Some(LoginArg::Instagram)) => {
            bail!(
                "--login instagram is for Instagram accounts; a Messenger Page uses Facebook Login"
            )
        }
        (_, Some(LoginArg::Instagram)) => LoginKind::Instagram,
        _ => LoginKind::Facebook,
    };
    if login == LoginKind::Instagram && add.page_id.is_some() {
        bail!("--page-id is for Instagram through Facebook Login; Instagram Login has no Page");
    }
    let access_token = match add.access_token.as_deref() {
        // clap's group makes `None` mean `--access-token-stdin`.
        Some("-") | None => read_token(stdin, "the Meta access token")?,
        Some(token) => Secret::new(token),
    };
    let chatwoot_token = if add.chatwoot_token_stdin {
        Some(read_token(stdin, "the Chatwoot API token")?)
    } else {
        None
    };
    let channel = ConnectedChannel {
        address,
        page_id: add.page_id.clone(),
        login,
        chatwoot: ChatwootTarget {
            url: add.chatwoot_url.clone(),
            account_id: add.chatwoot_account,
            inbox_id: add.inbox_id,
        },
        status: ChannelStatus::Active,
        token_expires_at: add.token_expires_at,
        connected_by: add.connected_by.clone(),
        connected_at: Utc::now(),
    };
    Ok((channel, Credentials { access_token, chatwoot_token, chatwoot_webhook_token: None }))
}

/// One token, from one line of standard input (surrounding white space dropped).
fn read_token(stdin: &mut dyn BufRead, what: &str) -> anyhow::Result<Secret> {
    let mut line = String::new();
    stdin.read_line(&mut line).with_context(|| format!("reading {what} from standard input"))?;
    let token = line.trim();
    if token.is_empty() {
        bail!("{what} was expected on standard input (one line), but none came");
    }
    Ok(Secret::new(token))
}

/// The stored channel `id` names (of `kind`, when given).
async fn stored_address(
    channels: &SealedChannels<Arc<dyn ChannelStore>>,
    id: &str,
    kind: Option<KindArg>,
) -> anyhow::Result<ChannelAddress> {
    let kinds: Vec<ChannelKindConfig> = match kind {
        Some(KindArg::Messenger) => vec![ChannelKindConfig::Messenger],
        Some(KindArg::Instagram) => vec![ChannelKindConfig::Instagram],
        None => vec![ChannelKindConfig::Messenger, ChannelKindConfig::Instagram],
    };
    let mut found = Vec::new();
    for kind in kinds {
        let address = app::address(kind, id);
        if channels.store().channel(&address).await?.is_some() {
            found.push(address);
        }
    }
    match found.len() {
        0 => bail!("no connected channel {id} in the store (`wbots channels list` shows them)"),
        1 => Ok(found.remove(0)),
        _ => bail!("{id} is connected as Messenger and as Instagram: say which with --kind"),
    }
}

/// The store at `url`, migrated: the same store seen as channels and as data. Beside a
/// running `serve` (SQLite: not the exclusive opening).
pub(crate) async fn open(url: &str) -> anyhow::Result<Stores> {
    if url.starts_with("sqlite:") {
        let store = Arc::new(SqliteStore::connect(url).await.context("store.url")?);
        store.migrate().await.context("store migrations")?;
        return Ok(Stores { channels: store.clone(), budgets: store.clone(), data: store });
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store =
            Arc::new(wbots_core::store::PostgresStore::connect(url).await.context("store.url")?);
        store.migrate().await.context("store migrations")?;
        return Ok(Stores { channels: store.clone(), budgets: store.clone(), data: store });
    }
    Err(anyhow!("store.url: this wbots cannot open the store it names"))
}
