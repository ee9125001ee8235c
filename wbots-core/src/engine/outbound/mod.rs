//! Outbound jobs: agent messages sent to the customer, part by part.
//!
//! [`handle`] reads what the decision needs (the customer's last message, the channel's
//! flag, the quoted message, the parts already sent), lets the pure `plan.rs` decide, then
//! runs a loop that only sends each part and records it on acceptance, so a retry resumes
//! after the last recorded part. `attachments.rs` holds the files' limits, `marker.rs` the
//! marker echoed back by the platform, `failure.rs` what happens when a send will not be
//! done, `typing.rs` the typing indicator.

mod attachments;
pub(crate) mod failure;
pub(crate) mod marker;
mod plan;
pub(crate) mod typing;

use tracing::warn;

use self::marker::Marker;
use self::plan::{Content, Decision, Facts};
use super::context::Context;
use super::flags;
use super::job::{JobError, Target};
use super::links::{
    InboxMessageLink, MessageLink, UnreadLink, inbox_message_link, message_link, unread_link,
    user_scope,
};
use crate::agent::AgentMessage;
use crate::channel::Capabilities;
use crate::ids::PlatformMessageId;
use crate::inbox::{DeliveryStatus, MessageChange, MessageUpdate};
use crate::outbound::{OutboundPart, SendRequest};
use crate::store::{ClaimedJob, Link, LinkKey, LinkWrite};

/// Runs one outbound job.
pub(crate) async fn handle(
    cx: &Context,
    claimed: &ClaimedJob,
    target: Target,
    message: AgentMessage,
) -> Result<Vec<LinkWrite>, JobError> {
    let route = cx.routes.require(&target.address)?;
    let channel = route.channel.as_ref();
    let links = cx.links();
    let caps = channel.capabilities(&target.address);
    let now = cx.now();

    // The facts, from the store.
    let last_inbound = links.last_inbound(&target.address, &target.thread).await?;
    let flag = flags::current(cx, &target.address).await?;
    let reply_to = match &message.reply_to {
        Some(id) if caps.reply_to => {
            links.inbox_message(&target.inbox, id).await?.map(|l| l.platform)
        }
        _ => None,
    };
    let parts = plan::parts(&message, &caps);
    let mut sent = Vec::with_capacity(parts.len());
    for index in 0..parts.len() {
        sent.push(links.sent_part(&target.inbox, &message.id, index).await?);
    }
    let may_await_echoes = may_await_echoes(cx, claimed, &caps).await?;

    // The decision.
    let decision = plan::decide(Facts {
        caps: &caps,
        message: &message,
        now,
        last_inbound,
        flag: flag.as_deref(),
        max_media_bytes: cx.config.max_media_bytes,
        reply_to,
        parts,
        sent,
        may_await_echoes,
    })?;
    let (window, parts) = match decision {
        Decision::Send { window, parts } => (window, parts),
        // A worker that died holding this job may have sent a part without recording it;
        // Meta's echo (with the marker) records it at ingest. Wait for it through the
        // queue, keeping the conversation's place.
        Decision::AwaitEchoes => {
            return Err(JobError::Deferred {
                wait: cx.config.echo_grace,
                reason: "a crashed worker may have sent a part: grace for its echo",
            });
        }
    };

    // Send and record, part by part.
    let scope = user_scope(&target.address, target.thread.as_str());
    let sent_link = |mid: &PlatformMessageId| {
        message_link(
            &scope,
            &target.address,
            mid,
            &MessageLink {
                conversation: message.conversation.clone(),
                message: message.id.clone(),
                at: now.timestamp_millis(),
            },
        )
    };
    let mut first_mid: Option<PlatformMessageId> = None;
    for part in parts {
        let index = part.index;
        if let Some(mid) = part.sent {
            if claimed.may_have_run_before() {
                // Recorded by its echo, perhaps: receipts and reactions find it too.
                cx.store.put_link(&sent_link(&mid)).await?;
            }
            first_mid.get_or_insert(mid);
            continue;
        }
        let content = match part.content {
            Content::Text(text) => OutboundPart::Text(text),
            Content::Attachment(i) => {
                let Some(att) = message.attachments.get(i) else { continue };
                attachments::attachment_part(cx, &target, &caps, att).await?
            }
        };
        let marker =
            Marker { inbox: target.inbox.clone(), message: message.id.clone(), part: index };
        let receipt = channel
            .send(&SendRequest {
                address: target.address.clone(),
                thread: target.thread.clone(),
                part: content,
                window,
                reply_to: part.reply_to,
                marker: Some(marker.encode()),
            })
            .await?;
        // Recorded at once, not at the end of the job: a retry resumes after this part.
        let mid = receipt
            .message_id
            .unwrap_or_else(|| PlatformMessageId::new(format!("{}:{index}", message.id)));
        cx.store
            .put_link(
                &Link::new(LinkKey::outbound_part(&target.inbox, &message.id, index), mid.as_str())
                    .scoped(scope.clone()),
            )
            .await?;
        cx.store.put_link(&sent_link(&mid)).await?;
        first_mid.get_or_insert(mid);
        if let Err(e) = cx.store.extend_lease(&claimed.lease, cx.now(), cx.config.lease).await {
            warn!(error = %e, "could not extend the lease between parts");
        }
    }

    // Done: the links that receipts, replies and an agent's retry need.
    let mut writes = vec![LinkWrite::Set(unread_link(
        &scope,
        &target.address,
        &target.thread,
        now.timestamp_millis(),
        &UnreadLink {
            conversation: message.conversation.clone(),
            message: message.id.clone(),
            delivered: false,
        },
    ))];
    if let Some(mid) = first_mid {
        // In the job's own commit: no extra commit per message.
        writes.extend(cx.activity.went_out(&target.address, now));
        writes.push(LinkWrite::Insert(inbox_message_link(
            &scope,
            &target.inbox,
            &message.id,
            &InboxMessageLink {
                address: target.address.clone(),
                thread: target.thread.clone(),
                platform: mid,
            },
        )));
    }
    if links.failed_outbound(&target.inbox, &message.id).await?.is_some() {
        // An agent's retry succeeded: clear the failure shown on the message.
        cx.routes
            .require_inbox(&target.inbox)?
            .update_message(&MessageUpdate {
                conversation: message.conversation.clone(),
                message: message.id.clone(),
                change: MessageChange::Status { status: DeliveryStatus::Sent, error: None },
            })
            .await?;
        writes.push(LinkWrite::Delete(LinkKey::outbound_state(&target.inbox, &message.id)));
    }
    Ok(writes)
}

/// Whether this run of a send first waits for echoes: its job was taken over from a
/// worker that died holding it (`previous_claims > 0`) before any of its runs ended
/// (no attempt, no error recorded: not a dead letter requeued by `wbots jobs retry`,
/// whose earlier run ended cleanly). Bounded: the wait is itself the job's first
/// settled attempt, so one grace per job. A job that had already ended a run before the
/// crash resends at once (README, "Where a duplicate is still possible").
async fn may_await_echoes(
    cx: &Context,
    claimed: &ClaimedJob,
    caps: &Capabilities,
) -> Result<bool, JobError> {
    if !caps.echoes
        || claimed.previous_claims == 0
        || claimed.attempts > 0
        || cx.config.echo_grace.is_zero()
    {
        return Ok(false);
    }
    let record = cx.store.job(claimed.id()).await?;
    Ok(record.is_some_and(|r| r.last_error.is_none()))
}
