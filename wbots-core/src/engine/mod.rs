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

mod agent_jobs;
mod attachments;
mod backoff;
mod config;
mod flags;
mod forget;
mod inbound;
mod ingest;
mod job;
mod links;
mod notices;
mod outbound;
mod sweep;
mod worker;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use tokio::sync::Notify;

pub use backoff::Backoff;
pub use config::EngineConfig;
pub use flags::FlagOrigin;
pub use forget::ForgetReport;
pub use ingest::IngestReport;

use crate::channel::Channel;
use crate::error::Error;
use crate::ids::{ChannelAddress, InboxId};
use crate::inbox::{Inbox, ReopenPolicy};
use crate::store::Store;

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

/// The bridge: routes, store, adapters and workers. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Bridge {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    inbox: Arc<dyn Inbox>,
    channels: HashMap<String, Arc<dyn Channel>>,
    by_address: HashMap<ChannelAddress, (Arc<dyn Channel>, Binding)>,
    config: EngineConfig,
    /// Woken when new work may be ready, so idle workers need not wait for the poll tick.
    work: Notify,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("store", &self.inner.store)
            .field("inbox", &self.inner.inbox.name())
            .field("channels", &self.inner.channels.keys().collect::<Vec<_>>())
            .field("bindings", &self.inner.by_address.keys().collect::<Vec<_>>())
            .field("config", &self.inner.config)
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
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The inbox adapter.
    pub fn inbox(&self) -> &Arc<dyn Inbox> {
        &self.inner.inbox
    }

    /// A channel by its name (its webhook path segment).
    pub fn channel(&self, name: &str) -> Option<&Arc<dyn Channel>> {
        self.inner.channels.get(name)
    }

    /// The registered channels' names.
    pub fn channel_names(&self) -> impl Iterator<Item = &str> {
        self.inner.channels.keys().map(String::as_str)
    }

    /// The bindings, one per bridged business account.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.inner.by_address.values().map(|(_, b)| b)
    }

    /// The engine settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    fn route(&self, address: &ChannelAddress) -> Option<&(Arc<dyn Channel>, Binding)> {
        self.inner.by_address.get(address)
    }
}

/// Builds a [`Bridge`]; [`BridgeBuilder::build`] checks that every binding has a channel.
pub struct BridgeBuilder {
    store: Arc<dyn Store>,
    inbox: Arc<dyn Inbox>,
    channels: Vec<Arc<dyn Channel>>,
    bindings: Vec<Binding>,
    config: EngineConfig,
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

    /// Checks the routes and builds the bridge.
    ///
    /// # Errors
    /// [`Error::Config`] when two channels share a name, a binding names an account no
    /// channel serves, or an account is bound twice.
    pub fn build(self) -> Result<Bridge, Error> {
        let mut channels = HashMap::new();
        for ch in &self.channels {
            if channels.insert(ch.name().to_owned(), ch.clone()).is_some() {
                return Err(Error::Config(format!("two channels are named {:?}", ch.name())));
            }
        }
        let mut by_address = HashMap::new();
        for binding in self.bindings {
            let channel = self
                .channels
                .iter()
                .find(|c| c.accounts().contains(&binding.address))
                .ok_or_else(|| {
                    Error::Config(format!("no channel serves the account {}", binding.address))
                })?
                .clone();
            let address = binding.address.clone();
            if by_address.insert(address.clone(), (channel, binding)).is_some() {
                return Err(Error::Config(format!("the account {address} is bound twice")));
            }
        }
        self.config.validate()?;
        Ok(Bridge {
            inner: Arc::new(Inner {
                store: self.store,
                inbox: self.inbox,
                channels,
                by_address,
                config: self.config,
                work: Notify::new(),
            }),
        })
    }
}
