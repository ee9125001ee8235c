//! The sweep: agent messages the inbox could not hand to the bridge, found and sent.
//!
//! Chatwoot makes one webhook attempt per event and never retries it: a message an agent
//! writes while the bridge is down, restarting, or slower than Chatwoot's timeout only shows
//! up as a message marked failed. The sweep is a job in the durable queue, so it survives
//! restarts, and all sweeps share one ordering key, so replicas on one store never run two
//! at once. It enqueues each message it finds under the same idempotency key as the
//! message's webhook, so a sweep, a late webhook and an agent's retry send it once.

use std::sync::Arc;

use tracing::{info, warn};

use super::agent_jobs;
use super::context::Context;
use super::ingest::{IngestReport, serialise};
use super::job::{Job, JobError};
use crate::error::{DeliveryError, DeliveryErrorKind, WebhookError};
use crate::ids::InboxId;
use crate::store::{Lane, LinkWrite, NewJob};

/// Below messages and typing: a sweep is never urgent next to live traffic.
const PRIORITY_SWEEP: i32 = -20;

/// Enqueues a sweep of every inbox adapter that needs one under `key` (a duplicate key
/// enqueues nothing), if sweeps are on.
pub(crate) async fn schedule(cx: &Context, key: &str) {
    if cx.config.sweep_every.is_none() {
        return;
    }
    for inbox in cx.routes.inboxes().iter().filter(|i| i.drops_webhooks()) {
        if let Err(e) = enqueue(cx, inbox.name(), key).await {
            warn!(error = %e, inbox = inbox.name(), "could not schedule the sweep; the next period tries again");
        }
    }
}

/// Enqueues a sweep of the adapter named `inbox` under `key`, whatever the schedule. Each
/// adapter has its own ordering key: one account's slow sweep never holds up another's.
pub(crate) async fn enqueue(cx: &Context, inbox: &str, key: &str) -> Result<(), WebhookError> {
    let job = NewJob {
        idempotency_key: format!("sweep/{inbox}/{key}"),
        ordering_key: format!("sweep/{inbox}"),
        scope: None,
        priority: PRIORITY_SWEEP,
        lane: Lane::Inbound,
        payload: serialise(&Job::Sweep { inbox: Some(inbox.to_owned()) })?,
        not_before: None,
    };
    cx.enqueue(vec![job], &mut IngestReport::default()).await
}

/// The sweep job: asks one inbox adapter for agent messages it marked undelivered within
/// the lookback, in the inboxes bound to it, and enqueues their sends. `inbox` is the
/// adapter's name (`None` in sweeps stored before a bridge had several: its first
/// adapter); an adapter no longer configured has nothing to sweep.
pub(crate) async fn handle(cx: &Context, inbox: Option<&str>) -> Result<Vec<LinkWrite>, JobError> {
    let adapter = match inbox {
        Some(name) => cx.routes.inbox_named(name),
        None => cx.routes.inboxes().first(),
    };
    let Some(adapter) = adapter else {
        info!(inbox, "sweep for an inbox adapter no longer configured; skipped");
        return Ok(Vec::new());
    };
    let mut inboxes: Vec<InboxId> = cx
        .routes
        .bindings()
        .filter(|b| cx.routes.inbox_of(&b.inbox).is_some_and(|a| Arc::ptr_eq(a, adapter)))
        .map(|b| b.inbox.clone())
        .collect();
    inboxes.sort();
    inboxes.dedup();
    if inboxes.is_empty() {
        return Ok(Vec::new());
    }
    let lookback =
        chrono::Duration::from_std(cx.config.sweep_lookback).unwrap_or(chrono::Duration::hours(24));
    let since = cx.now() - lookback;
    let found = adapter.undelivered(&inboxes, since).await?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let mut report = IngestReport::default();
    let jobs = agent_jobs::jobs(cx, adapter, found, &mut report).await.map_err(|e| {
        JobError::Delivery(DeliveryError::temporary(DeliveryErrorKind::Other, e.to_string()))
    })?;
    cx.enqueue(jobs, &mut report).await.map_err(|e| {
        JobError::Delivery(DeliveryError::temporary(DeliveryErrorKind::Other, e.to_string()))
    })?;
    info!(
        inbox = adapter.name(),
        new = report.accepted,
        known = report.duplicates + report.unsupported,
        "sweep: agent messages Chatwoot could not deliver"
    );
    metrics::counter!("wbots_swept_messages_total").increment(report.accepted as u64);
    Ok(Vec::new())
}
