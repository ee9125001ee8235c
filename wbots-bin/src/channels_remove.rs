//! `wbots channels remove ID`: disconnecting a stored channel, in the order that loses
//! nothing if a step fails (run the command again then):
//!
//! 1. unsubscribe the Page or Instagram-Login account from the app's webhooks with its own
//!    token (`DELETE /{node}/subscribed_apps`, meta-login.md §4.2) — unless another
//!    channel is reached through the same Page, which would go deaf too. A token Meta
//!    says is invalid already (190) cannot unsubscribe anything: said, and the removal goes
//!    on. Meta unreachable: refused, nothing changed, unless `--no-unsubscribe`;
//! 2. with `--delete-inbox`, delete its Chatwoot inbox (with the channel's own Chatwoot
//!    token, read before its credentials go);
//! 3. mark it disconnected (a replica watching the store stops serving it), then delete it
//!    with its credentials;
//! 4. with `--forget`, forget what the bridge keeps about its customers.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use wbots_core::store::{ChannelRecord, ChannelStatus, ChannelStore, SealedChannels};
use wbots_core::{ChannelAddress, DeliveryErrorKind};
use wbots_meta::subscriptions::{channel_reached_through, node_of, reached_through};
use wbots_meta::{Login, MetaConnections};

use crate::config::{ChannelKindConfig, Config, LoginConfig};
use crate::store::Stores;

/// What `remove` was asked to do besides removing.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RemoveOptions {
    pub forget: bool,
    pub delete_inbox: bool,
    pub no_unsubscribe: bool,
}

/// Disconnects the stored channel at `address`; see the module docs.
pub(crate) async fn run(
    config: &Config,
    channels: &SealedChannels<Arc<dyn ChannelStore>>,
    stores: &Stores,
    address: &ChannelAddress,
    options: RemoveOptions,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let record = channels
        .get(address)
        .await
        .context("reading the channel's credentials")?
        .with_context(|| format!("{address} is not connected (removed meanwhile?)"))?;
    let others: Vec<ChannelRecord> =
        channels.list().await?.into_iter().filter(|r| &r.channel.address != address).collect();
    if options.no_unsubscribe {
        writeln!(
            out,
            "not unsubscribed from Meta (--no-unsubscribe): remove the app from the account in Meta's settings"
        )?;
    } else {
        unsubscribe(config, &record, &others, out).await?;
    }
    if options.delete_inbox {
        delete_inbox(config, &record, &others, out).await?;
    }
    // Disconnected first, so a replica watching the store stops serving it even if the
    // removal below fails (run the command again then).
    channels.set_status(address, ChannelStatus::Disconnected).await?;
    channels.remove(address).await?;
    writeln!(out, "disconnected {address}; its credentials are deleted")?;
    if options.forget {
        let gone = crate::channels_forget::account(stores.data.as_ref(), address)
            .await
            .context("forgetting the account's customers")?;
        writeln!(
            out,
            "forgot {} customer(s) of {address}: {} link(s), {} job(s)",
            gone.customers, gone.removed.links, gone.removed.jobs
        )?;
    }
    Ok(())
}

/// The node whose webhook subscription serves `record`, and the login it is reached with.
fn node(record: &ChannelRecord) -> anyhow::Result<(String, Login)> {
    let c = &record.channel;
    node_of(c).with_context(|| format!(
        "{} has no Page id stored, so its Page cannot be unsubscribed: remove the app in the Page's settings and run this again with --no-unsubscribe",
        c.address
    ))
}

/// Another channel still served that is, or may be, reached through `node` (subscribed
/// with `login`): a stored one not disconnected, or a `[[channels]]` entry.
fn shared_with(
    config: &Config,
    others: &[ChannelRecord],
    node: &str,
    login: Login,
) -> Option<String> {
    let stored = others.iter().find(|r| {
        r.channel.status != ChannelStatus::Disconnected
            && channel_reached_through(&r.channel, node, login)
    });
    if let Some(r) = stored {
        return Some(r.channel.address.to_string());
    }
    configured_through(config, node, login)
}

/// A `[[channels]]` entry that is, or may be, reached through `node` subscribed with
/// `login` — which disconnecting a stored channel must not leave deaf (`channels remove`,
/// the connect page's *Disconnect*).
pub(crate) fn configured_through(config: &Config, node: &str, login: Login) -> Option<String> {
    config
        .channels
        .iter()
        .find(|c| {
            let through = match (c.kind, c.login.unwrap_or_default()) {
                (ChannelKindConfig::Messenger, _) => Some((c.id.clone(), Login::Facebook)),
                (ChannelKindConfig::Instagram, LoginConfig::Instagram) => {
                    Some((c.id.clone(), Login::Instagram))
                }
                (ChannelKindConfig::Instagram, LoginConfig::Facebook) => {
                    c.page_id.clone().map(|page| (page, Login::Facebook))
                }
            };
            reached_through(through.as_ref().map(|(n, l)| (n.as_str(), *l)), node, login)
        })
        .map(|c| crate::app::address(c.kind, &c.id).to_string())
}

async fn unsubscribe(
    config: &Config,
    record: &ChannelRecord,
    others: &[ChannelRecord],
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let address = &record.channel.address;
    let (node, login) = node(record)?;
    if let Some(other) = shared_with(config, others, &node, login) {
        writeln!(
            out,
            "kept {node} subscribed to the app's webhooks: {other} is, or may be, reached through it too"
        )?;
        return Ok(());
    }
    let meta = MetaConnections::new(config.meta.clone()).context("meta")?;
    match meta.unsubscribe(&node, login, &record.credentials.access_token).await {
        Ok(()) => writeln!(out, "unsubscribed {node} from the app's webhooks")?,
        Err(e) if e.is_permanent() && e.kind() == DeliveryErrorKind::Unauthorized => writeln!(
            out,
            "Meta refused the token of {address}, so nothing was unsubscribed ({}); the app stays on the account until it is removed there",
            e.message()
        )?,
        Err(e) => bail!(
            "could not unsubscribe {node} from the app's webhooks: {}; nothing was changed. Try again, or pass --no-unsubscribe to disconnect without unsubscribing",
            e.message()
        ),
    }
    Ok(())
}

async fn delete_inbox(
    config: &Config,
    record: &ChannelRecord,
    others: &[ChannelRecord],
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let target = &record.channel.chatwoot;
    let mut chatwoot = config.chatwoot.clone();
    let own_account = target.url.is_none() && target.account_id.is_none();
    if let Some(url) = &target.url {
        chatwoot.url = url.clone();
    }
    if let Some(account) = target.account_id {
        chatwoot.account_id = account;
    }
    if let Some(token) = &record.credentials.chatwoot_token {
        chatwoot.api_access_token = token.clone();
    }
    let shared = others.iter().any(|r| r.channel.chatwoot == *target)
        || (own_account && config.channels.iter().any(|c| c.inbox_id == target.inbox_id));
    if shared {
        bail!(
            "inbox {} also holds another channel's conversations: not deleted, nothing changed; run this again without --delete-inbox",
            target.inbox_id
        );
    }
    let inbox = wbots_chatwoot::ChatwootInbox::builder(chatwoot)
        .build()
        .map_err(|e| anyhow::anyhow!("chatwoot: {e}"))?;
    inbox.delete_inbox(target.inbox_id).await.map_err(|e| {
        anyhow::anyhow!(
            "could not delete Chatwoot inbox {}: {}; the channel is still connected, run this again",
            target.inbox_id,
            e.message()
        )
    })?;
    writeln!(
        out,
        "deleted Chatwoot inbox {} (Chatwoot removes its conversations in the background)",
        target.inbox_id
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use wbots_meta::Login;

    use super::configured_through;
    use crate::config::tests::{MINIMAL, load};

    /// Which `[[channels]]` keep a subscription: a Page's Messenger and its Instagram
    /// account (by `page_id`), an Instagram-Login account by its own id, and an Instagram
    /// account whose Page is not configured — it may be behind any Page.
    #[test]
    fn configured_channels_keep_the_subscriptions_they_are_reached_through() {
        let with = |extra: &str| load(&format!("{MINIMAL}{extra}"), &[]).unwrap();
        let config = with(
            r#"
[[channels]]
kind = "instagram"
id = "17841400000000001"
page_id = "555"
access_token = "EAAB-ig"
inbox_id = 8
[[channels]]
kind = "instagram"
id = "17841400000000002"
login = "instagram"
access_token = "IGQ"
inbox_id = 9
"#,
        );
        let through = |node: &str, login| configured_through(&config, node, login);
        assert_eq!(through("1234567890", Login::Facebook).as_deref(), Some("messenger:1234567890"));
        assert_eq!(through("555", Login::Facebook).as_deref(), Some("instagram:17841400000000001"));
        assert_eq!(
            through("17841400000000002", Login::Instagram).as_deref(),
            Some("instagram:17841400000000002")
        );
        assert_eq!(through("666", Login::Facebook), None, "no configured channel behind it");
        assert_eq!(through("1234567890", Login::Instagram), None, "another host's node");

        let unknown = with(
            r#"
[[channels]]
kind = "instagram"
id = "17841400000000003"
access_token = "EAAB-ig3"
inbox_id = 8
"#,
        );
        assert_eq!(
            configured_through(&unknown, "666", Login::Facebook).as_deref(),
            Some("instagram:17841400000000003"),
            "its Page is not known: every Page is kept"
        );
    }
}
