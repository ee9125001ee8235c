//! Chatwoot's request budget (`chatwoot.max_requests_per_minute`): a backlog drains at the
//! budget without one 429 from a Chatwoot that throttles like rack-attack, no job counts an
//! attempt for waiting, and two bridges on one PostgreSQL share the budget.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;
use wbots_chatwoot::{ChatwootConfig, ChatwootInbox};
use wbots_core::store::{JobState, MemoryStore, RateBudgets, Store};
use wbots_core::testkit::RecordingChannel;
use wbots_core::{
    Binding, Bridge, ChannelAddress, ChannelKind, EngineConfig, InboundEnvelope, InboundEvent,
    InboundMessage, ReopenPolicy, Secret,
};
use wbots_fakes::chatwoot::FakeChatwoot;

/// The fake's throttle: at most this many requests in each one-second window.
const LIMIT_PER_SECOND: u64 = 120;
/// The bridges' budget: 50 a second and a burst of 50, so at most 100 in any second.
const BUDGET_PER_MINUTE: u32 = 3_000;

fn page() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::new("messenger"), "page-1")
}

fn message(customer: usize, seq: usize) -> InboundEnvelope {
    InboundEnvelope::new(
        page(),
        InboundEvent::Message(InboundMessage {
            id: format!("m-{customer}-{seq}").into(),
            thread: format!("customer-{customer}").into(),
            sender: format!("customer-{customer}").into(),
            sent_at: Utc::now(),
            text: Some(format!("customer-{customer} #{seq}")),
            attachments: Vec::new(),
            reply_to: None,
            context: None,
        }),
    )
}

/// A bridge into `chatwoot`'s inbox over `store`, drawing on the store's budgets.
fn bridge<S: Store + RateBudgets>(
    chatwoot: &FakeChatwoot,
    inbox: u64,
    store: Arc<S>,
) -> (Bridge, Arc<RecordingChannel>) {
    let adapter = ChatwootInbox::builder(
        ChatwootConfig::new(chatwoot.url().clone(), Secret::new("token"), 1)
            .with_webhook_token(Secret::new("path-token-0123456789"))
            .with_max_requests_per_minute(BUDGET_PER_MINUTE),
    )
    .with_rate_budgets(store.clone())
    .build()
    .unwrap();
    let channel = Arc::new(RecordingChannel::new("page", vec![page()]));
    let bridge = Bridge::builder(store, Arc::new(adapter))
        .with_channel(channel.clone())
        .with_binding(Binding {
            address: page(),
            inbox: inbox.to_string().into(),
            reopen: ReopenPolicy::Reopen,
        })
        .with_config(
            EngineConfig::default().with_workers(16).with_poll_interval(Duration::from_millis(20)),
        )
        .build()
        .unwrap();
    (bridge, channel)
}

/// Runs `bridges` until the fake holds `expected` incoming messages (bounded, so a
/// regression fails instead of hanging), then stops them.
async fn drain(chatwoot: &FakeChatwoot, bridges: &[Bridge], expected: usize) {
    let shutdown = CancellationToken::new();
    let workers: Vec<_> = bridges
        .iter()
        .map(|b| {
            let (b, stop) = (b.clone(), shutdown.clone());
            tokio::spawn(async move { b.run(stop).await })
        })
        .collect();
    let delivered = tokio::time::timeout(Duration::from_secs(120), async {
        while incoming(chatwoot).len() < expected {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    shutdown.cancel();
    for w in workers {
        w.await.unwrap();
    }
    assert!(delivered.is_ok(), "delivered {} of {expected}", incoming(chatwoot).len());
}

/// The texts of the customers' messages in the fake.
fn incoming(chatwoot: &FakeChatwoot) -> Vec<String> {
    chatwoot
        .messages()
        .into_iter()
        .filter(|m| m.message_type == "incoming")
        .filter_map(|m| m.content)
        .collect()
}

/// Every message once, and no job counted a failed attempt (waiting is not failing).
async fn assert_clean(chatwoot: &FakeChatwoot, stores: &[&dyn Store], expected: usize) {
    let mut texts = incoming(chatwoot);
    assert_eq!(texts.len(), expected, "no message twice");
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), expected, "each message exactly once");
    for store in stores {
        let stats = store.stats().await.unwrap();
        assert_eq!((stats.running, stats.dead), (0, 0), "{stats:?}");
        // Left queued at most: a sweep a bridge scheduled at start (its own job).
        for job in store.jobs(JobState::Queued, 10).await.unwrap() {
            assert!(job.idempotency_key.starts_with("sweep/"), "{job:?}");
        }
        for job in store.jobs(JobState::Done, 10_000).await.unwrap() {
            assert_eq!(job.attempts, 0, "job {} counted a failed attempt", job.id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_drains_at_the_budget_without_a_429() {
    let chatwoot = FakeChatwoot::start("token", 1).await.unwrap();
    let inbox = chatwoot.add_api_inbox("Messenger", None);
    chatwoot.limit_requests(LIMIT_PER_SECOND, Duration::from_secs(1));
    let store = Arc::new(MemoryStore::new());
    let (bridge, channel) = bridge(&chatwoot, inbox, store.clone());
    // 60 new customers (each a contact, its inbox link and a conversation to create) and
    // 3 messages each: a few hundred requests, several seconds' worth of budget.
    let backlog: Vec<InboundEnvelope> =
        (0..3).flat_map(|seq| (0..60).map(move |c| message(c, seq))).collect();
    for chunk in backlog.chunks(30) {
        bridge.ingest_channel("page", &channel.request(chunk).as_raw()).await.unwrap();
    }
    drain(&chatwoot, &[bridge], backlog.len()).await;
    assert_eq!(chatwoot.throttled(), 0, "Chatwoot never answered 429");
    assert!(chatwoot.requests() > 2 * LIMIT_PER_SECOND, "the backlog needed several windows");
    assert_clean(&chatwoot, &[store.as_ref()], backlog.len()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bridges_on_one_postgres_share_the_budget() {
    let Some(admin) = wbots_test_services::postgres_url() else { return };
    let url = wbots_core::testkit::fresh_postgres_database(&admin).await.unwrap();
    let first = Arc::new(wbots_core::store::PostgresStore::connect(&url).await.unwrap());
    first.migrate().await.unwrap();
    let second = Arc::new(wbots_core::store::PostgresStore::connect(&url).await.unwrap());
    let chatwoot = FakeChatwoot::start("token", 1).await.unwrap();
    let inbox = chatwoot.add_api_inbox("Messenger", None);
    chatwoot.limit_requests(LIMIT_PER_SECOND, Duration::from_secs(1));
    let (one, one_channel) = bridge(&chatwoot, inbox, first.clone());
    let (two, _) = bridge(&chatwoot, inbox, second.clone());
    // Each replica alone stays under the limit; two with a budget each would not (up to
    // 200 requests in a second against 120).
    let backlog: Vec<InboundEnvelope> =
        (0..3).flat_map(|seq| (0..60).map(move |c| message(c, seq))).collect();
    for chunk in backlog.chunks(30) {
        one.ingest_channel("page", &one_channel.request(chunk).as_raw()).await.unwrap();
    }
    drain(&chatwoot, &[one, two], backlog.len()).await;
    assert_eq!(chatwoot.throttled(), 0, "Chatwoot never answered 429");
    assert_clean(&chatwoot, &[first.as_ref(), second.as_ref()], backlog.len()).await;
}
