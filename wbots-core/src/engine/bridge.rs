//! The public face of the engine: [`Bridge`] and its builder. Every method here is a thin
//! door into a handler (`ingest`, `agent_jobs`, `worker`, `flags`, `forget`, `sweep`).

use std::fmt;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::clock::{Clock, SystemClock};
use super::config::EngineConfig;
use super::context::{Context, Routes};
use super::flags::{self, FlagOrigin};
use super::forget::{self, ForgetReport};
use super::ingest::{self, IngestReport};
use super::{Binding, sweep, worker};
use crate::channel::Channel;
use crate::error::{Error, StoreError, WebhookError};
use crate::ids::{ChannelAddress, PlatformUserId};
use crate::inbox::Inbox;
use crate::request::RawRequest;
use crate::store::Store;

/// The bridge: routes, store, adapters and workers. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Bridge {
    cx: Arc<Context>,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("store", &self.cx.store)
            .field("inbox", &self.cx.inbox.name())
            .field("channels", &self.channel_names().collect::<Vec<_>>())
            .field("bindings", &self.bindings().map(|b| &b.address).collect::<Vec<_>>())
            .field("clock", &self.cx.clock)
            .field("config", &self.cx.config)
            .finish()
    }
}

impl Bridge {
    /// Starts building a bridge over a store and an inbox.
    pub fn builder(store: Arc<dyn Store>, inbox: Arc<dyn Inbox>) -> BridgeBuilder {
        BridgeBuilder {
            store,
            inbox,
            channels: Vec::new(),
            bindings: Vec::new(),
            config: EngineConfig::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.cx.store
    }

    /// The inbox adapter.
    pub fn inbox(&self) -> &Arc<dyn Inbox> {
        &self.cx.inbox
    }

    /// A channel by its name (its webhook path segment).
    pub fn channel(&self, name: &str) -> Option<&Arc<dyn Channel>> {
        self.cx.routes.channel(name)
    }

    /// The registered channels' names.
    pub fn channel_names(&self) -> impl Iterator<Item = &str> {
        self.cx.routes.channels().map(|(name, _)| name)
    }

    /// The bindings, one per bridged business account.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.cx.routes.bindings()
    }

    /// The engine settings.
    pub fn config(&self) -> &EngineConfig {
        &self.cx.config
    }

    /// The clock the engine reads the time from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.cx.clock
    }

    /// Answers a channel's subscription handshake (Meta's GET challenge).
    pub fn handshake(
        &self,
        channel: &str,
        request: &RawRequest<'_>,
    ) -> Result<String, WebhookError> {
        ingest::handshake(&self.cx, channel, request)
    }

    /// Ingests a platform webhook delivery for `channel`: verify, parse, enqueue all events
    /// in one transaction. `Ok` means every event is durably stored (or was already).
    ///
    /// # Errors
    /// The [`WebhookError`] to answer with; on any error nothing was stored.
    pub async fn ingest_channel(
        &self,
        channel: &str,
        request: &RawRequest<'_>,
    ) -> Result<IngestReport, WebhookError> {
        ingest::channel_webhook(&self.cx, channel, request).await
    }

    /// Ingests an inbox webhook delivery (agent events), like [`Bridge::ingest_channel`].
    pub async fn ingest_inbox(
        &self,
        request: &RawRequest<'_>,
    ) -> Result<IngestReport, WebhookError> {
        ingest::inbox_webhook(&self.cx, request).await
    }

    /// Runs the workers until `shutdown` is cancelled, then stops claiming and waits for the
    /// jobs in flight to finish (their leases would otherwise have to expire first).
    pub async fn run(&self, shutdown: CancellationToken) {
        worker::run(self.cx.clone(), shutdown).await;
    }

    /// Runs every job that is ready now, one claim round after another, until none is left
    /// ready. For tests, examples and operator commands; services use [`Bridge::run`].
    pub async fn run_until_idle(&self) {
        worker::run_until_idle(&self.cx).await;
    }

    /// Enqueues a sweep now, whatever the schedule: for tests and operator commands.
    ///
    /// # Errors
    /// The store's, when it cannot take the job.
    pub async fn sweep_now(&self) -> Result<(), WebhookError> {
        sweep::enqueue(&self.cx, &format!("now/{}", uuid::Uuid::new_v4())).await
    }

    /// Removes everything the bridge keeps about `user` under every bound account: links
    /// (contact, conversation, messages, receipts) and jobs in any state, finished ones with
    /// their idempotency keys (which name the user's thread). Answers once the store holds
    /// the user's id nowhere (a SQLite store has scrubbed its files). A webhook of theirs
    /// delivered again afterwards would be imported again; Meta redelivers only webhooks
    /// that were never acknowledged.
    pub async fn forget_customer(&self, user: &PlatformUserId) -> Result<ForgetReport, StoreError> {
        forget::customer(&self.cx, user).await
    }

    /// Flags `address`: its sends fail at once until it is reconnected.
    pub async fn flag_channel(
        &self,
        address: &ChannelAddress,
        origin: FlagOrigin,
        reason: &str,
    ) -> Result<(), StoreError> {
        flags::flag(&self.cx, address, origin, reason).await
    }

    /// Why `address` is flagged, if it is. A flag set under another credential than the one
    /// configured now is cleared here: the operator put in a new token.
    pub async fn channel_flag(
        &self,
        address: &ChannelAddress,
    ) -> Result<Option<String>, StoreError> {
        flags::current(&self.cx, address).await
    }

    /// Reads every bound channel's flag once, clearing those a new credential replaced,
    /// so the store (and `/metrics`, which reads it) shows the truth from the start.
    pub async fn refresh_channel_flags(&self) {
        flags::refresh(&self.cx).await;
    }
}

/// Builds a [`Bridge`]; [`BridgeBuilder::build`] checks that every binding has a channel.
pub struct BridgeBuilder {
    store: Arc<dyn Store>,
    inbox: Arc<dyn Inbox>,
    channels: Vec<Arc<dyn Channel>>,
    bindings: Vec<Binding>,
    config: EngineConfig,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for BridgeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BridgeBuilder")
            .field("channels", &self.channels.len())
            .field("bindings", &self.bindings)
            .finish_non_exhaustive()
    }
}

impl BridgeBuilder {
    /// Registers a channel; its webhook is served at `/webhooks/{name}`.
    pub fn with_channel(mut self, channel: Arc<dyn Channel>) -> Self {
        self.channels.push(channel);
        self
    }

    /// Bridges a business account into an inbox.
    pub fn with_binding(mut self, binding: Binding) -> Self {
        self.bindings.push(binding);
        self
    }

    /// Replaces the engine settings.
    pub fn with_config(mut self, config: EngineConfig) -> Self {
        self.config = config;
        self
    }

    /// Replaces the clock (default: [`SystemClock`]); tests move a
    /// [`ManualClock`](super::ManualClock) instead of sleeping.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the routes and builds the bridge.
    ///
    /// # Errors
    /// [`Error::Config`] when two channels share a name, a binding names an account no
    /// channel serves, or an account is bound twice.
    pub fn build(self) -> Result<Bridge, Error> {
        let routes = Routes::new(self.channels, self.bindings)?;
        self.config.validate()?;
        Ok(Bridge {
            cx: Arc::new(Context {
                store: self.store,
                inbox: self.inbox,
                routes,
                clock: self.clock,
                config: self.config,
                work: Notify::new(),
            }),
        })
    }
}
