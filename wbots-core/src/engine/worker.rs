//! The workers: a loop that claims ready jobs from the queue and runs each in its own task
//! (`execute.rs`), in two lanes with slots of their own (`EngineConfig::workers` inbound,
//! `outbound_workers` outbound; see [`Lane`]), so an agent's reply never waits for a worker
//! behind an inbound backlog. Beside it, two timers keep the
//! queue healthy: the sweep is scheduled here (it is itself a job), and finished jobs past
//! their retention are pruned by a task of their own, so a slow prune never holds up claims.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::context::Engine;
use super::{execute, flags, sweep, upkeep};
use crate::store::Lane;

/// How often finished jobs past the retention are removed. Pruning is cheap and idempotent,
/// so every replica may do it; once an hour is plenty.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Runs the workers until `shutdown` is cancelled, then stops claiming and waits for the
/// jobs in flight to finish (their leases would otherwise have to expire first).
pub(crate) async fn run(engine: Arc<Engine>, shutdown: CancellationToken) {
    let config = &engine.config;
    // One permit per job in flight, per lane: the bound on parallelism across
    // conversations, and what keeps one lane's backlog from taking the other's workers.
    let lanes = [
        (Lane::Outbound, Arc::new(Semaphore::new(config.outbound_workers))),
        (Lane::Inbound, Arc::new(Semaphore::new(config.workers))),
    ];
    let mut running = JoinSet::new();
    info!(
        workers = config.workers,
        outbound_workers = config.outbound_workers,
        "bridge workers started"
    );
    for (_, channel) in engine.routes().channels() {
        channel.prepare().await;
    }
    flags::refresh(&engine.context()).await;
    // In a set, so that dropping this future (instead of cancelling `shutdown`) stops the
    // pruner too rather than leaving it behind.
    let mut pruner = JoinSet::new();
    pruner.spawn(prune_until(engine.clone(), shutdown.clone()));
    // A sweep at start finds what Chatwoot could not deliver while the bridge was away.
    sweep::schedule(&engine.context(), &format!("start/{}", uuid::Uuid::new_v4())).await;
    let mut next_sweep = config.sweep_every.map(|e| Instant::now() + e);
    // The upkeep of this period at start (nothing new when a replica or a restart within
    // the period enqueued it already), then each period.
    upkeep::schedule(&engine.context()).await;
    let mut next_upkeep = config.upkeep_every.map(|e| Instant::now() + e);
    loop {
        if let (Some(at), Some(every)) = (next_upkeep, config.upkeep_every) {
            if Instant::now() >= at {
                next_upkeep = Some(at + every);
                upkeep::schedule(&engine.context()).await;
            }
        }
        // The sweep's period came: enqueue this period's sweep. One idempotency key per
        // period, so replicas sharing a store enqueue one sweep between them.
        if let (Some(at), Some(every)) = (next_sweep, config.sweep_every) {
            if Instant::now() >= at {
                next_sweep = Some(at + every);
                // The routes of the moment: adapters added since are swept too.
                let cx = engine.context();
                let period = cx.now().timestamp() / every.as_secs().max(1) as i64;
                sweep::schedule(&cx, &format!("every/{}/{period}", every.as_secs())).await;
            }
        }
        // Reap the tasks that ended. Each settles its own job; a task that died anyway
        // (a panic outside its handler, which `execute` already catches) is logged here,
        // and its job, never settled, runs again once its lease expires.
        while let Some(ended) = running.try_join_next() {
            log_task_end(ended);
        }
        // Every slot of every lane taken: wait for a job to end (or for shutdown) rather
        // than claim jobs nobody could run, which would hold their conversations for nothing.
        if lanes.iter().all(|(_, slots)| slots.available_permits() == 0) {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                ended = running.join_next() => {
                    if let Some(ended) = ended {
                        log_task_end(ended);
                    }
                    continue;
                }
            }
        }
        // In each lane with free slots, claim at most as many jobs as there are free slots,
        // each leased to this process: the store hands out only the head job of each
        // conversation (whatever its lane), so order holds. The outbound lane first: its
        // jobs are what an agent waits for.
        let mut claimed_any = false;
        let mut store_down = None;
        for (lane, slots) in &lanes {
            let free = slots.available_permits();
            if free == 0 {
                continue;
            }
            let now = engine.clock.now();
            let claimed = match engine.store.claim_lane(now, config.lease, free, *lane).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    store_down = Some(e);
                    break;
                }
            };
            claimed_any |= !claimed.is_empty();
            // Run each claimed job in its own task holding a slot of its lane, with the
            // routes of the moment it starts. When it ends, the next job of its
            // conversation may be claimable: wake the loop.
            for job in claimed {
                let Ok(permit) = slots.clone().acquire_owned().await else { break };
                let cx = engine.context();
                running.spawn(async move {
                    execute::run_job(&cx, job).await;
                    drop(permit);
                    cx.work.notify_one();
                });
            }
        }
        // The store is down: nothing to do but wait a poll interval and try again; the
        // jobs stay safely queued.
        if let Some(e) = store_down {
            warn!(error = %e, "claiming jobs failed; retrying after the poll interval");
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(config.poll_interval) => continue,
            }
        }
        // Nothing ready in any lane with room: sleep until new work is enqueued (ingest and
        // finished jobs notify), or the poll interval passes (a retry's time may have come),
        // or shutdown.
        if !claimed_any {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = engine.work.notified() => {}
                _ = tokio::time::sleep(config.poll_interval) => {}
            }
        }
    }
    // Shutdown: claim nothing more, but let the jobs in flight finish and settle, so their
    // conversations need not wait for a lease to expire after a restart.
    info!(in_flight = running.len(), "bridge stopping: draining jobs in flight");
    while let Some(ended) = running.join_next().await {
        log_task_end(ended);
    }
    while let Some(ended) = pruner.join_next().await {
        if ended.is_err() {
            error!("the pruning task ended abnormally");
        }
    }
    info!("bridge workers stopped");
}

/// Runs every job that is ready now, one claim round after another, until none is left
/// ready.
pub(crate) async fn run_until_idle(engine: &Arc<Engine>) {
    loop {
        let (now, config) = (engine.clock.now(), &engine.config);
        let claimed = match engine.store.claim(now, config.lease, config.workers).await {
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
            let cx = engine.context();
            set.spawn(async move { execute::run_job(&cx, job).await });
        }
        while let Some(ended) = set.join_next().await {
            log_task_end(ended);
        }
    }
}

/// Removes finished jobs past the retention at start and then every [`PRUNE_EVERY`],
/// until `shutdown`.
async fn prune_until(cx: Arc<Engine>, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let before = chrono::Duration::from_std(cx.config.retention)
            .ok()
            .and_then(|r| cx.clock.now().checked_sub_signed(r))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        match cx.store.prune_done(before).await {
            Ok(0) => {}
            Ok(n) => info!(pruned = n, "finished jobs past the retention removed"),
            Err(e) => warn!(error = %e, "pruning finished jobs failed; will try again"),
        }
        let Some(keep) = cx.config.person_retention else { continue };
        let Some(cutoff) = chrono::Duration::from_std(keep)
            .ok()
            .and_then(|k| cx.clock.now().checked_sub_signed(k))
        else {
            continue;
        };
        let by = "serve (person retention)";
        match super::retention::forget_idle_people(cx.store.as_ref(), cutoff, by).await {
            Ok(r) if r.people == 0 => {}
            Ok(r) => info!(
                people = r.people,
                links = r.links,
                jobs = r.jobs,
                "people past the retention forgotten"
            ),
            Err(e) => {
                warn!(error = %e, "forgetting people past the retention failed; will try again")
            }
        }
    }
}

/// A job task that did not end normally. Its panic text is not logged: it may quote the job.
fn log_task_end(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        if e.is_panic() {
            error!(task = %e.id(), "a job task panicked outside its handler; the job runs again after its lease");
        }
    }
}
