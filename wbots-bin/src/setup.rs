//! `wbots setup`: point each channel's Chatwoot API inbox at the bridge (creating missing
//! inboxes) and subscribe each Page / Instagram account to the app's webhooks.

use std::process::ExitCode;

use wbots_core::DeliveryErrorKind;

use crate::app;
use crate::check::chatwoot_webhook_url;
use crate::config::{ChannelKindConfig, Config};

/// Runs the setup, printing what it did.
pub(crate) async fn run(config: &Config) -> Result<ExitCode, String> {
    let Some(webhook) = chatwoot_webhook_url(config) else {
        return Err("server.public_url: needed to register the webhook URL with Chatwoot".into());
    };
    if config.chatwoot.webhook_token.is_none() && config.chatwoot.webhook_secret.is_none() {
        return Err("chatwoot.webhook_token: set it (or chatwoot.webhook_secret) so the bridge can authenticate Chatwoot's webhooks".into());
    }
    let inbox = app::chatwoot_inbox(config)?;
    let meta = app::meta_channel(config)?;
    let mut failed = false;
    for (i, ch) in config.channels.iter().enumerate() {
        let hours = if ch.human_agent_tag { 168 } else { 24 };
        match inbox.inbox_info(ch.inbox_id).await {
            Ok(info) if info.webhook_url.as_deref() == Some(webhook.as_str()) => {
                println!("ok   inbox {} already posts to the bridge", ch.inbox_id);
                failed |= !finish_inbox(&inbox, config, i, &info, hours).await;
            }
            Ok(_) => match inbox.set_webhook_url(ch.inbox_id, &webhook).await {
                Ok(info) => {
                    println!("done inbox {}: webhook URL set", ch.inbox_id);
                    failed |= !finish_inbox(&inbox, config, i, &info, hours).await;
                }
                Err(e) => {
                    failed = true;
                    println!("FAIL channels[{i}].inbox_id: {}", e.message());
                }
            },
            Err(e) if e.kind() == DeliveryErrorKind::NotFound => {
                let name = match ch.kind {
                    ChannelKindConfig::Messenger => format!("Messenger {}", ch.id),
                    ChannelKindConfig::Instagram => format!("Instagram {}", ch.id),
                };
                match inbox.create_api_inbox(&name, &webhook).await {
                    Ok(created) => {
                        println!(
                            "done created API inbox {} \"{name}\": set channels[{i}].inbox_id = {} in the configuration",
                            created.id, created.id
                        );
                        failed |= !finish_inbox(&inbox, config, i, &created, hours).await;
                    }
                    Err(e) => {
                        failed = true;
                        println!("FAIL channels[{i}]: cannot create an inbox: {}", e.message());
                    }
                }
            }
            Err(e) => {
                failed = true;
                println!("FAIL channels[{i}].inbox_id: {}", e.message());
            }
        }
        let address = app::address(ch.kind, &ch.id);
        match meta.subscribe(&address).await {
            Ok(node) if node == ch.id => {
                println!("done {address} subscribed to the app's webhooks")
            }
            Ok(page) => {
                println!("done {address} subscribed to the app's webhooks through Page {page}")
            }
            Err(e) => {
                failed = true;
                println!("FAIL channels[{i}]: subscribing {address}: {}", e.message());
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Sets the inbox's reply window so Chatwoot itself stops agents outside Meta's window
/// (24 h, or 7 days with `human_agent_tag`), and hands over its webhook signing secret.
/// Returns whether everything worked.
async fn finish_inbox(
    inbox: &wbots_chatwoot::ChatwootInbox,
    config: &Config,
    i: usize,
    info: &wbots_chatwoot::setup::InboxInfo,
    hours: u32,
) -> bool {
    let current =
        info.additional_attributes.get("agent_reply_time_window").and_then(|v| v.as_u64());
    let mut ok = true;
    if current == Some(u64::from(hours)) {
        println!(
            "ok   inbox {}: agents can reply for {hours} h after the customer's last message",
            info.id
        );
    } else {
        match inbox.set_reply_window(info, hours).await {
            Ok(_) => println!(
                "done inbox {}: Chatwoot now stops agents {hours} h after the customer's last message (agent_reply_time_window)",
                info.id
            ),
            Err(e) => {
                ok = false;
                println!("FAIL channels[{i}]: setting the reply window: {}", e.message());
            }
        }
    }
    match (&info.secret, &config.chatwoot.webhook_secret) {
        (Some(have), Some(want)) if have.matches(want.expose().as_bytes()) => {
            println!("ok   inbox {}: chatwoot.webhook_secret matches its signing secret", info.id)
        }
        (Some(_), Some(_)) => {
            ok = false;
            println!(
                "FAIL chatwoot.webhook_secret: differs from inbox {}'s signing secret (Chatwoot → Settings → Inboxes → Configuration); every signed webhook would be refused",
                info.id
            );
        }
        // Printed once, on the operator's terminal, because it is the only way to learn it
        // short of the Chatwoot UI; never logged.
        (Some(secret), None) => println!(
            "todo inbox {}: set chatwoot.webhook_secret = \"{}\" (its webhook signing secret)",
            info.id,
            secret.expose()
        ),
        (None, _) => println!(
            "note inbox {}: Chatwoot shows no signing secret (below v4.13, or the token is not an administrator's): keep chatwoot.webhook_token",
            info.id
        ),
    }
    ok
}
