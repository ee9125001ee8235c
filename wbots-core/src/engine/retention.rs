//! Retention of what the bridge knows about people: a person whose last message is older
//! than [`EngineConfig::person_retention`](super::EngineConfig::person_retention) is
//! forgotten (their data-deletion scope, as a deletion request would) by the hourly
//! pruning, and the run is recorded in the privacy audit trail.
//!
//! "Last message" is the newest `last_inbound` link of the person's threads: the time the
//! engine records for Meta's reply window. Off by default: the bridge then keeps its
//! records as long as the conversation exists.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::store::{AuditEntry, LinkKind, PrivacyAction, PrivacyStore, Store};

/// Links read per page.
const PAGE: usize = 500;

/// The data-deletion scopes of people whose last message is before `cutoff`, in scope
/// order. A time that does not read is taken as recent: retention never deletes on a guess.
pub async fn idle_people(
    privacy: &dyn PrivacyStore,
    cutoff: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let mut latest: BTreeMap<String, i64> = BTreeMap::new();
    let mut after = String::new();
    loop {
        let page = privacy.links_after(LinkKind::LastInbound, &after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.key.as_str().to_owned();
        for link in page {
            let Some(scope) = link.scope else { continue };
            let at = link.value.trim().parse::<i64>().unwrap_or(i64::MAX);
            let seen = latest.entry(scope).or_insert(at);
            *seen = (*seen).max(at);
        }
    }
    let cutoff = cutoff.timestamp_millis();
    Ok(latest.into_iter().filter(|(_, at)| *at < cutoff).map(|(scope, _)| scope).collect())
}

/// What a retention run forgot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionReport {
    /// People forgotten.
    pub people: u64,
    /// Their links.
    pub links: u64,
    /// Their jobs.
    pub jobs: u64,
}

/// Forgets everyone idle since `cutoff` and records the run (when it forgot anyone) in the
/// audit trail as `requested_by`. A store without a privacy side keeps everything.
pub async fn forget_idle_people(
    store: &dyn Store,
    cutoff: DateTime<Utc>,
    requested_by: &str,
) -> Result<RetentionReport, StoreError> {
    let Some(privacy) = store.privacy() else { return Ok(RetentionReport::default()) };
    let mut report = RetentionReport::default();
    for scope in idle_people(privacy, cutoff).await? {
        let gone = store.forget_scope(&scope).await?;
        report.people += 1;
        report.links += gone.links;
        report.jobs += gone.jobs;
    }
    if report.people > 0 {
        privacy
            .record_audit(&AuditEntry {
                at: Utc::now(),
                action: PrivacyAction::Retention,
                requested_by: requested_by.to_owned(),
                subject: None,
                removed: format!(
                    "{} person(s) whose last message is before {}: {} link(s), {} job(s)",
                    report.people,
                    cutoff.to_rfc3339(),
                    report.links,
                    report.jobs
                ),
                outcome: "completed".into(),
            })
            .await?;
    }
    Ok(report)
}
