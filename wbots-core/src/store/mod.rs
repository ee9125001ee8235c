//! The store: the durable job queue ([`JobQueue`], with its operator side), the links
//! between the two sides ([`LinkStore`], keyed by typed [`LinkKey`]s), and [`Store`], which
//! is both plus what spans them (schema, readiness, data deletion).
//!
//! Beside them, the connected channels ([`ChannelStore`]; credentials sealed by
//! [`SealedChannels`]), and the privacy side ([`PrivacyStore`]: a person's data read by
//! scope, the audit trail).
//!
//! Stores: [`MemoryStore`] (tests, embedders who accept losing the queue on restart),
//! `SqliteStore` (feature `sqlite`, the default) and `PostgresStore` (feature `postgres`,
//! several replicas).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::ids::JobId;

mod activity;
mod arc;
mod channels;
mod lane;
mod link_key;
mod memory;
mod memory_channels;
mod memory_privacy;
mod privacy;
mod rate_budgets;
mod sealed_channels;
pub use activity::ChannelActivity;
pub use channels::{
    ChannelChange, ChannelChanges, ChannelError, ChannelStatus, ChannelStore, ChatwootTarget,
    ConnectedChannel, Credentials, LoginKind, Revision, SealedCredentials, StoredChannel,
};
pub use lane::Lane;
pub use link_key::{LinkKey, LinkPrefix, user_scope};
pub use memory::MemoryStore;
pub use privacy::{AuditEntry, AuditRecord, PrivacyAction, PrivacyStore};
pub use rate_budgets::{BudgetRate, CLOCK_SKEW_MS, RateBudgets, Tokens};
#[cfg_attr(not(feature = "postgres"), allow(unused_imports))]
pub(crate) use rate_budgets::{MemoryBuckets, TokenBucket, UNITS_PER_TOKEN, next_in};
pub use sealed_channels::{ChannelRecord, Rekeyed, SealedChannels};

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;

/// A job to put in the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    /// Unique across all jobs ever enqueued (until pruned): enqueueing the same key again
    /// creates no work. Platform ids make redeliveries collide here.
    pub idempotency_key: String,
    /// Jobs with the same ordering key (one conversation) run one at a time, in the order
    /// they were enqueued.
    pub ordering_key: String,
    /// The data-deletion scope the job belongs to (`kind:account/user`), if any.
    pub scope: Option<String>,
    /// Among the jobs ready to run, higher priority first; ties in enqueue order. Never
    /// reorders jobs of one ordering key.
    pub priority: i32,
    /// The workers that run it ([`Lane`]); never reorders jobs of one ordering key either.
    pub lane: Lane,
    /// The work, as JSON text (the engine's `Job` type).
    pub payload: String,
    /// Not before this time.
    pub not_before: Option<DateTime<Utc>>,
}

/// What [`JobQueue::enqueue`] did with one job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    /// Stored as a new job.
    New(JobId),
    /// A job with the same idempotency key exists already; nothing was stored.
    Duplicate(JobId),
}

impl Enqueued {
    /// The job's id, new or existing.
    pub fn id(self) -> JobId {
        match self {
            Self::New(id) | Self::Duplicate(id) => id,
        }
    }
}

/// Proof that a worker holds a job. Every state change of a claimed job needs the lease it
/// was claimed with; once the lease expired and another worker claimed the job, the old
/// lease is refused with [`StoreError::LeaseLost`].
#[derive(Clone, PartialEq, Eq)]
pub struct Lease {
    /// The job.
    pub job: JobId,
    /// The claim's unique token.
    pub token: String,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lease(job {}, {})", self.job, self.token)
    }
}

/// A job handed to a worker by [`JobQueue::claim`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The lease to act on it with.
    pub lease: Lease,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// Its ordering key.
    pub ordering_key: String,
    /// Its data-deletion scope.
    pub scope: Option<String>,
    /// How many earlier attempts failed (0 on the first run).
    pub attempts: u32,
    /// How many times the job was claimed before this claim (0 on the first run). Unlike
    /// `attempts`, this counts takeovers after a crashed worker's lease expired: any job
    /// claimed before may have had side effects, so check the far side before repeating them.
    pub previous_claims: u32,
    /// The work.
    pub payload: String,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
}

impl ClaimedJob {
    /// The job's id.
    pub fn id(&self) -> JobId {
        self.lease.job
    }

    /// Whether an earlier run may have had side effects (a failed attempt, or a worker that
    /// died holding the job).
    pub fn may_have_run_before(&self) -> bool {
        self.attempts > 0 || self.previous_claims > 0
    }
}

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to run (possibly until `not_before`).
    Queued,
    /// Claimed by a worker whose lease has not been released.
    Running,
    /// Finished.
    Done,
    /// Dead letter: failed permanently or ran out of retries.
    Dead,
}

impl JobState {
    /// Its stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "done" => Self::Done,
            "dead" => Self::Dead,
            _ => return None,
        })
    }
}

/// A job as an operator sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobRecord {
    /// Its id.
    pub id: JobId,
    /// Its state.
    pub state: JobState,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// Its ordering key.
    pub ordering_key: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// The last failure, or the dead-letter reason.
    pub last_error: Option<String>,
    /// The work; cleared when the job is done (it may hold personal data).
    pub payload: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
    /// When it may run next.
    pub not_before: DateTime<Utc>,
}

/// How many jobs are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Waiting.
    pub queued: u64,
    /// Claimed.
    pub running: u64,
    /// Finished.
    pub done: u64,
    /// Dead letters.
    pub dead: u64,
}

/// The kinds of link the bridge keeps. Each kind is its own key space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LinkKind {
    /// `address/user` → inbox contact id.
    Contact,
    /// `address/thread` → inbox conversation id.
    Conversation,
    /// `inbox/conversation` → the thread it bridges (JSON).
    ConversationThread,
    /// `address/platform message id` → the inbox message it became (JSON).
    PlatformMessage,
    /// `inbox message id` → the platform message it came from or went to (JSON).
    InboxMessage,
    /// `inbox message id/part` → the platform message id the part was sent as.
    OutboundPart,
    /// `inbox message id` → the bridge's record of an outbound message's delivery (JSON).
    OutboundState,
    /// `address/thread` → when the customer last wrote (ms since the epoch).
    LastInbound,
    /// `address/thread/sent ms/inbox message id` → outbound messages not yet read (JSON).
    Unread,
    /// `address/thread/target message` → the inbox message showing a reaction (JSON).
    Reaction,
    /// `address` → why the channel is flagged (token invalid).
    ChannelFlag,
    /// `confirmation code` → a data-deletion request's status (JSON).
    DataDeletion,
    /// `address` → when the channel's last customer message came in (ms since the epoch).
    ChannelLastIn,
    /// `address` → when the channel's last agent message went out (ms since the epoch).
    ChannelLastOut,
    /// `address` → the app-scoped Meta user id of the person whose login granted the
    /// channel's credential (Meta's data-deletion and deauthorize callbacks name them).
    ChannelGrant,
}

impl LinkKind {
    /// Every kind, for stores that create one key space each.
    pub const ALL: [LinkKind; 15] = [
        Self::Contact,
        Self::Conversation,
        Self::ConversationThread,
        Self::PlatformMessage,
        Self::InboxMessage,
        Self::OutboundPart,
        Self::OutboundState,
        Self::LastInbound,
        Self::Unread,
        Self::Reaction,
        Self::ChannelFlag,
        Self::DataDeletion,
        Self::ChannelLastIn,
        Self::ChannelLastOut,
        Self::ChannelGrant,
    ];

    /// Its stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contact => "contact",
            Self::Conversation => "conversation",
            Self::ConversationThread => "conversation_thread",
            Self::PlatformMessage => "platform_message",
            Self::InboxMessage => "inbox_message",
            Self::OutboundPart => "outbound_part",
            Self::OutboundState => "outbound_state",
            Self::LastInbound => "last_inbound",
            Self::Unread => "unread",
            Self::Reaction => "reaction",
            Self::ChannelFlag => "channel_flag",
            Self::DataDeletion => "data_deletion",
            Self::ChannelLastIn => "channel_last_in",
            Self::ChannelLastOut => "channel_last_out",
            Self::ChannelGrant => "channel_grant",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A link: `key → value`, optionally in a data-deletion scope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Its key (and key space).
    pub key: LinkKey,
    /// Its value.
    pub value: String,
    /// The platform user whose data it is (`kind:account/user`), so a data-deletion
    /// request can remove it.
    pub scope: Option<String>,
}

impl Link {
    /// A link without a scope.
    pub fn new(key: LinkKey, value: impl Into<String>) -> Self {
        Self { key, value: value.into(), scope: None }
    }

    /// Puts the link in a data-deletion scope.
    pub fn scoped(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }
}

/// A link change applied atomically with [`JobQueue::complete`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkWrite {
    /// Insert unless the key exists (the existing value wins).
    Insert(Link),
    /// Insert or overwrite.
    Set(Link),
    /// Insert, or overwrite a smaller value: the value is an integer (a time in ms), so
    /// the newest wins whatever order the jobs writing it complete in.
    Latest(Link),
    /// Remove.
    Delete(LinkKey),
}

/// What [`Store::forget_scope`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// Links removed.
    pub links: u64,
    /// Jobs removed, in any state.
    pub jobs: u64,
}

/// Durable state: the job queue and the links between platform and inbox objects, plus
/// what spans both — the schema, readiness and data deletion.
///
/// # Contract
/// Every method is atomic: it happens entirely or not at all. Methods taking `now` use it
/// instead of reading a clock, so the engine (and tests) own time.
///
/// **Queue.** `enqueue` stores all given jobs in one transaction; a job whose idempotency
/// key exists already is reported [`Enqueued::Duplicate`] and not stored again. `claim`
/// hands out jobs that are ready (`not_before <= now`, or running with an expired lease),
/// **at most one per ordering key at a time and always the oldest unfinished job of that
/// key**: a job waiting for its retry holds back the later jobs of its conversation, so
/// order is kept; dead jobs do not. Among ready jobs, higher priority first, then FIFO.
/// Each claim issues a new lease token; `complete`, `retry_later`, `wedge` and
/// `extend_lease` with any other token fail with [`StoreError::LeaseLost`] and change
/// nothing. `complete` applies the link writes and marks the job done in one transaction.
/// A worker keeps a long job with `extend_lease` (a heartbeat), so leases can be short and a
/// dead holder's jobs are taken over soon after it stopped extending them;
/// `release_all_leases` takes them over at once when the caller knows every holder is dead.
/// "Soon": `claim_lane` may look for expired leases only once a second of `now` per lane
/// and process (PostgreSQL does, because that look reads every job run since the last
/// vacuum), so a takeover may come up to a second after the lease expired; `claim` always
/// looks.
///
/// **Links.** Keys are typed ([`LinkKey`]): a store keeps each key's kind and encoded
/// string and never parses them. `put_link` inserts unless the key exists and returns the
/// value that is stored afterwards (the winner of a race). `forget_scope` removes a user's data: every
/// link and job in the scope, done jobs included, so nothing the store keeps names the user
/// afterwards (a store keeping files scrubs the deleted bytes from them before answering).
///
/// # Wrappers
/// A store that wraps another (a decorator adding faults, metrics or a switch — like the
/// test kit's `SwitchableStore`) must forward **every** method of [`JobQueue`],
/// [`LinkStore`] and [`Store`], including any that gets a default body later; otherwise the
/// wrapper silently runs the default instead of the inner store's version. Put
/// `#[deny(clippy::missing_trait_methods)]` on each of the wrapper's impls so clippy names a
/// method it does not forward. `Arc<T>` is a store wherever `T` is (blanket impls).
///
/// # Conformance
/// `wbots_core::testkit::store_conformance_tests!` runs the checks every store must pass
/// (feature `testkit`).
///
/// # Errors
/// [`StoreError::Unavailable`] for anything that may work later (connection lost, busy);
/// the engine answers webhooks 503 and retries jobs.
#[async_trait]
pub trait Store: JobQueue + LinkStore {
    /// Applies pending schema migrations (no-op for stores without a schema).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Checks the store is reachable and migrated (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Removes every link and every job in `scope`, whatever its state: done jobs go with
    /// their idempotency keys, whose ordering keys and scopes name the user. A job running
    /// meanwhile loses its lease. Stores keeping files make sure the deleted bytes are gone
    /// from them (not merely unlinked) before answering.
    async fn forget_scope(&self, scope: &str) -> Result<Forgotten, StoreError>;

    /// The store's privacy side ([`PrivacyStore`]: a person's data by scope, the audit
    /// trail), when it keeps one — the built-in stores do. `None` by default, so a store
    /// written elsewhere still builds; wrappers forward it like every method.
    fn privacy(&self) -> Option<&dyn PrivacyStore> {
        None
    }
}

/// The durable job queue and its operator side; see [`Store`] for the contract.
#[async_trait]
pub trait JobQueue: Send + Sync + fmt::Debug + 'static {
    /// Enqueues jobs atomically; see the trait docs.
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>, StoreError>;

    /// Claims up to `limit` ready jobs for `lease_for`; see the trait docs.
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, StoreError>;

    /// Like [`claim`](Self::claim), among the jobs of one [`Lane`] only: the head job of each
    /// ordering key (whatever its lane decides which job is the head) when it is in `lane`.
    async fn claim_lane(
        &self,
        now: DateTime<Utc>,
        lease_for: Duration,
        limit: usize,
        lane: Lane,
    ) -> Result<Vec<ClaimedJob>, StoreError>;

    /// Extends a held lease to `now + lease_for` (the heartbeat of a running job). Works
    /// while the token is current, even past the lease's expiry if no one took the job over.
    async fn extend_lease(
        &self,
        lease: &Lease,
        now: DateTime<Utc>,
        lease_for: Duration,
    ) -> Result<(), StoreError>;

    /// Releases every lease held: those jobs are queued again, ready at once and counted as
    /// claimed before (so their next run checks the far side before repeating a side
    /// effect); the old tokens are refused from then on. Returns how many.
    ///
    /// Only for a caller that knows every holder is dead: a single-process store at start,
    /// holding its exclusive lock. Never call it on a store shared with live replicas —
    /// they take a dead replica's jobs over when its leases expire.
    async fn release_all_leases(&self) -> Result<u64, StoreError>;

    /// Marks the job done and applies `writes`, atomically. The payload is cleared.
    async fn complete(&self, lease: &Lease, writes: &[LinkWrite]) -> Result<(), StoreError>;

    /// Puts the job back in the queue until `not_before`, counting a failed attempt.
    async fn retry_later(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError>;

    /// Puts the job back in the queue until `not_before` **without** counting a failed
    /// attempt: a wait, not a failure (a request budget spent), so it never brings the job
    /// nearer the dead letter. `note` is recorded as its last error, so a later run knows it
    /// ran before.
    async fn postpone(
        &self,
        lease: &Lease,
        not_before: DateTime<Utc>,
        note: &str,
    ) -> Result<(), StoreError>;

    /// Moves the job to the dead letter with its reason.
    async fn wedge(&self, lease: &Lease, reason: &str) -> Result<(), StoreError>;

    /// Moves a dead job back to the queue, ready at `now`, with a fresh retry budget.
    /// [`StoreError::NoSuchJob`] when there is no dead job with that id.
    async fn requeue(&self, job: JobId, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Deletes dead jobs: the one given, or all. Returns how many. Their idempotency keys
    /// are released: they were never delivered, so a redelivery is accepted again.
    async fn purge_dead(&self, job: Option<JobId>) -> Result<u64, StoreError>;

    /// Deletes done jobs enqueued before `before` (their idempotency keys go with them, so
    /// keep them longer than any platform redelivers). Returns how many.
    async fn prune_done(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// One job.
    async fn job(&self, job: JobId) -> Result<Option<JobRecord>, StoreError>;

    /// Up to `limit` jobs in a state, oldest first.
    async fn jobs(&self, state: JobState, limit: usize) -> Result<Vec<JobRecord>, StoreError>;

    /// Job counts by state.
    async fn stats(&self) -> Result<QueueStats, StoreError>;
}

/// The links between platform and inbox objects, by typed key; see [`Store`] for the
/// contract.
#[async_trait]
pub trait LinkStore: Send + Sync + fmt::Debug + 'static {
    /// A link's value.
    async fn get_link(&self, key: &LinkKey) -> Result<Option<String>, StoreError>;

    /// Inserts a link unless its key exists; returns the value stored afterwards.
    async fn put_link(&self, link: &Link) -> Result<String, StoreError>;

    /// Inserts or overwrites a link.
    async fn set_link(&self, link: &Link) -> Result<(), StoreError>;

    /// Removes a link; whether it existed.
    async fn delete_link(&self, key: &LinkKey) -> Result<bool, StoreError>;

    /// Up to `limit` links in `prefix`'s range (its kind, keys starting with its prefix), in
    /// key order.
    async fn links_with_prefix(
        &self,
        prefix: &LinkPrefix,
        limit: usize,
    ) -> Result<Vec<Link>, StoreError>;
}
