//! The Instagram-Login refresh against FakeGraph and a memory store: due or not, a token
//! Meta refuses, and another writer changing the channel between the read and the write.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use chrono::{Duration, Utc};
use wbots_core::store::{
    ChannelChanges, ChannelError, ChannelStatus, ChannelStore, ChatwootTarget, ConnectedChannel,
    Credentials, LoginKind, MemoryStore, Revision, SealedChannels, SealedCredentials,
    StoredChannel,
};
use wbots_core::{ChannelAddress, ChannelKind, KeyRing, Secret, UpkeepOutcome};
use wbots_fakes::meta::{FakeGraph, IG_TOKEN_SECONDS};
use wbots_meta::{MetaConfig, MetaConnections};

use super::{Channels, MetaUpkeep};

const OLD: &str = "ig-login-token-old";

fn address() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::new("instagram"), "178414000123")
}

/// What another writer does between the upkeep's read and its write.
#[derive(Clone, Copy, Debug)]
enum Race {
    None,
    /// An operator edits who connected it (the token is untouched).
    Edit,
    /// An operator reconnects it with a new token.
    NewToken,
}

/// A channel store that lets another writer in before the first update.
#[derive(Debug)]
struct Racing {
    inner: Arc<MemoryStore>,
    keys: Arc<KeyRing>,
    race: Race,
    raced: AtomicBool,
}

#[async_trait]
impl ChannelStore for Racing {
    async fn insert_channel(
        &self,
        channel: &ConnectedChannel,
        credentials: &SealedCredentials,
    ) -> Result<Revision, ChannelError> {
        self.inner.insert_channel(channel, credentials).await
    }

    async fn update_channel(
        &self,
        expected: Revision,
        channel: &ConnectedChannel,
        credentials: &SealedCredentials,
    ) -> Result<Revision, ChannelError> {
        if !self.raced.swap(true, Ordering::SeqCst) {
            let other = SealedChannels::new(self.inner.clone(), self.keys.clone());
            let mut current = other.get(&channel.address).await?.expect("stored");
            match self.race {
                Race::None => {}
                Race::Edit => current.channel.connected_by = "another-operator".into(),
                Race::NewToken => {
                    current.credentials.access_token = Secret::new("operator-new-token")
                }
            }
            if !matches!(self.race, Race::None) {
                other.update(current.revision, &current.channel, &current.credentials).await?;
            }
        }
        self.inner.update_channel(expected, channel, credentials).await
    }

    async fn remove_channel(&self, address: &ChannelAddress) -> Result<bool, ChannelError> {
        self.inner.remove_channel(address).await
    }

    async fn channel(
        &self,
        address: &ChannelAddress,
    ) -> Result<Option<StoredChannel>, ChannelError> {
        self.inner.channel(address).await
    }

    async fn channels(&self) -> Result<Vec<StoredChannel>, ChannelError> {
        self.inner.channels().await
    }

    async fn channel_changes(&self, since: Revision) -> Result<ChannelChanges, ChannelError> {
        self.inner.channel_changes(since).await
    }
}

struct Rig {
    graph: FakeGraph,
    upkeep: MetaUpkeep,
    channels: Channels,
}

/// A stored Instagram-Login channel whose token was issued `age` ago (expiring 60 days
/// after), under a store racing as `race`.
async fn rig(age: Duration, race: Race) -> Rig {
    let graph = FakeGraph::start().await.unwrap();
    let issued = Utc::now() - age;
    graph.add_instagram_login_token(OLD, issued);
    let keys = Arc::new(KeyRing::new([&KeyRing::generate_key()]).unwrap());
    let store: Arc<dyn ChannelStore> = Arc::new(Racing {
        inner: Arc::new(MemoryStore::new()),
        keys: keys.clone(),
        race,
        raced: AtomicBool::new(false),
    });
    let channels = SealedChannels::new(store, keys.clone());
    let channel = ConnectedChannel {
        address: address(),
        page_id: None,
        login: LoginKind::Instagram,
        chatwoot: ChatwootTarget { url: None, account_id: None, inbox_id: 3 },
        status: ChannelStatus::Active,
        token_expires_at: Some(issued + Duration::seconds(IG_TOKEN_SECONDS)),
        connected_by: "ops".into(),
        connected_at: issued,
    };
    let credentials = Credentials {
        access_token: Secret::new(OLD),
        chatwoot_token: None,
        chatwoot_webhook_token: None,
    };
    channels.add(&channel, &credentials).await.unwrap();
    let meta = MetaConfig::new(Secret::new("app-secret-0123"), Secret::new("verify-0123"))
        .with_graph_urls(graph.url().clone());
    let upkeep = MetaUpkeep {
        meta: MetaConnections::new(meta).unwrap(),
        checks_pages: false,
        refresh_within: Duration::days(10),
        statics: Default::default(),
        stored: Some(channels.clone()),
    };
    Rig { graph, upkeep, channels }
}

async fn run(rig: &Rig) -> UpkeepOutcome {
    wbots_core::ChannelUpkeep::upkeep(&rig.upkeep, &address(), Utc::now()).await.unwrap()
}

async fn stored(rig: &Rig) -> wbots_core::store::ChannelRecord {
    rig.channels.get(&address()).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_token_not_due_is_left_alone() {
    let rig = rig(Duration::days(30), Race::None).await;
    assert_eq!(run(&rig).await, UpkeepOutcome::Healthy);
    assert!(rig.graph.refreshed_tokens().is_empty());
    assert_eq!(stored(&rig).await.credentials.access_token.expose(), OLD);
}

#[tokio::test]
async fn a_refresh_survives_another_writers_edit_and_keeps_it() {
    let rig = rig(Duration::days(55), Race::Edit).await;
    let UpkeepOutcome::Renewed { expires_at } = run(&rig).await else { panic!("not renewed") };
    let record = stored(&rig).await;
    assert_ne!(record.credentials.access_token.expose(), OLD);
    assert!(rig.graph.instagram_token_valid(record.credentials.access_token.expose()));
    assert_eq!(record.channel.token_expires_at, expires_at);
    assert!(expires_at.unwrap() - Utc::now() > Duration::days(59));
    assert_eq!(record.channel.connected_by, "another-operator", "the other write is kept");
    assert_eq!(rig.graph.refreshed_tokens(), [OLD]);
}

#[tokio::test]
async fn an_operators_new_token_meanwhile_wins_over_the_refresh() {
    let rig = rig(Duration::days(55), Race::NewToken).await;
    assert_eq!(run(&rig).await, UpkeepOutcome::Healthy);
    assert_eq!(stored(&rig).await.credentials.access_token.expose(), "operator-new-token");
}

#[tokio::test]
async fn a_refresh_meta_refuses_flags_the_stored_channel() {
    let rig = rig(Duration::days(55), Race::None).await;
    rig.graph.revoke_token(OLD);
    let UpkeepOutcome::NeedsReconnect { reason } = run(&rig).await else { panic!("not flagged") };
    assert!(reason.starts_with("Meta refused to refresh the Instagram token"), "{reason}");
    assert!(!reason.contains(OLD), "{reason}");
    assert_eq!(stored(&rig).await.channel.status, ChannelStatus::Flagged { reason });
    assert_eq!(stored(&rig).await.credentials.access_token.expose(), OLD);
}
