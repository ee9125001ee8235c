//! `wbots check`: everything that would stop messages flowing, one line per problem.

use std::process::ExitCode;

use wbots_core::DeliveryErrorKind;

use crate::app;
use crate::check_chatwoot;
use crate::config::Config;

/// The webhook URL Chatwoot must call for this configuration.
pub(crate) fn chatwoot_webhook_url(config: &Config) -> Option<url::Url> {
    let base = config.server.public_url.as_ref()?;
    let root = base.as_str().trim_end_matches('/');
    let url = match &config.chatwoot.webhook_token {
        Some(token) => format!("{root}/webhooks/chatwoot/{}", token.expose()),
        None => format!("{root}/webhooks/chatwoot"),
    };
    url::Url::parse(&url).ok()
}

/// Runs the checks; prints `ok` lines and problems; exit 1 when any problem.
pub(crate) async fn run(config: &Config) -> Result<ExitCode, String> {
    let mut problems: Vec<String> = config.warnings();
    let inbox = app::chatwoot_inbox(config)?;
    let meta = app::meta_channel(config)?;
    let mut flags = crate::flags::ChannelFlags::open(config).await;

    let mut found = check_chatwoot::Findings::default();
    check_chatwoot::version(&inbox, config.chatwoot.webhook_token.is_some(), &mut found).await;
    if check_chatwoot::token(&inbox, &mut found).await {
        match inbox.verify_token().await {
            Ok(n) => found.ok.push(format!(
                "chatwoot: the token works for account {} ({n} inboxes)",
                config.chatwoot.account_id
            )),
            Err(e) => found.problems.push(format!("chatwoot.api_access_token: {}", e.message())),
        }
    }
    check_chatwoot::public_url(config.server.public_url.as_ref(), &mut found).await;
    for line in &found.ok {
        println!("ok   {line}");
    }
    for line in &found.warnings {
        println!("warn {line}");
    }
    problems.extend(found.problems);
    let expected = chatwoot_webhook_url(config);
    for (i, ch) in config.channels.iter().enumerate() {
        match inbox.inbox_info(ch.inbox_id).await {
            Ok(info) => {
                if info.channel_type != "Channel::Api" {
                    problems.push(format!(
                        "channels[{i}].inbox_id: inbox {} is a {} inbox, not an API inbox",
                        ch.inbox_id, info.channel_type
                    ));
                }
                match (&expected, &info.webhook_url) {
                    (Some(want), Some(have)) if want.as_str() != have => problems.push(format!(
                        "channels[{i}].inbox_id: inbox {} posts to {}, not to this bridge; run `wbots setup`",
                        ch.inbox_id,
                        redact_token(have)
                    )),
                    (Some(_), None) => problems.push(format!("channels[{i}].inbox_id: inbox {} has no webhook URL; run `wbots setup`", ch.inbox_id)),
                    _ => println!("ok   chatwoot: inbox {} ({})", ch.inbox_id, info.name),
                }
            }
            Err(e) if e.kind() == DeliveryErrorKind::NotFound => problems.push(format!(
                "channels[{i}].inbox_id: Chatwoot has no inbox {}; run `wbots setup` to create it",
                ch.inbox_id
            )),
            Err(e) => problems.push(format!("channels[{i}].inbox_id: {}", e.message())),
        }
        let address = app::address(ch.kind, &ch.id);
        match meta.subscription(&address).await {
            Ok(sub) if sub.apps.is_empty() => problems.push(format!("channels[{i}]: {address} is not subscribed to the app's webhooks{}; run `wbots setup`", through(&sub.node, &ch.id))),
            Ok(sub) => match &config.meta.app_id {
                Some(app) if !sub.apps.contains(app) => problems.push(format!("channels[{i}]: {address} is subscribed to other apps, not to meta.app_id {app}{}; run `wbots setup`", through(&sub.node, &ch.id))),
                _ => println!("ok   meta: {address} token works and it is subscribed{}", through(&sub.node, &ch.id)),
            },
            Err(e) if e.kind() == DeliveryErrorKind::Unauthorized => problems.push(format!("channels[{i}].access_token: Meta refused the token of {address}: {}", e.message())),
            Err(e) => problems.push(format!("channels[{i}]: {address}: {}", e.message())),
        }
        if let Some(reason) = flags.reason(&address).await {
            problems.push(format!("channels[{i}]: {address}: reconnect required: {reason}; put a new token in channels[{i}].access_token, then `wbots jobs retry --all` resends what failed"));
        }
    }
    let stored = crate::check_stored::findings(config, chrono::Utc::now()).await;
    stored.ok.iter().for_each(|l| println!("ok   {l}"));
    stored.warnings.iter().for_each(|l| println!("warn {l}"));
    problems.extend(stored.problems);
    for p in &problems {
        println!("FAIL {p}");
    }
    if problems.is_empty() {
        println!("all checks passed");
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// " (through Page P)" when the subscription lives on another node than the account.
fn through(node: &str, id: &str) -> String {
    if node == id { String::new() } else { format!(" (through Page {node})") }
}

/// A webhook URL with its secret path token hidden.
fn redact_token(url: &str) -> String {
    match url.split_once("/webhooks/chatwoot/") {
        Some((base, _)) => format!("{base}/webhooks/chatwoot/<token>"),
        None => url.to_owned(),
    }
}
