//! Group commit: the writes waiting at one moment share one transaction, so one fsync
//! (`synchronous = FULL`) makes a whole batch durable instead of each write paying its own.
//!
//! Every write of the store runs on one connection, in turn, inside `BEGIN IMMEDIATE`; a
//! write's caller hears back only once the batch committed.
//!
//! The contract of a write: when it answers [`StoreError::LeaseLost`] or
//! [`StoreError::NoSuchJob`] it has changed nothing, so the rest of its batch commits. Any
//! other error may leave a write half done, so the whole batch is rolled back and every
//! caller in it hears the error; the store's writes are all safe to retry.

use futures::future::BoxFuture;
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::db_err;
use crate::error::StoreError;

/// The most acknowledgement-bound writes (webhook events being stored) in one transaction.
const MAX_URGENT: usize = 64;
/// The most other writes (claims, completions, links) in one transaction: bounds how long
/// a webhook's acknowledgement can wait behind the batch in progress.
const MAX_OTHER: usize = 16;
/// Writes waiting for the writer; callers beyond wait to hand theirs over.
const QUEUE: usize = 1024;

type Reply = Box<dyn FnOnce(Option<String>) + Send>;

/// A write waiting for its batch.
trait Write: Send {
    /// Runs the write in the open transaction: whether the batch may still commit, and how
    /// to tell its caller once the batch committed (`None`) or failed (`Some(why)`).
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> BoxFuture<'c, (bool, Reply)>;
    /// Tells the caller the write never ran.
    fn fail(self: Box<Self>, error: StoreError);
}

struct Pending<T, F> {
    write: F,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Write for Pending<T, F>
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
        + Send
        + 'static,
{
    fn run<'c>(self: Box<Self>, conn: &'c mut SqliteConnection) -> BoxFuture<'c, (bool, Reply)> {
        let Pending { write, reply } = *self;
        Box::pin(async move {
            let result = write(conn).await;
            let ok =
                matches!(result, Ok(_) | Err(StoreError::LeaseLost(_) | StoreError::NoSuchJob(_)));
            let tell: Reply = Box::new(move |commit: Option<String>| {
                let _ = reply.send(match (commit, result) {
                    (None, result) => result,
                    (Some(_), Err(own)) => Err(own),
                    (Some(why), Ok(_)) => Err(StoreError::unavailable(why)),
                });
            });
            (ok, tell)
        })
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

/// The handle writes are sent through; the writer task stops when every handle is gone.
#[derive(Clone, Debug)]
pub(super) struct GroupCommit {
    urgent: mpsc::Sender<Box<dyn Write>>,
    other: mpsc::Sender<Box<dyn Write>>,
}

/// Whether someone waits on a write to answer a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lane {
    /// A webhook's answer waits on it: it joins the next batch ahead of everything else.
    Urgent,
    /// Background work (workers, operators).
    Other,
}

impl GroupCommit {
    /// Starts the writer task on `pool` (one connection is all it uses).
    pub(super) fn start(pool: SqlitePool) -> Self {
        let (urgent, urgent_queue) = mpsc::channel(QUEUE);
        let (other, other_queue) = mpsc::channel(QUEUE);
        tokio::spawn(writer(pool, urgent_queue, other_queue));
        Self { urgent, other }
    }

    /// Runs `write` in the next batch; its result once the batch committed.
    pub(super) async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        self.write_in(Lane::Other, write).await
    }

    /// Like [`GroupCommit::write`], in `lane`.
    pub(super) async fn write_in<T, F>(&self, lane: Lane, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let pending: Box<dyn Write> = Box::new(Pending { write, reply });
        let queue = if lane == Lane::Urgent { &self.urgent } else { &self.other };
        queue
            .send(pending)
            .await
            .map_err(|_| StoreError::unavailable("the SQLite writer has stopped"))?;
        answer.await.map_err(|_| {
            StoreError::unavailable("the SQLite writer stopped before the write committed")
        })?
    }
}

async fn writer(
    pool: SqlitePool,
    mut urgent: mpsc::Receiver<Box<dyn Write>>,
    mut other: mpsc::Receiver<Box<dyn Write>>,
) {
    loop {
        let first = tokio::select! {
            biased;
            Some(w) = urgent.recv() => w,
            Some(w) = other.recv() => w,
            else => break,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_URGENT {
            match urgent.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        for _ in 0..MAX_OTHER {
            match other.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        commit_batch(&pool, batch).await;
    }
}

async fn execute(conn: &mut SqliteConnection, sql: &str) -> Result<(), StoreError> {
    sqlx::query(sql).execute(conn).await.map(|_| ()).map_err(db_err)
}

async fn commit_batch(pool: &SqlitePool, batch: Vec<Box<dyn Write>>) {
    let mut conn = match pool.acquire().await {
        Ok(conn) => conn,
        Err(e) => {
            let why = e.to_string();
            batch.into_iter().for_each(|w| w.fail(StoreError::unavailable(why.clone())));
            return;
        }
    };
    if let Err(e) = execute(&mut conn, "BEGIN IMMEDIATE").await {
        let why = e.to_string();
        batch.into_iter().for_each(|w| w.fail(StoreError::unavailable(why.clone())));
        return;
    }
    let mut replies = Vec::with_capacity(batch.len());
    let mut broken: Option<String> = None;
    for write in batch {
        if let Some(why) = &broken {
            write.fail(StoreError::unavailable(why.clone()));
            continue;
        }
        let (ok, reply) = write.run(&mut conn).await;
        replies.push(reply);
        if !ok {
            broken = Some("another write of the same transaction failed".to_owned());
        }
    }
    let outcome = match broken {
        Some(why) => Err(why),
        None => execute(&mut conn, "COMMIT").await.map_err(|e| e.to_string()),
    };
    match outcome {
        Ok(()) => replies.into_iter().for_each(|r| r(None)),
        Err(why) => {
            // Nothing of the batch may count as stored.
            let _ = execute(&mut conn, "ROLLBACK").await;
            replies.into_iter().for_each(|r| r(Some(why.clone())));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::store::{JobQueue, NewJob, SqliteStore, Store};

    fn job(i: usize) -> NewJob {
        NewJob {
            idempotency_key: format!("k{i}"),
            ordering_key: format!("o{i}"),
            scope: None,
            priority: 0,
            lane: crate::store::Lane::Inbound,
            payload: "{}".into(),
            not_before: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_lease_fails_alone_while_its_batch_commits() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let store = Arc::new(SqliteStore::connect(&url).await.unwrap());
        store.migrate().await.unwrap();
        store.enqueue(&(0..40).map(job).collect::<Vec<_>>()).await.unwrap();
        let claimed = store.claim(chrono::Utc::now(), Duration::from_secs(60), 40).await.unwrap();
        assert_eq!(claimed.len(), 40);
        // Every other completion carries a forged token; all are sent at once so they
        // share batches with the good ones and with new enqueues.
        let mut tasks = Vec::new();
        for (i, c) in claimed.into_iter().enumerate() {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut lease = c.lease.clone();
                if i % 2 == 1 {
                    lease.token = "forged".into();
                }
                let done = store.complete(&lease, &[]).await;
                let more = store.enqueue(&[job(100 + i)]).await;
                (i, done, more)
            }));
        }
        for t in tasks {
            let (i, done, more) = t.await.unwrap();
            assert!(more.is_ok(), "enqueue {i} failed: {more:?}");
            if i % 2 == 1 {
                assert!(matches!(done, Err(crate::StoreError::LeaseLost(_))), "{i}: {done:?}");
            } else {
                assert!(done.is_ok(), "{i}: {done:?}");
            }
        }
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.done, stats.running, stats.queued), (20, 20, 40));
    }
}
