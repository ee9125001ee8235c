//! The public face of the engine: [`Bridge`] and its builder. Every method here is a thin
//! door into a handler (`ingest`, `agent_jobs`, `worker`, `flags`, `forget`, `sweep`).

use std::fmt;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::clock::{Clock, SystemClock};
use super::config::EngineConfig;
use super::context::{Engine, Routes};
use super::flags::{self, FlagOrigin};
use super::forget::{self, ForgetReport};
use super::ingest::{self, IngestReport};
use super::job::JobError;
use super::route_refresh::RouteRefresh;
use super::upkeep::{self, ChannelUpkeep};
use super::{Binding, sweep, worker};
use crate::channel::Channel;
use crate::error::{Error, StoreError, WebhookError};
use crate::ids::{ChannelAddress, PlatformUserId};
use crate::inbox::Inbox;
use crate::request::RawRequest;
use crate::store::Store;

/// The bridge: routes, store, adapters and workers. Cheap to clone (an `Arc` inside).
///
/// Its routes — channels, inbox adapters (one per Chatwoot account) and bindings — can be
/// replaced while it runs ([`Bridge::replace_routes`]); each job and webhook works on the
/// routes of the moment it started.
#[derive(Clone)]
pub struct Bridge {
    engine: Arc<Engine>,
    refresh: Option<Arc<dyn RouteRefresh>>,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes = self.engine.routes();
        f.debug_struct("Bridge")
            .field("store", &self.engine.store)
            .field("inboxes", &routes.inboxes().iter().map(|i| i.name()).collect::<Vec<_>>())
            .field("channels", &routes.channels().map(|(n, _)| n).collect::<Vec<_>>())
            .field("bindings", &routes.bindings().map(|b| &b.address).collect::<Vec<_>>())
            .field("clock", &self.engine.clock)
            .field("config", &self.engine.config)
            .finish()
    }
}

impl Bridge {
    /// Starts building a bridge over a store and an inbox adapter (one Chatwoot account);
    /// [`BridgeBuilder::with_inbox`] adds more.
    pub fn builder(store: Arc<dyn Store>, inbox: Arc<dyn Inbox>) -> BridgeBuilder {
        BridgeBuilder {
            store,
            inboxes: vec![inbox],
            channels: Vec::new(),
            bindings: Vec::new(),
            config: EngineConfig::default(),
            clock: Arc::new(SystemClock),
            upkeep: None,
            refresh: None,
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.engine.store
    }

    /// The first inbox adapter: the only one of a bridge over one Chatwoot account.
    pub fn inbox(&self) -> Arc<dyn Inbox> {
        // `Routes::new` refuses an empty list.
        self.engine.routes().inboxes()[0].clone()
    }

    /// Every inbox adapter, in the order given.
    pub fn inboxes(&self) -> Vec<Arc<dyn Inbox>> {
        self.engine.routes().inboxes().to_vec()
    }

    /// A channel by its name (its webhook path segment).
    pub fn channel(&self, name: &str) -> Option<Arc<dyn Channel>> {
        self.engine.routes().channel(name).cloned()
    }

    /// The registered channels' names.
    pub fn channel_names(&self) -> Vec<String> {
        self.engine.routes().channels().map(|(name, _)| name.to_owned()).collect()
    }

    /// The bindings, one per bridged business account.
    pub fn bindings(&self) -> Vec<Binding> {
        self.engine.routes().bindings().cloned().collect()
    }

    /// Serves these channels, inbox adapters and bindings from now on, in place of the
    /// current ones, without a restart. Checked like [`BridgeBuilder::build`]; a set that
    /// fails the checks is refused and the current one kept.
    ///
    /// Jobs already running finish with the routes they started with; later jobs and
    /// webhooks see the new ones. A job stored for an account no longer bound fails for
    /// good ("no longer configured"), as after a restart. Channels added here are not
    /// [`prepare`](crate::Channel::prepare)d: the caller does that first if they need it.
    ///
    /// # Errors
    /// [`Error::Config`], as [`BridgeBuilder::build`].
    pub fn replace_routes(
        &self,
        channels: Vec<Arc<dyn Channel>>,
        inboxes: Vec<Arc<dyn Inbox>>,
        bindings: Vec<Binding>,
    ) -> Result<(), Error> {
        let routes = Routes::new(channels, inboxes, bindings)?;
        self.engine.replace_routes(routes);
        Ok(())
    }

    /// The engine settings.
    pub fn config(&self) -> &EngineConfig {
        &self.engine.config
    }

    /// The clock the engine reads the time from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.engine.clock
    }

    /// Answers a channel's subscription handshake (Meta's GET challenge).
    pub fn handshake(
        &self,
        channel: &str,
        request: &RawRequest<'_>,
    ) -> Result<String, WebhookError> {
        ingest::handshake(&self.engine.context(), channel, request)
    }

    /// Ingests a platform webhook delivery for `channel`: verify, parse, enqueue all events
    /// in one transaction. `Ok` means every event is durably stored (or was already).
    ///
    /// Events for an account the routes lack are skipped (counted as unrouted) — unless a
    /// [`RouteRefresh`] is set and finds the account connected meanwhile: then the delivery
    /// is ingested again on the new routes (events stored by the first pass are not stored
    /// twice: their idempotency keys are taken).
    ///
    /// # Errors
    /// The [`WebhookError`] to answer with; on any error nothing was stored.
    pub async fn ingest_channel(
        &self,
        channel: &str,
        request: &RawRequest<'_>,
    ) -> Result<IngestReport, WebhookError> {
        let Some(refresh) = &self.refresh else {
            return ingest::channel_webhook(&self.engine.context(), channel, request, true).await;
        };
        let report =
            ingest::channel_webhook(&self.engine.context(), channel, request, false).await?;
        if report.unrouted == 0 {
            return Ok(report);
        }
        // Looked again whether the routes changed or not: the last pass logs and counts
        // what stays unrouted (events stored by the first pass are duplicates now).
        refresh.refresh().await;
        ingest::channel_webhook(&self.engine.context(), channel, request, true).await
    }

    /// Ingests an inbox webhook delivery (agent events) for the first inbox adapter, like
    /// [`Bridge::ingest_channel`]: the single-account case.
    pub async fn ingest_inbox(
        &self,
        request: &RawRequest<'_>,
    ) -> Result<IngestReport, WebhookError> {
        let cx = self.engine.context();
        let inbox = cx.routes.inboxes()[0].name().to_owned();
        ingest::inbox_webhook(&cx, &inbox, request).await
    }

    /// Ingests an inbox webhook delivery addressed to the inbox adapter named `inbox` (its
    /// webhook path): only that adapter authenticates it, with its own token or secret.
    ///
    /// # Errors
    /// [`WebhookError::NotFound`] when no adapter has that name; otherwise as
    /// [`Bridge::ingest_channel`].
    pub async fn ingest_inbox_named(
        &self,
        inbox: &str,
        request: &RawRequest<'_>,
    ) -> Result<IngestReport, WebhookError> {
        ingest::inbox_webhook(&self.engine.context(), inbox, request).await
    }

    /// Runs the workers until `shutdown` is cancelled, then stops claiming and waits for the
    /// jobs in flight to finish (their leases would otherwise have to expire first).
    pub async fn run(&self, shutdown: CancellationToken) {
        worker::run(self.engine.clone(), shutdown).await;
    }

    /// Runs every job that is ready now, one claim round after another, until none is left
    /// ready. For tests, examples and operator commands; services use [`Bridge::run`].
    pub async fn run_until_idle(&self) {
        worker::run_until_idle(&self.engine).await;
    }

    /// Enqueues a sweep now, whatever the schedule: for tests and operator commands.
    ///
    /// # Errors
    /// The store's, when it cannot take the job.
    pub async fn sweep_now(&self) -> Result<(), WebhookError> {
        let cx = self.engine.context();
        let key = format!("now/{}", uuid::Uuid::new_v4());
        for inbox in cx.routes.inboxes() {
            sweep::enqueue(&cx, inbox.name(), &key).await?;
        }
        Ok(())
    }

    /// Enqueues an upkeep of `address` now, whatever the schedule (a registered
    /// [`ChannelUpkeep`] runs it): for tests and operator commands.
    ///
    /// # Errors
    /// The store's, when it cannot take the job.
    pub async fn upkeep_now(&self, address: &ChannelAddress) -> Result<(), WebhookError> {
        let key = format!("now/{}", uuid::Uuid::new_v4());
        upkeep::enqueue(&self.engine.context(), address, &key).await
    }

    /// Removes everything the bridge keeps about `user` under every bound account: links
    /// (contact, conversation, messages, receipts) and jobs in any state, finished ones with
    /// their idempotency keys (which name the user's thread). Answers once the store holds
    /// the user's id nowhere (a SQLite store has scrubbed its files). A webhook of theirs
    /// delivered again afterwards would be imported again; Meta redelivers only webhooks
    /// that were never acknowledged.
    pub async fn forget_customer(&self, user: &PlatformUserId) -> Result<ForgetReport, StoreError> {
        forget::customer(&self.engine.context(), user).await
    }

    /// Flags `address`: its sends fail at once until it is reconnected.
    pub async fn flag_channel(
        &self,
        address: &ChannelAddress,
        origin: FlagOrigin,
        reason: &str,
    ) -> Result<(), StoreError> {
        flags::flag(&self.engine.context(), address, origin, reason).await
    }

    /// Flags `address` and tells its agents, as a dead credential found by the upkeep does:
    /// a private note in each conversation whose customer wrote within
    /// [`NOTE_WITHIN`](crate::engine::upkeep::NOTE_WITHIN), once per reason.
    ///
    /// # Errors
    /// The store's, when it cannot take the flag or the notes.
    pub async fn needs_reconnect(
        &self,
        address: &ChannelAddress,
        origin: FlagOrigin,
        reason: &str,
    ) -> Result<(), StoreError> {
        let cx = self.engine.context();
        let at = cx.now();
        upkeep::needs_reconnect(&cx, address, origin, reason, at).await.map_err(|e| match e {
            JobError::Store(e) => e,
            other => StoreError::unavailable(format!("could not tell the agents: {other}")),
        })
    }

    /// Lifts the flag of `address` when it was set for `origin` (a channel connected
    /// again after its grant was withdrawn).
    ///
    /// # Errors
    /// The store's.
    pub async fn clear_channel_flag(
        &self,
        address: &ChannelAddress,
        origin: FlagOrigin,
    ) -> Result<(), StoreError> {
        flags::clear(&self.engine.context(), address, origin).await
    }

    /// Why `address` is flagged, if it is. A flag set under another credential than the one
    /// configured now is cleared here: the operator put in a new token.
    pub async fn channel_flag(
        &self,
        address: &ChannelAddress,
    ) -> Result<Option<String>, StoreError> {
        flags::current(&self.engine.context(), address).await
    }

    /// Reads every bound channel's flag once, clearing those a new credential replaced,
    /// so the store (and `/metrics`, which reads it) shows the truth from the start.
    pub async fn refresh_channel_flags(&self) {
        flags::refresh(&self.engine.context()).await;
    }
}

/// Builds a [`Bridge`]; [`BridgeBuilder::build`] checks that every binding has a channel.
pub struct BridgeBuilder {
    store: Arc<dyn Store>,
    inboxes: Vec<Arc<dyn Inbox>>,
    channels: Vec<Arc<dyn Channel>>,
    bindings: Vec<Binding>,
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    upkeep: Option<Arc<dyn ChannelUpkeep>>,
    refresh: Option<Arc<dyn RouteRefresh>>,
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

    /// Adds an inbox adapter (another Chatwoot account); its webhook is served at
    /// `/webhooks/{name}`. With several, each but one has an id space
    /// ([`Inbox::id_space`]) so their inbox ids cannot collide.
    pub fn with_inbox(mut self, inbox: Arc<dyn Inbox>) -> Self {
        self.inboxes.push(inbox);
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

    /// Registers what looks after the channels' credentials: an upkeep job per account runs
    /// at start and every [`EngineConfig::upkeep_every`] (see [`ChannelUpkeep`]).
    pub fn with_upkeep(mut self, upkeep: Arc<dyn ChannelUpkeep>) -> Self {
        self.upkeep = Some(upkeep);
        self
    }

    /// Asks `refresh` to look for newly connected accounts when a delivery names one the
    /// routes lack (see [`Bridge::ingest_channel`]).
    pub fn with_route_refresh(mut self, refresh: Arc<dyn RouteRefresh>) -> Self {
        self.refresh = Some(refresh);
        self
    }

    /// Checks the routes and builds the bridge.
    ///
    /// # Errors
    /// [`Error::Config`] when two channels or two inbox adapters share a name, inbox
    /// adapters' id spaces clash, a binding names an account no channel serves or an inbox
    /// no adapter serves, or an account is bound twice.
    pub fn build(self) -> Result<Bridge, Error> {
        let routes = Routes::new(self.channels, self.inboxes, self.bindings)?;
        self.config.validate()?;
        let engine =
            Arc::new(Engine::new(self.store, routes, self.clock, self.config, self.upkeep));
        Ok(Bridge { engine, refresh: self.refresh })
    }
}
