//! A bridge served on loopback, a fake Chatwoot posting to it, a recording channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{TimeZone, Utc};
use wbots_chatwoot::{ChatwootConfig, ChatwootInbox};
use wbots_core::router::{RouterOptions, router};
use wbots_core::store::{JobState, MemoryStore, Store};
use wbots_core::testkit::RecordingChannel;
use wbots_core::{
    Binding, Bridge, Capabilities, ChannelAddress, ChannelKind, EngineConfig, InboundEnvelope,
    InboundEvent, InboundMessage, ReopenPolicy, Secret, SendRequest,
};
use wbots_fakes::chatwoot::FakeChatwoot;

pub(crate) fn page() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::Messenger, "5550001")
}

/// How the bridge's webhook endpoint behaves, as Chatwoot sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Up = 0,
    /// Answers 503 (a proxy in front of a restarting bridge).
    Unavailable = 1,
    /// Stores the event, then answers after Chatwoot gave up waiting.
    Slow = 2,
}

pub(crate) struct Rig {
    pub chatwoot: FakeChatwoot,
    pub channel: Arc<RecordingChannel>,
    pub bridge: Bridge,
    pub store: Arc<dyn Store>,
    pub inbox: u64,
    pub hook_url: String,
    endpoint: Arc<AtomicU8>,
}

pub(crate) async fn start() -> Rig {
    start_with(|c| c).await
}

/// A rig whose channel has the capabilities `caps` makes of Meta-like defaults.
pub(crate) async fn start_with(caps: impl FnOnce(Capabilities) -> Capabilities) -> Rig {
    let chatwoot = FakeChatwoot::start("user-token", 1).await.unwrap();
    let defaults = RecordingChannel::new("fake", vec![page()]);
    let channel = Arc::new(
        RecordingChannel::new("fake", vec![page()])
            .with_capabilities(caps(wbots_core::Channel::capabilities(&defaults, &page()))),
    );
    let inbox = chatwoot.add_api_inbox("Messenger", None);
    let config = ChatwootConfig::new(chatwoot.url().clone(), Secret::new("user-token"), 1)
        .with_webhook_token(Secret::new("path-token"));
    let adapter = Arc::new(ChatwootInbox::builder(config).build().unwrap());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let bridge = Bridge::builder(store.clone(), adapter)
        .with_channel(channel.clone())
        .with_binding(Binding {
            address: page(),
            inbox: inbox.to_string().into(),
            reopen: ReopenPolicy::Reopen,
        })
        .with_config(EngineConfig::default().with_max_attempts(3))
        .build()
        .unwrap();
    let endpoint = Arc::new(AtomicU8::new(Endpoint::Up as u8));
    let app = router(bridge.clone(), RouterOptions::default()).layer(axum::middleware::from_fn({
        let endpoint = endpoint.clone();
        move |request: Request, next: Next| {
            let endpoint = endpoint.clone();
            async move { behave(endpoint.load(Ordering::SeqCst), request, next).await }
        }
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url =
        format!("http://{}/webhooks/chatwoot/path-token", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    chatwoot.set_webhook_url(inbox, &hook_url);
    Rig { chatwoot, channel, bridge, store, inbox, hook_url, endpoint }
}

async fn behave(mode: u8, request: Request, next: Next) -> Response {
    match mode {
        1 => (StatusCode::SERVICE_UNAVAILABLE, "restarting").into_response(),
        2 => {
            let response = next.run(request).await;
            tokio::time::sleep(Duration::from_millis(600)).await;
            response
        }
        _ => next.run(request).await,
    }
}

impl Rig {
    pub(crate) fn set_endpoint(&self, e: Endpoint) {
        self.endpoint.store(e as u8, Ordering::SeqCst);
    }

    /// The bridge stops listening where Chatwoot posts (connection refused).
    pub(crate) fn bridge_down(&self) {
        self.chatwoot.set_webhook_url(self.inbox, "http://127.0.0.1:9/webhooks/chatwoot/x");
    }

    pub(crate) fn bridge_up(&self) {
        self.chatwoot.set_webhook_url(self.inbox, &self.hook_url);
    }

    /// The customer writes `text` at `at_ms`; the bridge brings it into Chatwoot. Returns
    /// the conversation's id.
    pub(crate) async fn customer_writes(
        &self,
        user: &str,
        id: &str,
        text: &str,
        at_ms: i64,
    ) -> u64 {
        let event = InboundEnvelope::new(
            page(),
            InboundEvent::Message(InboundMessage {
                id: id.into(),
                thread: user.into(),
                sender: user.into(),
                sent_at: Utc.timestamp_millis_opt(at_ms).single().unwrap(),
                text: Some(text.to_owned()),
                attachments: Vec::new(),
                reply_to: None,
                context: None,
            }),
        );
        self.bridge.ingest_channel("fake", &self.channel.request(&[event]).as_raw()).await.unwrap();
        self.settle().await;
        self.chatwoot
            .conversations()
            .into_iter()
            .rev()
            .find(|c| c.source_id.ends_with(&format!(":{user}")))
            .map(|c| c.id)
            .unwrap()
    }

    /// Runs the workers until nothing is ready and every webhook Chatwoot started has been
    /// answered (or given up on), repeatedly, so echoes of echoes are handled too.
    pub(crate) async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.bridge.run_until_idle().await;
            let before = self.chatwoot.webhook_attempts();
            // Chatwoot's webhooks go out from a background job.
            tokio::time::sleep(Duration::from_millis(150)).await;
            let queued = self.store.stats().await.unwrap().queued;
            if self.chatwoot.webhook_attempts() == before && queued == 0 {
                let running = self.store.jobs(JobState::Running, 1).await.unwrap();
                if running.is_empty() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "the bridge did not settle");
        }
    }

    pub(crate) async fn sweep(&self) {
        self.bridge.sweep_now().await.unwrap();
        self.settle().await;
    }

    /// The texts sent to the customer, in order.
    pub(crate) fn sent_texts(&self) -> Vec<String> {
        self.channel.sent().iter().filter_map(text_of).collect()
    }

    /// Idempotency keys of every job ever enqueued.
    pub(crate) async fn job_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for state in [JobState::Queued, JobState::Running, JobState::Done, JobState::Dead] {
            keys.extend(
                self.store
                    .jobs(state, 10_000)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|j| j.idempotency_key),
            );
        }
        keys
    }
}

pub(crate) fn text_of(s: &SendRequest) -> Option<String> {
    match &s.part {
        wbots_core::OutboundPart::Text(t) => Some(t.clone()),
        _ => None,
    }
}

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

pub(crate) fn hours_ago_ms(h: i64) -> i64 {
    (Utc::now() - chrono::Duration::hours(h)).timestamp_millis()
}
