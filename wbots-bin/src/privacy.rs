//! `wbots privacy export | forget | retention | log`: people's rights over their data, from
//! the operator's side, and the wiring of Meta's data-deletion callback to ID matching and
//! the audit trail.
//!
//! A person is named by the channel they wrote to and their platform id (or their Chatwoot
//! contact id, looked up in the bridge's contact links): their data-deletion scope
//! (`kind:account/user`) holds every link and job the bridge keeps about them. Every command
//! but `log` records an entry in the store's audit trail, the person as a keyed hash
//! ([`AuditKey`]).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use chrono::Utc;
use wbots_chatwoot::{ChatwootConfig, ChatwootInbox};
use wbots_core::store::{
    AuditEntry, ChannelStore, LinkKey, LinkKind, PrivacyAction, PrivacyStore, SealedChannels,
    SqliteStore, Store, user_scope,
};
use wbots_core::{AuditKey, ChannelAddress, ContactId};
use wbots_meta::callbacks::CallbackConfig;
use wbots_meta::id_matching::IdMatcher;

use crate::cli::{KindArg, PersonArgs, PrivacyAction as Action};
use crate::config::{ChannelKindConfig, Config};

/// Meta's data-deletion callback with ID matching (when `meta.app_id` is set) and the
/// audit trail.
pub(crate) fn callbacks(config: &Config, callbacks: CallbackConfig) -> CallbackConfig {
    let callbacks = callbacks.with_audit(config.privacy.audit_key(&config.store.secret_key));
    match IdMatcher::new(config.meta.clone()) {
        Ok(Some(matcher)) => callbacks.with_id_matching(Arc::new(matcher)),
        Ok(None) => callbacks,
        Err(e) => {
            tracing::error!(error = %e, "ID matching is off: its HTTP client could not be built");
            callbacks
        }
    }
}

/// Runs a `wbots privacy` subcommand, printing to `out`.
pub(crate) async fn run(
    config: &Config,
    action: Action,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<ExitCode> {
    let cx = Privacy::open(config).await?;
    match action {
        Action::Export { person, html } => {
            let person = cx.person(&person).await?;
            crate::privacy_export::run(&cx, &person, html, out).await
        }
        Action::Forget { person, chatwoot } => {
            let person = cx.person(&person).await?;
            crate::privacy_forget::run(&cx, &person, chatwoot, out).await
        }
        Action::Retention { dry_run, chatwoot, requested_by } => {
            crate::privacy_retention::run(&cx, dry_run, chatwoot, &requested_by, out).await
        }
        Action::Log { limit, json } => crate::privacy_log::run(&cx, limit, json, out).await,
    }
}

/// What the commands work with: the configuration and the store, seen as data, as channels
/// and as its privacy side.
pub(crate) struct Privacy<'a> {
    pub config: &'a Config,
    pub data: Arc<dyn Store>,
    pub channels: Arc<dyn ChannelStore>,
    pub key: Option<AuditKey>,
}

/// The person a command is about.
pub(crate) struct Person {
    /// The channel they wrote to.
    pub address: ChannelAddress,
    /// Their platform id, when the bridge knows it.
    pub user: Option<String>,
    /// Their data-deletion scope, when the bridge knows them.
    pub scope: Option<String>,
    /// Their Chatwoot contact.
    pub contact: Option<ContactId>,
    /// The Chatwoot account of the channel.
    pub chatwoot: ChatwootInbox,
    /// Who asked.
    pub requested_by: String,
}

impl Person {
    /// The keyed hash the audit trail records.
    pub(crate) fn subject(&self, key: Option<&AuditKey>) -> Option<String> {
        let key = key?;
        match (&self.scope, &self.contact) {
            (Some(scope), _) => Some(key.subject(scope)),
            (None, Some(contact)) => {
                Some(key.subject(&format!("{}/chatwoot contact {contact}", self.address)))
            }
            (None, None) => None,
        }
    }
}

impl<'a> Privacy<'a> {
    async fn open(config: &'a Config) -> anyhow::Result<Self> {
        let url = config.store.url.expose();
        let (data, channels): (Arc<dyn Store>, Arc<dyn ChannelStore>) = if url
            .starts_with("sqlite:")
        {
            let store = Arc::new(SqliteStore::connect(url).await.context("store.url")?);
            (store.clone(), store)
        } else {
            #[cfg(feature = "postgres")]
            {
                let store = Arc::new(
                    wbots_core::store::PostgresStore::connect(url).await.context("store.url")?,
                );
                (store.clone(), store)
            }
            #[cfg(not(feature = "postgres"))]
            bail!("store.url: this wbots cannot open the store it names");
        };
        data.migrate().await.context("store migrations")?;
        let key = config.privacy.audit_key(&config.store.secret_key);
        Ok(Self { config, data, channels, key })
    }

    /// The store's privacy side.
    pub(crate) fn trail(&self) -> anyhow::Result<&dyn PrivacyStore> {
        self.data.privacy().ok_or_else(|| anyhow!("the store keeps no privacy audit trail"))
    }

    /// Appends an audit entry.
    pub(crate) async fn audit(
        &self,
        action: PrivacyAction,
        requested_by: &str,
        subject: Option<String>,
        removed: String,
        outcome: &str,
    ) -> anyhow::Result<()> {
        let entry = AuditEntry {
            at: Utc::now(),
            action,
            requested_by: requested_by.to_owned(),
            subject,
            removed,
            outcome: outcome.to_owned(),
        };
        self.trail()?.record_audit(&entry).await.context("recording the audit entry")?;
        Ok(())
    }

    /// The Chatwoot inbox ids of every channel the bridge serves (configured and stored).
    pub(crate) async fn bridge_inboxes(&self) -> anyhow::Result<Vec<u64>> {
        let mut inboxes: Vec<u64> = self.config.channels.iter().map(|c| c.inbox_id).collect();
        for stored in self.channels.channels().await.context("listing stored channels")? {
            inboxes.push(stored.channel.chatwoot.inbox_id);
        }
        inboxes.sort_unstable();
        inboxes.dedup();
        Ok(inboxes)
    }

    /// The channel `--channel`/`--kind` name, and the Chatwoot account it bridges into.
    async fn channel(
        &self,
        id: &str,
        kind: Option<KindArg>,
    ) -> anyhow::Result<(ChannelAddress, ChatwootInbox)> {
        let kinds = match kind {
            Some(KindArg::Messenger) => vec![ChannelKindConfig::Messenger],
            Some(KindArg::Instagram) => vec![ChannelKindConfig::Instagram],
            None => vec![ChannelKindConfig::Messenger, ChannelKindConfig::Instagram],
        };
        let mut found = Vec::new();
        for kind in kinds {
            let address = crate::app::address(kind, id);
            if self.config.channels.iter().any(|c| crate::app::address(c.kind, &c.id) == address) {
                found.push((address, None));
            } else if let Some(stored) = self.channels.channel(&address).await? {
                found.push((address, Some(stored.channel.chatwoot)));
            }
        }
        let (address, target) = match found.len() {
            0 => bail!("no channel {id} is configured or connected (`wbots channels list`)"),
            1 => found.remove(0),
            _ => bail!("{id} is connected as Messenger and as Instagram: say which with --kind"),
        };
        let inbox = self.chatwoot_for(&address, target).await?;
        Ok((address, inbox))
    }

    /// The Chatwoot account `address` bridges into.
    pub(crate) async fn chatwoot_of(
        &self,
        address: &ChannelAddress,
    ) -> anyhow::Result<ChatwootInbox> {
        let target = self.channels.channel(address).await?.map(|s| s.channel.chatwoot);
        self.chatwoot_for(address, target).await
    }

    async fn chatwoot_for(
        &self,
        address: &ChannelAddress,
        target: Option<wbots_core::store::ChatwootTarget>,
    ) -> anyhow::Result<ChatwootInbox> {
        let mut chatwoot = self.config.chatwoot.clone();
        if let Some(target) = target.filter(|t| t.url.is_some() || t.account_id.is_some()) {
            chatwoot = self.own_chatwoot(address, chatwoot, target).await?;
        }
        ChatwootInbox::builder(chatwoot).build().context("[chatwoot]")
    }

    /// The Chatwoot account of a stored channel bridged into its own (its token sealed with
    /// `store.secret_key`).
    async fn own_chatwoot(
        &self,
        address: &ChannelAddress,
        mut chatwoot: ChatwootConfig,
        target: wbots_core::store::ChatwootTarget,
    ) -> anyhow::Result<ChatwootConfig> {
        let ring = crate::store_keys::key_ring(&self.config.store.secret_key)
            .context("store.secret_key")?
            .ok_or_else(|| {
                anyhow!("store.secret_key is needed to open {address}'s Chatwoot token")
            })?;
        let sealed = SealedChannels::new(self.channels.clone(), ring);
        let record =
            sealed.get(address).await?.ok_or_else(|| anyhow!("{address} is not connected"))?;
        if let Some(url) = target.url {
            chatwoot.url = url;
        }
        if let Some(account) = target.account_id {
            chatwoot.account_id = account;
        }
        if let Some(token) = record.credentials.chatwoot_token {
            chatwoot.api_access_token = token;
        }
        Ok(chatwoot)
    }

    /// The person `args` names, as far as the bridge knows them.
    pub(crate) async fn person(&self, args: &PersonArgs) -> anyhow::Result<Person> {
        let (address, chatwoot) = self.channel(&args.channel, args.kind).await?;
        let (user, contact) = match (&args.user, args.contact) {
            (Some(user), _) => {
                let contact = self
                    .data
                    .get_link(&LinkKey::contact(&address, &user.as_str().into()))
                    .await?
                    .map(ContactId::from);
                (Some(user.clone()), contact)
            }
            (None, Some(contact)) => {
                (self.user_of_contact(&address, contact).await?, Some(contact.to_string().into()))
            }
            (None, None) => bail!("say who: --user or --contact"),
        };
        let scope = user.as_deref().map(|u| user_scope(&address, u));
        Ok(Person {
            address,
            user,
            scope,
            contact,
            chatwoot,
            requested_by: args.requested_by.clone(),
        })
    }

    /// The platform id whose contact link (`kind:account/user` → contact) names `contact`.
    async fn user_of_contact(
        &self,
        address: &ChannelAddress,
        contact: u64,
    ) -> anyhow::Result<Option<String>> {
        let prefix = format!("{address}/");
        let wanted = contact.to_string();
        let mut after = prefix.clone();
        loop {
            let page = self.trail()?.links_after(LinkKind::Contact, &after, 500).await?;
            let Some(last) = page.last() else { return Ok(None) };
            after = last.key.as_str().to_owned();
            for link in &page {
                let Some(user) = link.key.as_str().strip_prefix(&prefix) else {
                    // Past the account's range: the keys are in order.
                    return Ok(None);
                };
                if link.value == wanted {
                    return Ok(Some(user.to_owned()));
                }
            }
        }
    }
}
