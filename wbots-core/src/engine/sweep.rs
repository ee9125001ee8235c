//! The sweep: agent messages the inbox could not hand to the bridge, found and sent.
//!
//! Chatwoot makes one webhook attempt per event and never retries it: a message an agent
//! writes while the bridge is down, restarting, or slower than Chatwoot's timeout only shows
//! up as a message marked failed. The sweep is a job in the durable queue, so it survives
//! restarts, and all sweeps share one ordering key, so replicas on one store never run two
//! at once. It enqueues each message it finds under the same idempotency key as the
//! message's webhook, so a sweep, a late webhook and an agent's retry send it once.

use chrono::Utc;
use tracing::{info, warn};

use super::Bridge;
use super::ingest::{IngestReport, serialise};
use super::job::Job;
use super::worker::JobError;
use crate::error::{DeliveryError, DeliveryErrorKind};
use crate::ids::{ConversationId, InboxId, InboxMessageId};
use crate::inbox::{DeliveryStatus, MessageChange, MessageUpdate};
use crate::store::{LinkWrite, NewJob};

/// Below messages and typing: a sweep is never urgent next to live traffic.
const PRIORITY_SWEEP: i32 = -20;

impl Bridge {
    /// Enqueues a sweep under `key` (a duplicate key enqueues nothing).
    pub(crate) async fn schedule_sweep(&self, key: &str) {
        if self.config().sweep_every.is_none() || !self.inbox().drops_webhooks() {
            return;
        }
        if let Err(e) = self.enqueue_sweep(key).await {
            warn!(error = %e, "could not schedule the sweep; the next period tries again");
        }
    }

    /// Enqueues a sweep now, whatever the schedule: for tests and operator commands.
    ///
    /// # Errors
    /// The store's, when it cannot take the job.
    pub async fn sweep_now(&self) -> Result<(), crate::error::WebhookError> {
        self.enqueue_sweep(&format!("now/{}", uuid::Uuid::new_v4())).await
    }

    async fn enqueue_sweep(&self, key: &str) -> Result<(), crate::error::WebhookError> {
        let job = NewJob {
            idempotency_key: format!("sweep/{}/{key}", self.inbox().name()),
            ordering_key: format!("sweep/{}", self.inbox().name()),
            scope: None,
            priority: PRIORITY_SWEEP,
            payload: serialise(&Job::Sweep)?,
            not_before: None,
        };
        self.enqueue(vec![job], &mut IngestReport::default()).await
    }

    pub(crate) async fn process_sweep(&self) -> Result<Vec<LinkWrite>, JobError> {
        let mut inboxes: Vec<InboxId> = self.bindings().map(|b| b.inbox.clone()).collect();
        inboxes.sort();
        inboxes.dedup();
        let lookback = chrono::Duration::from_std(self.config().sweep_lookback)
            .unwrap_or(chrono::Duration::hours(24));
        let since = Utc::now() - lookback;
        let found = self.inbox().undelivered(&inboxes, since).await?;
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let mut report = IngestReport::default();
        let jobs = self.agent_jobs(found, &mut report).await.map_err(|e| {
            JobError::Delivery(DeliveryError::temporary(DeliveryErrorKind::Other, e.to_string()))
        })?;
        self.enqueue(jobs, &mut report).await.map_err(|e| {
            JobError::Delivery(DeliveryError::temporary(DeliveryErrorKind::Other, e.to_string()))
        })?;
        info!(
            new = report.accepted,
            known = report.duplicates + report.unsupported,
            "sweep: agent messages Chatwoot could not deliver"
        );
        metrics::counter!("wbots_swept_messages_total").increment(report.accepted as u64);
        Ok(Vec::new())
    }

    /// Sets a message the inbox marked failed back to sent, if the bridge did send it.
    pub(crate) async fn process_confirm_sent(
        &self,
        target: &super::job::Target,
        conversation: ConversationId,
        message: InboxMessageId,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let links = super::links::Links(self.store().as_ref());
        // Not sent (its send failed, and the bridge's own mark stands): nothing to correct.
        if links.inbox_message(&target.inbox, &message).await?.is_none() {
            return Ok(Vec::new());
        }
        self.inbox()
            .update_message(&MessageUpdate {
                conversation,
                message,
                change: MessageChange::Status { status: DeliveryStatus::Sent, error: None },
            })
            .await?;
        Ok(Vec::new())
    }

    pub(crate) async fn process_unroutable(
        &self,
        inbox: &InboxId,
        conversation: ConversationId,
        message: InboxMessageId,
        reason: String,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let _ = inbox;
        self.inbox()
            .update_message(&MessageUpdate {
                conversation,
                message,
                change: MessageChange::Status {
                    status: DeliveryStatus::Failed,
                    error: Some(reason),
                },
            })
            .await?;
        Ok(Vec::new())
    }
}
