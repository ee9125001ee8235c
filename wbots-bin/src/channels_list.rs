//! `wbots channels list [--json]`: every channel the bridge knows — stored ones with their
//! status, token expiry, inbox and who connected them when, and the static `[[channels]]`
//! of the configuration, each with when its last message came in and went out. Built from the channel's description only: no token is in reach
//! of the printing code (credentials are opened to check the key, then dropped).

use std::sync::Arc;

use serde::Serialize;
use wbots_core::store::{ChannelActivity, ChannelError, ChannelStore, LinkStore, SealedChannels};

use crate::app;
use crate::config::Config;

/// One line of the list.
#[derive(Serialize)]
struct Row {
    /// `stored` or `config`.
    source: &'static str,
    kind: String,
    id: String,
    page_id: Option<String>,
    login: Option<&'static str>,
    status: &'static str,
    reason: Option<String>,
    token_expires_at: Option<String>,
    inbox_id: u64,
    chatwoot_account: Option<u64>,
    chatwoot_url: Option<String>,
    connected_by: Option<String>,
    connected_at: Option<String>,
    /// Whether `store.secret_key` opens its credentials (`ok`, or why not).
    credentials: String,
    /// When its last customer message came in; `None`: none yet.
    last_message_in: Option<String>,
    /// When its last agent message went out; `None`: none yet.
    last_message_out: Option<String>,
}

/// Prints the channels, as text or one JSON document.
pub(crate) async fn print(
    config: &Config,
    channels: &SealedChannels<Arc<dyn ChannelStore>>,
    activity: &dyn LinkStore,
    json: bool,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    let mut rows: Vec<Row> = config
        .channels
        .iter()
        .map(|c| {
            let address = app::address(c.kind, &c.id);
            Row {
                source: "config",
                kind: address.kind.to_string(),
                id: c.id.clone(),
                page_id: c.page_id.clone(),
                login: c.login.map(|l| match l {
                    crate::config::LoginConfig::Facebook => "facebook",
                    crate::config::LoginConfig::Instagram => "instagram",
                }),
                status: "active",
                reason: None,
                token_expires_at: None,
                inbox_id: c.inbox_id,
                chatwoot_account: None,
                chatwoot_url: None,
                connected_by: None,
                connected_at: None,
                credentials: "in the configuration".to_owned(),
                last_message_in: None,
                last_message_out: None,
            }
        })
        .collect();
    for (row, c) in rows.iter_mut().zip(&config.channels) {
        let activity = ChannelActivity::of(activity, &app::address(c.kind, &c.id)).await?;
        row.last_message_in = activity.last_in.map(|t| t.to_rfc3339());
        row.last_message_out = activity.last_out.map(|t| t.to_rfc3339());
    }
    for stored in channels.store().channels().await? {
        let c = stored.channel;
        let credentials = match channels.get(&c.address).await {
            // Its grant was withdrawn (Meta's data-deletion or deauthorize callback).
            Ok(Some(r)) if r.credentials.access_token.expose().is_empty() => {
                "no Meta token: the grant was withdrawn, connect it again".to_owned()
            }
            Ok(_) => "ok".to_owned(),
            Err(ChannelError::Credentials { source, .. }) => {
                format!("cannot be opened: {source}")
            }
            Err(e) => return Err(e.into()),
        };
        let activity = ChannelActivity::of(activity, &c.address).await?;
        rows.push(Row {
            source: "stored",
            kind: c.address.kind.to_string(),
            id: c.address.account.to_string(),
            page_id: c.page_id,
            login: Some(c.login.as_str()),
            status: c.status.as_str(),
            reason: c.status.reason().map(str::to_owned),
            token_expires_at: c.token_expires_at.map(|t| t.to_rfc3339()),
            inbox_id: c.chatwoot.inbox_id,
            chatwoot_account: c.chatwoot.account_id,
            chatwoot_url: c.chatwoot.url.map(String::from),
            connected_by: Some(c.connected_by),
            connected_at: Some(c.connected_at.to_rfc3339()),
            credentials,
            last_message_in: activity.last_in.map(|t| t.to_rfc3339()),
            last_message_out: activity.last_out.map(|t| t.to_rfc3339()),
        });
    }
    if json {
        serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "channels": rows }))?;
        writeln!(out)?;
        return Ok(());
    }
    if rows.is_empty() {
        writeln!(out, "no channels: `wbots channels add` connects one")?;
    }
    for r in rows {
        let status = match &r.reason {
            Some(reason) => format!("{} ({reason})", r.status),
            None => r.status.to_owned(),
        };
        let expiry = r.token_expires_at.as_deref().unwrap_or("never");
        let account = r.chatwoot_account.map(|a| format!(" account {a}")).unwrap_or_default();
        let url = r.chatwoot_url.as_deref().map(|u| format!(" at {u}")).unwrap_or_default();
        let who = match (&r.connected_by, &r.connected_at) {
            (Some(by), Some(at)) => format!("connected by {by} at {at}"),
            _ => "static".to_owned(),
        };
        writeln!(
            out,
            "{kind}:{id} [{source}] {status}, inbox {inbox}{account}{url}, token expires {expiry}, {who}, credentials {creds}, last message in {last_in}, last message out {last_out}",
            kind = r.kind,
            id = r.id,
            source = r.source,
            inbox = r.inbox_id,
            creds = r.credentials,
            last_in = r.last_message_in.as_deref().unwrap_or("none yet"),
            last_out = r.last_message_out.as_deref().unwrap_or("none yet"),
        )?;
    }
    Ok(())
}
