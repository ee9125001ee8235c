//! What people's rights over their data need from the store ([`PrivacyStore`]): reading
//! everything kept in one person's data-deletion scope (for an export), walking a kind of
//! link in key order (for retention), and the audit trail of privacy actions.
//!
//! The audit trail never holds a person's id in clear: its `subject` is a keyed hash
//! ([`AuditKey`](crate::AuditKey)), so the record of a deletion does not itself name the
//! deleted person, and `forget_scope` leaves it alone.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{JobRecord, Link, LinkKind};
use crate::error::StoreError;

/// What kind of privacy action an audit entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PrivacyAction {
    /// A person's data was exported (`wbots privacy export`).
    Export,
    /// A person's data was deleted on request (`wbots privacy forget`).
    Forget,
    /// Meta's data-deletion callback deleted a person's data.
    DataDeletion,
    /// A retention run deleted what was kept past its time.
    Retention,
}

impl PrivacyAction {
    /// Every action.
    pub const ALL: [PrivacyAction; 4] =
        [Self::Export, Self::Forget, Self::DataDeletion, Self::Retention];

    /// Its stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Export => "export",
            Self::Forget => "forget",
            Self::DataDeletion => "data_deletion",
            Self::Retention => "retention",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for PrivacyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One privacy action, as the audit trail keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// When it ran (ms precision once stored).
    pub at: DateTime<Utc>,
    /// What it was.
    pub action: PrivacyAction,
    /// Who asked: an operator's name, `meta data-deletion callback`, `retention`.
    pub requested_by: String,
    /// The person concerned, as a keyed hash (never the id itself); `None` for a run about
    /// no one person (retention).
    pub subject: Option<String>,
    /// What was read or removed, in words (counts and kinds, never the person's id).
    pub removed: String,
    /// How it ended: `completed`, `nothing found`, or the failure.
    pub outcome: String,
}

/// An [`AuditEntry`] as stored, with its id (ascending in the order entries were recorded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Its id.
    pub id: i64,
    /// The entry.
    pub entry: AuditEntry,
}

/// The store's side of people's rights over their data; see the module docs.
///
/// # Contract
/// `links_in_scope` and `jobs_in_scope` return what `forget_scope` would remove (links by
/// kind name, then key; jobs by id), up to `limit`. `links_after` returns the links of `kind`
/// whose key is strictly after `after` (byte order), up to `limit`, in key order: a caller
/// pages through a key space by passing the last key it saw. `record_audit` appends an entry
/// and returns its id, greater than every id before; `audit_log` returns entries with an id
/// below `before` (all when `None`), newest first. `forget_scope` never removes audit
/// entries.
///
/// Conformance: `wbots_core::privacy_store_conformance_tests!` (feature `testkit`).
#[async_trait]
pub trait PrivacyStore: Send + Sync + fmt::Debug + 'static {
    /// The links in a data-deletion scope.
    async fn links_in_scope(&self, scope: &str, limit: usize) -> Result<Vec<Link>, StoreError>;

    /// The jobs in a data-deletion scope, in any state.
    async fn jobs_in_scope(&self, scope: &str, limit: usize) -> Result<Vec<JobRecord>, StoreError>;

    /// The links of `kind` after the key `after`, in key order.
    async fn links_after(
        &self,
        kind: LinkKind,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError>;

    /// Appends an entry to the audit trail; its id.
    async fn record_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError>;

    /// Audit entries older than `before` (all when `None`), newest first.
    async fn audit_log(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError>;
}
