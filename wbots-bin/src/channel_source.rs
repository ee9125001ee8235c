//! The channels `serve` serves: the static `[[channels]]` of the configuration and the
//! channels connected in the store, turned into the bridge's routes ([`routes`]), and kept
//! current while it runs ([`watch`]).
//!
//! Every replica watches the store on its own: a channel `wbots channels add` (another
//! process) or the connect page stores is served by each replica within one poll, with no
//! restart and no message between replicas. The poll reads one indexed row range
//! (`channel_changes` since the last revision seen), so it costs next to nothing when
//! nothing changed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use url::Url;
use wbots_chatwoot::{ChatwootConfig, ChatwootInbox};
use wbots_core::store::{
    ChannelRecord, ChannelStatus, ChannelStore, ConnectedChannel, LoginKind, Revision,
    SealedChannels,
};
use wbots_core::{
    Binding, Bridge, Channel, ChannelAddress, FlagOrigin, Inbox, InboxId, RouteRefresh, Secret,
};
use wbots_meta::{Login, MetaAccount, MetaChannel, Platform};

use crate::config::Config;

/// The channel store as `serve` reads it: credentials opened with `store.secret_key`.
pub(crate) type Channels = SealedChannels<Arc<dyn ChannelStore>>;

/// Everything the bridge routes: channels, inbox adapters, and which account goes where.
pub(crate) struct RouteSet {
    pub channels: Vec<Arc<dyn Channel>>,
    pub inboxes: Vec<Arc<dyn Inbox>>,
    pub bindings: Vec<Binding>,
}

/// The channel store with the key ring of `store.secret_key`, or `None` without a key:
/// then nothing can be connected (`keys::check_at_start` made sure nothing is).
pub(crate) fn open(
    config: &Config,
    store: Arc<dyn ChannelStore>,
) -> Result<Option<Channels>, String> {
    let ring = crate::store_keys::key_ring(&config.store.secret_key)
        .map_err(|e| format!("store.secret_key: {e}"))?;
    Ok(ring.map(|ring| SealedChannels::new(store, ring)))
}

/// At start: the stored channels and a revision they are at least as new as (read first,
/// so a change committed meanwhile is seen again by the first poll, never missed). A
/// stored channel also in `[[channels]]` stops the start with a clear error.
pub(crate) async fn first_load(
    config: &Config,
    channels: &Channels,
) -> Result<(Vec<ChannelRecord>, Revision), String> {
    let seen = channels
        .store()
        .channel_changes(Revision::default())
        .await
        .map_err(|e| format!("reading the channel store: {e}"))?
        .revision;
    let stored = load(channels).await?;
    let clashing = clashes(config, &stored);
    if !clashing.is_empty() {
        let names: Vec<String> = clashing.iter().map(ToString::to_string).collect();
        return Err(format!(
            "{} connected in the store and configured in [[channels]] too: remove it from the configuration, or disconnect it (`wbots channels remove`)",
            names.join(", ")
        ));
    }
    Ok((stored, seen))
}

/// The stored channels, each opened on its own: one whose credentials cannot be opened is
/// logged (address and reason only) and left out, so it does not stop the others.
pub(crate) async fn load(channels: &Channels) -> Result<Vec<ChannelRecord>, String> {
    let listed =
        channels.list_each().await.map_err(|e| format!("reading the channel store: {e}"))?;
    Ok(listed
        .into_iter()
        .filter_map(|record| {
            record
                .inspect_err(
                    |e| error!(error = %e, "a stored channel cannot be served until this is fixed"),
                )
                .ok()
        })
        .collect())
}

/// The stored channels that are also in `[[channels]]`: the configuration would silently
/// win over what a business connected, so `serve` refuses to start with them.
pub(crate) fn clashes(config: &Config, stored: &[ChannelRecord]) -> Vec<ChannelAddress> {
    stored
        .iter()
        .map(|r| &r.channel.address)
        .filter(|a| config.channels.iter().any(|c| crate::app::address(c.kind, &c.id) == **a))
        .cloned()
        .collect()
}

/// The routes of the configuration plus the `stored` channels that are not disconnected.
/// A flagged channel stays routed: its customers' messages keep arriving, and its sends
/// fail with the reason until it is reconnected. A stored channel that clashes with
/// `[[channels]]` is left out (the configuration's stays), with an error in the log.
pub(crate) fn routes(config: &Config, stored: &[ChannelRecord]) -> Result<RouteSet, String> {
    let default_inbox = crate::app::chatwoot_inbox(config)?;
    let mut meta = crate::app::meta_builder(config);
    let mut bindings = crate::app::static_bindings(config);
    let clashing = clashes(config, stored);
    let mut adapters: BTreeMap<String, ChatwootConfig> = BTreeMap::new();
    for record in stored {
        let channel = &record.channel;
        if channel.status == ChannelStatus::Disconnected {
            continue;
        }
        if clashing.contains(&channel.address) {
            error!(
                account = %channel.address,
                "connected in the store and configured in [[channels]]: the configuration's is served; remove one of them"
            );
            continue;
        }
        let Some(platform) = Platform::of_kind(&channel.address.kind) else {
            warn!(account = %channel.address, "a stored channel of a platform this bridge does not serve");
            continue;
        };
        // The page's settings for every connected channel (`[admin]`).
        let account =
            meta_account(platform, record).with_human_agent_tag(config.admin.human_agent_tag);
        meta = meta.account(account);
        let inbox = match own_adapter(config, record) {
            None => InboxId::new(channel.chatwoot.inbox_id.to_string()),
            Some((name, adapter)) => {
                let id = InboxId::new(format!("{}@{name}", channel.chatwoot.inbox_id));
                // Channels into one inbox share its adapter; the first by address (the
                // order the store lists them in) gives the tokens, every time.
                adapters.entry(name).or_insert(adapter);
                id
            }
        };
        bindings.push(Binding {
            address: channel.address.clone(),
            inbox,
            reopen: config.admin.reopen,
        });
    }
    let meta: MetaChannel = meta.build().map_err(|e| e.to_string())?;
    let mut inboxes: Vec<Arc<dyn Inbox>> = vec![Arc::new(default_inbox)];
    for (name, adapter) in adapters {
        let inbox = crate::app::chatwoot_builder(config, adapter)
            .with_name(name.clone())
            .build()
            .map_err(|e| format!("the Chatwoot adapter {name}: {e}"))?;
        inboxes.push(Arc::new(inbox));
    }
    Ok(RouteSet { channels: vec![Arc::new(meta)], inboxes, bindings })
}

/// The named Chatwoot adapter serving `record`, built, if it is not the bridge's own.
pub(crate) fn adapter_for(
    config: &Config,
    record: &ChannelRecord,
) -> Result<Option<Arc<ChatwootInbox>>, String> {
    let Some((name, adapter)) = own_adapter(config, record) else { return Ok(None) };
    let inbox = crate::app::chatwoot_builder(config, adapter)
        .with_name(name.clone())
        .build()
        .map_err(|e| format!("the Chatwoot adapter {name}: {e}"))?;
    Ok(Some(Arc::new(inbox)))
}

/// What a stored channel whose grant was withdrawn (`wbots_meta::grants`: its token
/// deleted) is served with: not a token. It stays routed, so its customers' messages still
/// arrive and its agents' notes land; the engine's flag stops its sends before any call,
/// and a call that still goes (a profile lookup) is refused by Meta as the revoked token
/// would be.
const NO_TOKEN: &str = "no-token:the-grant-was-withdrawn";

/// The Meta account of a stored channel.
fn meta_account(platform: Platform, record: &ChannelRecord) -> MetaAccount {
    let channel = &record.channel;
    let token = match record.credentials.access_token.expose() {
        "" => Secret::new(NO_TOKEN),
        _ => record.credentials.access_token.clone(),
    };
    let id = channel.address.account.as_str().to_owned();
    match platform {
        Platform::Messenger => MetaAccount::messenger(id, token),
        Platform::Instagram => {
            let login = match channel.login {
                LoginKind::Facebook => Login::Facebook,
                LoginKind::Instagram => Login::Instagram,
            };
            MetaAccount::instagram(id, token, login).with_page_id(channel.page_id.clone())
        }
    }
}

/// The named Chatwoot adapter a stored channel needs, if it is not served by the bridge's
/// `[chatwoot]` one: another installation, another account, or its own API token. One
/// adapter per inbox, so every inbox has its own webhook token and a token for one
/// business is only ever used for its own inbox.
///
/// The name is the adapter's id space in stored keys, so it must never change while the
/// channel exists: it is made of the account and inbox, plus the installation's host when
/// it is not the bridge's (an inherited URL is not in the name, so changing `chatwoot.url`
/// keeps it).
fn own_adapter(config: &Config, record: &ChannelRecord) -> Option<(String, ChatwootConfig)> {
    let bridge = &config.chatwoot;
    let target = &record.channel.chatwoot;
    let credentials = &record.credentials;
    let name = adapter_name(config, &record.channel, credentials.chatwoot_token.is_some())?;
    let other_installation = target.url.as_ref().filter(|u| **u != bridge.url);
    let mut adapter = bridge.clone();
    adapter.url = other_installation.cloned().unwrap_or_else(|| bridge.url.clone());
    adapter.account_id = target.account_id.unwrap_or(bridge.account_id);
    // Another installation's attachments come from its own origin, not from the bridge's
    // Chatwoot's public address.
    if other_installation.is_some() {
        adapter.frontend_url = None;
    }
    if let Some(token) = &credentials.chatwoot_token {
        adapter.api_access_token = token.clone();
        // Its own token, its own webhook: the bridge's webhook secret or token must not
        // open another business's inbox.
        adapter.webhook_secret = None;
        adapter.webhook_token = credentials.chatwoot_webhook_token.clone();
    }
    Some((name, adapter))
}

/// The name of the Chatwoot adapter serving `channel` (`None`: the bridge's own), given
/// whether it comes with its own Chatwoot token. See [`own_adapter`].
pub(crate) fn adapter_name(
    config: &Config,
    channel: &ConnectedChannel,
    own_token: bool,
) -> Option<String> {
    let bridge = &config.chatwoot;
    let target = &channel.chatwoot;
    let other_installation = target.url.as_ref().filter(|u| **u != bridge.url);
    let account = target.account_id.unwrap_or(bridge.account_id);
    if other_installation.is_none() && account == bridge.account_id && !own_token {
        return None;
    }
    let mut name = format!("a{account}.i{}", target.inbox_id);
    if let Some(url) = other_installation {
        name.push('.');
        name.push_str(&host_label(url));
    }
    name.truncate(64);
    Some(name)
}

/// An installation's host (and port) as an adapter name can hold it: `a-z 0-9 . -`.
fn host_label(url: &Url) -> String {
    let mut label: String = url
        .host_str()
        .unwrap_or("chatwoot")
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') { c } else { '-' })
        .collect();
    if let Some(port) = url.port() {
        label.push('-');
        label.push_str(&port.to_string());
    }
    label
}

/// Asks the watcher ([`watch`]) to look at the store now and waits for its answer: the
/// bridge's [`RouteRefresh`], used when Meta delivers events for an account this process
/// does not serve yet (connected a moment ago by another process or replica).
#[derive(Clone)]
pub(crate) struct Refresher(mpsc::Sender<oneshot::Sender<bool>>);

/// The other end of a [`Refresher`], given to [`watch`].
pub(crate) struct Requests(mpsc::Receiver<oneshot::Sender<bool>>);

/// A refresher and the requests [`watch`] answers.
pub(crate) fn refresher() -> (Refresher, Requests) {
    // Bounded: a burst of unrouted deliveries waits for room; the watcher answers every
    // waiting request with one look at the store.
    let (tx, rx) = mpsc::channel(256);
    (Refresher(tx), Requests(rx))
}

#[async_trait]
impl RouteRefresh for Refresher {
    async fn refresh(&self) -> bool {
        let (reply, answer) = oneshot::channel();
        if self.0.send(reply).await.is_err() {
            // The watcher has stopped (shutdown): nothing will change any more.
            return false;
        }
        answer.await.unwrap_or(false)
    }
}

/// Keeps `bridge`'s routes equal to the configuration plus the store's channels until
/// `stop`: looks at the store every `every`, and at once when a [`Refresher`] asks; when
/// something changed since the last revision seen, rebuilds every route and swaps them in
/// at once. A rebuild that fails (the store unreachable, an adapter refused) keeps the
/// routes being served, logs why (once per distinct reason), and is tried again at the
/// next look.
pub(crate) async fn watch(
    config: Arc<Config>,
    bridge: Bridge,
    channels: Channels,
    mut seen: Revision,
    every: Duration,
    Requests(mut requests): Requests,
    stop: CancellationToken,
) {
    let mut failing: Option<String> = None;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut waiting = Vec::new();
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
            Some(reply) = requests.recv() => waiting.push(reply),
        }
        // Every request already waiting is answered by this one look: each was made
        // before it starts, so it sees what they ask for.
        while let Ok(reply) = requests.try_recv() {
            waiting.push(reply);
        }
        let changed = look(&config, &bridge, &channels, &mut seen, &mut failing).await;
        for reply in waiting {
            // A requester that gave up (its webhook's connection closed) needs no answer.
            let _ = reply.send(changed);
        }
    }
}

/// One look at the store: whether the routes changed.
async fn look(
    config: &Config,
    bridge: &Bridge,
    channels: &Channels,
    seen: &mut Revision,
    failing: &mut Option<String>,
) -> bool {
    let changed = match channels.store().channel_changes(*seen).await {
        // Nothing new: the common case, one cheap query.
        Ok(found) if found.changes.is_empty() => return false,
        Ok(found) => found.revision,
        Err(e) => {
            warn!(error = %e, "cannot read channel changes; the served channels stay as they are");
            return false;
        }
    };
    match reload(config, bridge, channels).await {
        Ok(count) => {
            info!(revision = %changed, stored_channels = count, "connected channels changed: now serving them");
            *seen = changed;
            *failing = None;
            true
        }
        Err(e) => {
            if failing.as_ref() != Some(&e) {
                error!(error = %e, "connected channels changed but cannot be served yet; trying again at every look");
                *failing = Some(e);
            }
            false
        }
    }
}

/// Rebuilds the routes from the configuration and the store; how many stored channels
/// were read.
async fn reload(config: &Config, bridge: &Bridge, channels: &Channels) -> Result<usize, String> {
    let stored = load(channels).await?;
    let set = routes(config, &stored)?;
    // As at start: Instagram accounts behind a Page learn their Page before serving.
    for channel in &set.channels {
        channel.prepare().await;
    }
    bridge.replace_routes(set.channels, set.inboxes, set.bindings).map_err(|e| e.to_string())?;
    bridge.refresh_channel_flags().await;
    lift_withdrawn_flags(bridge, channels, &stored).await;
    Ok(stored.len())
}

/// Lifts the flag of each channel stored active again after its grant was withdrawn
/// (`wbots_meta::grants`): that flag names no credential, so a new token does not lift it
/// by itself; whoever stored the channel active (the connect page, `channels add`) did.
/// Each candidate is read again first: `stored` was read before the routes were built, and
/// a withdrawal landing meanwhile (stored flagged, its token deleted) must keep its flag.
pub(crate) async fn lift_withdrawn_flags(
    bridge: &Bridge,
    channels: &Channels,
    stored: &[ChannelRecord],
) {
    for record in stored.iter().filter(|r| r.channel.status == ChannelStatus::Active) {
        let address = &record.channel.address;
        let now = match channels.get(address).await {
            Ok(now) => now,
            Err(e) => {
                warn!(channel = %address, error = %e, "could not read a channel again before lifting its flag");
                continue;
            }
        };
        let still_active = now.is_some_and(|r| {
            r.channel.status == ChannelStatus::Active
                && !r.credentials.access_token.expose().is_empty()
        });
        if !still_active {
            continue;
        }
        if let Err(e) = bridge.clear_channel_flag(address, FlagOrigin::GrantWithdrawn).await {
            warn!(channel = %address, error = %e, "could not lift the flag of a reconnected channel");
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use wbots_core::store::{ChatwootTarget, Credentials};
    use wbots_core::{ChannelKind, ReopenPolicy, Secret};

    use super::*;
    use crate::config::tests::{MINIMAL, load};

    fn stored(id: &str, target: ChatwootTarget, own_token: bool) -> ChannelRecord {
        ChannelRecord {
            channel: ConnectedChannel {
                address: ChannelAddress::new(ChannelKind::new("messenger"), id),
                page_id: None,
                login: LoginKind::Facebook,
                chatwoot: target,
                status: ChannelStatus::Active,
                token_expires_at: None,
                connected_by: "ops".into(),
                connected_at: Utc::now(),
            },
            credentials: Credentials {
                access_token: Secret::new(format!("token-{id}")),
                chatwoot_token: own_token.then(|| Secret::new(format!("cw-{id}"))),
                chatwoot_webhook_token: own_token.then(|| Secret::new(format!("hook-{id}"))),
            },
            revision: Revision::default(),
        }
    }

    fn target(url: Option<&str>, account: Option<u64>, inbox: u64) -> ChatwootTarget {
        ChatwootTarget {
            url: url.map(|u| Url::parse(u).unwrap()),
            account_id: account,
            inbox_id: inbox,
        }
    }

    fn bound(set: &RouteSet) -> Vec<(String, String)> {
        set.bindings.iter().map(|b| (b.address.to_string(), b.inbox.to_string())).collect()
    }

    #[test]
    fn each_stored_channel_is_routed_to_its_own_account_and_inbox() {
        let config = load(MINIMAL, &[]).unwrap();
        let set = routes(
            &config,
            &[
                // The bridge's own account: its adapter, bare ids.
                stored("10", target(None, None, 8), false),
                // Another account of the same installation, with its own token.
                stored("11", target(None, Some(3), 9), true),
                // Another installation (its host in the adapter's name).
                stored("12", target(Some("https://other.example.org:8443/"), Some(3), 9), true),
                // The same installation given explicitly is not another one.
                stored("13", target(Some("https://chat.example.com/"), None, 4), false),
            ],
        )
        .unwrap();
        assert_eq!(
            bound(&set),
            [
                ("messenger:1234567890", "7"),
                ("messenger:10", "8"),
                ("messenger:11", "9@a3.i9"),
                ("messenger:12", "9@a3.i9.other.example.org-8443"),
                ("messenger:13", "4"),
            ]
            .map(|(a, i)| (a.to_owned(), i.to_owned()))
        );
        let names: Vec<&str> = set.inboxes.iter().map(|i| i.name()).collect();
        assert_eq!(names, ["chatwoot", "a3.i9", "a3.i9.other.example.org-8443"]);
    }

    #[test]
    fn disconnected_and_clashing_channels_are_not_routed_flagged_ones_are() {
        let config = load(MINIMAL, &[]).unwrap();
        let mut gone = stored("20", target(None, None, 8), false);
        gone.channel.status = ChannelStatus::Disconnected;
        let mut flagged = stored("21", target(None, None, 8), false);
        flagged.channel.status = ChannelStatus::Flagged { reason: "token expired".into() };
        // The configuration's own channel, also stored: the configuration's is served.
        let clash = stored("1234567890", target(None, None, 99), false);
        assert_eq!(
            clashes(&config, std::slice::from_ref(&clash)),
            std::slice::from_ref(&clash.channel.address)
        );
        let set = routes(&config, &[gone, flagged, clash]).unwrap();
        assert_eq!(
            bound(&set),
            [("messenger:1234567890", "7"), ("messenger:21", "8")]
                .map(|(a, i)| (a.to_owned(), i.to_owned()))
        );
    }

    #[test]
    fn connected_channels_take_the_pages_human_agent_and_reopen_settings() {
        let channel = stored("30", target(None, None, 8), false);
        let address = channel.channel.address.clone();
        let configured = ChannelAddress::new(ChannelKind::new("messenger"), "1234567890");
        let window = |set: &RouteSet, a: &ChannelAddress| {
            set.channels[0].capabilities(a).human_agent_window_hours
        };
        let reopen = |set: &RouteSet, a: &ChannelAddress| {
            set.bindings.iter().find(|b| &b.address == a).map(|b| b.reopen)
        };
        // By default: 24 hours, and a resolved conversation reopens.
        let set = routes(&load(MINIMAL, &[]).unwrap(), std::slice::from_ref(&channel)).unwrap();
        assert_eq!(window(&set, &address), None);
        assert_eq!(reopen(&set, &address), Some(ReopenPolicy::Reopen));
        // With the page's settings: 7 days, a new conversation; the configured channel keeps
        // its own (`[[channels]]`).
        let with = format!("{MINIMAL}\n[admin]\nhuman_agent_tag = true\nreopen = \"new\"\n");
        let set = routes(&load(&with, &[]).unwrap(), std::slice::from_ref(&channel)).unwrap();
        assert_eq!(window(&set, &address), Some(168));
        assert_eq!(reopen(&set, &address), Some(ReopenPolicy::New));
        assert_eq!(window(&set, &configured), None);
        assert_eq!(reopen(&set, &configured), Some(ReopenPolicy::Reopen));
    }
}
