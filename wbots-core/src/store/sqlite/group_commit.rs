//! Group commit: the writes waiting at one moment share one transaction, so one fsync
//! (`synchronous = FULL`) makes a whole batch durable instead of each write paying its own.
//!
//! Every write of the store runs on one connection, owned by one OS thread (the writer),
//! in turn, inside `BEGIN IMMEDIATE`; a write's caller hears back only once the batch
//! committed. The thread runs a whole batch synchronously — each statement a plain call
//! into SQLite, no hand-off between threads per statement (what sqlx's per-connection
//! worker thread cost: two thread wake-ups a statement, about half the bridge's CPU) — so
//! a batch costs its callers one hand-off each way.
//!
//! The contract of a write: when it answers [`StoreError::LeaseLost`] or
//! [`StoreError::NoSuchJob`] it has changed nothing, so the rest of its batch commits. Any
//! other error may leave a write half done, so the whole batch is rolled back and every
//! caller in it hears the error; the store's writes are all safe to retry.
//!
//! When the writer stops ([`GroupCommit::stop`], or a write panicking), every write still
//! waiting hears that it was not committed, and every later one that the writer is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, Transaction, TransactionBehavior};
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
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> (bool, Reply);
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
    F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> (bool, Reply) {
        let Pending { write, reply } = *self;
        let result = write(tx);
        let ok = matches!(result, Ok(_) | Err(StoreError::LeaseLost(_) | StoreError::NoSuchJob(_)));
        let tell: Reply = Box::new(move |commit: Option<String>| {
            let _ = reply.send(match (commit, result) {
                (None, result) => result,
                (Some(_), Err(own)) => Err(own),
                (Some(why), Ok(_)) => Err(StoreError::unavailable(why)),
            });
        });
        (ok, tell)
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.reply.send(Err(error));
    }
}

/// Work on the writer's connection outside any transaction, between batches.
type Bare = Box<dyn FnOnce(&mut Connection) + Send>;

/// What the writer thread is handed.
enum Task {
    Write(Box<dyn Write>),
    Bare(Bare),
    /// Wakes the writer so it sees it must stop.
    Stop,
}

/// The handle writes are sent through; the writer thread stops when every handle is gone
/// or [`GroupCommit::stop`] was called.
#[derive(Clone, Debug)]
pub(super) struct GroupCommit {
    urgent: mpsc::Sender<Task>,
    other: mpsc::Sender<Task>,
    stopping: Arc<AtomicBool>,
}

/// Whether someone waits on a write to answer a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lane {
    /// A webhook's answer waits on it: it joins the next batch ahead of everything else.
    Urgent,
    /// Background work (workers, operators).
    Other,
}

const STOPPED: &str = "the SQLite writer has stopped";

impl GroupCommit {
    /// Starts the writer thread, which owns `conn` from now on, and `keep` (the store's
    /// process lock) until the connection is closed: another process may take the file
    /// over only once this one no longer writes it.
    pub(super) fn start<K: Send + 'static>(conn: Connection, keep: K) -> Result<Self, StoreError> {
        let (urgent, urgent_queue) = mpsc::channel(QUEUE);
        let (other, other_queue) = mpsc::channel(QUEUE);
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = stopping.clone();
        std::thread::Builder::new()
            .name("wbots-sqlite-writer".into())
            .spawn(move || writer(conn, keep, urgent_queue, other_queue, &flag))
            .map_err(|e| {
                StoreError::unavailable(format!("cannot start the SQLite writer: {e}")).caused_by(e)
            })?;
        Ok(Self { urgent, other, stopping })
    }

    /// Runs `write` in the next batch; its result once the batch committed.
    pub(super) async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_in(Lane::Other, write).await
    }

    /// Like [`GroupCommit::write`], in `lane`.
    pub(super) async fn write_in<T, F>(&self, lane: Lane, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let queue = if lane == Lane::Urgent { &self.urgent } else { &self.other };
        self.send(queue, Task::Write(Box::new(Pending { write, reply }))).await?;
        answer.await.map_err(|_| {
            StoreError::unavailable("the SQLite writer stopped before the write committed")
        })?
    }

    /// Runs `work` on the writer's connection between two batches, outside any
    /// transaction: what must not share a transaction (a checkpoint, migrations) and, in
    /// memory, every read (the database lives in that one connection).
    pub(super) async fn bare<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let task: Bare = Box::new(move |conn| {
            let _ = reply.send(work(conn));
        });
        self.send(&self.other, Task::Bare(task)).await?;
        answer
            .await
            .map_err(|_| StoreError::unavailable("the SQLite writer stopped before answering"))?
    }

    async fn send(&self, queue: &mpsc::Sender<Task>, task: Task) -> Result<(), StoreError> {
        if self.stopping.load(Ordering::Acquire) {
            return Err(StoreError::unavailable(STOPPED));
        }
        queue.send(task).await.map_err(|_| StoreError::unavailable(STOPPED))
    }

    /// Stops the writer after the batch in progress: writes still waiting are answered
    /// with an error, later ones refused.
    pub(super) fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        // Wakes the writer if it waits; a full queue means it is awake anyway.
        let _ = self.urgent.try_send(Task::Stop);
    }

    /// Returns once the writer thread is gone and its connection closed.
    pub(super) async fn stopped(&self) {
        self.urgent.closed().await;
    }

    /// How many tasks wait for the writer.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        (self.urgent.max_capacity() - self.urgent.capacity())
            + (self.other.max_capacity() - self.other.capacity())
    }
}

/// The writer thread: waits for work, then runs everything waiting.
fn writer<K>(
    mut conn: Connection,
    keep: K,
    mut urgent: mpsc::Receiver<Task>,
    mut other: mpsc::Receiver<Task>,
    stopping: &AtomicBool,
) {
    loop {
        if stopping.load(Ordering::Acquire) {
            break;
        }
        // Both queues at once, urgent first: a plain thread can block on a future.
        let first = futures::executor::block_on(async {
            tokio::select! {
                biased;
                Some(t) = urgent.recv() => Some(t),
                Some(t) = other.recv() => Some(t),
                else => None,
            }
        });
        let Some(first) = first else { break };
        if stopping.load(Ordering::Acquire) {
            drop(first);
            break;
        }
        let mut batch = Vec::new();
        let mut bare = Vec::new();
        let mut take = |task: Task, batch: &mut Vec<Box<dyn Write>>| match task {
            Task::Write(w) => batch.push(w),
            Task::Bare(b) => bare.push(b),
            Task::Stop => {}
        };
        take(first, &mut batch);
        while batch.len() < MAX_URGENT {
            match urgent.try_recv() {
                Ok(t) => take(t, &mut batch),
                Err(_) => break,
            }
        }
        let urgent_writes = batch.len();
        while batch.len() < urgent_writes + MAX_OTHER {
            match other.try_recv() {
                Ok(t) => take(t, &mut batch),
                Err(_) => break,
            }
        }
        for work in bare {
            work(&mut conn);
        }
        if !batch.is_empty() {
            commit_batch(&mut conn, batch);
        }
    }
    // The connection closes first, then the lock is let go ([`GroupCommit::stopped`]
    // waits on the queues, so both are done when it returns). Dropping the queues drops
    // every task still in them, and with it its reply: each waiting caller hears the
    // writer stopped.
    drop(conn);
    drop(keep);
    drop(urgent);
    drop(other);
}

fn commit_batch(conn: &mut Connection, batch: Vec<Box<dyn Write>>) {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let why = db_err(e).to_string();
            batch.into_iter().for_each(|w| w.fail(StoreError::unavailable(why.clone())));
            return;
        }
    };
    let mut replies = Vec::with_capacity(batch.len());
    let mut broken: Option<String> = None;
    for write in batch {
        if let Some(why) = &broken {
            write.fail(StoreError::unavailable(why.clone()));
            continue;
        }
        let (ok, reply) = write.run(&tx);
        replies.push(reply);
        if !ok {
            broken = Some("another write of the same transaction failed".to_owned());
        }
    }
    // Nothing of a broken batch may count as stored. (A failed commit rolls back as its
    // transaction drops.)
    let outcome = match broken {
        Some(why) => {
            let _ = tx.rollback();
            Err(why)
        }
        None => tx.commit().map_err(|e| e.to_string()),
    };
    match outcome {
        Ok(()) => replies.into_iter().for_each(|r| r(None)),
        Err(why) => replies.into_iter().for_each(|r| r(Some(why.clone()))),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use crate::store::{JobQueue, Link, LinkKey, LinkKind, LinkStore, NewJob, SqliteStore, Store};

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

    /// A write that holds the writer inside its transaction until `release` says so (or a
    /// minute passes: then it fails, and so does the test), having told `started`.
    fn hold_the_writer(
        store: &SqliteStore,
    ) -> (
        std::sync::mpsc::Sender<()>,
        tokio::task::JoinHandle<Result<(), crate::StoreError>>,
        tokio::sync::oneshot::Receiver<()>,
    ) {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, has_started) = tokio::sync::oneshot::channel();
        let commits = store.commits.clone();
        let write = tokio::spawn(async move {
            commits
                .write(move |tx| {
                    // Written, not committed yet: no reader may see it.
                    let params = rusqlite::named_params! {"$1": "contact", "$2": "uncommitted"};
                    super::super::binds::execute(
                        tx,
                        "INSERT INTO links (kind, key, value) VALUES ($1, $2, 'x')",
                        params,
                    )?;
                    let _ = started.send(());
                    held.recv_timeout(Duration::from_secs(60))
                        .map_err(|_| crate::StoreError::unavailable("never released"))
                })
                .await
        });
        (release, write, has_started)
    }

    async fn migrated_file_store(dir: &tempfile::TempDir) -> SqliteStore {
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    #[tokio::test]
    async fn a_point_read_answers_while_a_write_batch_holds_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let store = migrated_file_store(&dir).await;
        let key = LinkKey::from_stored(LinkKind::Contact, "committed");
        store.put_link(&Link::new(key.clone(), "v")).await.unwrap();
        let (release, write, started) = hold_the_writer(&store);
        started.await.unwrap();
        // The writer is inside its transaction until released, which happens only after
        // these reads answered: they do not queue behind it.
        assert_eq!(store.get_link(&key).await.unwrap().as_deref(), Some("v"));
        let unseen = LinkKey::from_stored(LinkKind::Contact, "uncommitted");
        assert_eq!(store.get_link(&unseen).await.unwrap(), None);
        assert_eq!(store.stats().await.unwrap().queued, 0);
        release.send(()).unwrap();
        write.await.unwrap().unwrap();
        assert_eq!(store.get_link(&unseen).await.unwrap().as_deref(), Some("x"));
    }

    #[tokio::test]
    async fn writes_waiting_when_the_writer_stops_hear_an_error_and_later_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = migrated_file_store(&dir).await;
        let (release, held, started) = hold_the_writer(&store);
        started.await.unwrap();
        let waiting: Vec<_> = (0..5)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.enqueue(&[job(i)]).await })
            })
            .collect();
        while store.commits.waiting() < waiting.len() {
            tokio::task::yield_now().await;
        }
        store.commits.stop();
        release.send(()).unwrap();
        // The batch in progress commits; what waited behind it never runs.
        held.await.unwrap().unwrap();
        for w in waiting {
            let refused = w.await.unwrap().expect_err("the writer stopped first");
            assert!(refused.is_transient(), "{refused}");
        }
        store.close().await;
        assert!(store.enqueue(&[job(9)]).await.is_err());
        assert!(store.get_link(&LinkKey::from_stored(LinkKind::Contact, "x")).await.is_err());
        // Nothing of the refused writes was stored.
        let reopened = migrated_file_store(&dir).await;
        assert_eq!(reopened.stats().await.unwrap().queued, 0);
    }
}
