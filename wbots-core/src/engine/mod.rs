//! The bridging engine: webhooks in → durable jobs → workers that talk to the far side.
//!
//! ```text
//!  platform webhook ──verify──parse──┐                ┌── Inbox (Chatwoot): contact,
//!                                    ├─► Store queue ─┤    conversation, message, status
//!  inbox webhook ─────verify──parse──┘  (one tx, then └── Channel (Meta): send parts
//!                                        answer 200)
//! ```
//! Ingest does no network I/O: it authenticates, parses, stores all events of the request
//! in one transaction and only then reports success. Workers claim jobs with a lease, one
//! job per conversation at a time, and retry transient failures with backoff scheduled in
//! the queue.
//!
//! Reading order: `bridge.rs` (the public face) → `context.rs` (what every handler may
//! use, and the routes that can change while the bridge runs) → `inbox_space.rs` (inbox
//! ids of several inbox adapters) → `ingest.rs` → `agent_jobs.rs` (webhooks → jobs) → `job.rs` (the work items) →
//! `worker.rs` (the claim loop) → `execute.rs` (one job: heartbeat, panics, settling) →
//! `inbound/mod.rs`, `inbound/render.rs`, `inbound/posting.rs`, then the other inbound
//! files → `outbound/plan.rs` → `outbound/mod.rs` → `outbound/failure.rs` → the small jobs
//! (`sweep.rs`, `upkeep.rs`, `confirm.rs`, `unroutable.rs`, `outbound/typing.rs`,
//! `inbound/notices.rs`) → `flags.rs`, `forget.rs`, `links.rs`.

mod agent_jobs;
mod backoff;
mod bridge;
mod clock;
mod config;
mod confirm;
mod context;
mod execute;
mod flags;
mod forget;
mod inbound;
mod inbox_space;
mod ingest;
mod job;
mod links;
mod outbound;
pub mod retention;
mod route_refresh;
mod sweep;
mod unroutable;
mod upkeep;
mod worker;

pub use backoff::Backoff;
pub use bridge::{Bridge, BridgeBuilder};
pub use clock::{Clock, ManualClock, SystemClock};
pub use config::EngineConfig;
pub use flags::FlagOrigin;
pub use forget::ForgetReport;
pub use ingest::IngestReport;
pub use route_refresh::RouteRefresh;
pub use upkeep::{ChannelUpkeep, NOTE_WITHIN, RECONNECT_NOTICE, UpkeepOutcome};

use crate::ids::{ChannelAddress, InboxId};
use crate::inbox::ReopenPolicy;

/// How one business account is bridged: which inbox its conversations go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The business account.
    pub address: ChannelAddress,
    /// The inbox its conversations live in.
    pub inbox: InboxId,
    /// What to do when a customer writes into a resolved conversation.
    pub reopen: ReopenPolicy,
}
