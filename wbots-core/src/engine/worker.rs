//! Workers: claim jobs, run them, and record the outcome in the queue.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info, info_span, warn};

use super::Bridge;
use super::job::Job;
use crate::error::{DeliveryError, StoreError};
use crate::store::{ClaimedJob, Lease, LinkWrite};

/// Why a job run failed.
#[derive(Debug)]
pub(crate) enum JobError {
    /// The far side failed; its classification decides retry or dead letter.
    Delivery(DeliveryError),
    /// The store failed mid-job; the job is retried.
    Store(StoreError),
    /// The job cannot be understood; it goes to the dead letter.
    Corrupt(String),
    /// Not a failure: the job waits in the queue (keeping its conversation's place) until
    /// something it needs may have happened, then runs again. Never dead-letters.
    Deferred { wait: std::time::Duration, reason: &'static str },
}

impl From<DeliveryError> for JobError {
    fn from(e: DeliveryError) -> Self {
        Self::Delivery(e)
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Delivery(e) => write!(f, "{e}"),
            Self::Store(e) => write!(f, "{e}"),
            Self::Corrupt(e) => write!(f, "unreadable job: {e}"),
            Self::Deferred { reason, .. } => write!(f, "waiting: {reason}"),
        }
    }
}

impl Bridge {
    /// Runs the workers until `shutdown` is cancelled, then stops claiming and waits for the
    /// jobs in flight to finish (their leases would otherwise have to expire first).
    pub async fn run(&self, shutdown: CancellationToken) {
        let config = self.config().clone();
        let slots = Arc::new(Semaphore::new(config.workers));
        let mut running = JoinSet::new();
        info!(workers = config.workers, "bridge workers started");
        for channel in self.inner.channels.values() {
            channel.prepare().await;
        }
        self.refresh_channel_flags().await;
        // Pruning is cheap and idempotent, so every replica may do it; once an hour is plenty.
        let mut next_prune = std::time::Instant::now();
        // A sweep at start finds what Chatwoot could not deliver while the bridge was away.
        self.schedule_sweep(&format!("start/{}", uuid::Uuid::new_v4())).await;
        let mut next_sweep = config.sweep_every.map(|e| std::time::Instant::now() + e);
        loop {
            if let (Some(at), Some(every)) = (next_sweep, config.sweep_every) {
                if std::time::Instant::now() >= at {
                    next_sweep = Some(at + every);
                    // One key per period: replicas sharing a store enqueue one sweep between them.
                    let period = Utc::now().timestamp() / every.as_secs().max(1) as i64;
                    self.schedule_sweep(&format!("every/{}/{period}", every.as_secs())).await;
                }
            }
            if std::time::Instant::now() >= next_prune {
                next_prune += std::time::Duration::from_secs(3600);
                let before = chrono::Duration::from_std(config.retention)
                    .ok()
                    .and_then(|r| Utc::now().checked_sub_signed(r))
                    .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
                match self.store().prune_done(before).await {
                    Ok(0) => {}
                    Ok(n) => info!(pruned = n, "finished jobs past the retention removed"),
                    Err(e) => warn!(error = %e, "pruning finished jobs failed; will try again"),
                }
            }
            while running.try_join_next().is_some() {}
            let free = slots.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = running.join_next() => continue,
                }
            }
            let claimed = match self.store().claim(Utc::now(), config.lease, free).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    warn!(error = %e, "claiming jobs failed; retrying after the poll interval");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(config.poll_interval) => continue,
                    }
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = self.inner.work.notified() => {}
                    _ = tokio::time::sleep(config.poll_interval) => {}
                }
                continue;
            }
            for job in claimed {
                let Ok(permit) = slots.clone().acquire_owned().await else { break };
                let bridge = self.clone();
                running.spawn(async move {
                    bridge.run_job(job).await;
                    drop(permit);
                    // The next job of this conversation may be claimable now.
                    bridge.inner.work.notify_one();
                });
            }
        }
        info!(in_flight = running.len(), "bridge stopping: draining jobs in flight");
        while running.join_next().await.is_some() {}
        info!("bridge workers stopped");
    }

    /// Runs every job that is ready now, one claim round after another, until none is left
    /// ready. For tests, examples and operator commands; services use [`Bridge::run`].
    pub async fn run_until_idle(&self) {
        loop {
            let claimed = match self
                .store()
                .claim(Utc::now(), self.config().lease, self.config().workers)
                .await
            {
                Ok(jobs) => jobs,
                Err(e) => {
                    warn!(error = %e, "claiming jobs failed");
                    return;
                }
            };
            if claimed.is_empty() {
                return;
            }
            let mut set = JoinSet::new();
            for job in claimed {
                let bridge = self.clone();
                set.spawn(async move { bridge.run_job(job).await });
            }
            while set.join_next().await.is_some() {}
        }
    }

    async fn run_job(&self, claimed: ClaimedJob) {
        let span = info_span!("job", id = %claimed.id(), key = %claimed.idempotency_key, attempt = claimed.attempts + 1);
        async {
            let started = Instant::now();
            let job: Result<Job, _> = serde_json::from_str(&claimed.payload);
            let (kind, outcome) = match job {
                Ok(job) => {
                    let kind = job.kind();
                    tokio::select! {
                        outcome = self.process(&claimed, job) => (kind, outcome),
                        lost = self.keep_lease(&claimed.lease) => {
                            // Another worker runs the job now (or it was forgotten): stop
                            // here, as a crash would; the job's side effects are idempotent.
                            warn!(error = %lost, "lease lost while the job ran; stopped it");
                            return;
                        }
                    }
                }
                Err(e) => ("unknown", Err(JobError::Corrupt(e.to_string()))),
            };
            self.settle(&claimed, kind, outcome, started).await;
        }
        .instrument(span)
        .await
    }

    /// The job's heartbeat: extends its lease every third of the lease while it runs, so
    /// leases can be short — a dead worker's jobs are taken over soon after its last beat —
    /// while a slow job keeps its own. Returns only once the lease is lost.
    async fn keep_lease(&self, lease: &Lease) -> StoreError {
        let lease_for = self.config().lease;
        loop {
            tokio::time::sleep(lease_for / 3).await;
            match self.store().extend_lease(lease, Utc::now(), lease_for).await {
                Ok(()) => {}
                Err(lost @ StoreError::LeaseLost(_)) => return lost,
                // The lease still runs for two beats: the next one may get through.
                Err(e) => {
                    warn!(error = %e, "could not extend the job's lease; trying at the next beat")
                }
            }
        }
    }

    async fn process(&self, claimed: &ClaimedJob, job: Job) -> Result<Vec<LinkWrite>, JobError> {
        match job {
            Job::Inbound { envelope } => self.process_inbound(claimed, envelope).await,
            Job::Outbound { target, message } => {
                self.process_outbound(claimed, target, message).await
            }
            Job::ConfirmSent { target, conversation, message } => {
                self.process_confirm_sent(&target, conversation, message).await
            }
            Job::Typing { target, on } => self.process_typing(target, on).await,
            Job::Sweep => self.process_sweep().await,
            Job::Unroutable { inbox, conversation, message, reason } => {
                self.process_unroutable(&inbox, conversation, message, reason).await
            }
        }
    }

    async fn settle(
        &self,
        claimed: &ClaimedJob,
        kind: &'static str,
        outcome: Result<Vec<LinkWrite>, JobError>,
        started: Instant,
    ) {
        let store = self.store();
        let lease = &claimed.lease;
        let result = match outcome {
            Ok(writes) => {
                let r = store.complete(lease, &writes).await;
                if r.is_ok() {
                    let age = (Utc::now() - claimed.created_at).to_std().unwrap_or_default();
                    metrics::counter!("wbots_jobs_total", "kind" => kind, "outcome" => "done")
                        .increment(1);
                    metrics::histogram!("wbots_delivery_seconds", "kind" => kind)
                        .record(age.as_secs_f64());
                    debug!(elapsed_ms = started.elapsed().as_millis() as u64, "job done");
                }
                r
            }
            Err(JobError::Deferred { wait, reason }) => {
                debug!(wait_ms = wait.as_millis() as u64, reason, "job deferred");
                metrics::counter!("wbots_jobs_total", "kind" => kind, "outcome" => "deferred")
                    .increment(1);
                let at =
                    Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                store.retry_later(lease, at, &format!("waiting: {reason}")).await
            }
            Err(err) => {
                let failures = claimed.attempts + 1;
                let (permanent, retry_after) = match &err {
                    JobError::Delivery(e) => (e.is_permanent(), e.retry_after()),
                    // A store failure mid-job is transient unless the store says its data is corrupt.
                    JobError::Store(e) => (matches!(e, StoreError::Corrupt { .. }), None),
                    JobError::Corrupt(_) => (true, None),
                    JobError::Deferred { .. } => (false, None),
                };
                if let JobError::Delivery(e) = &err {
                    metrics::counter!("wbots_delivery_errors_total", "kind" => kind, "error" => e.kind().label()).increment(1);
                }
                if permanent || failures >= self.config().max_attempts {
                    let reason = if permanent {
                        err.to_string()
                    } else {
                        format!("gave up after {failures} attempts: {err}")
                    };
                    error!(%reason, "job moved to the dead letter");
                    self.on_dead(claimed, &err, &reason).await;
                    metrics::counter!("wbots_jobs_total", "kind" => kind, "outcome" => "dead")
                        .increment(1);
                    store.wedge(lease, &reason).await
                } else {
                    let delay = self.config().backoff.delay(claimed.attempts, retry_after);
                    warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "job failed; retry scheduled");
                    metrics::counter!("wbots_jobs_total", "kind" => kind, "outcome" => "retry")
                        .increment(1);
                    let at = Utc::now()
                        + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
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
    async fn on_dead(&self, claimed: &ClaimedJob, err: &JobError, reason: &str) {
        let Ok(Job::Outbound { target, message, .. }) =
            serde_json::from_str::<Job>(&claimed.payload)
        else {
            return;
        };
        let delivery = match err {
            JobError::Delivery(e) => Some(e),
            _ => None,
        };
        self.report_failed_outbound(&target, &message, delivery, reason).await;
    }
}
