//! `wbots privacy retention [--dry-run] [--chatwoot]`: deletes what is kept past the
//! `[privacy]` retention settings, now; each run is idempotent and recorded in the audit
//! trail.
//!
//! - **The bridge's records** (`privacy.retention_days`): a person's scope is forgotten
//!   when their last message (the `last_inbound` link of each of their threads) is older
//!   than that ([`idle_people`]). `serve` does the same hourly, with its pruning of finished
//!   jobs; this command is for a dry run, or a run at once. Unset: kept as long as the
//!   conversation exists.
//! - The Chatwoot side runs only here: run it from a timer (cron, a systemd timer).
//! - **Chatwoot** (`privacy.chatwoot_retention_days`, with `--chatwoot`): a contact the
//!   bridge created whose conversations are all in the bridge's inboxes and all idle
//!   (`last_activity_at`) past that is deleted with its conversations, and forgotten by the
//!   bridge. A contact with a recent conversation, or one in another inbox, is kept.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use wbots_core::engine::retention::idle_people;
use wbots_core::store::{LinkKind, PrivacyAction};
use wbots_core::{ChannelAddress, ContactId};

use crate::privacy::Privacy;

/// Links read per page.
const PAGE: usize = 500;

/// Runs the retention, prints what it did (or would do).
pub(crate) async fn run(
    cx: &Privacy<'_>,
    dry_run: bool,
    chatwoot: bool,
    requested_by: &str,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    let verb = if dry_run { "would forget" } else { "forgot" };
    let mut summary = Vec::new();
    match cx.config.privacy.retention_days {
        None => writeln!(
            out,
            "privacy.retention_days is not set: the bridge keeps its records as long as the conversation exists"
        )?,
        Some(days) => {
            let cutoff = now - Duration::days(i64::try_from(days).unwrap_or(i64::MAX / 86_400_000));
            let expired =
                idle_people(cx.trail()?, cutoff).await.context("reading last messages")?;
            let (mut links, mut jobs) = (0, 0);
            for scope in &expired {
                writeln!(out, "{verb} {scope}: last message over {days} day(s) ago")?;
                if !dry_run {
                    let gone = cx.data.forget_scope(scope).await.context("forgetting a person")?;
                    links += gone.links;
                    jobs += gone.jobs;
                }
            }
            summary.push(if dry_run {
                format!("{} person(s) past {days} day(s) listed", expired.len())
            } else {
                format!(
                    "{} person(s) past {days} day(s): {links} link(s), {jobs} job(s)",
                    expired.len()
                )
            });
        }
    }
    if chatwoot {
        let Some(days) = cx.config.privacy.chatwoot_retention_days else {
            bail!(
                "--chatwoot needs privacy.chatwoot_retention_days (the Chatwoot-side retention is off)"
            );
        };
        let cutoff = now - Duration::days(i64::try_from(days).unwrap_or(i64::MAX / 86_400_000));
        summary.push(chatwoot_side(cx, cutoff, days, dry_run, out).await?);
    }
    let words = summary.join("; ");
    writeln!(out, "{}{words}", if dry_run { "dry run, nothing deleted: " } else { "" })?;
    if !dry_run {
        cx.audit(PrivacyAction::Retention, requested_by, None, words, "completed").await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The Chatwoot side: every contact the bridge linked, deleted when all its conversations
/// are in the bridge's inboxes and idle since `cutoff`.
async fn chatwoot_side(
    cx: &Privacy<'_>,
    cutoff: DateTime<Utc>,
    days: u64,
    dry_run: bool,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<String> {
    let inboxes = cx.bridge_inboxes().await?;
    let cutoff = cutoff.timestamp();
    let (mut deleted, mut kept) = (0, 0);
    let mut after = String::new();
    loop {
        let page = cx.trail()?.links_after(LinkKind::Contact, &after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.key.as_str().to_owned();
        for link in page {
            let contact = ContactId::from(link.value.as_str());
            let Some(address) = address_of(link.key.as_str()) else { continue };
            let chatwoot = cx.chatwoot_of(&address).await?;
            let conversations = chatwoot
                .contact_conversation_records(&contact)
                .await
                .with_context(|| format!("listing Chatwoot contact {contact}'s conversations"))?;
            let ours_and_idle = |c: &Value| {
                let inbox = c.get("inbox_id").and_then(Value::as_u64);
                let active = c.get("last_activity_at").and_then(Value::as_i64).unwrap_or(i64::MAX);
                inbox.is_some_and(|i| inboxes.contains(&i)) && active < cutoff
            };
            if conversations.is_empty() || !conversations.iter().all(ours_and_idle) {
                kept += 1;
                continue;
            }
            let verb = if dry_run { "would delete" } else { "deleted" };
            let ids: Vec<String> =
                conversations.iter().filter_map(|c| c.get("id").map(|id| id.to_string())).collect();
            writeln!(
                out,
                "{verb} Chatwoot contact {contact} and its conversation(s) {} (idle over {days} day(s))",
                ids.join(", ")
            )?;
            if !dry_run {
                chatwoot
                    .delete_contact(&contact)
                    .await
                    .with_context(|| format!("deleting Chatwoot contact {contact}"))?;
                if let Some(scope) = link.scope.as_deref() {
                    cx.data.forget_scope(scope).await.context("forgetting the person")?;
                }
            }
            deleted += 1;
        }
    }
    Ok(format!(
        "Chatwoot: {deleted} contact(s) idle over {days} day(s) {}, {kept} kept",
        if dry_run { "listed" } else { "deleted with their conversations" }
    ))
}

/// The channel a contact link (`kind:account/user`) belongs to.
fn address_of(key: &str) -> Option<ChannelAddress> {
    let (kind, rest) = key.split_once(':')?;
    let (account, _user) = rest.split_once('/')?;
    Some(ChannelAddress::new(kind, account))
}
