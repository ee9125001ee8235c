//! The [`MemoryStore`]'s privacy side: the reference implementation of [`PrivacyStore`].

use std::sync::MutexGuard;

use async_trait::async_trait;

use super::MemoryStore;
use super::privacy::{AuditEntry, AuditRecord, PrivacyStore};
use super::{JobRecord, Link, LinkKind};
use crate::error::StoreError;

impl MemoryStore {
    fn audit_trail(&self) -> MutexGuard<'_, Vec<AuditRecord>> {
        // Appends only: a panic cannot leave the list half-changed.
        self.audit.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl PrivacyStore for MemoryStore {
    async fn links_in_scope(&self, scope: &str, limit: usize) -> Result<Vec<Link>, StoreError> {
        Ok(self.scope_links(scope, limit))
    }
    async fn jobs_in_scope(&self, scope: &str, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        Ok(self.scope_jobs(scope, limit))
    }
    async fn links_after(
        &self,
        kind: LinkKind,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError> {
        Ok(self.kind_links_after(kind, after, limit))
    }
    async fn record_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError> {
        let mut trail = self.audit_trail();
        let id = trail.last().map_or(1, |r| r.id + 1);
        // Stored at the SQL stores' precision, so every store reads back the same entry.
        let mut entry = entry.clone();
        entry.at = chrono::DateTime::from_timestamp_millis(entry.at.timestamp_millis())
            .unwrap_or(entry.at);
        trail.push(AuditRecord { id, entry });
        Ok(id)
    }
    async fn audit_log(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let trail = self.audit_trail();
        Ok(trail
            .iter()
            .rev()
            .filter(|r| before.is_none_or(|b| r.id < b))
            .take(limit)
            .cloned()
            .collect())
    }
}
