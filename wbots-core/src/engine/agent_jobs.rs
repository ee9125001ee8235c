//! Agent events → jobs: where each agent-side event goes and under which idempotency key.
//!
//! Every way an agent message can reach the bridge — Chatwoot's `message_created`, the
//! `message_updated` of an agent's retry, the echo of Chatwoot's own failure mark, the
//! sweep — enqueues its first send under the same key, `out/{inbox}/{message}`, so however
//! many of them arrive, the message is sent once. Only a retry of a message the bridge
//! itself failed gets a key of its own (one per failure).

use std::sync::Arc;

use tracing::{debug, info, warn};

use super::context::Context;
use super::ingest::{IngestReport, PRIORITY_MESSAGE, PRIORITY_TYPING, serialise};
use super::job::{Job, Target};
use super::links::user_scope;
use crate::agent::{AgentEnvelope, AgentEvent, AgentMessage, ThreadRef};
use crate::error::{StoreError, WebhookError};
use crate::ids::{ConversationId, InboxId};
use crate::inbox::Inbox;
use crate::store::{Lane, NewJob};

/// Where an agent event goes, or why it cannot go anywhere.
enum Route {
    To(Target),
    /// Not a customer conversation the bridge can serve; the text is shown to the agent.
    Nowhere(String),
}

fn first_send_key(inbox: &InboxId, message: &crate::ids::InboxMessageId) -> String {
    format!("out/{inbox}/{message}")
}

/// The jobs a batch of agent events from `adapter` (its webhook or its sweep) makes.
/// Counts what is skipped in `report`.
pub(crate) async fn jobs(
    cx: &Context,
    adapter: &Arc<dyn Inbox>,
    envelopes: Vec<AgentEnvelope>,
    report: &mut IngestReport,
) -> Result<Vec<NewJob>, WebhookError> {
    let links = cx.links();
    let mut jobs = Vec::new();
    for envelope in envelopes {
        let inbox = envelope.inbox;
        // One account's webhook secret must not drive another account's customers: an
        // event naming an inbox of another adapter is not this adapter's to report.
        let ignored = matches!(envelope.event, AgentEvent::Ignored { .. });
        if !ignored && !cx.routes.inbox_of(&inbox).is_some_and(|a| Arc::ptr_eq(a, adapter)) {
            warn!(%inbox, adapter = adapter.name(), "agent event for an inbox its adapter does not serve; skipped");
            metrics::counter!("wbots_events_skipped_total", "reason" => "unrouted").increment(1);
            report.unrouted += 1;
            continue;
        }
        let hint = envelope.contact_thread;
        let (key, message, confirm) = match envelope.event {
            AgentEvent::Ignored { kind, reason } => {
                debug!(%kind, %reason, "inbox event skipped");
                report.unsupported += 1;
                continue;
            }
            AgentEvent::Typing { conversation, on } => {
                let Route::To(target) = route(cx, &inbox, &conversation, hint.as_ref()).await?
                else {
                    report.unrouted += 1;
                    continue;
                };
                let key = format!("typing/{inbox}/{conversation}/{on}/{}", uuid::Uuid::new_v4());
                jobs.push(job(
                    key,
                    &target,
                    PRIORITY_TYPING,
                    &Job::Typing { target: target.clone(), on },
                )?);
                continue;
            }
            AgentEvent::Message(m) => {
                // The inbox's copy of a message the bridge posted itself.
                if links.inbox_message(&inbox, &m.id).await?.is_some() {
                    report.unsupported += 1;
                    continue;
                }
                (Some(first_send_key(&inbox, &m.id)), m, false)
            }
            AgentEvent::Undelivered(m) => {
                if links.failed_outbound(&inbox, &m.id).await?.is_some() {
                    // The bridge failed it itself (Chatwoot then overwrote the reason
                    // when the echo of that mark could not be delivered): only the
                    // agent's retry sends it again.
                    debug!(message = %m.id, "undelivered mark on a message the bridge failed; left to the agent's retry");
                    report.unsupported += 1;
                    continue;
                }
                if links.inbox_message(&inbox, &m.id).await?.is_some() {
                    // Sent already; a later webhook about it failed and Chatwoot marked
                    // it failed again: only the status is corrected.
                    (None, m, true)
                } else {
                    // Sent under the webhook's key (a duplicate if the webhook did come,
                    // late), then its status corrected once that send is done.
                    (Some(first_send_key(&inbox, &m.id)), m, true)
                }
            }
            AgentEvent::RetryRequested { conversation, message, content } => {
                if let Some(failed) = links.failed_outbound(&inbox, &message).await? {
                    let key = format!("out/{inbox}/{message}/retry/{}", failed.failed_at);
                    (Some(key), failed.message, false)
                } else if links.inbox_message(&inbox, &message).await?.is_some() {
                    // The echo of a status change (the bridge's own PATCH included).
                    debug!(%message, "message_updated for a message already sent; nothing to do");
                    report.unsupported += 1;
                    continue;
                } else if let Some(m) = content.filter(|m| m.conversation == conversation) {
                    // A retry of a message Chatwoot never handed over. Also the echo of
                    // a status change of a message still queued: the key makes both one.
                    (Some(first_send_key(&inbox, &message)), m, false)
                } else {
                    report.unsupported += 1;
                    continue;
                }
            }
        };
        match route(cx, &inbox, &message.conversation, hint.as_ref()).await? {
            Route::To(target) => {
                let id = message.id.clone();
                let conversation = message.conversation.clone();
                if let Some(key) = key {
                    let send = Job::Outbound { target: target.clone(), message };
                    jobs.push(job(key, &target, PRIORITY_MESSAGE, &send)?);
                }
                if confirm {
                    // After the send, in the conversation's order; one per report, since
                    // Chatwoot may mark the message failed again later.
                    let key = format!("confirm/{inbox}/{id}/{}", uuid::Uuid::new_v4());
                    let fix =
                        Job::ConfirmSent { target: target.clone(), conversation, message: id };
                    jobs.push(job(key, &target, PRIORITY_MESSAGE, &fix)?);
                }
            }
            Route::Nowhere(reason) => {
                if !cx.routes.bindings().any(|b| b.inbox == inbox) {
                    info!(%inbox, "agent message in an inbox the bridge does not serve; skipped");
                    metrics::counter!("wbots_events_skipped_total", "reason" => "unrouted")
                        .increment(1);
                    report.unrouted += 1;
                    continue;
                }
                info!(%inbox, conversation = %message.conversation, %reason, "agent message cannot be routed; marking it failed");
                jobs.push(unroutable(&inbox, message, reason)?);
            }
        }
    }
    Ok(jobs)
}

/// The customer thread a conversation of `inbox` bridges: the link the bridge made when
/// it created the conversation, else the contact's identity the inbox reported.
async fn route(
    cx: &Context,
    inbox: &InboxId,
    conversation: &ConversationId,
    hint: Option<&ThreadRef>,
) -> Result<Route, StoreError> {
    let links = cx.links();
    let thread = match links.thread_of(inbox, conversation).await? {
        Some(t) => ThreadRef { address: t.address, thread: t.thread },
        None => match hint {
            Some(h) => h.clone(),
            None => {
                return Ok(Route::Nowhere(format!(
                    "wbots cannot send this: the conversation's contact has no {} identity known to the bridge. Reply in a conversation the customer started, or one opened for a contact the bridge created.",
                    cx.routes.platform_names()
                )));
            }
        },
    };
    Ok(match cx.routes.get(&thread.address).map(|r| &r.binding) {
        Some(binding) if binding.inbox == *inbox => Route::To(Target {
            address: thread.address,
            thread: thread.thread,
            inbox: inbox.clone(),
        }),
        Some(_) => Route::Nowhere(format!(
            "wbots cannot send this: the customer belongs to {}, which is bridged to another inbox. Reply from that inbox.",
            thread.address
        )),
        None => Route::Nowhere(format!(
            "wbots cannot send this: the account {} is not configured in the bridge any more.",
            thread.address
        )),
    })
}

fn job(key: String, target: &Target, priority: i32, job: &Job) -> Result<NewJob, WebhookError> {
    Ok(NewJob {
        idempotency_key: key,
        ordering_key: crate::event::thread_key(&target.address, &target.thread),
        scope: Some(user_scope(&target.address, target.thread.as_str())),
        priority,
        lane: job.lane(),
        payload: serialise(job)?,
        not_before: None,
    })
}

fn unroutable(
    inbox: &InboxId,
    message: AgentMessage,
    reason: String,
) -> Result<NewJob, WebhookError> {
    Ok(NewJob {
        idempotency_key: format!("unroutable/{inbox}/{}", message.id),
        ordering_key: format!("unroutable/{inbox}/{}", message.conversation),
        scope: None,
        priority: PRIORITY_MESSAGE,
        lane: Lane::Inbound,
        payload: serialise(&Job::Unroutable {
            inbox: inbox.clone(),
            conversation: message.conversation,
            message: message.id,
            reason,
        })?,
        not_before: None,
    })
}
