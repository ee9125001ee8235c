//! The work items the engine stores in the queue, as JSON.

use serde::{Deserialize, Serialize};

use crate::agent::AgentMessage;
use crate::error::{DeliveryError, StoreError};
use crate::event::InboundEnvelope;
use crate::ids::{ChannelAddress, ConversationId, InboxId, InboxMessageId, ThreadId};
use crate::store::Lane;

/// One unit of work. Serialised into [`crate::store::NewJob::payload`]; the tag names are
/// part of the stored format, so renaming one needs a migration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "job", rename_all = "snake_case")]
pub(crate) enum Job {
    /// A platform event to bring into the inbox.
    Inbound { envelope: InboundEnvelope },
    /// An agent message to send to the customer (also an agent's retry of a failed one).
    Outbound { target: Target, message: AgentMessage },
    /// The inbox marked an agent message failed because it could not hand it to the bridge:
    /// once the message's send (queued before this, in the same conversation) is done, set
    /// its status back to sent. Nothing if the bridge never sent it.
    ConfirmSent { target: Target, conversation: ConversationId, message: InboxMessageId },
    /// An agent started or stopped typing.
    Typing { target: Target, on: bool },
    /// Look for agent messages an inbox adapter could not hand to the bridge. `inbox` is
    /// the adapter's name; absent in sweeps stored before a bridge had several.
    Sweep {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        inbox: Option<String>,
    },
    /// An agent message the bridge cannot route to any customer: mark it failed with why.
    Unroutable {
        inbox: InboxId,
        conversation: ConversationId,
        message: InboxMessageId,
        reason: String,
    },
    /// Look after one account's credential (refresh or check it) through the registered
    /// [`ChannelUpkeep`](super::upkeep::ChannelUpkeep).
    Upkeep { address: ChannelAddress },
}

/// Where an agent event goes: the thread a bridged conversation belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Target {
    pub address: ChannelAddress,
    pub thread: ThreadId,
    pub inbox: InboxId,
}

impl Job {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Inbound { .. } => "inbound",
            Self::Outbound { .. } => "outbound",
            Self::Typing { .. } => "typing",
            Self::ConfirmSent { .. } => "confirm_sent",
            Self::Sweep { .. } => "sweep",
            Self::Unroutable { .. } => "unroutable",
            Self::Upkeep { .. } => "upkeep",
        }
    }

    /// The workers that run it: toward the platform (agent replies, typing, credential
    /// upkeep) or toward the inbox (everything else). `ConfirmSent`, `Unroutable` and the
    /// sweep talk to the inbox only, so they share its lane (and its rate budget).
    pub(crate) fn lane(&self) -> Lane {
        match self {
            Self::Outbound { .. } | Self::Typing { .. } | Self::Upkeep { .. } => Lane::Outbound,
            Self::Inbound { .. }
            | Self::ConfirmSent { .. }
            | Self::Sweep { .. }
            | Self::Unroutable { .. } => Lane::Inbound,
        }
    }
}

/// Why a job run failed.
#[derive(Debug)]
pub(crate) enum JobError {
    /// The far side failed; its classification decides retry or dead letter.
    Delivery(DeliveryError),
    /// The store failed mid-job; the job is retried.
    Store(StoreError),
    /// The job cannot be understood; it goes to the dead letter.
    Corrupt(String),
    /// The handler panicked: a failed attempt like any other, retried with backoff until
    /// the attempts run out. Carries nothing of the panic, whose text may quote the job.
    Panicked,
    /// Not a failure: the job waits in the queue (keeping its conversation's place) until
    /// something it needs may have happened, then runs again. Never dead-letters.
    Deferred { wait: std::time::Duration, reason: &'static str },
}

impl From<DeliveryError> for JobError {
    fn from(e: DeliveryError) -> Self {
        Self::Delivery(e)
    }
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl std::fmt::Display for JobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Delivery(e) => write!(f, "{e}"),
            Self::Store(e) => write!(f, "{e}"),
            Self::Corrupt(e) => write!(f, "unreadable job: {e}"),
            Self::Panicked => write!(f, "the job's handler panicked (a bug in the bridge)"),
            Self::Deferred { reason, .. } => write!(f, "waiting: {reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_stored_before_several_inboxes_still_decodes() {
        let old: Job = serde_json::from_str(r#"{"job":"sweep"}"#).unwrap();
        assert_eq!(old, Job::Sweep { inbox: None });
        let named = Job::Sweep { inbox: Some("chatwoot-eu".into()) };
        let stored = serde_json::to_string(&named).unwrap();
        assert_eq!(serde_json::from_str::<Job>(&stored).unwrap(), named);
        assert_eq!(
            serde_json::to_string(&Job::Sweep { inbox: None }).unwrap(),
            r#"{"job":"sweep"}"#
        );
    }

    #[test]
    fn an_upkeep_job_round_trips_and_names_its_account() {
        let job = Job::Upkeep { address: ChannelAddress::new("instagram", "178414") };
        let stored = serde_json::to_string(&job).unwrap();
        assert_eq!(stored, r#"{"job":"upkeep","address":{"kind":"instagram","account":"178414"}}"#);
        assert_eq!(serde_json::from_str::<Job>(&stored).unwrap(), job);
    }
}
