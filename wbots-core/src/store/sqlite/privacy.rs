//! [`SqliteStore`]'s privacy side: the shared statements (`sql::privacy`), reads on the
//! blocking pool (they may list many rows), the audit entry group-committed on the one
//! writer like every other write.

use async_trait::async_trait;
use rusqlite::named_params;

use super::binds::{query, query_one};
use super::{SqliteStore, rows};
use crate::error::StoreError;
use crate::store::privacy::{AuditEntry, AuditRecord, PrivacyStore};
use crate::store::sql::privacy::{
    self as sql, AUDIT_BEFORE, INSERT_AUDIT, JOBS_IN_SCOPE, LINKS_AFTER, LINKS_IN_SCOPE,
};
use crate::store::sql::{limit_i64, ms};
use crate::store::{JobRecord, Link, LinkKind};

#[async_trait]
impl PrivacyStore for SqliteStore {
    async fn links_in_scope(&self, scope: &str, limit: usize) -> Result<Vec<Link>, StoreError> {
        let (scope, limit) = (scope.to_owned(), limit_i64(limit));
        self.read_apart(move |conn| {
            let params = named_params! {"$1": scope, "$2": limit};
            query(conn, LINKS_IN_SCOPE, params, rows::scoped_link)
        })
        .await
    }
    async fn jobs_in_scope(&self, scope: &str, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let (scope, limit) = (scope.to_owned(), limit_i64(limit));
        self.read_apart(move |conn| {
            query(conn, JOBS_IN_SCOPE, named_params! {"$1": scope, "$2": limit}, rows::record)
        })
        .await
    }
    async fn links_after(
        &self,
        kind: LinkKind,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError> {
        let (after, limit) = (after.to_owned(), limit_i64(limit));
        self.read_apart(move |conn| {
            let params = named_params! {"$1": kind.as_str(), "$2": after, "$3": limit};
            query(conn, LINKS_AFTER, params, |row| rows::link(row, kind))
        })
        .await
    }
    async fn record_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError> {
        let entry = entry.clone();
        self.commits
            .write(move |tx| {
                let params = named_params! {
                    "$1": ms(entry.at), "$2": entry.action.as_str(), "$3": entry.requested_by,
                    "$4": entry.subject, "$5": entry.removed, "$6": entry.outcome,
                };
                query_one(tx, INSERT_AUDIT, params, rows::first)?
                    .ok_or_else(|| StoreError::corrupt("an audit insert returned no id"))
            })
            .await
    }
    async fn audit_log(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let (before, limit) = (sql::before(before), limit_i64(limit));
        self.read_apart(move |conn| {
            query(conn, AUDIT_BEFORE, named_params! {"$1": before, "$2": limit}, rows::audit)
        })
        .await
    }
}
