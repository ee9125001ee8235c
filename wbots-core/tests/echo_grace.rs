//! A send taken over from a worker that died holding it: the dead worker may have sent a
//! part the platform accepted without recording it. The taken-over job waits (through the
//! queue, keeping the conversation's order) for the platform's echo, which carries the
//! bridge's marker, then sends only what no echo recorded: nothing twice, nothing lost.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use wbots_core::store::{MemoryStore, Store};
use wbots_core::testkit::{RecordingChannel, RecordingInbox};
use wbots_core::{
    AgentEnvelope, AgentEvent, Binding, Bridge, ChannelAddress, ChannelKind, ConversationId,
    DeliveryReceipt, DeliveryStatus, EchoMessage, EngineConfig, InboundEnvelope, InboundEvent,
    InboundMessage, InboxId, MessageChange, OutboundPart, ReopenPolicy,
};

fn page() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::new("messenger"), "page-1")
}

fn inbox_id() -> InboxId {
    InboxId::new("7")
}

struct Rig {
    bridge: Bridge,
    channel: Arc<RecordingChannel>,
    inbox: Arc<RecordingInbox>,
    store: Arc<dyn Store>,
}

/// A bridge whose taken-over sends wait `grace` for echoes.
fn rig(grace: Duration) -> Rig {
    let channel = Arc::new(RecordingChannel::new("fake", vec![page()]));
    let inbox = Arc::new(RecordingInbox::new());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let bridge = Bridge::builder(store.clone(), inbox.clone())
        .with_channel(channel.clone())
        .with_binding(Binding { address: page(), inbox: inbox_id(), reopen: ReopenPolicy::Reopen })
        .with_config(EngineConfig::default().with_echo_grace(grace))
        .build()
        .unwrap();
    Rig { bridge, channel, inbox, store }
}

/// Alice writes; returns her conversation in the inbox.
async fn alice_writes(rig: &Rig) -> ConversationId {
    let hello = InboundEnvelope::new(
        page(),
        InboundEvent::Message(InboundMessage {
            id: "m-alice-0".into(),
            thread: "alice".into(),
            sender: "alice".into(),
            sent_at: Utc::now(),
            text: Some("hello".into()),
            attachments: Vec::new(),
            reply_to: None,
            context: None,
        }),
    );
    rig.bridge.ingest_channel("fake", &rig.channel.request(&[hello]).as_raw()).await.unwrap();
    rig.bridge.run_until_idle().await;
    rig.inbox.conversation_of(&page(), "alice").unwrap()
}

/// An agent writes `texts` in order; returns the inbox's message ids.
async fn agent_writes(rig: &Rig, conversation: &ConversationId, texts: &[&str]) -> Vec<String> {
    let events: Vec<AgentEnvelope> =
        texts.iter().map(|t| rig.inbox.agent_message(&inbox_id(), conversation, t)).collect();
    let ids = events
        .iter()
        .map(|e| match &e.event {
            AgentEvent::Message(m) => m.id.to_string(),
            other => panic!("not a message: {other:?}"),
        })
        .collect();
    let report = rig.bridge.ingest_inbox(&rig.inbox.request(&events).as_raw()).await.unwrap();
    assert_eq!(report.accepted, texts.len());
    ids
}

/// A worker claims the first send and dies holding it; the next process takes it over.
async fn worker_dies_holding_the_first_send(rig: &Rig) {
    let held = rig.store.claim(Utc::now(), Duration::from_secs(20), 1).await.unwrap();
    assert_eq!(held.len(), 1, "the first send was claimed");
    assert_eq!(rig.store.release_all_leases().await.unwrap(), 1);
}

/// The platform's echo of part 0 of `message`, with the marker the bridge set on it.
fn echo_of(message: &str) -> InboundEnvelope {
    InboundEnvelope::new(
        page(),
        InboundEvent::Echo(EchoMessage {
            id: "m_sent_by_the_dead_worker".into(),
            thread: "alice".into(),
            sent_at: Utc::now(),
            text: Some("first".into()),
            attachments: Vec::new(),
            app_id: None,
            metadata: Some(format!("wbots:{}:{message}:0", inbox_id())),
        }),
    )
}

fn sent_texts(rig: &Rig) -> Vec<String> {
    rig.channel
        .sent()
        .into_iter()
        .filter_map(|s| match s.part {
            OutboundPart::Text(t) => Some(t),
            _ => None,
        })
        .collect()
}

/// Runs the workers until no job is left (the grace included), bounded.
async fn drain(rig: &Rig) {
    let settled = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            rig.bridge.run_until_idle().await;
            let s = rig.store.stats().await.unwrap();
            if s.queued == 0 && s.running == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(settled.is_ok(), "jobs did not settle: {:?}", rig.store.stats().await);
}

#[tokio::test]
async fn the_echo_of_a_part_a_dead_worker_sent_stops_its_resend_and_order_is_kept() {
    let rig = rig(Duration::from_secs(2));
    let conversation = alice_writes(&rig).await;
    let ids = agent_writes(&rig, &conversation, &["first", "second"]).await;
    worker_dies_holding_the_first_send(&rig).await;

    // Taken over: the send waits for echoes instead of resending, and the second message
    // waits behind it.
    rig.bridge.run_until_idle().await;
    assert_eq!(sent_texts(&rig), Vec::<String>::new(), "sent during the grace");

    // Meta's (redelivered) echo of what the dead worker sent arrives meanwhile.
    let echo = echo_of(&ids[0]);
    rig.bridge.ingest_channel("fake", &rig.channel.request(&[echo]).as_raw()).await.unwrap();
    drain(&rig).await;
    assert_eq!(sent_texts(&rig), ["second"], "the first went once (by the dead worker)");

    // Meta's delivery receipt for what the dead worker sent reaches the agent's message.
    let delivery = InboundEnvelope::new(
        page(),
        InboundEvent::Delivery(DeliveryReceipt {
            thread: "alice".into(),
            mids: vec!["m_sent_by_the_dead_worker".into()],
            watermark: None,
        }),
    );
    rig.bridge.ingest_channel("fake", &rig.channel.request(&[delivery]).as_raw()).await.unwrap();
    rig.bridge.run_until_idle().await;
    let changes = rig
        .inbox
        .messages()
        .into_iter()
        .find(|m| m.id.as_str() == ids[0])
        .map(|m| m.changes)
        .unwrap_or_default();
    assert_eq!(
        changes,
        vec![MessageChange::Status { status: DeliveryStatus::Delivered, error: None }]
    );
}

#[tokio::test]
async fn without_an_echo_the_part_is_sent_after_the_grace_in_order() {
    let rig = rig(Duration::from_millis(100));
    let conversation = alice_writes(&rig).await;
    agent_writes(&rig, &conversation, &["first", "second"]).await;
    worker_dies_holding_the_first_send(&rig).await;
    drain(&rig).await;
    assert_eq!(sent_texts(&rig), ["first", "second"]);
}

#[tokio::test]
async fn a_zero_grace_resends_at_once() {
    let rig = rig(Duration::ZERO);
    let conversation = alice_writes(&rig).await;
    agent_writes(&rig, &conversation, &["first"]).await;
    worker_dies_holding_the_first_send(&rig).await;
    rig.bridge.run_until_idle().await;
    assert_eq!(sent_texts(&rig), ["first"]);
}
