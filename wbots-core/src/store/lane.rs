//! [`Lane`]: which pool of workers runs a job, so work toward one side never waits behind a
//! backlog toward the other.

/// The pool of workers a job runs in, chosen from its kind when it is enqueued. Each lane
/// has its own workers (`EngineConfig::workers` / `outbound_workers`), so an agent's reply
/// never waits for a worker behind a backlog of customer messages on their way to the inbox,
/// nor the reverse. Lanes never reorder a conversation: a store hands out only the head job
/// of each ordering key whatever its lane, so a reply queued behind a customer message of
/// its own conversation still waits for that message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Work toward the team inbox (customer messages, receipts, reactions, sweeps, status
    /// fixes): Chatwoot's calls. Every job stored before lanes existed is here unless the
    /// migration recognised it as outbound.
    #[default]
    Inbound,
    /// Work toward the platform (agent replies, typing, credential upkeep): Meta's calls.
    Outbound,
}

impl Lane {
    /// Every lane.
    pub const ALL: [Lane; 2] = [Self::Inbound, Self::Outbound];

    /// Its stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::Outbound => "outbound",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }
}
