//! Group commit: the writes waiting at one moment share one transaction, so one commit (one
//! WAL flush, with `synchronous_commit` left on: a webhook's 200 still waits for its events
//! to be durable) and one set of round trips to the server cover a whole batch instead of
//! each write paying its own.
//!
//! [`WRITERS`] writer tasks take turns collecting a batch (acknowledgement-bound enqueues
//! first) and each runs its batch on its own connection, so one batch's commit overlaps the
//! next batch's statements. Reads stay on the pool. A write's caller hears back only once
//! its batch committed.
//!
//! A write that answers [`StoreError::LeaseLost`] or [`StoreError::NoSuchJob`] changed
//! nothing, so its batch goes on and commits. Any other failure aborts the transaction
//! (PostgreSQL refuses every later statement of it): the batch is rolled back and each of
//! its writes runs again in a transaction of its own, so only a write that fails alone
//! hears an error. That covers a deadlock (40P01) between two replicas' batches too: the
//! victim's writes go through one at a time, without sleeping. Every write is safe to run
//! again after the rollback, because nothing of it committed.
//!
//! Between batches (two replicas, or two writers of one process): an enqueue batch takes
//! the advisory locks of all its ordering keys at once, in hash order, before inserting
//! anything, so batches never wait on each other's keys in a cycle; a claim's rows stay
//! locked until its batch commits, and another batch's claim skips them (`SKIP LOCKED`)
//! rather than waiting or taking them twice.

use std::fmt;
use std::sync::{Arc, Mutex as StdMutex, PoisonError};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, PgPool, Postgres};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::writes::{Write, Written, lock_ordering_keys};
use crate::error::StoreError;
use crate::store::sql::db_err;

/// The most acknowledgement-bound writes (webhook events being stored) in one transaction.
const MAX_URGENT: usize = 64;
/// The most other writes (claims, completions, links) in one transaction: bounds how long
/// a webhook's acknowledgement can wait behind the batches in progress. More than SQLite's
/// 16: under a full queue of webhooks, the workers' writes ride along only up to this many a
/// batch, so it bounds what two writers deliver (16 held one replica near 900 msg/s in the
/// quick run, 48 near 1,900, with ack p99 under 10 ms at 1,000 msg/s either way).
const MAX_OTHER: usize = 48;
/// Writes waiting for a writer; callers beyond wait to hand theirs over.
const QUEUE: usize = 1024;
/// Writer tasks (each with one connection of the pool). Two let a batch's statements run
/// while the previous batch's commit is being flushed, and keep the process writing while
/// one batch waits on a lock another replica's batch holds (an ordering key, a row); four
/// measured no faster on two cores, with worse acknowledgement tails.
pub(super) const WRITERS: usize = 2;

type Answer = Result<Written, StoreError>;

struct Pending {
    write: Write,
    reply: oneshot::Sender<Answer>,
}

struct Queues {
    urgent: mpsc::Receiver<Pending>,
    other: mpsc::Receiver<Pending>,
}

/// The handle writes are sent through. The writers start with the first write (so a store
/// can be made outside a runtime) and stop when every handle is gone.
#[derive(Clone)]
pub(super) struct GroupCommit {
    urgent: mpsc::Sender<Pending>,
    other: mpsc::Sender<Pending>,
    not_started: Arc<StdMutex<Option<(PgPool, Queues)>>>,
}

impl fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCommit").field("writers", &WRITERS).finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Writers for `pool` (each will hold one of its connections).
    pub(super) fn new(pool: PgPool) -> Self {
        let (urgent, urgent_queue) = mpsc::channel(QUEUE);
        let (other, other_queue) = mpsc::channel(QUEUE);
        let queues = Queues { urgent: urgent_queue, other: other_queue };
        Self { urgent, other, not_started: Arc::new(StdMutex::new(Some((pool, queues)))) }
    }

    /// Runs `write` in the next batch; its answer once the batch committed.
    pub(super) async fn write(&self, write: Write) -> Answer {
        self.start();
        let (reply, answer) = oneshot::channel();
        let queue = if write.urgent() { &self.urgent } else { &self.other };
        queue
            .send(Pending { write, reply })
            .await
            .map_err(|_| StoreError::unavailable("the PostgreSQL writers have stopped"))?;
        answer.await.map_err(|_| {
            StoreError::unavailable("the PostgreSQL writers stopped before the write committed")
        })?
    }

    fn start(&self) {
        let not_started = self.not_started.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some((pool, queues)) = not_started {
            let queues = Arc::new(Mutex::new(queues));
            for _ in 0..WRITERS {
                tokio::spawn(writer(pool.clone(), queues.clone()));
            }
        }
    }
}

async fn writer(pool: PgPool, queues: Arc<Mutex<Queues>>) {
    let mut conn = None;
    loop {
        // One writer collects at a time; the others are committing meanwhile.
        let Some(batch) = queues.lock().await.next_batch().await else { break };
        commit(&pool, &mut conn, batch).await;
    }
}

impl Queues {
    /// The next batch: whatever waits, urgent writes first; `None` once every handle is gone.
    async fn next_batch(&mut self) -> Option<Vec<Pending>> {
        let first = tokio::select! {
            biased;
            Some(w) = self.urgent.recv() => w,
            Some(w) = self.other.recv() => w,
            else => return None,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_URGENT {
            match self.urgent.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        for _ in 0..MAX_OTHER {
            match self.other.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        Some(batch)
    }
}

/// Commits `batch` together, or, when that fails, each of its writes alone.
async fn commit(pool: &PgPool, conn: &mut Option<PoolConnection<Postgres>>, batch: Vec<Pending>) {
    let writes: Vec<&Write> = batch.iter().map(|p| &p.write).collect();
    let together = run_on(pool, conn, &writes).await;
    match together {
        Ok(answers) => {
            for (pending, answer) in batch.into_iter().zip(answers) {
                let _ = pending.reply.send(answer);
            }
        }
        Err(_) => {
            // Nothing of the batch committed: each write again, in its own transaction
            // (a batch of one too: a deadlock's victim goes through when run again).
            for pending in batch {
                let alone = run_on(pool, conn, &[&pending.write]).await;
                let answer = alone.and_then(|mut answers| {
                    answers.pop().unwrap_or_else(|| {
                        Err(StoreError::unavailable("the PostgreSQL writer gave no answer"))
                    })
                });
                let _ = pending.reply.send(answer);
            }
        }
    }
}

/// Runs `writes` in one transaction on the writer's connection (taken from the pool when it
/// has none) and commits: each write's answer, or why nothing of them committed. A
/// connection that could not be rolled back (or failed to begin or commit) is dropped.
async fn run_on(
    pool: &PgPool,
    slot: &mut Option<PoolConnection<Postgres>>,
    writes: &[&Write],
) -> Result<Vec<Answer>, StoreError> {
    if slot.is_none() {
        *slot = Some(pool.acquire().await.map_err(db_err)?);
    }
    let Some(conn) = slot.as_mut() else {
        return Err(StoreError::unavailable("no connection for the PostgreSQL writer"));
    };
    let (outcome, usable) = run_together(conn, writes).await;
    if !usable {
        if let Some(conn) = slot.take() {
            // Closed rather than returned to the pool: its state is unknown.
            drop(conn.detach());
        }
    }
    outcome
}

/// Runs `writes` in one transaction and commits it; whether `conn` is still in a known
/// state (no transaction open) afterwards.
async fn run_together(
    conn: &mut PgConnection,
    writes: &[&Write],
) -> (Result<Vec<Answer>, StoreError>, bool) {
    let mut tx = match conn.begin().await {
        Ok(tx) => tx,
        Err(e) => return (Err(db_err(e)), false),
    };
    let keys: Vec<&str> = writes.iter().flat_map(|w| w.ordering_keys()).collect();
    let mut answers = Vec::with_capacity(writes.len());
    let mut failed = lock_ordering_keys(&mut tx, &keys).await.err();
    for write in writes {
        if failed.is_some() {
            break;
        }
        match write.run(&mut tx).await {
            // Changed nothing: the batch goes on.
            answer @ (Ok(_) | Err(StoreError::LeaseLost(_) | StoreError::NoSuchJob(_))) => {
                answers.push(answer);
            }
            Err(e) => failed = Some(e),
        }
    }
    match failed {
        None => match tx.commit().await {
            Ok(()) => (Ok(answers), true),
            Err(e) => (Err(db_err(e)), false),
        },
        Some(e) => {
            let usable = tx.rollback().await.is_ok();
            (Err(e), usable)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_holds_urgent_writes_first_within_its_bounds() {
        let (urgent, urgent_queue) = mpsc::channel(QUEUE);
        let (other, other_queue) = mpsc::channel(QUEUE);
        let mut queues = Queues { urgent: urgent_queue, other: other_queue };
        let pending = |write: Write| Pending { write, reply: oneshot::channel().0 };
        for _ in 0..MAX_OTHER + 3 {
            other.try_send(pending(Write::DeleteLink(key()))).expect("the queue has room");
        }
        for _ in 0..MAX_URGENT + 5 {
            urgent.try_send(pending(Write::Enqueue(Vec::new()))).expect("the queue has room");
        }
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
        let batch = rt.block_on(queues.next_batch()).expect("writes are waiting");
        let urgent_first: Vec<bool> = batch.iter().map(|p| p.write.urgent()).collect();
        let mut expected = vec![true; MAX_URGENT];
        expected.extend(vec![false; MAX_OTHER]);
        assert_eq!(urgent_first, expected);
    }

    fn key() -> crate::store::LinkKey {
        crate::store::LinkKey::data_deletion("code")
    }
}
