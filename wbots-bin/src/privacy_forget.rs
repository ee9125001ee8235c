//! `wbots privacy forget`: deletion on request, through the machinery of Meta's
//! data-deletion callback — [`Store::forget_scope`](wbots_core::Store::forget_scope) on the
//! person's scope (SQLite scrubs the bytes from its files) and a status record on the same
//! status page (`/meta/data-deletion/{code}`) — and, with `--chatwoot`, the Chatwoot contact
//! with its conversations.
//!
//! Chatwoot first: the bridge's contact link is the way to the contact, so it is forgotten
//! only once the contact is gone; a failure leaves everything for the next run. Running it
//! again finds nothing and says so.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::Utc;
use serde_json::Value;
use wbots_core::store::PrivacyAction;

use crate::privacy::{Person, Privacy};

/// What the Chatwoot side did.
enum ChatwootSide {
    /// Not asked.
    Skipped,
    /// No contact known, or it is gone already.
    NothingThere,
    /// Deleted, with this many conversations.
    Deleted(usize),
}

/// Forgets the person, records it, prints what happened.
pub(crate) async fn run(
    cx: &Privacy<'_>,
    person: &Person,
    chatwoot: bool,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<ExitCode> {
    let requested_at = Utc::now();
    let side = if chatwoot { delete_contact(cx, person).await? } else { ChatwootSide::Skipped };
    let removed = match &person.scope {
        Some(scope) => cx.data.forget_scope(scope).await.context("forgetting the person")?,
        None => Default::default(),
    };
    let records = removed.links + removed.jobs;
    let chatwoot_words = match side {
        ChatwootSide::Skipped => "Chatwoot not asked (--chatwoot)".to_owned(),
        ChatwootSide::NothingThere => "no Chatwoot contact to delete".to_owned(),
        ChatwootSide::Deleted(n) => format!("Chatwoot contact deleted with {n} conversation(s)"),
    };
    let nothing = records == 0 && !matches!(side, ChatwootSide::Deleted(_));
    let words = format!("{} link(s), {} job(s); {chatwoot_words}", removed.links, removed.jobs);
    let outcome = if nothing { "nothing found" } else { "completed" };
    let subject = person.subject(cx.key.as_ref());
    cx.audit(PrivacyAction::Forget, &person.requested_by, subject.clone(), words.clone(), outcome)
        .await?;
    let code = status_code(subject.as_deref());
    let deleted = records + u64::from(matches!(side, ChatwootSide::Deleted(_)));
    wbots_meta::callbacks::record_completed_deletion(
        cx.data.as_ref(),
        &code,
        requested_at,
        deleted,
        "Deleted on request by the operator (wbots privacy forget).",
    )
    .await
    .context("recording the deletion's status")?;
    if nothing {
        writeln!(
            out,
            "nothing left to forget about this person on {}: already forgotten, or never known ({chatwoot_words})",
            person.address
        )?;
    } else {
        writeln!(out, "forgot the person on {}: {words}", person.address)?;
    }
    let url = wbots_meta::callbacks::status_url(cx.config.server.public_url.as_ref(), &code);
    writeln!(out, "status: {url}")?;
    Ok(ExitCode::SUCCESS)
}

/// The status record's code: from the person's keyed hash, so the same request again finds
/// its first record; random without an audit key.
fn status_code(subject: Option<&str>) -> String {
    match subject {
        Some(s) => {
            let hex: String = s.chars().filter(char::is_ascii_alphanumeric).take(31).collect();
            format!("f{hex}")
        }
        None => format!("f{}", uuid::Uuid::new_v4().simple()),
    }
}

/// Deletes the person's Chatwoot contact — and with it its conversations — when every one
/// of them is in the bridge's inboxes: a contact that also talks through another inbox is
/// not the bridge's to delete (Chatwoot has no documented call deleting one conversation).
async fn delete_contact(cx: &Privacy<'_>, person: &Person) -> anyhow::Result<ChatwootSide> {
    let Some(contact) = &person.contact else { return Ok(ChatwootSide::NothingThere) };
    let chatwoot = &person.chatwoot;
    if chatwoot.contact_record(contact).await.context("reading the Chatwoot contact")?.is_none() {
        return Ok(ChatwootSide::NothingThere);
    }
    let inboxes = cx.bridge_inboxes().await?;
    let conversations = chatwoot
        .contact_conversation_records(contact)
        .await
        .context("listing the contact's conversations")?;
    let elsewhere = conversations
        .iter()
        .filter(|c| {
            !c.get("inbox_id").and_then(Value::as_u64).is_some_and(|i| inboxes.contains(&i))
        })
        .count();
    if elsewhere > 0 {
        bail!(
            "Chatwoot contact {contact} also has {elsewhere} conversation(s) outside the bridge's inboxes: delete it in Chatwoot by hand, then run this again (nothing was deleted)"
        );
    }
    chatwoot.delete_contact(contact).await.context("deleting the Chatwoot contact")?;
    Ok(ChatwootSide::Deleted(conversations.len()))
}
