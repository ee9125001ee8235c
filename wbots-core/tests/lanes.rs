//! Lanes: an agent's reply reaches the customer while a slow inbox holds every inbound
//! worker and a backlog of customer messages waits (`EngineConfig::outbound_workers`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use wbots_core::store::{JobQueue, MemoryStore, Store};
use wbots_core::testkit::{RecordingChannel, RecordingInbox};
use wbots_core::{
    AgentEvent, Binding, Bridge, ChannelAddress, ChannelKind, EngineConfig, InboundEnvelope,
    InboundEvent, InboundMessage, InboxId, OutboundPart, ReopenPolicy,
};

fn page() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::new("messenger"), "page-1")
}

fn inbox_id() -> InboxId {
    InboxId::new("7")
}

fn message(thread: &str, seq: usize) -> InboundEnvelope {
    let at = Utc::now().timestamp_millis() + seq as i64;
    InboundEnvelope::new(
        page(),
        InboundEvent::Message(InboundMessage {
            id: format!("m-{thread}-{seq}").into(),
            thread: thread.into(),
            sender: thread.into(),
            sent_at: Utc.timestamp_millis_opt(at).single().unwrap_or_else(Utc::now),
            text: Some(format!("{thread} #{seq}")),
            attachments: Vec::new(),
            reply_to: None,
            context: None,
        }),
    )
}

/// Waits (bounded, so a regression fails instead of hanging) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let reached = tokio::time::timeout(Duration::from_secs(30), async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "never happened: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reply_overtakes_an_inbound_backlog_held_by_a_slow_inbox() {
    let channel = Arc::new(RecordingChannel::new("fake", vec![page()]));
    let inbox = Arc::new(RecordingInbox::new());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let config = EngineConfig::default()
        .with_workers(2)
        .with_outbound_workers(1)
        .with_poll_interval(Duration::from_millis(5));
    let bridge = Bridge::builder(store.clone(), inbox.clone())
        .with_channel(channel.clone())
        .with_binding(Binding { address: page(), inbox: inbox_id(), reopen: ReopenPolicy::Reopen })
        .with_config(config)
        .build()
        .unwrap();

    // Alice's conversation exists before the inbox slows down.
    bridge.ingest_channel("fake", &channel.request(&[message("alice", 0)]).as_raw()).await.unwrap();
    bridge.run_until_idle().await;
    let conversation = inbox.conversation_of(&page(), "alice").unwrap();

    // The inbox now holds every post; a backlog of 20 customers arrives.
    let gate = Arc::new(Semaphore::new(0));
    inbox.hold_posts(gate.clone());
    let backlog: Vec<InboundEnvelope> =
        (0..20).map(|i| message(&format!("customer-{i}"), 1)).collect();
    bridge.ingest_channel("fake", &channel.request(&backlog).as_raw()).await.unwrap();

    let shutdown = CancellationToken::new();
    let workers = tokio::spawn({
        let (bridge, shutdown) = (bridge.clone(), shutdown.clone());
        async move { bridge.run(shutdown).await }
    });
    // Both inbound workers are taken by the backlog (held in the inbox), the rest queued.
    let held = tokio::time::timeout(Duration::from_secs(30), async {
        while store.stats().await.unwrap().running < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(held.is_ok(), "the inbound workers never took the backlog");
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.running, stats.queued), (2, 18), "{stats:?}");

    // An agent replies to Alice: sent to Meta while the backlog still waits.
    let reply = inbox.agent_message(&inbox_id(), &conversation, "Hello Alice");
    assert!(matches!(reply.event, AgentEvent::Message(_)));
    bridge.ingest_inbox(&inbox.request(&[reply]).as_raw()).await.unwrap();
    until("the reply is sent", || !channel.sent().is_empty()).await;
    let sent = channel.sent();
    assert_eq!(sent[0].part, OutboundPart::Text("Hello Alice".into()));
    let backlog_posted = inbox
        .messages()
        .iter()
        .filter(|m| m.text.as_deref().is_some_and(|t| t.starts_with("customer-")))
        .count();
    assert_eq!(backlog_posted, 0, "the reply went out before any backlog message was posted");

    // The inbox recovers: the whole backlog drains, each message once.
    gate.close();
    until("the backlog drains", || {
        inbox
            .messages()
            .iter()
            .filter(|m| m.text.as_deref().is_some_and(|t| t.starts_with("customer-")))
            .count()
            == backlog.len()
    })
    .await;
    shutdown.cancel();
    workers.await.unwrap();
    assert_eq!(channel.sent().len(), 1);
}
