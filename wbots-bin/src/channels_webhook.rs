//! The Chatwoot webhook of a channel connected into an account that is not the bridge's
//! (`wbots channels add --chatwoot-account … --chatwoot-token-stdin`): such an inbox is
//! served by its own adapter (`channel_source`), with its own webhook path token, so the
//! bridge's webhook secret never opens another business's inbox.

use std::sync::Arc;

use anyhow::Context as _;
use url::Url;
use wbots_chatwoot::ChatwootInbox;
use wbots_core::Secret;
use wbots_core::store::{ChannelRecord, ConnectedChannel, Credentials};

use crate::channel_source::{Channels, adapter_name};
use crate::config::Config;

/// Gives `credentials` the webhook token of the adapter that will serve `channel`, if it
/// has its own: the token another channel into the same inbox already has (so the
/// inbox's webhook keeps working), or a fresh one. The adapter's name, if any.
pub(crate) async fn assign_token(
    config: &Config,
    channels: &Channels,
    channel: &ConnectedChannel,
    credentials: &mut Credentials,
) -> anyhow::Result<Option<String>> {
    let own_token = credentials.chatwoot_token.is_some();
    let Some(name) = adapter_name(config, channel, own_token) else {
        return Ok(None);
    };
    if !own_token {
        // Another account reached with the bridge's token: the bridge's webhook secret or
        // token authenticates it, as for its own account.
        return Ok(Some(name));
    }
    let stored = channels.list_each().await.context("reading the connected channels")?;
    let shared = stored.into_iter().flatten().find_map(|other| {
        let same = adapter_name(config, &other.channel, other.credentials.chatwoot_token.is_some())
            .as_deref()
            == Some(name.as_str());
        same.then_some(other.credentials.chatwoot_webhook_token).flatten()
    });
    credentials.chatwoot_webhook_token = Some(shared.unwrap_or_else(fresh_token));
    Ok(Some(name))
}

/// A webhook path token: 244 random bits from the system's generator, hex (safe in a path).
fn fresh_token() -> Secret {
    Secret::new(format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple()))
}

/// Points the inbox's webhook at its adapter (`server.public_url` needed), or prints what
/// the operator must set by hand (path token included: the operator's terminal is the
/// only place it is shown, as `keygen`'s key). Never fails the connection: the channel is stored, and
/// the sweep finds agent messages a missing webhook would lose.
pub(crate) async fn point_inbox(
    config: &Config,
    name: &str,
    channel: &ConnectedChannel,
    credentials: &Credentials,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let record = ChannelRecord {
        channel: channel.clone(),
        credentials: credentials.clone(),
        revision: Default::default(),
    };
    let adapter: Option<Arc<ChatwootInbox>> = crate::channel_source::adapter_for(config, &record)
        .map_err(anyhow::Error::msg)
        .context("the account's Chatwoot adapter")?;
    let Some(adapter) = adapter else { return Ok(()) };
    // Its own token, or the bridge's when it shares the bridge's webhook authentication.
    let path = match &adapter.config().webhook_token {
        Some(token) => format!("/webhooks/{name}/{}", token.expose()),
        None => format!("/webhooks/{name}"),
    };
    let inbox_id = channel.chatwoot.inbox_id;
    let Some(base) = &config.server.public_url else {
        writeln!(
            out,
            "set the webhook URL of Chatwoot inbox {inbox_id} to <server.public_url>{path} (server.public_url is not set, so the bridge cannot set it)"
        )?;
        return Ok(());
    };
    let url = Url::parse(&format!("{}{path}", base.as_str().trim_end_matches('/')))
        .context("server.public_url")?;
    match adapter.set_webhook_url(inbox_id, &url).await {
        Ok(_) => writeln!(out, "pointed the webhook of Chatwoot inbox {inbox_id} at the bridge")?,
        // Printed to the operator who runs the command, as the only way to set it by hand.
        Err(e) => writeln!(
            out,
            "could not set the webhook of Chatwoot inbox {inbox_id} ({e}): set it by hand (an administrator of the account) to {url}"
        )?,
    }
    Ok(())
}
