//! A job whose handler panics is a failed attempt like any other: retried with backoff,
//! dead-lettered once the attempts run out (the agent sees why), and the workers go on
//! serving every other conversation.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio_util::sync::CancellationToken;
use wbots_core::store::{JobQueue, JobState, MemoryStore, QueueStats, Store};
use wbots_core::testkit::{RecordingChannel, RecordingInbox};
use wbots_core::{
    Backoff, Binding, Bridge, Capabilities, Channel, ChannelAddress, ChannelKind, DeliveryError,
    DeliveryStatus, EngineConfig, InboundAttachment, InboundEnvelope, InboundEvent, InboundMessage,
    InboxId, Media, MessageChange, OutboundPart, PlatformUserId, Profile, RawRequest, ReopenPolicy,
    SendReceipt, SendRequest, WebhookError,
};

fn page() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::new("messenger"), "page-1")
}

fn inbox_id() -> InboxId {
    InboxId::new("7")
}

/// The recording channel, except that sending to `bob` panics (a bug in an adapter).
#[derive(Debug)]
struct PanicsForBob(RecordingChannel);

#[async_trait]
impl Channel for PanicsForBob {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn capabilities(&self, address: &ChannelAddress) -> Capabilities {
        self.0.capabilities(address)
    }
    fn accounts(&self) -> Vec<ChannelAddress> {
        self.0.accounts()
    }
    fn handshake(&self, request: &RawRequest<'_>) -> Result<String, WebhookError> {
        self.0.handshake(request)
    }
    fn verify(&self, request: &RawRequest<'_>) -> Result<(), WebhookError> {
        self.0.verify(request)
    }
    fn parse(&self, request: &RawRequest<'_>) -> Result<Vec<InboundEnvelope>, WebhookError> {
        self.0.parse(request)
    }
    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, DeliveryError> {
        if request.thread.as_str() == "bob" {
            panic!("adapter bug while sending");
        }
        self.0.send(request).await
    }
    async fn profile(
        &self,
        address: &ChannelAddress,
        user: &PlatformUserId,
    ) -> Result<Profile, DeliveryError> {
        self.0.profile(address, user).await
    }
    async fn fetch_media(
        &self,
        address: &ChannelAddress,
        attachment: &InboundAttachment,
        max_bytes: u64,
    ) -> Result<Media, DeliveryError> {
        self.0.fetch_media(address, attachment, max_bytes).await
    }
}

fn hello(thread: &str) -> InboundEnvelope {
    InboundEnvelope::new(
        page(),
        InboundEvent::Message(InboundMessage {
            id: format!("m-{thread}-0").into(),
            thread: thread.into(),
            sender: thread.into(),
            sent_at: Utc::now(),
            text: Some(format!("hello from {thread}")),
            attachments: Vec::new(),
            reply_to: None,
            context: None,
        }),
    )
}

/// Waits (bounded, so a bug fails the test instead of hanging it) until the queue shows
/// `done` finished jobs and nothing queued or running.
async fn settled(store: &Arc<dyn Store>, done: u64) -> QueueStats {
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let s = store.stats().await.unwrap();
            if s.queued == 0 && s.running == 0 && s.done == done {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    waited.unwrap_or_else(|_| panic!("jobs did not settle"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_send_is_retried_then_dead_lettered_and_the_worker_goes_on() {
    let recording = RecordingChannel::new("fake", vec![page()]);
    let channel = Arc::new(PanicsForBob(recording));
    let inbox = Arc::new(RecordingInbox::new());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let config = EngineConfig::default()
        .with_max_attempts(3)
        .with_poll_interval(Duration::from_millis(5))
        .with_backoff(Backoff { base: Duration::from_millis(1), max: Duration::from_millis(5) });
    let bridge = Bridge::builder(store.clone(), inbox.clone())
        .with_channel(channel.clone())
        .with_binding(Binding { address: page(), inbox: inbox_id(), reopen: ReopenPolicy::Reopen })
        .with_config(config)
        .build()
        .unwrap();
    let shutdown = CancellationToken::new();
    let workers = tokio::spawn({
        let bridge = bridge.clone();
        let shutdown = shutdown.clone();
        async move { bridge.run(shutdown).await }
    });

    let ingest = |events: Vec<InboundEnvelope>| {
        let req = channel.0.request(&events);
        let bridge = bridge.clone();
        async move { bridge.ingest_channel("fake", &req.as_raw()).await.unwrap() }
    };
    ingest(vec![hello("alice"), hello("bob")]).await;
    settled(&store, 2).await;
    let to_alice = inbox.conversation_of(&page(), "alice").unwrap();
    let to_bob = inbox.conversation_of(&page(), "bob").unwrap();

    // Both answered at once: Bob's send panics every time, Alice's goes out.
    let for_bob = inbox.agent_message(&inbox_id(), &to_bob, "Hi Bob");
    let for_alice = inbox.agent_message(&inbox_id(), &to_alice, "Hi Alice");
    let wbots_core::AgentEvent::Message(bob_message) = &for_bob.event else { unreachable!() };
    let bob_message = bob_message.id.clone();
    bridge.ingest_inbox(&inbox.request(&[for_bob, for_alice]).as_raw()).await.unwrap();
    let stats = settled(&store, 3).await;
    assert_eq!(stats.dead, 1, "{stats:?}");

    let dead = store.jobs(JobState::Dead, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 3, "retried until the attempts ran out: {dead:?}");
    let reason = dead[0].last_error.clone().unwrap();
    assert!(reason.contains("gave up after 3 attempts"), "{reason}");
    assert!(reason.contains("panicked"), "{reason}");
    assert!(!reason.contains("adapter bug"), "the panic's text stays out: {reason}");
    // The agent sees that Bob's message failed.
    let bob_record = inbox.messages().into_iter().find(|m| m.id == bob_message).unwrap();
    assert!(
        bob_record
            .changes
            .iter()
            .any(|c| matches!(c, MessageChange::Status { status: DeliveryStatus::Failed, .. })),
        "{bob_record:?}"
    );

    // The same workers keep serving: Alice's next reply goes out too.
    let again = inbox.agent_message(&inbox_id(), &to_alice, "Anything else?");
    bridge.ingest_inbox(&inbox.request(&[again]).as_raw()).await.unwrap();
    settled(&store, 4).await;
    let sent: Vec<OutboundPart> = channel.0.sent().into_iter().map(|s| s.part).collect();
    assert_eq!(
        sent,
        vec![OutboundPart::Text("Hi Alice".into()), OutboundPart::Text("Anything else?".into())]
    );

    shutdown.cancel();
    workers.await.unwrap();
}
