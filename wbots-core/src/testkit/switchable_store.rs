//! [`SwitchableStore`]: a store that can be made unreachable, for outage tests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::ids::JobId;
use crate::store::{
    ClaimedJob, Enqueued, Forgotten, JobQueue, JobRecord, JobState, Lane, Lease, Link, LinkKey,
    LinkPrefix, LinkStore, LinkWrite, NewJob, QueueStats, Store,
};

/// Wraps a store; while switched off every call fails with [`StoreError::Unavailable`],
/// as a database that went away would.
///
/// A wrapper must forward every trait method, defaults included (the *Wrappers* note on
/// [`Store`]): each impl below denies `clippy::missing_trait_methods`, so a method added
/// to a store trait with a default body cannot be forgotten here.
#[derive(Debug)]
pub struct SwitchableStore<S> {
    inner: S,
    up: AtomicBool,
}

impl<S: Store> SwitchableStore<S> {
    /// Wraps `inner`, switched on.
    pub fn new(inner: S) -> Self {
        Self { inner, up: AtomicBool::new(true) }
    }

    /// Makes the store reachable (`true`) or not.
    pub fn set_available(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    fn check(&self) -> Result<&S, StoreError> {
        if self.up.load(Ordering::SeqCst) {
            Ok(&self.inner)
        } else {
            Err(StoreError::unavailable("store switched off by the test"))
        }
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<S: Store> Store for SwitchableStore<S> {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.check()?.migrate().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.check()?.ping().await
    }
    async fn forget_scope(&self, scope: &str) -> Result<Forgotten, StoreError> {
        self.check()?.forget_scope(scope).await
    }
    fn privacy(&self) -> Option<&dyn crate::store::PrivacyStore> {
        // Not switched: the tests switch the queue and links, never the audit trail.
        self.inner.privacy()
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<S: Store> JobQueue for SwitchableStore<S> {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        self.check()?.enqueue(jobs).await
    }
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        self.check()?.claim(now, lease_for, limit).await
    }
    async fn claim_lane(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
        lane: Lane,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        self.check()?.claim_lane(now, lease_for, limit, lane).await
    }
    async fn extend_lease(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        lease_for: Duration,
    ) -> Result<(), StoreError> {
        self.check()?.extend_lease(lease, now, lease_for).await
    }
    async fn release_all_leases(&self) -> Result<u64, StoreError> {
        self.check()?.release_all_leases().await
    }
    async fn complete(&self, lease: &Lease, writes: &[LinkWrite]) -> Result<(), StoreError> {
        self.check()?.complete(lease, writes).await
    }
    async fn retry_later(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        self.check()?.retry_later(lease, not_before, error).await
    }
    async fn postpone(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        note: &str,
    ) -> Result<(), StoreError> {
        self.check()?.postpone(lease, not_before, note).await
    }
    async fn wedge(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        self.check()?.wedge(lease, reason).await
    }
    async fn requeue(&self, job: JobId, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.check()?.requeue(job, now).await
    }
    async fn purge_dead(&self, job: Option<JobId>) -> Result<u64, StoreError> {
        self.check()?.purge_dead(job).await
    }
    async fn prune_done(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.check()?.prune_done(before).await
    }
    async fn job(&self, job: JobId) -> Result<Option<JobRecord>, StoreError> {
        self.check()?.job(job).await
    }
    async fn jobs(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        self.check()?.jobs(state, limit).await
    }
    async fn stats(&self) -> Result<QueueStats, StoreError> {
        self.check()?.stats().await
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<S: Store> LinkStore for SwitchableStore<S> {
    async fn get_link(&self, key: &LinkKey) -> Result<Option<String>, StoreError> {
        self.check()?.get_link(key).await
    }
    async fn put_link(&self, link: &Link) -> Result<String, StoreError> {
        self.check()?.put_link(link).await
    }
    async fn set_link(&self, link: &Link) -> Result<(), StoreError> {
        self.check()?.set_link(link).await
    }
    async fn delete_link(&self, key: &LinkKey) -> Result<bool, StoreError> {
        self.check()?.delete_link(key).await
    }
    async fn links_with_prefix(
        &self,
        prefix: &LinkPrefix,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError> {
        self.check()?.links_with_prefix(prefix, limit).await
    }
}
