//! One claimed job, start to end: decode it, run its handler under a heartbeat that keeps
//! its lease, and record the outcome in the queue (done with its links, retry later, or
//! dead letter). A handler that panics is a failed attempt like any other.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use futures::FutureExt;
use tracing::{Instrument, debug, error, info_span, warn};

use super::context::Context;
use super::job::{Job, JobError};
use super::outbound::failure;
use super::{confirm, inbound, outbound, sweep, unroutable, upkeep};
use crate::error::StoreError;
use crate::store::{ClaimedJob, Lease, LinkWrite};

/// Runs one claimed job and settles it.
pub(crate) async fn run_job(cx: &Context, claimed: ClaimedJob) {
    let span = info_span!("job", id = %claimed.id(), key = %claimed.idempotency_key, attempt = claimed.attempts + 1);
    async {
        let started = Instant::now();
        let job: Result<Job, _> = serde_json::from_str(&claimed.payload);
        let (kind, outcome) = match job {
            Ok(job) => {
                let kind = job.kind();
                // The handler runs as a future that may panic: caught here, so the job is
                // settled as a failed attempt instead of vanishing with its task (its
                // lease would expire and it would run again, forever, without a trace).
                let handler = AssertUnwindSafe(dispatch(cx, &claimed, job)).catch_unwind();
                tokio::select! {
                    outcome = handler => match outcome {
                        Ok(outcome) => (kind, outcome),
                        Err(_panic) => {
                            // The panic's text may quote the job: only its id and kind.
                            error!(job = %claimed.id(), kind, "the job's handler panicked; counted as a failed attempt");
                            (kind, Err(JobError::Panicked))
                        }
                    },
                    lost = keep_lease(cx, &claimed.lease) => {
                        // Another worker runs the job now (or it was forgotten): stop
                        // here, as a crash would; the job's side effects are idempotent.
                        warn!(error = %lost, "lease lost while the job ran; stopped it");
                        return;
                    }
                }
            }
            Err(e) => ("unknown", Err(JobError::Corrupt(e.to_string()))),
        };
        settle(cx, &claimed, kind, outcome, started).await;
    }
    .instrument(span)
    .await
}

/// The handler of each kind of job.
async fn dispatch(
    cx: &Context,
    claimed: &ClaimedJob,
    job: Job,
) -> Result<Vec<LinkWrite>, JobError> {
    match job {
        Job::Inbound { envelope } => inbound::handle(cx, claimed, envelope).await,
        Job::Outbound { target, message } => outbound::handle(cx, claimed, target, message).await,
        Job::ConfirmSent { target, conversation, message } => {
            confirm::handle(cx, &target, conversation, message).await
        }
        Job::Typing { target, on } => outbound::typing::handle(cx, target, on).await,
        Job::Sweep { inbox } => sweep::handle(cx, inbox.as_deref()).await,
        Job::Unroutable { inbox, conversation, message, reason } => {
            unroutable::handle(cx, &inbox, conversation, message, reason).await
        }
        Job::Upkeep { address } => upkeep::handle(cx, &address, claimed.created_at).await,
    }
}

/// The job's heartbeat: extends its lease every third of the lease while it runs, so
/// leases can be short — a dead worker's jobs are taken over soon after its last beat —
/// while a slow job keeps its own. Returns only once the lease is lost.
async fn keep_lease(cx: &Context, lease: &Lease) -> StoreError {
    let lease_for = cx.config.lease;
    loop {
        tokio::time::sleep(lease_for / 3).await;
        match cx.store.extend_lease(lease, cx.now(), lease_for).await {
            Ok(()) => {}
            Err(lost @ StoreError::LeaseLost(_)) => return lost,
            // The lease still runs for two beats: the next one may get through.
            Err(e) => {
                warn!(error = %e, "could not extend the job's lease; trying at the next beat")
            }
        }
    }
}

/// Records the outcome: done (with the job's links, in one transaction), deferred, retried
/// with backoff, or moved to the dead letter once permanent or out of attempts.
async fn settle(
    cx: &Context,
    claimed: &ClaimedJob,
    kind: &'static str,
    outcome: Result<Vec<LinkWrite>, JobError>,
    started: Instant,
) {
    let store = &cx.store;
    let lease = &claimed.lease;
    let result = match outcome {
        Ok(writes) => {
            let r = store.complete(lease, &writes).await;
            if r.is_ok() {
                let age = (cx.now() - claimed.created_at).to_std().unwrap_or_default();
                metrics::counter!("wbots_jobs_total", "kind" => kind, "outcome" => "done")
                    .increment(1);
                metrics::histogram!("wbots_delivery_seconds", "kind" => kind)
                    .record(age.as_secs_f64());
                debug!(elapsed_ms = started.elapsed().as_millis() as u64, "job done");
            }
            r
        }
        // The far side's request budget is spent: not a failure, so no attempt is
        // counted (a backlog drained at the budget never nears the dead letter).
        Err(JobError::Delivery(e)) if e.is_budget_spent() => {
            let wait = e.retry_after().unwrap_or(std::time::Duration::from_secs(1));
            debug!(wait_ms = wait.as_millis() as u64, "request budget spent; job postponed");
            metrics::counter!("wbots_jobs_total", "kind" => kind, "outcome" => "postponed")
                .increment(1);
            let at = cx.now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
            store.postpone(lease, at, "waiting: the request budget is spent").await
        }
        Err(JobError::Deferred { wait, reason }) => {
            debug!(wait_ms = wait.as_millis() as u64, reason, "job deferred");
            metrics::counter!("wbots_jobs_total", "kind" => kind, "outcome" => "deferred")
                .increment(1);
            let at = cx.now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
            store.retry_later(lease, at, &format!("waiting: {reason}")).await
        }
        Err(err) => {
            let failures = claimed.attempts + 1;
            let (permanent, retry_after) = match &err {
                JobError::Delivery(e) => (e.is_permanent(), e.retry_after()),
                // A store failure mid-job is transient unless the store says its data is corrupt.
                JobError::Store(e) => (matches!(e, StoreError::Corrupt { .. }), None),
                JobError::Corrupt(_) => (true, None),
                // A bug may depend on the moment (a race, a far side's odd answer): retried
                // like a transient failure, so the attempts bound it.
                JobError::Panicked => (false, None),
                JobError::Deferred { .. } => (false, None),
            };
            if let JobError::Delivery(e) = &err {
                metrics::counter!("wbots_delivery_errors_total", "kind" => kind, "error" => e.kind().label()).increment(1);
            }
            if permanent || failures >= cx.config.max_attempts {
                let reason = if permanent {
                    err.to_string()
                } else {
                    format!("gave up after {failures} attempts: {err}")
                };
                error!(%reason, "job moved to the dead letter");
                on_dead(cx, claimed, &err, &reason).await;
                metrics::counter!("wbots_jobs_total", "kind" => kind, "outcome" => "dead")
                    .increment(1);
                store.wedge(lease, &reason).await
            } else {
                let delay = cx.config.backoff.delay(claimed.attempts, retry_after);
                warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "job failed; retry scheduled");
                metrics::counter!("wbots_jobs_total", "kind" => kind, "outcome" => "retry")
                    .increment(1);
                let at =
                    cx.now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
                store.retry_later(lease, at, &err.to_string()).await
            }
        }
    };
    match result {
        Ok(()) => {}
        Err(StoreError::LeaseLost(_)) => {
            warn!("lease lost before the job was settled; another worker owns it now");
        }
        // The lease will expire and the job run again; its side effects are idempotent.
        Err(e) => error!(error = %e, "could not record the job's outcome"),
    }
}

/// Tells the people who need to know that a job will not be done.
async fn on_dead(cx: &Context, claimed: &ClaimedJob, err: &JobError, reason: &str) {
    let Ok(Job::Outbound { target, message, .. }) = serde_json::from_str::<Job>(&claimed.payload)
    else {
        return;
    };
    let delivery = match err {
        JobError::Delivery(e) => Some(e),
        _ => None,
    };
    failure::report(cx, &target, &message, delivery, reason).await;
}
