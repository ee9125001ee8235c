//! What every handler may use, and nothing more: the store, the inbox, the routes to the
//! channels, the clock and the settings. Handlers take a `&Context`; the [`Bridge`] is a
//! shared `Context` with a public face.
//!
//! [`Bridge`]: super::Bridge

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::Binding;
use super::clock::Clock;
use super::config::EngineConfig;
use super::ingest::IngestReport;
use super::job::JobError;
use super::links::Links;
use crate::channel::Channel;
use crate::error::{DeliveryError, DeliveryErrorKind, Error, WebhookError};
use crate::ids::ChannelAddress;
use crate::inbox::Inbox;
use crate::store::{Enqueued, NewJob, Store};

pub(crate) struct Context {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) inbox: Arc<dyn Inbox>,
    pub(crate) routes: Routes,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: EngineConfig,
    /// Woken when new work may be ready, so idle workers need not wait for the poll tick.
    pub(crate) work: Notify,
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

/// A bound business account: the channel that serves it and where it is bridged.
pub(crate) struct Route {
    pub(crate) channel: Arc<dyn Channel>,
    pub(crate) binding: Binding,
}

/// The channels by name (their webhook paths) and the bound accounts by address.
pub(crate) struct Routes {
    channels: HashMap<String, Arc<dyn Channel>>,
    by_address: HashMap<ChannelAddress, Route>,
}

impl Routes {
    /// Checks and indexes the routes.
    ///
    /// # Errors
    /// [`Error::Config`] when two channels share a name, a binding names an account no
    /// channel serves, or an account is bound twice.
    pub(crate) fn new(
        channel_list: Vec<Arc<dyn Channel>>,
        bindings: Vec<Binding>,
    ) -> Result<Self, Error> {
        let mut channels = HashMap::new();
        for ch in &channel_list {
            if channels.insert(ch.name().to_owned(), ch.clone()).is_some() {
                return Err(Error::Config(format!("two channels are named {:?}", ch.name())));
            }
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
            let address = binding.address.clone();
            if by_address.insert(address.clone(), Route { channel, binding }).is_some() {
                return Err(Error::Config(format!("the account {address} is bound twice")));
            }
        }
        Ok(Self { channels, by_address })
    }

    /// A channel by its name.
    pub(crate) fn channel(&self, name: &str) -> Option<&Arc<dyn Channel>> {
        self.channels.get(name)
    }

    /// Every channel with its name.
    pub(crate) fn channels(&self) -> impl Iterator<Item = (&str, &Arc<dyn Channel>)> {
        self.channels.iter().map(|(n, c)| (n.as_str(), c))
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
