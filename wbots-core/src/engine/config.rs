//! Engine settings.

use std::time::Duration;

use super::Backoff;
use crate::error::Error;

/// How the engine runs its workers and treats time. Defaults suit one process serving a
/// few thousand conversations; every field is documented with why it has its default.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct EngineConfig {
    /// Inbound-lane jobs processed at once (customer events toward the inbox, sweeps: see
    /// [`Lane`](crate::store::Lane)). Each in-flight job holds one conversation, so this
    /// bounds parallelism across conversations and concurrent requests to the inbox;
    /// default 16.
    pub workers: usize,
    /// Outbound-lane jobs processed at once (agent replies, typing, credential upkeep):
    /// workers of their own, so a reply never waits for a worker behind an inbound backlog,
    /// nor the reverse; default 4 (agents write far less than customers, and each send is
    /// one Graph call).
    pub outbound_workers: usize,
    /// How long a claimed job stays with its worker without a heartbeat before another may
    /// take it over. A running job extends its lease every third of this, so the lease bounds
    /// how long a dead replica's conversations stall (on PostgreSQL; a SQLite bridge takes
    /// its dead predecessor's jobs over at start), not how long a job may run; default 20 s.
    pub lease: Duration,
    /// Failed attempts before a job goes to the dead letter. With the default backoff, 12
    /// attempts span about an hour — longer than a typical Chatwoot or Graph outage.
    pub max_attempts: u32,
    /// Retry delays.
    pub backoff: Backoff,
    /// How often idle workers look for jobs whose retry time came (new work wakes them at
    /// once); default 1 s.
    pub poll_interval: Duration,
    /// A message older than this when it reaches the inbox shows its original time in the
    /// text, because Chatwoot stamps API-created messages with the time of creation;
    /// default 5 min.
    pub late_after: Duration,
    /// The largest attachment carried across, in bytes; default 25 MB (Meta's limit).
    pub max_media_bytes: u64,
    /// The Meta app id of this bridge: echoes carrying it are the bridge's own sends even
    /// when their metadata was lost.
    pub own_app_id: Option<String>,
    /// How long finished jobs (and so their idempotency keys) are kept. Meta redelivers for
    /// up to 36 hours and Chatwoot for minutes, so the default week leaves a wide margin
    /// while keeping the store from growing without end.
    pub retention: Duration,
    /// How often the inbox is searched for agent messages it could not hand to the bridge
    /// (see [`crate::Inbox::undelivered`]); also once at start. `None` turns the sweep off;
    /// default 5 min: Chatwoot never redelivers, so this bounds how late such a message goes.
    pub sweep_every: Option<Duration>,
    /// How far back the sweep looks; default 24 h (Chatwoot's retry button disappears after
    /// a day, and Meta's standard window is a day).
    pub sweep_lookback: Duration,
    /// How long a send taken over from a dead worker waits, through the queue, before
    /// resending a part it has no record of: the dead worker may have sent it, and the
    /// platform's echo (carrying the bridge's marker on Messenger) records it meanwhile.
    /// Zero resends at once; default 10 s. Only for channels that echo sends.
    pub echo_grace: Duration,
    /// How often each account's credential is looked after by the registered
    /// [`ChannelUpkeep`](super::ChannelUpkeep) (also once at start); `None` turns the
    /// upkeep off. Default 6 h: Instagram-Login tokens live 60 days and a revoked Page
    /// token is found within a quarter of a day, at four Graph calls a day per account.
    pub upkeep_every: Option<Duration>,
    /// How long what the bridge knows about a person is kept after their last message:
    /// the hourly pruning forgets them then ([`retention`](super::retention)). `None`
    /// (the default): as long as the conversation exists.
    pub person_retention: Option<Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            workers: 16,
            outbound_workers: 4,
            lease: Duration::from_secs(20),
            max_attempts: 12,
            backoff: Backoff::default(),
            poll_interval: Duration::from_secs(1),
            late_after: Duration::from_secs(300),
            max_media_bytes: 25 * 1024 * 1024,
            own_app_id: None,
            retention: Duration::from_secs(7 * 24 * 3600),
            sweep_every: Some(Duration::from_secs(300)),
            sweep_lookback: Duration::from_secs(24 * 3600),
            echo_grace: Duration::from_secs(10),
            upkeep_every: Some(Duration::from_secs(6 * 3600)),
            person_retention: None,
        }
    }
}

impl EngineConfig {
    /// Sets the number of concurrent jobs.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Sets the number of concurrent outbound-lane jobs.
    pub fn with_outbound_workers(mut self, workers: usize) -> Self {
        self.outbound_workers = workers;
        self
    }

    /// Sets how long a send taken over from a dead worker waits for echoes.
    pub fn with_echo_grace(mut self, grace: Duration) -> Self {
        self.echo_grace = grace;
        self
    }

    /// Sets the lease length.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Sets the attempts before the dead letter.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Sets the retry delays.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the idle poll interval.
    pub fn with_poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every;
        self
    }

    /// Sets the age beyond which a message shows its original time.
    pub fn with_late_after(mut self, after: Duration) -> Self {
        self.late_after = after;
        self
    }

    /// Sets the largest attachment carried across.
    pub fn with_max_media_bytes(mut self, bytes: u64) -> Self {
        self.max_media_bytes = bytes;
        self
    }

    /// Sets [`EngineConfig::person_retention`].
    pub fn with_person_retention(mut self, keep: Option<Duration>) -> Self {
        self.person_retention = keep;
        self
    }

    /// Sets how long finished jobs are kept.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Sets how often the sweep runs (`None`: never).
    pub fn with_sweep_every(mut self, every: Option<Duration>) -> Self {
        self.sweep_every = every;
        self
    }

    /// Sets how far back the sweep looks.
    pub fn with_sweep_lookback(mut self, lookback: Duration) -> Self {
        self.sweep_lookback = lookback;
        self
    }

    /// Sets how often credentials are looked after (`None`: never).
    pub fn with_upkeep_every(mut self, every: Option<Duration>) -> Self {
        self.upkeep_every = every;
        self
    }

    /// Sets the bridge's own Meta app id.
    pub fn with_own_app_id(mut self, app_id: impl Into<String>) -> Self {
        self.own_app_id = Some(app_id.into());
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.workers == 0 {
            return Err(Error::Config("workers must be at least 1".into()));
        }
        if self.outbound_workers == 0 {
            return Err(Error::Config("outbound_workers must be at least 1".into()));
        }
        if self.max_attempts == 0 {
            return Err(Error::Config("max_attempts must be at least 1".into()));
        }
        if self.retention < Duration::from_secs(48 * 3600) {
            return Err(Error::Config(
                "retention must be at least 48 h: Meta redelivers for up to 36 h".into(),
            ));
        }
        if self.person_retention.is_some_and(|k| k < Duration::from_secs(48 * 3600)) {
            return Err(Error::Config(
                "person_retention must be at least 48 h: Meta redelivers for up to 36 h, and a redelivered message would bring the person back".into(),
            ));
        }
        if self.sweep_every.is_some_and(|e| e < Duration::from_secs(1)) {
            return Err(Error::Config("sweep_every must be at least 1 s".into()));
        }
        // Done jobs hold the idempotency keys that keep a swept message from being sent twice.
        if self.sweep_lookback > self.retention {
            return Err(Error::Config("sweep_lookback must not exceed retention".into()));
        }
        if self.upkeep_every.is_some_and(|e| e < Duration::from_secs(1)) {
            return Err(Error::Config("upkeep_every must be at least 1 s".into()));
        }
        if self.lease < Duration::from_secs(1) {
            return Err(Error::Config("lease must be at least 1 s".into()));
        }
        Ok(())
    }
}
