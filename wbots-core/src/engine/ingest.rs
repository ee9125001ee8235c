//! Webhook ingest: authenticate, parse, store every event of the request in one
//! transaction, and only then report success.

use tracing::{debug, info, warn};

use super::Bridge;
use super::job::{Job, Target};
use super::links::{Links, user_scope};
use crate::agent::AgentEvent;
use crate::error::WebhookError;
use crate::event::InboundEvent;
use crate::request::RawRequest;
use crate::store::{Enqueued, NewJob};

/// What one webhook delivery produced. Returned only once its jobs are durably stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestReport {
    /// Events stored as new jobs.
    pub accepted: usize,
    /// Events already stored by an earlier delivery (platform retries).
    pub duplicates: usize,
    /// Events recorded and skipped: unsupported kinds, agent events with nothing to do.
    pub unsupported: usize,
    /// Events for accounts or conversations the bridge does not serve.
    pub unrouted: usize,
}

const PRIORITY_MESSAGE: i32 = 0;
// Typing indicators are worth nothing late; receipts and messages go first.
const PRIORITY_TYPING: i32 = -10;

fn serialise(job: &Job) -> Result<String, WebhookError> {
    serde_json::to_string(job)
        .map_err(|e| WebhookError::Malformed(format!("unstorable event: {e}")))
}

impl Bridge {
    /// Answers a channel's subscription handshake (Meta's GET challenge).
    pub fn handshake(
        &self,
        channel: &str,
        request: &RawRequest<'_>,
    ) -> Result<String, WebhookError> {
        let ch = self
            .channel(channel)
            .ok_or_else(|| WebhookError::NotFound(format!("no channel {channel:?}")))?;
        ch.handshake(request)
    }

    /// Ingests a platform webhook delivery for `channel`: verify, parse, enqueue all events
    /// in one transaction. `Ok` means every event is durably stored (or was already).
    ///
    /// # Errors
    /// The [`WebhookError`] to answer with; on any error nothing was stored.
    pub async fn ingest_channel(
        &self,
        channel: &str,
        request: &RawRequest<'_>,
    ) -> Result<IngestReport, WebhookError> {
        let ch = self
            .channel(channel)
            .ok_or_else(|| WebhookError::NotFound(format!("no channel {channel:?}")))?;
        ch.verify(request)?;
        let envelopes = ch.parse(request)?;
        let mut report = IngestReport::default();
        let mut jobs = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            if let InboundEvent::Unsupported(u) = &envelope.event {
                info!(channel, address = %envelope.address, kind = %u.kind, detail = u.detail.as_deref().unwrap_or(""), "unsupported event recorded and skipped");
                metrics::counter!("wbots_events_skipped_total", "reason" => "unsupported")
                    .increment(1);
                report.unsupported += 1;
                continue;
            }
            if self.route(&envelope.address).is_none() {
                warn!(channel, address = %envelope.address, kind = envelope.event.kind(), "event for an account that is not configured; skipped");
                metrics::counter!("wbots_events_skipped_total", "reason" => "unrouted")
                    .increment(1);
                report.unrouted += 1;
                continue;
            }
            let scope =
                envelope.event.customer().map(|u| user_scope(&envelope.address, u.as_str()));
            jobs.push(NewJob {
                idempotency_key: envelope.idempotency_key(),
                ordering_key: envelope.ordering_key(),
                scope,
                priority: PRIORITY_MESSAGE,
                payload: serialise(&Job::Inbound { envelope })?,
                not_before: None,
            });
        }
        self.enqueue(jobs, &mut report).await?;
        Ok(report)
    }

    /// Ingests an inbox webhook delivery (agent events), like [`Bridge::ingest_channel`].
    pub async fn ingest_inbox(
        &self,
        request: &RawRequest<'_>,
    ) -> Result<IngestReport, WebhookError> {
        let inbox = self.inbox().clone();
        inbox.verify(request)?;
        let envelopes = inbox.parse(request)?;
        let links = Links(self.store().as_ref());
        let mut report = IngestReport::default();
        let mut jobs = Vec::new();
        for envelope in envelopes {
            let inbox_id = envelope.inbox;
            let (conversation, job_key) = match &envelope.event {
                AgentEvent::Message(m) => {
                    (m.conversation.clone(), format!("out/{inbox_id}/{}", m.id))
                }
                AgentEvent::RetryRequested { conversation, message } => {
                    let Some(failed) = links.failed_outbound(&inbox_id, message).await? else {
                        // Chatwoot sends message_updated for every status change, the
                        // bridge's own included: only a message the bridge failed is retried.
                        debug!(%message, "message_updated for a message not failed by the bridge; nothing to do");
                        report.unsupported += 1;
                        continue;
                    };
                    (
                        conversation.clone(),
                        format!("out/{inbox_id}/{message}/retry/{}", failed.failed_at),
                    )
                }
                AgentEvent::Typing { conversation, on } => (
                    conversation.clone(),
                    format!("typing/{inbox_id}/{conversation}/{on}/{}", uuid::Uuid::new_v4()),
                ),
                AgentEvent::Ignored { kind, reason } => {
                    debug!(%kind, %reason, "inbox event skipped");
                    report.unsupported += 1;
                    continue;
                }
            };
            let Some(thread) = links.thread_of(&inbox_id, &conversation).await? else {
                info!(inbox = %inbox_id, %conversation, "agent event for a conversation the bridge did not create; skipped");
                metrics::counter!("wbots_events_skipped_total", "reason" => "unrouted")
                    .increment(1);
                report.unrouted += 1;
                continue;
            };
            if self.route(&thread.address).is_none() {
                report.unrouted += 1;
                continue;
            }
            if let AgentEvent::Message(m) = &envelope.event {
                // The inbox's copy of a message the bridge posted itself.
                if links.inbox_message(&inbox_id, &m.id).await?.is_some() {
                    report.unsupported += 1;
                    continue;
                }
            }
            let target = Target {
                address: thread.address.clone(),
                thread: thread.thread.clone(),
                inbox: inbox_id.clone(),
            };
            let scope = user_scope(&target.address, target.thread.as_str());
            let ordering_key = crate::event::thread_key(&target.address, &target.thread);
            let (job, priority) = match envelope.event {
                AgentEvent::Message(message) => {
                    (Job::Outbound { target, message }, PRIORITY_MESSAGE)
                }
                AgentEvent::RetryRequested { message, .. } => {
                    let Some(failed) = links.failed_outbound(&inbox_id, &message).await? else {
                        continue;
                    };
                    (Job::Outbound { target, message: failed.message }, PRIORITY_MESSAGE)
                }
                AgentEvent::Typing { on, .. } => (Job::Typing { target, on }, PRIORITY_TYPING),
                _ => continue,
            };
            jobs.push(NewJob {
                idempotency_key: job_key,
                ordering_key,
                scope: Some(scope),
                priority,
                payload: serialise(&job)?,
                not_before: None,
            });
        }
        self.enqueue(jobs, &mut report).await?;
        Ok(report)
    }

    async fn enqueue(
        &self,
        jobs: Vec<NewJob>,
        report: &mut IngestReport,
    ) -> Result<(), WebhookError> {
        if jobs.is_empty() {
            return Ok(());
        }
        for outcome in self.store().enqueue(&jobs).await? {
            match outcome {
                Enqueued::New(_) => report.accepted += 1,
                Enqueued::Duplicate(_) => report.duplicates += 1,
            }
        }
        metrics::counter!("wbots_jobs_enqueued_total").increment(report.accepted as u64);
        metrics::counter!("wbots_jobs_duplicate_total").increment(report.duplicates as u64);
        if report.accepted > 0 {
            self.inner.work.notify_one();
        }
        Ok(())
    }
}
