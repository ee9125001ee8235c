//! Blanket impls: an `Arc` of a store is a store, so a shared store can be handed to
//! anything generic over the traits (`Arc<dyn Store>` included).
//!
//! Every method is forwarded, defaults included (see the *Wrappers* note on
//! [`Store`](super::Store)); clippy's `missing_trait_methods` names one that is not.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::channels::{
    ChannelChanges, ChannelError, ChannelStore, ConnectedChannel, Revision, SealedCredentials,
    StoredChannel,
};
use super::privacy::{AuditEntry, AuditRecord, PrivacyStore};
use super::{
    ClaimedJob, Enqueued, Forgotten, JobQueue, JobRecord, JobState, Lane, Lease, Link, LinkKey,
    LinkKind, LinkPrefix, LinkStore, LinkWrite, NewJob, QueueStats, Store,
};
use crate::error::StoreError;
use crate::ids::{ChannelAddress, JobId};

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<T: Store + ?Sized> Store for Arc<T> {
    async fn migrate(&self) -> Result<(), StoreError> {
        (**self).migrate().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        (**self).ping().await
    }
    async fn forget_scope(&self, scope: &str) -> Result<Forgotten, StoreError> {
        (**self).forget_scope(scope).await
    }
    fn privacy(&self) -> Option<&dyn PrivacyStore> {
        (**self).privacy()
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<T: JobQueue + ?Sized> JobQueue for Arc<T> {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        (**self).enqueue(jobs).await
    }
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        (**self).claim(now, lease_for, limit).await
    }
    async fn claim_lane(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
        lane: Lane,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        (**self).claim_lane(now, lease_for, limit, lane).await
    }
    async fn extend_lease(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        lease_for: Duration,
    ) -> Result<(), StoreError> {
        (**self).extend_lease(lease, now, lease_for).await
    }
    async fn release_all_leases(&self) -> Result<u64, StoreError> {
        (**self).release_all_leases().await
    }
    async fn complete(&self, lease: &Lease, writes: &[LinkWrite]) -> Result<(), StoreError> {
        (**self).complete(lease, writes).await
    }
    async fn retry_later(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        (**self).retry_later(lease, not_before, error).await
    }
    async fn postpone(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        note: &str,
    ) -> Result<(), StoreError> {
        (**self).postpone(lease, not_before, note).await
    }
    async fn wedge(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        (**self).wedge(lease, reason).await
    }
    async fn requeue(&self, job: JobId, now: DateTime<Utc>) -> Result<(), StoreError> {
        (**self).requeue(job, now).await
    }
    async fn purge_dead(&self, job: Option<JobId>) -> Result<u64, StoreError> {
        (**self).purge_dead(job).await
    }
    async fn prune_done(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        (**self).prune_done(before).await
    }
    async fn job(&self, job: JobId) -> Result<Option<JobRecord>, StoreError> {
        (**self).job(job).await
    }
    async fn jobs(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        (**self).jobs(state, limit).await
    }
    async fn stats(&self) -> Result<QueueStats, StoreError> {
        (**self).stats().await
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<T: LinkStore + ?Sized> LinkStore for Arc<T> {
    async fn get_link(&self, key: &LinkKey) -> Result<Option<String>, StoreError> {
        (**self).get_link(key).await
    }
    async fn put_link(&self, link: &Link) -> Result<String, StoreError> {
        (**self).put_link(link).await
    }
    async fn set_link(&self, link: &Link) -> Result<(), StoreError> {
        (**self).set_link(link).await
    }
    async fn delete_link(&self, key: &LinkKey) -> Result<bool, StoreError> {
        (**self).delete_link(key).await
    }
    async fn links_with_prefix(
        &self,
        prefix: &LinkPrefix,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError> {
        (**self).links_with_prefix(prefix, limit).await
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<T: ChannelStore + ?Sized> ChannelStore for Arc<T> {
    async fn insert_channel(
        &self,
        channel: &ConnectedChannel,
        credentials: &SealedCredentials,
    ) -> Result<Revision, ChannelError> {
        (**self).insert_channel(channel, credentials).await
    }
    async fn update_channel(
        &self,
        expected: Revision,
        channel: &ConnectedChannel,
        credentials: &SealedCredentials,
    ) -> Result<Revision, ChannelError> {
        (**self).update_channel(expected, channel, credentials).await
    }
    async fn remove_channel(&self, address: &ChannelAddress) -> Result<bool, ChannelError> {
        (**self).remove_channel(address).await
    }
    async fn channel(
        &self,
        address: &ChannelAddress,
    ) -> Result<Option<StoredChannel>, ChannelError> {
        (**self).channel(address).await
    }
    async fn channels(&self) -> Result<Vec<StoredChannel>, ChannelError> {
        (**self).channels().await
    }
    async fn channel_changes(&self, since: Revision) -> Result<ChannelChanges, ChannelError> {
        (**self).channel_changes(since).await
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<T: super::RateBudgets + ?Sized> super::RateBudgets for Arc<T> {
    async fn take_tokens(
        &self,
        name: &str,
        now: DateTime<Utc>,
        rate: super::BudgetRate,
        want: u32,
    ) -> Result<super::Tokens, StoreError> {
        (**self).take_tokens(name, now, rate, want).await
    }
}

#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<T: PrivacyStore + ?Sized> PrivacyStore for Arc<T> {
    async fn links_in_scope(&self, scope: &str, limit: usize) -> Result<Vec<Link>, StoreError> {
        (**self).links_in_scope(scope, limit).await
    }
    async fn jobs_in_scope(&self, scope: &str, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        (**self).jobs_in_scope(scope, limit).await
    }
    async fn links_after(
        &self,
        kind: LinkKind,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError> {
        (**self).links_after(kind, after, limit).await
    }
    async fn record_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError> {
        (**self).record_audit(entry).await
    }
    async fn audit_log(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        (**self).audit_log(before, limit).await
    }
}
