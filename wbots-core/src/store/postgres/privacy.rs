//! [`PostgresStore`]'s privacy side: the shared statements (`sql::privacy`), each on the
//! pool (an audit entry is one statement, its own transaction).

use async_trait::async_trait;

use super::{Int, PostgresStore};
use crate::error::StoreError;
use crate::store::privacy::{AuditEntry, AuditRecord, PrivacyStore};
use crate::store::sql::privacy::{
    self as sql, AUDIT_BEFORE, INSERT_AUDIT, JOBS_IN_SCOPE, LINKS_AFTER, LINKS_IN_SCOPE,
};
use crate::store::sql::{db_err, limit_i64, ms, rows};
use crate::store::{JobRecord, Link, LinkKind};

#[async_trait]
impl PrivacyStore for PostgresStore {
    async fn links_in_scope(&self, scope: &str, limit: usize) -> Result<Vec<Link>, StoreError> {
        let found = sqlx::query(LINKS_IN_SCOPE)
            .bind(scope)
            .bind(limit_i64(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        found.iter().map(sql::scoped_link).collect()
    }
    async fn jobs_in_scope(&self, scope: &str, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let found = sqlx::query(JOBS_IN_SCOPE)
            .bind(scope)
            .bind(limit_i64(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        found.iter().map(rows::record::<_, Int>).collect()
    }
    async fn links_after(
        &self,
        kind: LinkKind,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError> {
        let found = sqlx::query(LINKS_AFTER)
            .bind(kind.as_str())
            .bind(after)
            .bind(limit_i64(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        found.iter().map(|r| rows::link(r, kind)).collect()
    }
    async fn record_audit(&self, entry: &AuditEntry) -> Result<i64, StoreError> {
        let row = sqlx::query(INSERT_AUDIT)
            .bind(ms(entry.at))
            .bind(entry.action.as_str())
            .bind(&entry.requested_by)
            .bind(entry.subject.as_deref())
            .bind(&entry.removed)
            .bind(&entry.outcome)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        rows::first(&row)
    }
    async fn audit_log(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let found = sqlx::query(AUDIT_BEFORE)
            .bind(sql::before(before))
            .bind(limit_i64(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        found.iter().map(sql::audit).collect()
    }
}
