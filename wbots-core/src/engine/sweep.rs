//! The sweep: agent messages the inbox could not hand to the bridge, found and sent.
//!
//! Chatwoot makes one webhook attempt per event and never retries it: a message an agent
//! writes while the bridge is down, restarting, or slower than Chatwoot's timeout only shows
//! up as a message marked failed. The sweep is a job in the durable queue, so it survives
//! restarts, and all sweeps share one ordering key, so replicas on one store never run two
//! at once. It enqueues each message it finds under the same idempotency key as the
//! message's webhook, so a sweep, a late webhook and an agent's retry send it once.

use tracing::{info, warn};

use super::agent_jobs;
use super::context::Context;
use super::ingest::{IngestReport, serialise};
use super::job::{Job, JobError};
use crate::error::{DeliveryError, DeliveryErrorKind, WebhookError};
use crate::ids::InboxId;
use crate::store::{LinkWrite, NewJob};

/// Below messages and typing: a sweep is never urgent next to live traffic.
const PRIORITY_SWEEP: i32 = -20;

/// Enqueues a sweep under `key` (a duplicate key enqueues nothing), if sweeps are on and
/// the inbox needs them.
pub(crate) async fn schedule(cx: &Context, key: &str) {
    if cx.config.sweep_every.is_none() || !cx.inbox.drops_webhooks() {
        return;
    }
    if let Err(e) = enqueue(cx, key).await {
        warn!(error = %e, "could not schedule the sweep; the next period tries again");
    }
}

/// Enqueues a sweep under `key`, whatever the schedule.
pub(crate) async fn enqueue(cx: &Context, key: &str) -> Result<(), WebhookError> {
    let job = NewJob {
        idempotency_key: format!("sweep/{}/{key}", cx.inbox.name()),
        ordering_key: format!("sweep/{}", cx.inbox.name()),
        scope: None,
        priority: PRIORITY_SWEEP,
        payload: serialise(&Job::Sweep)?,
        not_before: None,
    };
    cx.enqueue(vec![job], &mut IngestReport::default()).await
}

/// The sweep job: asks the inbox for agent messages it marked undelivered within the
/// lookback and enqueues their sends.
pub(crate) async fn handle(cx: &Context) -> Result<Vec<LinkWrite>, JobError> {
    let mut inboxes: Vec<InboxId> = cx.routes.bindings().map(|b| b.inbox.clone()).collect();
    inboxes.sort();
    inboxes.dedup();
    let lookback =
        chrono::Duration::from_std(cx.config.sweep_lookback).unwrap_or(chrono::Duration::hours(24));
    let since = cx.now() - lookback;
    let found = cx.inbox.undelivered(&inboxes, since).await?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let mut report = IngestReport::default();
    let jobs = agent_jobs::jobs(cx, found, &mut report).await.map_err(|e| {
        JobError::Delivery(DeliveryError::temporary(DeliveryErrorKind::Other, e.to_string()))
    })?;
    cx.enqueue(jobs, &mut report).await.map_err(|e| {
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
