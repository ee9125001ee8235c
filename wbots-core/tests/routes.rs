//! Several inbox adapters (one per Chatwoot account) and routes replaced while the bridge
//! runs, driven through the HTTP routes as the platforms and the inboxes would.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use wbots_core::router::{RouterOptions, router};
use wbots_core::store::{JobQueue, JobState, MemoryStore, Store};
use wbots_core::testkit::{
    RecordingChannel, RecordingInbox, SIGNATURE_HEADER, StoredMessage, test_signature,
};
use wbots_core::{
    AgentEnvelope, AgentEvent, AgentMessage, Author, Binding, Bridge, Capabilities, Channel,
    ChannelAddress, ChannelKind, ConversationId, DeliveryError, EngineConfig, Error,
    InboundAttachment, InboundEnvelope, InboundEvent, InboundMessage, Inbox, InboxId, Media,
    OutboundPart, PlatformUserId, Profile, RawRequest, ReopenPolicy, SendReceipt, SendRequest,
    WebhookError,
};

/// The secrets each account signs its webhooks with.
const SECRET_A: &str = "secret-of-account-a";
const SECRET_B: &str = "secret-of-account-b";

fn page(id: &str) -> ChannelAddress {
    ChannelAddress::new(ChannelKind::new("messenger"), id)
}

/// A set of routes, as `Bridge::replace_routes` takes them.
type RouteSet = (Vec<Arc<dyn Channel>>, Vec<Arc<dyn Inbox>>, Vec<Binding>);

fn binding(address: ChannelAddress, inbox: &str) -> Binding {
    Binding { address, inbox: InboxId::new(inbox), reopen: ReopenPolicy::Reopen }
}

/// Two businesses: page A into account A (bare ids, the deployment of before), page B into
/// account B, another installation whose inbox has the same number, `1`.
struct Rig {
    bridge: Bridge,
    app: axum::Router,
    store: Arc<dyn Store>,
    channel_a: Arc<RecordingChannel>,
    channel_b: Arc<RecordingChannel>,
    account_a: Arc<RecordingInbox>,
    account_b: Arc<RecordingInbox>,
}

impl Rig {
    fn new(bind_b: bool) -> Self {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let channel_a = Arc::new(RecordingChannel::new("page-a", vec![page("a")]));
        let channel_b = Arc::new(RecordingChannel::new("page-b", vec![page("b")]));
        let account_a = Arc::new(RecordingInbox::account("account-a", SECRET_A).bare_ids());
        let account_b = Arc::new(RecordingInbox::account("account-b", SECRET_B));
        let config = EngineConfig::default().with_poll_interval(Duration::from_millis(5));
        let mut builder = Bridge::builder(store.clone(), account_a.clone())
            .with_channel(channel_a.clone())
            .with_binding(binding(page("a"), "1"))
            .with_config(config);
        if bind_b {
            builder = builder
                .with_inbox(account_b.clone())
                .with_channel(channel_b.clone())
                .with_binding(binding(page("b"), "1@account-b"));
        }
        let bridge = builder.build().unwrap();
        let app = router(bridge.clone(), RouterOptions::default());
        Self { bridge, app, store, channel_a, channel_b, account_a, account_b }
    }

    /// Both businesses' routes, as the binary would hand them over after a change.
    fn both(&self) -> RouteSet {
        (
            vec![self.channel_a.clone(), self.channel_b.clone()],
            vec![self.account_a.clone(), self.account_b.clone()],
            vec![binding(page("a"), "1"), binding(page("b"), "1@account-b")],
        )
    }

    fn only_a(&self) -> RouteSet {
        (vec![self.channel_a.clone()], vec![self.account_a.clone()], vec![binding(page("a"), "1")])
    }

    async fn post(&self, path: &str, secret: &str, body: Vec<u8>) -> StatusCode {
        let req = Request::post(path)
            .header(SIGNATURE_HEADER, test_signature(secret, &body))
            .body(Body::from(body))
            .unwrap();
        self.app.clone().oneshot(req).await.unwrap().status()
    }

    /// A customer writes to a page: Meta's webhook to the page's channel.
    async fn customer_writes(&self, page_id: &str, customer: &str, text: &str) -> StatusCode {
        let channel = if page_id == "a" { &self.channel_a } else { &self.channel_b };
        let event = InboundEnvelope::new(
            page(page_id),
            InboundEvent::Message(InboundMessage {
                id: format!("mid-{customer}-{text}").into(),
                thread: customer.into(),
                sender: customer.into(),
                sent_at: Utc::now(),
                text: Some(text.to_owned()),
                attachments: Vec::new(),
                reply_to: None,
                context: None,
            }),
        );
        let body = channel.request(&[event]).body;
        self.post(&format!("/webhooks/page-{page_id}"), "test-secret", body).await
    }

    /// An agent of an account replies: that account's webhook, with its own inbox id.
    async fn agent_replies(
        &self,
        adapter: &str,
        secret: &str,
        conversation: &ConversationId,
        text: &str,
    ) -> StatusCode {
        let envelope = AgentEnvelope {
            inbox: InboxId::new("1"),
            event: AgentEvent::Message(AgentMessage {
                // The same message id in both installations: their keys must not collide.
                id: "500".into(),
                conversation: conversation.clone(),
                text: Some(text.to_owned()),
                attachments: Vec::new(),
                reply_to: None,
                created_at: Utc::now(),
                author: Author::Person,
            }),
            contact_thread: None,
        };
        let body = serde_json::to_vec(&[envelope]).unwrap();
        self.post(&format!("/webhooks/{adapter}"), secret, body).await
    }

    async fn stored(&self) -> u64 {
        let s = self.store.stats().await.unwrap();
        s.queued + s.running + s.done + s.dead
    }
}

fn texts(messages: &[StoredMessage]) -> Vec<String> {
    messages.iter().filter_map(|m| m.text.clone()).collect()
}

fn sent_texts(channel: &RecordingChannel) -> Vec<(String, String)> {
    channel
        .sent()
        .into_iter()
        .filter_map(|s| match s.part {
            OutboundPart::Text(t) => Some((s.thread.into_inner(), t)),
            _ => None,
        })
        .collect()
}

/// Waits, bounded, until `done` holds while the workers run: a wait for an outcome, not a
/// timing assertion.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let reached = tokio::time::timeout(Duration::from_secs(30), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "never happened: {what}");
}

#[tokio::test]
async fn each_business_is_served_by_its_own_account_only() {
    let rig = Rig::new(true);
    assert_eq!(rig.customer_writes("a", "alice", "hello A").await, StatusCode::OK);
    assert_eq!(rig.customer_writes("b", "bob", "hello B").await, StatusCode::OK);
    rig.bridge.run_until_idle().await;

    // Each customer's conversation is in their business's account, and only there.
    let in_a = rig.account_a.conversation_of(&page("a"), "alice").unwrap();
    let in_b = rig.account_b.conversation_of(&page("b"), "bob").unwrap();
    assert_eq!(rig.account_a.conversation_of(&page("b"), "bob"), None);
    assert_eq!(rig.account_b.conversation_of(&page("a"), "alice"), None);
    assert_eq!(texts(&rig.account_a.messages()), ["hello A"]);
    assert_eq!(texts(&rig.account_b.messages()), ["hello B"]);

    // Each agent's reply reaches its own Page's customer.
    assert_eq!(
        rig.agent_replies("account-a", SECRET_A, &in_a, "reply from A").await,
        StatusCode::OK
    );
    assert_eq!(
        rig.agent_replies("account-b", SECRET_B, &in_b, "reply from B").await,
        StatusCode::OK
    );
    rig.bridge.run_until_idle().await;
    assert_eq!(sent_texts(&rig.channel_a), [("alice".to_owned(), "reply from A".to_owned())]);
    assert_eq!(sent_texts(&rig.channel_b), [("bob".to_owned(), "reply from B".to_owned())]);

    // Each account was only ever called with its own inbox, by its own id.
    let own = InboxId::new("1");
    assert!(!rig.account_a.inboxes_called().is_empty());
    assert!(rig.account_a.inboxes_called().iter().all(|i| *i == own));
    assert!(!rig.account_b.inboxes_called().is_empty());
    assert!(rig.account_b.inboxes_called().iter().all(|i| *i == own));
}

#[tokio::test]
async fn an_inbox_webhook_is_verified_by_the_account_it_is_addressed_to_only() {
    let rig = Rig::new(true);
    rig.customer_writes("b", "bob", "hello B").await;
    rig.bridge.run_until_idle().await;
    let in_b = rig.account_b.conversation_of(&page("b"), "bob").unwrap();
    let before = rig.stored().await;

    // Account A's secret does not open account B's webhook, nor B's open A's.
    assert_eq!(
        rig.agent_replies("account-b", SECRET_A, &in_b, "forged").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        rig.agent_replies("account-a", SECRET_B, &in_b, "forged").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(rig.stored().await, before);

    // Account A, authentic, naming account B's inbox: not A's to report.
    let forged = AgentEnvelope {
        inbox: InboxId::new("1@account-b"),
        event: AgentEvent::Message(AgentMessage {
            id: "501".into(),
            conversation: in_b.clone(),
            text: Some("through A".into()),
            attachments: Vec::new(),
            reply_to: None,
            created_at: Utc::now(),
            author: Author::Person,
        }),
        contact_thread: None,
    };
    let body = serde_json::to_vec(&[forged]).unwrap();
    assert_eq!(rig.post("/webhooks/account-a", SECRET_A, body).await, StatusCode::OK);
    rig.bridge.run_until_idle().await;
    assert_eq!(rig.stored().await, before);
    assert!(sent_texts(&rig.channel_b).is_empty());
}

#[tokio::test]
async fn a_business_added_while_the_workers_run_is_served_without_a_restart() {
    let rig = Rig::new(false);
    let shutdown = CancellationToken::new();
    let workers = tokio::spawn({
        let (bridge, shutdown) = (rig.bridge.clone(), shutdown.clone());
        async move { bridge.run(shutdown).await }
    });
    // Not served yet: its webhook is unknown.
    assert_eq!(rig.customer_writes("b", "bob", "too early").await, StatusCode::NOT_FOUND);

    let (channels, inboxes, bindings) = rig.both();
    rig.bridge.replace_routes(channels, inboxes, bindings).unwrap();
    assert_eq!(rig.customer_writes("b", "bob", "hello B").await, StatusCode::OK);
    until("bob's message reaches account B", || texts(&rig.account_b.messages()) == ["hello B"])
        .await;
    // The business served before goes on as it did.
    assert_eq!(rig.customer_writes("a", "alice", "hello A").await, StatusCode::OK);
    until("alice's message reaches account A", || texts(&rig.account_a.messages()) == ["hello A"])
        .await;
    let in_b = rig.account_b.conversation_of(&page("b"), "bob").unwrap();
    assert_eq!(
        rig.agent_replies("account-b", SECRET_B, &in_b, "reply from B").await,
        StatusCode::OK
    );
    until("B's reply reaches bob", || !sent_texts(&rig.channel_b).is_empty()).await;
    assert_eq!(sent_texts(&rig.channel_b), [("bob".to_owned(), "reply from B".to_owned())]);
    assert!(texts(&rig.account_a.messages()).iter().all(|t| t == "hello A"));

    shutdown.cancel();
    workers.await.unwrap();
}

#[tokio::test]
async fn a_business_removed_is_no_longer_served() {
    let rig = Rig::new(true);
    // Stored while bound, run after the business was removed.
    assert_eq!(rig.customer_writes("b", "bob", "queued before").await, StatusCode::OK);
    let (channels, inboxes, bindings) = rig.only_a();
    rig.bridge.replace_routes(channels, inboxes, bindings).unwrap();
    rig.bridge.run_until_idle().await;

    let dead = rig.store.jobs(JobState::Dead, 10).await.unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    let reason = dead[0].last_error.clone().unwrap_or_default();
    assert!(reason.contains("no longer configured"), "{reason}");
    assert!(rig.account_b.messages().is_empty());
    assert!(rig.account_b.inboxes_called().is_empty());

    // Its webhooks are unknown now, and its account's too.
    assert_eq!(rig.customer_writes("b", "bob", "after").await, StatusCode::NOT_FOUND);
    let conversation = ConversationId::new("v1");
    assert_eq!(
        rig.agent_replies("account-b", SECRET_B, &conversation, "late").await,
        StatusCode::NOT_FOUND
    );
    assert!(rig.account_b.messages().is_empty());
}

#[tokio::test]
async fn an_invalid_route_set_is_refused_and_the_old_one_keeps_serving() {
    let rig = Rig::new(false);
    let (channels, inboxes, _) = rig.both();
    let refused = [
        // An inbox no adapter serves.
        (channels.clone(), inboxes.clone(), vec![binding(page("b"), "1@elsewhere")]),
        // An account no channel serves.
        (vec![rig.channel_a.clone()], inboxes.clone(), vec![binding(page("b"), "1@account-b")]),
        // Two adapters with bare ids: whose is inbox `1`?
        (
            channels.clone(),
            vec![
                rig.account_a.clone(),
                Arc::new(RecordingInbox::account("account-c", "s").bare_ids()),
            ],
            vec![binding(page("a"), "1")],
        ),
        // An inbox id that cannot sit in a send marker.
        (channels.clone(), inboxes.clone(), vec![binding(page("a"), "1:2")]),
        // An account bound twice.
        (channels, inboxes, vec![binding(page("a"), "1"), binding(page("a"), "1@account-b")]),
    ];
    for (channels, inboxes, bindings) in refused {
        let outcome = rig.bridge.replace_routes(channels, inboxes, bindings.clone());
        assert!(matches!(outcome, Err(Error::Config(_))), "{bindings:?}: {outcome:?}");
    }
    assert_eq!(rig.bridge.bindings(), [binding(page("a"), "1")]);
    assert_eq!(rig.customer_writes("a", "alice", "still here").await, StatusCode::OK);
    rig.bridge.run_until_idle().await;
    assert_eq!(texts(&rig.account_a.messages()), ["still here"]);
    assert!(rig.account_b.inboxes_called().is_empty());
}

/// A channel whose profile lookups (the first step of bringing a new customer in) wait
/// until the test lets them through: a job held in flight.
#[derive(Debug)]
struct HeldChannel {
    inner: RecordingChannel,
    entered: Semaphore,
    release: Semaphore,
}

#[async_trait]
impl Channel for HeldChannel {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn capabilities(&self, address: &ChannelAddress) -> Capabilities {
        self.inner.capabilities(address)
    }
    fn accounts(&self) -> Vec<ChannelAddress> {
        self.inner.accounts()
    }
    fn handshake(&self, request: &RawRequest<'_>) -> Result<String, WebhookError> {
        self.inner.handshake(request)
    }
    fn verify(&self, request: &RawRequest<'_>) -> Result<(), WebhookError> {
        self.inner.verify(request)
    }
    fn parse(&self, request: &RawRequest<'_>) -> Result<Vec<InboundEnvelope>, WebhookError> {
        self.inner.parse(request)
    }
    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, DeliveryError> {
        self.inner.send(request).await
    }
    async fn profile(
        &self,
        address: &ChannelAddress,
        user: &PlatformUserId,
    ) -> Result<Profile, DeliveryError> {
        self.entered.add_permits(1);
        if let Ok(permit) = self.release.acquire().await {
            permit.forget();
        }
        self.inner.profile(address, user).await
    }
    async fn fetch_media(
        &self,
        address: &ChannelAddress,
        attachment: &InboundAttachment,
        max_bytes: u64,
    ) -> Result<Media, DeliveryError> {
        self.inner.fetch_media(address, attachment, max_bytes).await
    }
}

#[tokio::test]
async fn a_job_running_during_a_change_finishes_with_the_routes_it_started_with() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let channel = Arc::new(HeldChannel {
        inner: RecordingChannel::new("page-b", vec![page("b")]),
        entered: Semaphore::new(0),
        release: Semaphore::new(0),
    });
    let account_a = Arc::new(RecordingInbox::account("account-a", SECRET_A).bare_ids());
    let account_b = Arc::new(RecordingInbox::account("account-b", SECRET_B));
    let bridge = Bridge::builder(store.clone(), account_a.clone())
        .with_inbox(account_b.clone())
        .with_channel(channel.clone())
        .with_binding(binding(page("b"), "1@account-b"))
        .with_config(EngineConfig::default().with_poll_interval(Duration::from_millis(5)))
        .build()
        .unwrap();
    let shutdown = CancellationToken::new();
    let workers = tokio::spawn({
        let (bridge, shutdown) = (bridge.clone(), shutdown.clone());
        async move { bridge.run(shutdown).await }
    });
    let event = InboundEnvelope::new(
        page("b"),
        InboundEvent::Message(InboundMessage {
            id: "mid-1".into(),
            thread: "bob".into(),
            sender: "bob".into(),
            sent_at: Utc::now(),
            text: Some("in flight".into()),
            attachments: Vec::new(),
            reply_to: None,
            context: None,
        }),
    );
    let request = channel.inner.request(&[event]);
    bridge.ingest_channel("page-b", &request.as_raw()).await.unwrap();
    // The job is running, inside the channel.
    channel.entered.acquire().await.unwrap().forget();

    // The business is removed meanwhile: the job keeps the routes it started with.
    bridge.replace_routes(Vec::new(), vec![account_a.clone()], Vec::new()).unwrap();
    assert!(bridge.bindings().is_empty());
    channel.release.add_permits(1);
    until("the job in flight finishes", || texts(&account_b.messages()) == ["in flight"]).await;
    let settled = tokio::time::timeout(Duration::from_secs(30), async {
        while store.stats().await.unwrap().running > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(settled.is_ok());
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.done, stats.dead), (1, 0), "{stats:?}");
    assert!(account_a.messages().is_empty());

    shutdown.cancel();
    workers.await.unwrap();
}

/// What a store-watching route source does when asked: it finds page B connected meanwhile
/// (by another process) and swaps in the routes that serve it.
struct ConnectedMeanwhile {
    bridge: std::sync::OnceLock<Bridge>,
    next: std::sync::Mutex<Option<RouteSet>>,
    calls: std::sync::atomic::AtomicUsize,
}

#[async_trait]
impl wbots_core::RouteRefresh for ConnectedMeanwhile {
    async fn refresh(&self) -> bool {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let next = self.next.lock().unwrap().take();
        match (self.bridge.get(), next) {
            (Some(bridge), Some((channels, inboxes, bindings))) => {
                bridge.replace_routes(channels, inboxes, bindings).unwrap();
                true
            }
            _ => false,
        }
    }
}

#[tokio::test]
async fn a_message_for_an_account_connected_a_moment_ago_elsewhere_is_not_skipped() {
    // One channel serving pages A and B (as the Meta channel serves every Page); only A
    // is routed when B's first message arrives.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let channel = Arc::new(RecordingChannel::new("meta", vec![page("a"), page("b")]));
    let account = Arc::new(RecordingInbox::account("account-a", SECRET_A).bare_ids());
    let source = Arc::new(ConnectedMeanwhile {
        bridge: std::sync::OnceLock::new(),
        next: std::sync::Mutex::new(Some((
            vec![channel.clone() as Arc<dyn Channel>],
            vec![account.clone() as Arc<dyn Inbox>],
            vec![binding(page("a"), "1"), binding(page("b"), "2")],
        ))),
        calls: std::sync::atomic::AtomicUsize::new(0),
    });
    let bridge = Bridge::builder(store.clone(), account.clone())
        .with_channel(channel.clone())
        .with_binding(binding(page("a"), "1"))
        .with_route_refresh(source.clone())
        .build()
        .unwrap();
    assert!(source.bridge.set(bridge.clone()).is_ok());
    let app = router(bridge.clone(), RouterOptions::default());
    let writes = |page_id: &str, text: &str| {
        let event = InboundEnvelope::new(
            page(page_id),
            InboundEvent::Message(InboundMessage {
                id: format!("mid-{page_id}-{text}").into(),
                thread: "carol".into(),
                sender: "carol".into(),
                sent_at: Utc::now(),
                text: Some(text.to_owned()),
                attachments: Vec::new(),
                reply_to: None,
                context: None,
            }),
        );
        let body = channel.request(&[event]).body;
        Request::post("/webhooks/meta")
            .header(SIGNATURE_HEADER, test_signature("test-secret", &body))
            .body(Body::from(body))
            .unwrap()
    };

    // Routed accounts never ask for a refresh.
    let ok = app.clone().oneshot(writes("a", "to A")).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(source.calls.load(std::sync::atomic::Ordering::SeqCst), 0);

    let ok = app.clone().oneshot(writes("b", "first to B")).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(source.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    bridge.run_until_idle().await;
    assert_eq!(
        account.conversation_of(&page("b"), "carol").map(|_| "found"),
        Some("found"),
        "B's first message was stored and delivered"
    );
    let mut got = texts(&account.messages());
    got.sort();
    assert_eq!(got, ["first to B", "to A"]);

    // An account nobody connected: asked once more, still skipped, nothing stored for it.
    let before = store.stats().await.unwrap();
    let ok = app.clone().oneshot(writes("z", "to nobody")).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(source.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(store.stats().await.unwrap(), before);
}
