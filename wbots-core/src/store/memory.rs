//! [`MemoryStore`]: the reference implementation of [`Store`], kept in one mutex.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    ClaimedJob, Enqueued, Forgotten, JobQueue, JobRecord, JobState, Lane, Lease, Link, LinkKey,
    LinkKind, LinkPrefix, LinkStore, LinkWrite, NewJob, QueueStats, Store,
};
use crate::error::StoreError;
use crate::ids::JobId;

/// A store in memory: everything is lost when the process ends. For tests, examples and
/// embedders who keep durability elsewhere.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// The connected channels (`memory_channels`), apart: they share no transaction with
    /// the queue.
    pub(super) channels: Mutex<super::memory_channels::Channels>,
    /// Request budgets: in memory, like everything here.
    budgets: super::MemoryBuckets,
    /// The privacy audit trail (`memory_privacy`), apart too.
    pub(super) audit: Mutex<Vec<super::AuditRecord>>,
}

#[derive(Debug, Default)]
struct State {
    next_id: i64,
    jobs: BTreeMap<i64, Job>,
    by_key: HashMap<String, i64>,
    links: BTreeMap<(LinkKind, String), (String, Option<String>)>,
}

#[derive(Debug, Clone)]
struct Job {
    new: NewJob,
    state: JobState,
    attempts: u32,
    claims: u32,
    last_error: Option<String>,
    payload: Option<String>,
    created_at: DateTime<Utc>,
    not_before: DateTime<Utc>,
    lease_until: Option<DateTime<Utc>>,
    token: Option<String>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind, still consistent
        // because every method mutates only after all checks passed.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Reads for `memory_privacy`, which cannot see the state's shape.
impl MemoryStore {
    /// The links in `scope`, by kind name then key (the SQL stores' order).
    pub(super) fn scope_links(&self, scope: &str, limit: usize) -> Vec<Link> {
        let s = self.lock();
        let mut found: Vec<Link> = s
            .links
            .iter()
            .filter(|(_, (_, sc))| sc.as_deref() == Some(scope))
            .map(|((k, key), (v, sc))| Link {
                key: LinkKey::from_stored(*k, key.clone()),
                value: v.clone(),
                scope: sc.clone(),
            })
            .collect();
        found.sort_by(|a, b| {
            (a.key.kind().as_str(), a.key.as_str()).cmp(&(b.key.kind().as_str(), b.key.as_str()))
        });
        found.truncate(limit);
        found
    }

    /// The jobs in `scope`, by id.
    pub(super) fn scope_jobs(&self, scope: &str, limit: usize) -> Vec<JobRecord> {
        let s = self.lock();
        s.jobs
            .iter()
            .filter(|(_, j)| j.new.scope.as_deref() == Some(scope))
            .take(limit)
            .map(|(id, j)| record(*id, j))
            .collect()
    }

    /// The links of `kind` after the key `after`, in key order.
    pub(super) fn kind_links_after(&self, kind: LinkKind, after: &str, limit: usize) -> Vec<Link> {
        use std::ops::Bound;
        let s = self.lock();
        s.links
            .range((Bound::Excluded((kind, after.to_owned())), Bound::Unbounded))
            .take_while(|((k, _), _)| *k == kind)
            .take(limit)
            .map(|((k, key), (v, sc))| Link {
                key: LinkKey::from_stored(*k, key.clone()),
                value: v.clone(),
                scope: sc.clone(),
            })
            .collect()
    }
}

/// `now + d`, saturating at the latest representable time instead of overflowing.
fn later(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl State {
    fn held(&mut self, lease: &Lease) -> Result<&mut Job, StoreError> {
        let job = self.jobs.get_mut(&lease.job.0).ok_or(StoreError::LeaseLost(lease.job))?;
        if job.state != JobState::Running || job.token.as_deref() != Some(&lease.token) {
            return Err(StoreError::LeaseLost(lease.job));
        }
        Ok(job)
    }

    fn apply(&mut self, write: &LinkWrite) {
        match write {
            LinkWrite::Insert(l) => {
                self.links
                    .entry((l.key.kind(), l.key.as_str().to_owned()))
                    .or_insert_with(|| (l.value.clone(), l.scope.clone()));
            }
            LinkWrite::Set(l) => {
                self.links.insert(
                    (l.key.kind(), l.key.as_str().to_owned()),
                    (l.value.clone(), l.scope.clone()),
                );
            }
            LinkWrite::Latest(l) => {
                let entry = (l.key.kind(), l.key.as_str().to_owned());
                let number = |v: &str| v.parse::<i64>().unwrap_or(i64::MIN);
                let newer = self
                    .links
                    .get(&entry)
                    .is_none_or(|(stored, _)| number(stored) < number(&l.value));
                if newer {
                    self.links.insert(entry, (l.value.clone(), l.scope.clone()));
                }
            }
            LinkWrite::Delete(key) => {
                self.links.remove(&(key.kind(), key.as_str().to_owned()));
            }
        }
    }
}

fn record(id: i64, j: &Job) -> JobRecord {
    JobRecord {
        id: JobId(id),
        state: j.state,
        idempotency_key: j.new.idempotency_key.clone(),
        ordering_key: j.new.ordering_key.clone(),
        attempts: j.attempts,
        last_error: j.last_error.clone(),
        payload: j.payload.clone(),
        created_at: j.created_at,
        not_before: j.not_before,
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn privacy(&self) -> Option<&dyn super::PrivacyStore> {
        Some(self)
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn forget_scope(&self, scope: &str) -> Result<Forgotten, StoreError> {
        let mut s = self.lock();
        let mut out = Forgotten::default();
        let before = s.links.len();
        s.links.retain(|_, (_, sc)| sc.as_deref() != Some(scope));
        out.links = (before - s.links.len()) as u64;
        let ids: Vec<i64> = s
            .jobs
            .iter()
            .filter(|(_, j)| j.new.scope.as_deref() == Some(scope))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(j) = s.jobs.remove(&id) {
                s.by_key.remove(&j.new.idempotency_key);
                out.jobs += 1;
            }
        }
        Ok(out)
    }
}

impl MemoryStore {
    /// The claim of every lane (`None`) or of one: heads are found across lanes, so a lane
    /// never takes a job whose conversation has an earlier one in another lane.
    fn claim_in(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
        lane: Option<Lane>,
    ) -> Vec<ClaimedJob> {
        let mut s = self.lock();
        // The head of each ordering key: its oldest unfinished job.
        let mut heads: HashMap<&str, i64> = HashMap::new();
        for (&id, j) in &s.jobs {
            if matches!(j.state, JobState::Queued | JobState::Running) {
                heads.entry(j.new.ordering_key.as_str()).or_insert(id);
            }
        }
        let mut ready: Vec<(i32, i64)> = heads
            .values()
            .filter_map(|&id| {
                let j = &s.jobs[&id];
                let is_ready = match j.state {
                    JobState::Queued => j.not_before <= now,
                    JobState::Running => j.lease_until.is_some_and(|u| u < now),
                    _ => false,
                };
                let in_lane = lane.is_none_or(|l| l == j.new.lane);
                (is_ready && in_lane).then_some((j.new.priority, id))
            })
            .collect();
        ready.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        ready.truncate(limit);

        let mut out = Vec::with_capacity(ready.len());
        for (_, id) in ready {
            let token = uuid::Uuid::new_v4().to_string();
            let Some(j) = s.jobs.get_mut(&id) else { continue };
            j.state = JobState::Running;
            j.lease_until = Some(later(now, lease_for));
            j.token = Some(token.clone());
            let previous_claims = j.claims;
            j.claims += 1;
            out.push(ClaimedJob {
                lease: Lease { job: JobId(id), token },
                idempotency_key: j.new.idempotency_key.clone(),
                ordering_key: j.new.ordering_key.clone(),
                scope: j.new.scope.clone(),
                attempts: j.attempts,
                previous_claims,
                payload: j.payload.clone().unwrap_or_default(),
                created_at: j.created_at,
            });
        }
        out
    }
}

#[async_trait]
impl JobQueue for MemoryStore {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError> {
        let mut s = self.lock();
        let now = Utc::now();
        let mut out = Vec::with_capacity(jobs.len());
        for new in jobs {
            if let Some(&id) = s.by_key.get(&new.idempotency_key) {
                out.push(Enqueued::Duplicate(JobId(id)));
                continue;
            }
            s.next_id += 1;
            let id = s.next_id;
            s.by_key.insert(new.idempotency_key.clone(), id);
            s.jobs.insert(
                id,
                Job {
                    new: new.clone(),
                    state: JobState::Queued,
                    attempts: 0,
                    claims: 0,
                    last_error: None,
                    payload: Some(new.payload.clone()),
                    created_at: now,
                    not_before: new.not_before.unwrap_or(DateTime::<Utc>::MIN_UTC),
                    lease_until: None,
                    token: None,
                },
            );
            out.push(Enqueued::New(JobId(id)));
        }
        Ok(out)
    }
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        Ok(self.claim_in(now, lease_for, limit, None))
    }
    async fn claim_lane(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
        lane: Lane,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        Ok(self.claim_in(now, lease_for, limit, Some(lane)))
    }
    async fn extend_lease(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        lease_for: Duration,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        s.held(lease)?.lease_until = Some(later(now, lease_for));
        Ok(())
    }
    async fn release_all_leases(&self) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let mut released = 0;
        for j in s.jobs.values_mut().filter(|j| j.state == JobState::Running) {
            j.state = JobState::Queued;
            j.token = None;
            j.lease_until = None;
            released += 1;
        }
        Ok(released)
    }
    async fn complete(&self, lease: &Lease, writes: &[LinkWrite]) -> Result<(), StoreError> {
        let mut s = self.lock();
        let j = s.held(lease)?;
        j.state = JobState::Done;
        j.payload = None;
        j.token = None;
        j.lease_until = None;
        for w in writes {
            s.apply(w);
        }
        Ok(())
    }
    async fn retry_later(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        let j = s.held(lease)?;
        j.state = JobState::Queued;
        j.attempts += 1;
        j.last_error = Some(error.to_owned());
        j.not_before = not_before;
        j.token = None;
        j.lease_until = None;
        Ok(())
    }
    async fn postpone(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        note: &str,
    ) -> Result<(), StoreError> {
        let mut s = self.lock();
        let j = s.held(lease)?;
        j.state = JobState::Queued;
        j.last_error = Some(note.to_owned());
        j.not_before = not_before;
        j.token = None;
        j.lease_until = None;
        Ok(())
    }
    async fn wedge(&self, lease: &Lease, reason: &str) -> Result<(), StoreError> {
        let mut s = self.lock();
        let j = s.held(lease)?;
        j.state = JobState::Dead;
        j.attempts += 1;
        j.last_error = Some(reason.to_owned());
        j.token = None;
        j.lease_until = None;
        Ok(())
    }
    async fn requeue(&self, job: JobId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut s = self.lock();
        match s.jobs.get_mut(&job.0) {
            Some(j) if j.state == JobState::Dead => {
                j.state = JobState::Queued;
                j.attempts = 0;
                j.not_before = now;
                Ok(())
            }
            _ => Err(StoreError::NoSuchJob(job)),
        }
    }
    async fn purge_dead(&self, job: Option<JobId>) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let ids: Vec<i64> = s
            .jobs
            .iter()
            .filter(|(id, j)| j.state == JobState::Dead && job.is_none_or(|k| k.0 == **id))
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            // A purged dead letter was never delivered: its key is released, so a
            // redelivery of the event is accepted again.
            if let Some(j) = s.jobs.remove(id) {
                s.by_key.remove(&j.new.idempotency_key);
            }
        }
        Ok(ids.len() as u64)
    }
    async fn prune_done(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut s = self.lock();
        let ids: Vec<i64> = s
            .jobs
            .iter()
            .filter(|(_, j)| j.state == JobState::Done && j.created_at < before)
            .map(|(id, _)| *id)
            .collect();
        for id in &ids {
            if let Some(j) = s.jobs.remove(id) {
                s.by_key.remove(&j.new.idempotency_key);
            }
        }
        Ok(ids.len() as u64)
    }
    async fn job(&self, job: JobId) -> Result<Option<JobRecord>, StoreError> {
        let s = self.lock();
        Ok(s.jobs.get(&job.0).map(|j| record(job.0, j)))
    }
    async fn jobs(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, StoreError> {
        let s = self.lock();
        Ok(s.jobs
            .iter()
            .filter(|(_, j)| j.state == state)
            .take(limit)
            .map(|(id, j)| record(*id, j))
            .collect())
    }
    async fn stats(&self) -> Result<QueueStats, StoreError> {
        let s = self.lock();
        let mut st = QueueStats::default();
        for j in s.jobs.values() {
            match j.state {
                JobState::Queued => st.queued += 1,
                JobState::Running => st.running += 1,
                JobState::Done => st.done += 1,
                JobState::Dead => st.dead += 1,
            }
        }
        Ok(st)
    }
}

#[async_trait]
impl LinkStore for MemoryStore {
    async fn get_link(&self, key: &LinkKey) -> Result<Option<String>, StoreError> {
        let s = self.lock();
        Ok(s.links.get(&(key.kind(), key.as_str().to_owned())).map(|(v, _)| v.clone()))
    }
    async fn put_link(&self, link: &Link) -> Result<String, StoreError> {
        let mut s = self.lock();
        let entry = s
            .links
            .entry((link.key.kind(), link.key.as_str().to_owned()))
            .or_insert_with(|| (link.value.clone(), link.scope.clone()));
        Ok(entry.0.clone())
    }
    async fn set_link(&self, link: &Link) -> Result<(), StoreError> {
        self.lock().apply(&LinkWrite::Set(link.clone()));
        Ok(())
    }
    async fn delete_link(&self, key: &LinkKey) -> Result<bool, StoreError> {
        Ok(self.lock().links.remove(&(key.kind(), key.as_str().to_owned())).is_some())
    }
    async fn links_with_prefix(
        &self,
        range: &LinkPrefix,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError> {
        let (kind, prefix) = (range.kind(), range.as_str());
        let s = self.lock();
        Ok(s.links
            .range((kind, prefix.to_owned())..)
            .take_while(|((k, key), _)| *k == kind && key.starts_with(prefix))
            .take(limit)
            .map(|((k, key), (v, scope))| Link {
                key: LinkKey::from_stored(*k, key.clone()),
                value: v.clone(),
                scope: scope.clone(),
            })
            .collect())
    }
}

#[async_trait]
impl super::RateBudgets for MemoryStore {
    async fn take_tokens(
        &self,
        name: &str,
        now: DateTime<Utc>,
        rate: super::BudgetRate,
        want: u32,
    ) -> Result<super::Tokens, StoreError> {
        Ok(self.budgets.take(name, now, rate, want))
    }
}
