//! A job slower than its lease stays with its worker: the heartbeat extends the lease while
//! the job runs, so a second replica never takes it over and posts it again.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use tokio_util::sync::CancellationToken;
use wbots_core::store::{JobQueue, MemoryStore, Store};
use wbots_core::testkit::{RecordingChannel, RecordingInbox};
use wbots_core::{
    AgentAttachment, AgentEnvelope, Binding, Bridge, ChannelAddress, ChannelKind, ContactId,
    ContactRequest, ConversationId, ConversationRequest, DeliveryError, EngineConfig,
    InboundEnvelope, InboundEvent, InboundMessage, Inbox, InboxId, InboxMessageId, Media,
    MessageUpdate, PlatformMessageId, PostMessage, RawRequest, ReopenPolicy, WebhookError,
};

const LEASE: Duration = Duration::from_secs(2);
/// Longer than two leases: without a heartbeat another replica takes the job over twice.
const SLOW_POST: Duration = Duration::from_secs(5);

/// The recording inbox, with a `post_message` slower than the lease; counts the posts.
#[derive(Debug)]
struct SlowInbox {
    inner: RecordingInbox,
    posts: AtomicUsize,
}

#[async_trait]
impl Inbox for SlowInbox {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn verify(&self, request: &RawRequest<'_>) -> Result<(), WebhookError> {
        self.inner.verify(request)
    }
    fn parse(&self, request: &RawRequest<'_>) -> Result<Vec<AgentEnvelope>, WebhookError> {
        self.inner.parse(request)
    }
    async fn upsert_contact(&self, request: &ContactRequest) -> Result<ContactId, DeliveryError> {
        self.inner.upsert_contact(request).await
    }
    async fn open_conversation(
        &self,
        request: &ConversationRequest,
    ) -> Result<ConversationId, DeliveryError> {
        self.inner.open_conversation(request).await
    }
    async fn find_message(
        &self,
        conversation: &ConversationId,
        source_id: &PlatformMessageId,
    ) -> Result<Option<InboxMessageId>, DeliveryError> {
        self.inner.find_message(conversation, source_id).await
    }
    async fn post_message(&self, message: &PostMessage) -> Result<InboxMessageId, DeliveryError> {
        self.posts.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(SLOW_POST).await;
        self.inner.post_message(message).await
    }
    async fn post_note(
        &self,
        conversation: &ConversationId,
        text: &str,
    ) -> Result<InboxMessageId, DeliveryError> {
        self.inner.post_note(conversation, text).await
    }
    async fn update_message(&self, update: &MessageUpdate) -> Result<(), DeliveryError> {
        self.inner.update_message(update).await
    }
    async fn fetch_media(
        &self,
        attachment: &AgentAttachment,
        max_bytes: u64,
    ) -> Result<Media, DeliveryError> {
        self.inner.fetch_media(attachment, max_bytes).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_slower_than_its_lease_is_not_taken_over_by_another_replica() {
    let page = ChannelAddress::new(ChannelKind::new("messenger"), "page-1");
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let inbox = Arc::new(SlowInbox { inner: RecordingInbox::new(), posts: AtomicUsize::new(0) });
    let channel = Arc::new(RecordingChannel::new("fake", vec![page.clone()]));
    // Two replicas on one store, polling often so an expired lease would be noticed at once.
    let replica = || {
        Bridge::builder(store.clone(), inbox.clone())
            .with_channel(channel.clone())
            .with_binding(Binding {
                address: page.clone(),
                inbox: InboxId::new("7"),
                reopen: ReopenPolicy::Reopen,
            })
            .with_config(
                EngineConfig::default()
                    .with_lease(LEASE)
                    .with_poll_interval(Duration::from_millis(10)),
            )
            .build()
            .unwrap()
    };
    let (a, b) = (replica(), replica());
    let event = InboundEnvelope::new(
        page.clone(),
        InboundEvent::Message(InboundMessage {
            id: "m-slow".into(),
            thread: "ada".into(),
            sender: "ada".into(),
            sent_at: Utc::now(),
            text: Some("a slow one".into()),
            attachments: Vec::new(),
            reply_to: None,
            context: None,
        }),
    );
    a.ingest_channel("fake", &channel.request(&[event]).as_raw()).await.unwrap();

    let shutdown = CancellationToken::new();
    let workers: Vec<_> = [a, b]
        .into_iter()
        .map(|bridge| {
            let stop = shutdown.clone();
            tokio::spawn(async move { bridge.run(stop).await })
        })
        .collect();
    let settled = tokio::time::timeout(Duration::from_secs(60), async {
        while store.stats().await.map(|s| s.done).unwrap_or(0) < 1 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    shutdown.cancel();
    for w in workers {
        w.await.unwrap();
    }
    assert!(settled.is_ok(), "the job never finished: {:?}", store.stats().await);
    assert_eq!(inbox.posts.load(Ordering::SeqCst), 1, "posted once, by the worker holding it");
    assert_eq!(inbox.inner.messages().len(), 1);
}
