//! Webhook ingest: authenticate, parse, store every event of the request in one
//! transaction, and only then report success.

use tracing::{info, warn};

use super::agent_jobs;
use super::context::Context;
use super::inbound::echoes::own_echo_part;
use super::job::Job;
use super::links::user_scope;
use crate::error::WebhookError;
use crate::event::InboundEvent;
use crate::request::RawRequest;
use crate::store::{Lane, NewJob};

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

pub(crate) const PRIORITY_MESSAGE: i32 = 0;
// Typing indicators are worth nothing late; receipts and messages go first.
pub(crate) const PRIORITY_TYPING: i32 = -10;

pub(crate) fn serialise(job: &Job) -> Result<String, WebhookError> {
    serde_json::to_string(job)
        .map_err(|e| WebhookError::Malformed(format!("unstorable event: {e}")))
}

/// Answers a channel's subscription handshake (Meta's GET challenge).
pub(crate) fn handshake(
    cx: &Context,
    channel: &str,
    request: &RawRequest<'_>,
) -> Result<String, WebhookError> {
    let ch = cx
        .routes
        .channel(channel)
        .ok_or_else(|| WebhookError::NotFound(format!("no channel {channel:?}")))?;
    ch.handshake(request)
}

/// A platform webhook delivery for `channel`: verify, parse, enqueue all events in one
/// transaction. `Ok` means every event is durably stored (or was already); on any error
/// nothing was stored.
///
/// `last_pass`: whether events for an account the routes lack are skipped for good (logged
/// and counted), or only counted in the report because the caller will ask for a route
/// refresh and ingest the delivery again.
pub(crate) async fn channel_webhook(
    cx: &Context,
    channel: &str,
    request: &RawRequest<'_>,
    last_pass: bool,
) -> Result<IngestReport, WebhookError> {
    let ch = cx
        .routes
        .channel(channel)
        .ok_or_else(|| WebhookError::NotFound(format!("no channel {channel:?}")))?;
    ch.verify(request)?;
    let envelopes = ch.parse(request)?;
    let mut report = IngestReport::default();
    let mut jobs = Vec::with_capacity(envelopes.len());
    for envelope in envelopes {
        if let InboundEvent::Unsupported(u) = &envelope.event {
            info!(channel, address = %envelope.address, kind = %u.kind, detail = u.detail.as_deref().unwrap_or(""), "unsupported event recorded and skipped");
            metrics::counter!("wbots_events_skipped_total", "reason" => "unsupported").increment(1);
            report.unsupported += 1;
            continue;
        }
        if cx.routes.get(&envelope.address).is_none() {
            if last_pass {
                warn!(channel, address = %envelope.address, kind = envelope.event.kind(), "event for an account that is not configured; skipped");
                metrics::counter!("wbots_events_skipped_total", "reason" => "unrouted")
                    .increment(1);
            }
            report.unrouted += 1;
            continue;
        }
        if let InboundEvent::Echo(e) = &envelope.event {
            // The echo of a part a crashed worker sent: recorded now, before the 200,
            // since its job would queue behind the send job it informs (which waits
            // for it: `EngineConfig::echo_grace`).
            if let Some(part) = own_echo_part(&envelope.address, e) {
                cx.store.put_link(&part).await?;
            }
        }
        let scope = envelope.event.customer().map(|u| user_scope(&envelope.address, u.as_str()));
        jobs.push(NewJob {
            idempotency_key: envelope.idempotency_key(),
            ordering_key: envelope.ordering_key(),
            scope,
            priority: PRIORITY_MESSAGE,
            lane: Lane::Inbound,
            payload: serialise(&Job::Inbound { envelope })?,
            not_before: None,
        });
    }
    cx.enqueue(jobs, &mut report).await?;
    Ok(report)
}

/// An inbox webhook delivery (agent events) addressed to the adapter named `inbox`, like
/// [`channel_webhook`]. Only that adapter verifies it (its own token or secret; no other
/// adapter's is tried), and only its own inboxes' events are taken.
pub(crate) async fn inbox_webhook(
    cx: &Context,
    inbox: &str,
    request: &RawRequest<'_>,
) -> Result<IngestReport, WebhookError> {
    let adapter = cx
        .routes
        .inbox_named(inbox)
        .ok_or_else(|| WebhookError::NotFound(format!("no inbox {inbox:?}")))?;
    adapter.verify(request)?;
    let envelopes = adapter.parse(request)?;
    let mut report = IngestReport::default();
    let jobs = agent_jobs::jobs(cx, adapter, envelopes, &mut report).await?;
    cx.enqueue(jobs, &mut report).await?;
    Ok(report)
}
