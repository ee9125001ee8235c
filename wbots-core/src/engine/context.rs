//! What every handler may use, and nothing more: the store, the routes (channels, inbox
//! adapters, bindings), the clock and the settings. Handlers take a `&Context`; the
//! [`Bridge`] is a shared [`Engine`] with a public face.
//!
//! The routes can be replaced while the bridge runs ([`Engine::replace_routes`]). Each job
//! and each webhook works on one snapshot of them, taken when it starts ([`Engine::context`]):
//! a job running during a swap finishes with the routes it started with, the next one sees
//! the new ones, and no lock is held while anything awaits.
//!
//! [`Bridge`]: super::Bridge

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::Binding;
use super::activity::ActivityMarks;
use super::clock::Clock;
use super::config::EngineConfig;
use super::inbox_space;
use super::ingest::IngestReport;
use super::job::JobError;
use super::links::Links;
use super::upkeep::ChannelUpkeep;
use crate::channel::Channel;
use crate::error::{DeliveryError, DeliveryErrorKind, Error, WebhookError};
use crate::ids::{ChannelAddress, InboxId};
use crate::inbox::Inbox;
use crate::store::{Enqueued, NewJob, Store};

/// What the bridge shares between its workers and webhooks: everything but a snapshot of
/// the routes.
pub(crate) struct Engine {
    pub(crate) store: Arc<dyn Store>,
    /// The routes served now. Read by cloning the `Arc` (never held across an await),
    /// replaced whole.
    routes: RwLock<Arc<Routes>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: EngineConfig,
    /// What looks after the channels' credentials, if anything does.
    pub(crate) upkeep: Option<Arc<dyn ChannelUpkeep>>,
    /// Woken when new work may be ready, so idle workers need not wait for the poll tick.
    pub(crate) work: Notify,
    /// When this process last wrote each channel's last message in and out.
    pub(crate) activity: ActivityMarks,
}

impl Engine {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        routes: Routes,
        clock: Arc<dyn Clock>,
        config: EngineConfig,
        upkeep: Option<Arc<dyn ChannelUpkeep>>,
    ) -> Self {
        Self {
            store,
            routes: RwLock::new(Arc::new(routes)),
            clock,
            config,
            upkeep,
            work: Notify::new(),
            activity: ActivityMarks::default(),
        }
    }

    /// The routes served now.
    pub(crate) fn routes(&self) -> Arc<Routes> {
        // A poisoned lock only means a panic while swapping an `Arc`: the value is whole.
        self.routes.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Serves `routes` from now on; jobs already running keep the routes they hold.
    pub(crate) fn replace_routes(&self, routes: Routes) {
        *self.routes.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(routes);
        // A binding may have been added for jobs that waited for it.
        self.work.notify_one();
    }

    /// A handler's view: the shared parts and the routes served now.
    pub(crate) fn context(self: &Arc<Self>) -> Context {
        Context { engine: self.clone(), routes: self.routes() }
    }
}

/// What one job or one webhook delivery works with: the engine and one snapshot of the
/// routes, taken when it started.
pub(crate) struct Context {
    engine: Arc<Engine>,
    pub(crate) routes: Arc<Routes>,
}

impl Deref for Context {
    type Target = Engine;

    fn deref(&self) -> &Engine {
        &self.engine
    }
}

impl Context {
    /// The engine's "now" (see [`Clock`]).
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Typed reads of the engine's links.
    pub(crate) fn links(&self) -> Links<'_> {
        Links(self.store.as_ref())
    }

    /// Stores `jobs` in one transaction, counts them in `report`, and wakes a worker when
    /// one is new.
    pub(crate) async fn enqueue(
        &self,
        jobs: Vec<NewJob>,
        report: &mut IngestReport,
    ) -> Result<(), WebhookError> {
        if jobs.is_empty() {
            return Ok(());
        }
        for outcome in self.store.enqueue(&jobs).await? {
            match outcome {
                Enqueued::New(_) => report.accepted += 1,
                Enqueued::Duplicate(_) => report.duplicates += 1,
            }
        }
        metrics::counter!("wbots_jobs_enqueued_total").increment(report.accepted as u64);
        metrics::counter!("wbots_jobs_duplicate_total").increment(report.duplicates as u64);
        if report.accepted > 0 {
            self.work.notify_one();
        }
        Ok(())
    }
}

/// A bound business account: the channel that serves it, the inbox adapter (the Chatwoot
/// account) its conversations live in, and the binding.
pub(crate) struct Route {
    pub(crate) channel: Arc<dyn Channel>,
    pub(crate) inbox: Arc<dyn Inbox>,
    pub(crate) binding: Binding,
}

/// The channels by name (their webhook paths), the inbox adapters by name (theirs), and
/// the bound accounts by address.
pub(crate) struct Routes {
    channels: HashMap<String, Arc<dyn Channel>>,
    /// In the order given: the first is what [`super::Bridge::inbox`] answers.
    inboxes: Vec<Arc<dyn Inbox>>,
    by_address: HashMap<ChannelAddress, Route>,
}

impl Routes {
    /// Checks and indexes the routes.
    ///
    /// # Errors
    /// [`Error::Config`] when two channels or inbox adapters share a name, the inbox
    /// adapters' id spaces clash (see [`inbox_space`]), a binding names an account no
    /// channel serves or an inbox no adapter serves, or an account is bound twice.
    pub(crate) fn new(
        channel_list: Vec<Arc<dyn Channel>>,
        inbox_list: Vec<Arc<dyn Inbox>>,
        bindings: Vec<Binding>,
    ) -> Result<Self, Error> {
        let mut channels = HashMap::new();
        for ch in &channel_list {
            if channels.insert(ch.name().to_owned(), ch.clone()).is_some() {
                return Err(Error::Config(format!("two channels are named {:?}", ch.name())));
            }
        }
        let inboxes = inbox_space::check_adapters(inbox_list)?;
        // Both are served at `/webhooks/{name}`.
        if let Some(clash) = inboxes.iter().find(|i| channels.contains_key(i.name())) {
            return Err(Error::Config(format!(
                "a channel and an inbox adapter are both named {:?}",
                clash.name()
            )));
        }
        let mut by_address = HashMap::new();
        for binding in bindings {
            let channel = channel_list
                .iter()
                .find(|c| c.accounts().contains(&binding.address))
                .ok_or_else(|| {
                    Error::Config(format!("no channel serves the account {}", binding.address))
                })?
                .clone();
            let inbox = inbox_space::adapter_of(&inboxes, &binding.inbox)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "no inbox adapter serves the inbox {} of the account {}",
                        binding.inbox, binding.address
                    ))
                })?
                .clone();
            let address = binding.address.clone();
            if by_address.insert(address.clone(), Route { channel, inbox, binding }).is_some() {
                return Err(Error::Config(format!("the account {address} is bound twice")));
            }
        }
        Ok(Self { channels, inboxes, by_address })
    }

    /// A channel by its name.
    pub(crate) fn channel(&self, name: &str) -> Option<&Arc<dyn Channel>> {
        self.channels.get(name)
    }

    /// Every channel with its name.
    pub(crate) fn channels(&self) -> impl Iterator<Item = (&str, &Arc<dyn Channel>)> {
        self.channels.iter().map(|(n, c)| (n.as_str(), c))
    }

    /// The inbox adapters, in the order given.
    pub(crate) fn inboxes(&self) -> &[Arc<dyn Inbox>] {
        &self.inboxes
    }

    /// An inbox adapter by its name (its webhook path).
    pub(crate) fn inbox_named(&self, name: &str) -> Option<&Arc<dyn Inbox>> {
        self.inboxes.iter().find(|i| i.name() == name)
    }

    /// The adapter that serves `inbox` (by its id space), if one does.
    pub(crate) fn inbox_of(&self, inbox: &InboxId) -> Option<&Arc<dyn Inbox>> {
        inbox_space::adapter_of(&self.inboxes, inbox)
    }

    /// The adapter that serves `inbox`, or the permanent failure of a job for an inbox
    /// whose account was removed from the routes since the job was stored.
    pub(crate) fn require_inbox(&self, inbox: &InboxId) -> Result<&Arc<dyn Inbox>, JobError> {
        self.inbox_of(inbox).ok_or_else(|| {
            JobError::Delivery(DeliveryError::permanent(
                DeliveryErrorKind::Other,
                format!("the inbox {inbox} is no longer configured"),
            ))
        })
    }

    /// The bindings, one per bound account.
    pub(crate) fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.by_address.values().map(|r| &r.binding)
    }

    /// The human names of the bound accounts' platforms ("Messenger or Instagram"), each
    /// once, in a stable order: for messages to agents.
    pub(crate) fn platform_names(&self) -> String {
        let mut names: Vec<String> = self
            .by_address
            .iter()
            .map(|(address, r)| r.channel.platform_name(&address.kind))
            .collect();
        names.sort();
        names.dedup();
        match names.split_last() {
            None => "any platform".to_owned(),
            Some((last, [])) => last.clone(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        }
    }

    /// The route of a bound account, if it is bound.
    pub(crate) fn get(&self, address: &ChannelAddress) -> Option<&Route> {
        self.by_address.get(address)
    }

    /// The route of a bound account, or the permanent failure of a job for an account
    /// that was unbound since the job was stored.
    pub(crate) fn require(&self, address: &ChannelAddress) -> Result<&Route, JobError> {
        self.get(address).ok_or_else(|| {
            JobError::Delivery(DeliveryError::permanent(
                DeliveryErrorKind::Other,
                format!("the account {address} is no longer configured"),
            ))
        })
    }
}
