//! The store's read connections: WAL lets each read beside the writer, seeing the last
//! committed batch, so a read never waits for a batch in progress.
//!
//! A small read (one row by its key) runs on the caller's own thread: a lookup in SQLite's
//! page cache costs less than handing it to another thread and waking the caller back. A
//! read that may return many rows goes to tokio's blocking pool instead, so it never holds
//! up the other tasks of a runtime worker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;

use super::open::{self, Role, Target};
use crate::error::StoreError;

/// Idle connections kept for the next reads; more may be open while many read at once,
/// and are closed once done.
const IDLE: usize = 4;

/// Read connections to one database file, opened as needed.
#[derive(Debug)]
pub(super) struct Readers {
    target: Target,
    idle: Mutex<Vec<Connection>>,
    closed: AtomicBool,
}

impl Readers {
    pub(super) fn new(target: Target) -> Self {
        Self { target, idle: Mutex::default(), closed: AtomicBool::new(false) }
    }

    /// Runs `read` on an idle connection (opening one if none is), here and now.
    pub(super) fn read<T>(
        &self,
        read: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StoreError::unavailable("the SQLite store is closed"));
        }
        // A panic elsewhere while holding the lock leaves the list as it was: still usable.
        let taken = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let conn = match taken {
            Some(conn) => conn,
            None => open::connect(&self.target, Role::Reader)?,
        };
        let out = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE && !self.closed.load(Ordering::Acquire) {
            idle.push(conn);
        }
        out
    }

    /// Like [`Readers::read`], on tokio's blocking pool.
    pub(super) async fn read_apart<T, F>(self: &Arc<Self>, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = self.clone();
        tokio::task::spawn_blocking(move || readers.read(read))
            .await
            .map_err(|e| StoreError::unavailable(format!("a SQLite read failed: {e}")))?
    }

    /// Closes the idle connections and refuses reads from now on.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
