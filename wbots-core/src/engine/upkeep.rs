//! Channel upkeep: a durable, periodic job per account that keeps its credential alive
//! (a refresh before it expires) or finds out it died (a check), through a
//! [`ChannelUpkeep`] the application registers. The engine knows no platform: it schedules,
//! retries through the queue, and acts on the verdict.
//!
//! Scheduling follows the sweep: one job per account and period, under an idempotency key
//! naming the period (`upkeep/{account}/{every}/{period}`), so replicas on one store enqueue
//! one job between them, and a restart within a period enqueues nothing new. Each account's
//! jobs share an ordering key, so two never run at once for one account (two refreshes of
//! one token could race: the loser would store a token the winner's refresh replaced).
//!
//! A verdict of [`UpkeepOutcome::NeedsReconnect`] flags the channel (origin
//! [`FlagOrigin::Credential`]: its sends fail at once with the reason) and tells agents
//! with a private note in each of the account's conversations whose customer wrote within
//! the last [`NOTE_WITHIN`] — the conversations agents can still answer, hence the ones
//! where an agent would otherwise write a reply that cannot go. Older conversations are
//! left alone: a note there would reach nobody who is waiting. The notes are inbound
//! `Notice` jobs of those threads, so each lands in order with the conversation's other
//! events and is posted once, however often the upkeep job runs again. An account the
//! routes do not serve (stored, not bound) gets no note: it has no inbox to post to.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::context::Context;
use super::flags::{self, FlagOrigin};
use super::ingest::{IngestReport, serialise};
use super::job::{Job, JobError};
use crate::error::{DeliveryError, DeliveryErrorKind};
use crate::event::{InboundEnvelope, InboundEvent, Notice};
use crate::ids::{ChannelAddress, ThreadId};
use crate::store::{Lane, LinkPrefix, LinkWrite, NewJob, user_scope};

/// Below messages, typing and sweeps: an upkeep is never urgent next to live traffic.
const PRIORITY_UPKEEP: i32 = -30;

/// How recently a customer must have written for their conversation to get a note: Meta's
/// longest reply window (the human-agent tag, 7 days).
pub const NOTE_WITHIN: chrono::Duration = chrono::Duration::days(7);

/// The most conversations one verdict notes, the most recent first: a bound on the fan-out
/// of a busy account (the flag itself shows on every failed send anyway).
const MAX_NOTES: usize = 200;

/// How many of an account's threads are read to find the recent ones.
const SCAN_LIMIT: usize = 100_000;

/// The `Notice::kind` of the note that tells agents an account needs reconnecting.
pub const RECONNECT_NOTICE: &str = "reconnect_required";

/// What an upkeep found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpkeepOutcome {
    /// Nothing to do (the credential works, or is not due for a refresh).
    Healthy,
    /// The credential was renewed and stored where the channel reads it from.
    Renewed {
        /// When the new one expires, if it does.
        expires_at: Option<DateTime<Utc>>,
    },
    /// The credential is dead (refused, expired, revoked) and will not come back without
    /// the business reconnecting: the channel is flagged and agents are told why.
    NeedsReconnect {
        /// Why, fit to show agents and operators (never a token).
        reason: String,
    },
}

/// Keeps a platform's credentials alive: refreshes a token before it expires, checks one
/// that cannot be refreshed.
///
/// # Contract
/// - [`upkeep`](Self::upkeep) is called from a job, at most once at a time per account
///   (across replicas sharing a store), about once per
///   [`EngineConfig::upkeep_every`](super::EngineConfig::upkeep_every) and once at start.
///   It must be idempotent: a job whose worker died runs again, and a refresh it made may
///   be made again (it decides from what is stored, e.g. the expiry, not from a count).
/// - A [`DeliveryError`] is about the upkeep itself (the platform unreachable, the store
///   busy): a temporary one is retried by the queue with backoff, a permanent one ends the
///   job (the next period tries again). A credential the platform refuses for good is not
///   an error but [`UpkeepOutcome::NeedsReconnect`].
/// - It never logs or returns a token.
#[async_trait]
pub trait ChannelUpkeep: Send + Sync + fmt::Debug + 'static {
    /// Accounts to look after besides the bound ones: those the application keeps (a
    /// channel store) that the routes may not serve yet. Their tokens expire all the same.
    /// Default: none.
    async fn accounts(&self) -> Result<Vec<ChannelAddress>, DeliveryError> {
        Ok(Vec::new())
    }

    /// Looks after `address`'s credential at `now` (the engine's clock).
    async fn upkeep(
        &self,
        address: &ChannelAddress,
        now: DateTime<Utc>,
    ) -> Result<UpkeepOutcome, DeliveryError>;
}

/// Enqueues this period's upkeep of every bound account and every account the upkeep
/// names, if an upkeep is registered. A duplicate key (another replica, a restart within
/// the period) enqueues nothing.
pub(crate) async fn schedule(cx: &Context) {
    let (Some(upkeep), Some(every)) = (&cx.upkeep, cx.config.upkeep_every) else {
        return;
    };
    let mut addresses: Vec<ChannelAddress> =
        cx.routes.bindings().map(|b| b.address.clone()).collect();
    match upkeep.accounts().await {
        Ok(more) => addresses.extend(more),
        Err(e) => warn!(error = %e, "could not list the accounts to look after; bound ones only"),
    }
    addresses.sort();
    addresses.dedup();
    let period = cx.now().timestamp() / every.as_secs().max(1) as i64;
    let key = format!("{}/{period}", every.as_secs());
    for address in addresses {
        if let Err(e) = enqueue(cx, &address, &key).await {
            warn!(error = %e, account = %address, "could not schedule the upkeep; the next period tries again");
        }
    }
}

/// Enqueues an upkeep of `address` under `key`, whatever the schedule.
pub(crate) async fn enqueue(
    cx: &Context,
    address: &ChannelAddress,
    key: &str,
) -> Result<(), crate::error::WebhookError> {
    let job = NewJob {
        idempotency_key: format!("upkeep/{address}/{key}"),
        ordering_key: format!("upkeep/{address}"),
        scope: None,
        priority: PRIORITY_UPKEEP,
        lane: Lane::Outbound,
        payload: serialise(&Job::Upkeep { address: address.clone() })?,
        not_before: None,
    };
    cx.enqueue(vec![job], &mut IngestReport::default()).await
}

/// The upkeep job: asks the upkeep about `address` and acts on its verdict. `enqueued_at`
/// (the job's creation time) names the notes, so a retry enqueues the same ones.
pub(crate) async fn handle(
    cx: &Context,
    address: &ChannelAddress,
    enqueued_at: DateTime<Utc>,
) -> Result<Vec<LinkWrite>, JobError> {
    let Some(upkeep) = &cx.upkeep else {
        info!(account = %address, "upkeep job without an upkeep registered; skipped");
        return Ok(Vec::new());
    };
    match upkeep.upkeep(address, cx.now()).await? {
        UpkeepOutcome::Healthy => {}
        UpkeepOutcome::Renewed { expires_at } => {
            info!(account = %address, expires_at = ?expires_at, "channel credential renewed");
            metrics::counter!("wbots_credentials_renewed_total").increment(1);
        }
        UpkeepOutcome::NeedsReconnect { reason } => {
            needs_reconnect(cx, address, FlagOrigin::Credential, &reason, enqueued_at).await?;
        }
    }
    Ok(Vec::new())
}

/// Flags the channel and tells agents, once per reason: a channel flagged already for
/// this reason (a verdict repeated each period, a callback Meta repeats) is left as it is.
pub(crate) async fn needs_reconnect(
    cx: &Context,
    address: &ChannelAddress,
    origin: FlagOrigin,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<(), JobError> {
    if flags::current(cx, address).await?.as_deref() == Some(reason) {
        return Ok(());
    }
    // Notes first, then the flag: a retry after a failed flag enqueues the same notes
    // (same keys: nothing new) and flags; a retry after the flag would see it and stop.
    let notes = notes(cx, address, reason, at).await?;
    let count = notes.len();
    cx.enqueue(notes, &mut IngestReport::default()).await.map_err(|e| {
        JobError::Delivery(DeliveryError::temporary(DeliveryErrorKind::Other, e.to_string()))
    })?;
    flags::flag(cx, address, origin, reason).await?;
    metrics::counter!("wbots_credentials_dead_total").increment(1);
    if count == 0 {
        warn!(account = %address, "no conversation was active recently: no agent was told in Chatwoot; `wbots check` shows the flag");
    }
    Ok(())
}

/// The note jobs of `address`'s conversations whose customer wrote within
/// [`NOTE_WITHIN`], most recent first, at most [`MAX_NOTES`].
async fn notes(
    cx: &Context,
    address: &ChannelAddress,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<Vec<NewJob>, JobError> {
    // An account the routes do not serve (stored, not bound yet) has no inbox to post to:
    // its note jobs could only fail.
    let Some(route) = cx.routes.get(address) else {
        return Ok(Vec::new());
    };
    let prefix = LinkPrefix::last_inbound(address);
    let since = (cx.now() - NOTE_WITHIN).timestamp_millis();
    let mut recent: Vec<(i64, ThreadId)> = cx
        .store
        .links_with_prefix(&prefix, SCAN_LIMIT)
        .await?
        .into_iter()
        .filter_map(|link| {
            let thread = link.key.as_str().strip_prefix(prefix.as_str())?;
            let when = link.value.parse::<i64>().ok()?;
            (when >= since).then(|| (when, ThreadId::new(thread)))
        })
        .collect();
    recent.sort_by_key(|r| std::cmp::Reverse(r.0));
    recent.truncate(MAX_NOTES);
    let platform = route.channel.platform_name(&address.kind);
    let text = format!(
        "wbots: the {platform} account {address} must be reconnected: {reason}. Until then, messages to its customers fail; reconnect the account, then press retry on the failed messages."
    );
    let mut jobs = Vec::with_capacity(recent.len());
    for (_, thread) in recent {
        let envelope = InboundEnvelope::new(
            address.clone(),
            InboundEvent::Notice(Notice {
                thread,
                kind: RECONNECT_NOTICE.to_owned(),
                text: text.clone(),
                at,
            }),
        );
        jobs.push(NewJob {
            idempotency_key: envelope.idempotency_key(),
            ordering_key: envelope.ordering_key(),
            scope: envelope.event.customer().map(|u| user_scope(address, u.as_str())),
            priority: PRIORITY_UPKEEP,
            lane: Lane::Inbound,
            payload: serialise(&Job::Inbound { envelope }).map_err(|e| {
                JobError::Delivery(DeliveryError::permanent(
                    DeliveryErrorKind::Other,
                    e.to_string(),
                ))
            })?,
            not_before: None,
        });
    }
    Ok(jobs)
}
