//! One bridge, two Chatwoot installations (each its own account, token and webhook path
//! token, their ids counting from the same start): each business's conversations, replies
//! and sweeps stay in its own account.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use wbots_chatwoot::{ChatwootConfig, ChatwootInbox};
use wbots_core::router::{RouterOptions, router};
use wbots_core::store::{MemoryStore, Store};
use wbots_core::testkit::RecordingChannel;
use wbots_core::{
    Binding, Bridge, ChannelAddress, ChannelKind, EngineConfig, InboundEnvelope, InboundEvent,
    InboundMessage, OutboundPart, ReopenPolicy, Secret,
};
use wbots_fakes::chatwoot::FakeChatwoot;

fn page(id: &str) -> ChannelAddress {
    ChannelAddress::new(ChannelKind::new("messenger"), id)
}

/// One business: its Page's channel and its Chatwoot.
struct Business {
    channel: Arc<RecordingChannel>,
    chatwoot: FakeChatwoot,
    inbox: u64,
    hook_url: String,
}

struct Rig {
    bridge: Bridge,
    store: Arc<dyn Store>,
    home: Business,
    other: Business,
    base: String,
}

async fn start() -> Rig {
    // Both installations number their account 1 and their first inbox alike.
    let home_chatwoot = FakeChatwoot::start("token-home", 1).await.unwrap();
    let other_chatwoot = FakeChatwoot::start("token-other", 1).await.unwrap();
    let home_inbox = home_chatwoot.add_api_inbox("Messenger", None);
    let other_inbox = other_chatwoot.add_api_inbox("Messenger", None);
    assert_eq!(home_inbox, other_inbox, "the test needs colliding inbox ids");
    let home_adapter = ChatwootInbox::builder(
        ChatwootConfig::new(home_chatwoot.url().clone(), Secret::new("token-home"), 1)
            .with_webhook_token(Secret::new("path-home")),
    )
    .build()
    .unwrap();
    let other_adapter = ChatwootInbox::builder(
        ChatwootConfig::new(other_chatwoot.url().clone(), Secret::new("token-other"), 1)
            .with_webhook_token(Secret::new("path-other")),
    )
    .with_name("other")
    .build()
    .unwrap();
    let home_channel = Arc::new(RecordingChannel::new("page-home", vec![page("home")]));
    let other_channel = Arc::new(RecordingChannel::new("page-other", vec![page("other")]));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let bridge = Bridge::builder(store.clone(), Arc::new(home_adapter))
        .with_inbox(Arc::new(other_adapter))
        .with_channel(home_channel.clone())
        .with_channel(other_channel.clone())
        .with_binding(Binding {
            address: page("home"),
            inbox: home_inbox.to_string().into(),
            reopen: ReopenPolicy::Reopen,
        })
        .with_binding(Binding {
            address: page("other"),
            inbox: format!("{other_inbox}@other").into(),
            reopen: ReopenPolicy::Reopen,
        })
        .with_config(EngineConfig::default().with_max_attempts(3))
        .build()
        .unwrap();
    let app = router(bridge.clone(), RouterOptions::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    // Today's URL for the first account; the other's is addressed by its name.
    let home_hook = format!("{base}/webhooks/chatwoot/path-home");
    let other_hook = format!("{base}/webhooks/other/path-other");
    home_chatwoot.set_webhook_url(home_inbox, &home_hook);
    other_chatwoot.set_webhook_url(other_inbox, &other_hook);
    Rig {
        bridge,
        store,
        home: Business {
            channel: home_channel,
            chatwoot: home_chatwoot,
            inbox: home_inbox,
            hook_url: home_hook,
        },
        other: Business {
            channel: other_channel,
            chatwoot: other_chatwoot,
            inbox: other_inbox,
            hook_url: other_hook,
        },
        base,
    }
}

impl Rig {
    /// Runs the workers until nothing is queued and the fakes' webhooks are answered.
    async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.bridge.run_until_idle().await;
            let before =
                self.home.chatwoot.webhook_attempts() + self.other.chatwoot.webhook_attempts();
            tokio::time::sleep(Duration::from_millis(150)).await;
            let after =
                self.home.chatwoot.webhook_attempts() + self.other.chatwoot.webhook_attempts();
            let s = self.store.stats().await.unwrap();
            if after == before && s.queued == 0 && s.running == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "the bridge did not settle");
        }
    }

    /// A customer writes to a business's Page; returns the Chatwoot conversation.
    async fn customer_writes(&self, business: &Business, page_id: &str, user: &str) -> u64 {
        let event = InboundEnvelope::new(
            page(page_id),
            InboundEvent::Message(InboundMessage {
                id: format!("mid-{user}").into(),
                thread: user.into(),
                sender: user.into(),
                sent_at: Utc::now(),
                text: Some(format!("hello from {user}")),
                attachments: Vec::new(),
                reply_to: None,
                context: None,
            }),
        );
        let name = format!("page-{page_id}");
        let request = business.channel.request(&[event]);
        self.bridge.ingest_channel(&name, &request.as_raw()).await.unwrap();
        self.settle().await;
        let conversations = business.chatwoot.conversations();
        assert_eq!(conversations.len(), 1, "{conversations:?}");
        assert!(conversations[0].source_id.ends_with(&format!(":{user}")), "{conversations:?}");
        assert_eq!(conversations[0].inbox_id, business.inbox);
        conversations[0].id
    }
}

fn sent(channel: &RecordingChannel) -> Vec<(String, String)> {
    channel
        .sent()
        .into_iter()
        .filter_map(|s| match s.part {
            OutboundPart::Text(t) => Some((s.thread.into_inner(), t)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_business_lives_in_its_own_chatwoot_and_its_agents_reach_its_page() {
    let rig = start().await;
    let home_conv = rig.customer_writes(&rig.home, "home", "alice").await;
    let other_conv = rig.customer_writes(&rig.other, "other", "bob").await;
    assert_eq!(home_conv, other_conv, "the test needs colliding conversation ids");

    // Agents of both reply; message ids collide too, and each reaches its own customer.
    let (home_reply, status) = rig.home.chatwoot.agent_reply(home_conv, "hi alice", vec![]).await;
    assert_eq!(status, Some(200));
    let (other_reply, status) = rig.other.chatwoot.agent_reply(other_conv, "hi bob", vec![]).await;
    assert_eq!(status, Some(200));
    assert_eq!(home_reply, other_reply, "the test needs colliding message ids");
    rig.settle().await;
    assert_eq!(sent(&rig.home.channel), [("alice".to_owned(), "hi alice".to_owned())]);
    assert_eq!(sent(&rig.other.channel), [("bob".to_owned(), "hi bob".to_owned())]);
    assert_eq!(rig.home.chatwoot.message(home_reply).unwrap().status, "sent");
    assert_eq!(rig.other.chatwoot.message(other_reply).unwrap().status, "sent");

    // The other business's agent writes while its webhook is unreachable; its sweep finds
    // the message in its own Chatwoot and sends it to its own customer.
    rig.other.chatwoot.set_webhook_url(rig.other.inbox, "http://127.0.0.1:9/webhooks/other/x");
    let (late, _) = rig.other.chatwoot.agent_reply(other_conv, "still there?", vec![]).await;
    assert_eq!(rig.other.chatwoot.message(late).unwrap().status, "failed");
    rig.other.chatwoot.set_webhook_url(rig.other.inbox, &rig.other.hook_url);
    rig.bridge.sweep_now().await.unwrap();
    rig.settle().await;
    assert_eq!(
        sent(&rig.other.channel),
        [("bob".to_owned(), "hi bob".to_owned()), ("bob".to_owned(), "still there?".to_owned())]
    );
    assert_eq!(sent(&rig.home.channel).len(), 1);
    assert_eq!(rig.other.chatwoot.message(late).unwrap().status, "sent");
    // Nothing of one business ever reached the other's Chatwoot.
    assert!(
        rig.home.chatwoot.messages().iter().all(|m| m.content.as_deref() != Some("hello from bob"))
    );
    assert!(
        rig.other
            .chatwoot
            .messages()
            .iter()
            .all(|m| m.content.as_deref() != Some("hello from alice"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_with_another_accounts_path_token_is_401() {
    let rig = start().await;
    let http = reqwest::Client::new();
    let body = r#"{"event":"message_created"}"#;
    let post = |url: String| http.post(url).body(body).send();
    let wrong = post(format!("{}/webhooks/other/path-home", rig.base)).await.unwrap();
    assert_eq!(wrong.status(), 401);
    let wrong = post(format!("{}/webhooks/chatwoot/path-other", rig.base)).await.unwrap();
    assert_eq!(wrong.status(), 401);
    let stats = rig.store.stats().await.unwrap();
    assert_eq!(stats.queued + stats.done + stats.dead, 0);
}

#[test]
fn a_second_account_needs_a_usable_name() {
    let config = ChatwootConfig::new("http://127.0.0.1:1".parse().unwrap(), Secret::new("t"), 1)
        .with_webhook_token(Secret::new("p"));
    for bad in ["", "chatwoot", "Has Space", "a:b", "a/b", "a@b"] {
        assert!(ChatwootInbox::builder(config.clone()).with_name(bad).build().is_err(), "{bad:?}");
    }
    let named = ChatwootInbox::builder(config.clone()).with_name("eu-2").build().unwrap();
    assert_eq!(
        (wbots_core::Inbox::name(&named), wbots_core::Inbox::id_space(&named)),
        ("eu-2", Some("eu-2"))
    );
    let first = ChatwootInbox::builder(config).build().unwrap();
    assert_eq!(
        (wbots_core::Inbox::name(&first), wbots_core::Inbox::id_space(&first)),
        ("chatwoot", None)
    );
}
