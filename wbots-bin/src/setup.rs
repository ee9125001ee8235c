//! `wbots setup`: point each channel's Chatwoot API inbox at the bridge (creating missing
//! inboxes) and subscribe each Page / Instagram account to the app's webhooks.

use std::process::ExitCode;

use wbots_core::DeliveryErrorKind;

use crate::app;
use crate::check::chatwoot_webhook_url;
use crate::config::{ChannelKindConfig, Config};

/// Runs the setup, printing what it did.
pub async fn run(config: &Config) -> Result<ExitCode, String> {
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
        match inbox.inbox_info(ch.inbox_id).await {
            Ok(info) if info.webhook_url.as_deref() == Some(webhook.as_str()) => {
                println!("ok   inbox {} already posts to the bridge", ch.inbox_id)
            }
            Ok(_) => match inbox.set_webhook_url(ch.inbox_id, &webhook).await {
                Ok(_) => println!("done inbox {}: webhook URL set", ch.inbox_id),
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
                    Ok(created) => println!(
                        "done created API inbox {} \"{name}\": set channels[{i}].inbox_id = {} in the configuration",
                        created.id, created.id
                    ),
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
