//! `wbots jobs`: the operator's view of the dead letters.

use std::io::Write;

use chrono::Utc;
use wbots_core::JobId;
use wbots_core::store::{JobState, Store};

use crate::cli::JobsAction;

/// Runs a `jobs` action, writing a human-readable report to `out`.
pub(crate) async fn run(
    store: &dyn Store,
    action: JobsAction,
    out: &mut dyn Write,
) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    match action {
        JobsAction::List { limit } => {
            let stats = store.stats().await.map_err(|e| e.to_string())?;
            writeln!(
                out,
                "queued {}  running {}  done {}  dead {}",
                stats.queued, stats.running, stats.done, stats.dead
            )
            .map_err(io)?;
            let dead = store.jobs(JobState::Dead, limit).await.map_err(|e| e.to_string())?;
            if dead.is_empty() {
                writeln!(out, "no dead letters").map_err(io)?;
            }
            for job in dead {
                writeln!(
                    out,
                    "{:>8}  attempts {:>2}  {}  {}\n          {}",
                    job.id,
                    job.attempts,
                    job.created_at.format("%Y-%m-%d %H:%M:%S"),
                    job.idempotency_key,
                    job.last_error.as_deref().unwrap_or("-")
                )
                .map_err(io)?;
            }
        }
        JobsAction::Retry { ids, all } => {
            for id in targets(store, ids, all).await? {
                store.requeue(id, Utc::now()).await.map_err(|e| format!("job {id}: {e}"))?;
                writeln!(out, "job {id} queued again").map_err(io)?;
            }
        }
        JobsAction::Purge { ids, all } => {
            if all {
                let n = store.purge_dead(None).await.map_err(|e| e.to_string())?;
                writeln!(out, "{n} dead letters deleted").map_err(io)?;
            } else {
                for id in ids {
                    let n = store.purge_dead(Some(JobId(id))).await.map_err(|e| e.to_string())?;
                    if n == 0 {
                        return Err(format!("job {id} is not a dead letter"));
                    }
                    writeln!(out, "job {id} deleted").map_err(io)?;
                }
            }
        }
    }
    Ok(())
}

async fn targets(store: &dyn Store, ids: Vec<i64>, all: bool) -> Result<Vec<JobId>, String> {
    if all {
        Ok(store
            .jobs(JobState::Dead, usize::MAX)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|j| j.id)
            .collect())
    } else if ids.is_empty() {
        Err("name the job ids, or pass --all".to_owned())
    } else {
        Ok(ids.into_iter().map(JobId).collect())
    }
}
