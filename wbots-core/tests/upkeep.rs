//! The channel upkeep: a durable job per account and period. A dead credential flags the
//! channel and tells agents in the conversations they can still answer, once; a failure of
//! the upkeep itself is retried by the queue; replicas on one store run one upkeep per
//! account and period. Time moves on a manual clock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use tokio_util::sync::CancellationToken;
use wbots_core::store::{MemoryStore, Store};
use wbots_core::testkit::{RecordingChannel, RecordingInbox};
use wbots_core::{
    AgentEvent, Binding, Bridge, ChannelAddress, ChannelKind, ChannelUpkeep, DeliveryError,
    DeliveryErrorKind, DeliveryStatus, EngineConfig, InboundEnvelope, InboundEvent, InboundMessage,
    InboxId, ManualClock, MessageChange, ReopenPolicy, UpkeepOutcome,
};

fn page() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::new("messenger"), "page-1")
}

/// An account the routes do not serve, which the upkeep names itself.
fn stored_only() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::new("instagram"), "ig-stored")
}

fn inbox_id() -> InboxId {
    InboxId::new("7")
}

/// An upkeep that answers from a script (then `Healthy`) and records whom it was asked about.
#[derive(Debug, Default)]
struct Scripted {
    answers: Mutex<VecDeque<Result<UpkeepOutcome, DeliveryError>>>,
    asked: Mutex<Vec<ChannelAddress>>,
    extra: Vec<ChannelAddress>,
}

impl Scripted {
    fn answer(&self, outcome: Result<UpkeepOutcome, DeliveryError>) {
        self.answers.lock().unwrap().push_back(outcome);
    }

    fn asked(&self) -> Vec<ChannelAddress> {
        self.asked.lock().unwrap().clone()
    }
}

#[async_trait]
impl ChannelUpkeep for Scripted {
    async fn accounts(&self) -> Result<Vec<ChannelAddress>, DeliveryError> {
        Ok(self.extra.clone())
    }

    async fn upkeep(
        &self,
        address: &ChannelAddress,
        _now: DateTime<Utc>,
    ) -> Result<UpkeepOutcome, DeliveryError> {
        self.asked.lock().unwrap().push(address.clone());
        self.answers.lock().unwrap().pop_front().unwrap_or(Ok(UpkeepOutcome::Healthy))
    }
}

struct Rig {
    bridge: Bridge,
    channel: Arc<RecordingChannel>,
    inbox: Arc<RecordingInbox>,
    clock: Arc<ManualClock>,
    upkeep: Arc<Scripted>,
}

fn rig_on(store: Arc<dyn Store>, clock: Arc<ManualClock>, upkeep: Arc<Scripted>) -> Rig {
    let channel = Arc::new(RecordingChannel::new("fake", vec![page()]));
    let inbox = Arc::new(RecordingInbox::new());
    let config = EngineConfig::default()
        .with_sweep_every(None)
        .with_upkeep_every(Some(StdDuration::from_secs(3600)));
    let bridge = Bridge::builder(store, inbox.clone())
        .with_channel(channel.clone())
        .with_binding(Binding { address: page(), inbox: inbox_id(), reopen: ReopenPolicy::Reopen })
        .with_clock(clock.clone())
        .with_config(config)
        .with_upkeep(upkeep.clone())
        .build()
        .unwrap();
    Rig { bridge, channel, inbox, clock, upkeep }
}

fn rig(start: DateTime<Utc>) -> Rig {
    let upkeep = Arc::new(Scripted::default());
    rig_on(Arc::new(MemoryStore::new()), Arc::new(ManualClock::new(start)), upkeep)
}

/// A customer message from `who`, sent at the clock's now, run to its end.
async fn customer_writes(rig: &Rig, who: &str) {
    let hello = InboundEnvelope::new(
        page(),
        InboundEvent::Message(InboundMessage {
            id: format!("m-{who}").into(),
            thread: who.into(),
            sender: who.into(),
            sent_at: wbots_core::Clock::now(rig.clock.as_ref()),
            text: Some(format!("hello from {who}")),
            attachments: Vec::new(),
            reply_to: None,
            context: None,
        }),
    );
    rig.bridge.ingest_channel("fake", &rig.channel.request(&[hello]).as_raw()).await.unwrap();
    rig.bridge.run_until_idle().await;
}

/// The private notes in `who`'s conversation.
fn notes(rig: &Rig, who: &str) -> Vec<String> {
    let conversation = rig.inbox.conversation_of(&page(), who).unwrap();
    rig.inbox
        .messages()
        .into_iter()
        .filter(|m| m.conversation == conversation && m.direction.is_none())
        .filter_map(|m| m.text)
        .collect()
}

#[tokio::test]
async fn a_dead_credential_flags_the_channel_and_tells_agents_of_recent_conversations_once() {
    let start = Utc::now();
    let rig = rig(start - Duration::days(10));
    customer_writes(&rig, "bob").await; // ten days ago: past every reply window
    rig.clock.set(start - Duration::hours(2));
    customer_writes(&rig, "alice").await;
    rig.clock.set(start);

    rig.upkeep.answer(Ok(UpkeepOutcome::NeedsReconnect {
        reason: "Meta refused the Page token (190)".into(),
    }));
    rig.bridge.upkeep_now(&page()).await.unwrap();
    rig.bridge.run_until_idle().await;

    assert_eq!(rig.upkeep.asked(), vec![page()]);
    assert_eq!(
        rig.bridge.channel_flag(&page()).await.unwrap().as_deref(),
        Some("Meta refused the Page token (190)")
    );
    let alice = notes(&rig, "alice");
    assert_eq!(alice.len(), 1, "{alice:?}");
    assert!(
        alice[0].contains("must be reconnected: Meta refused the Page token (190)"),
        "{alice:?}"
    );
    assert!(notes(&rig, "bob").is_empty(), "a conversation nobody can answer gets no note");

    // The next period says the same: nothing new for agents.
    rig.upkeep.answer(Ok(UpkeepOutcome::NeedsReconnect {
        reason: "Meta refused the Page token (190)".into(),
    }));
    rig.bridge.upkeep_now(&page()).await.unwrap();
    rig.bridge.run_until_idle().await;
    assert_eq!(rig.upkeep.asked().len(), 2);
    assert_eq!(notes(&rig, "alice").len(), 1, "one note per verdict");

    // An agent's reply now fails at once with the reason, and nothing reaches the platform.
    let conversation = rig.inbox.conversation_of(&page(), "alice").unwrap();
    let envelope = rig.inbox.agent_message(&inbox_id(), &conversation, "are you there?");
    let AgentEvent::Message(m) = &envelope.event else { unreachable!() };
    let id = m.id.clone();
    rig.bridge.ingest_inbox(&rig.inbox.request(&[envelope]).as_raw()).await.unwrap();
    rig.bridge.run_until_idle().await;
    assert!(rig.channel.sent().is_empty());
    let failed = rig
        .inbox
        .messages()
        .into_iter()
        .find(|m| m.id == id)
        .and_then(|m| {
            m.changes.into_iter().find_map(|c| match c {
                MessageChange::Status { status: DeliveryStatus::Failed, error } => error,
                _ => None,
            })
        })
        .expect("the reply is marked failed");
    assert!(failed.contains("reconnect required: Meta refused the Page token (190)"), "{failed}");
}

#[tokio::test]
async fn a_failing_upkeep_is_retried_by_the_queue_and_a_renewal_flags_nothing() {
    let start = Utc::now();
    let rig = rig(start);
    rig.upkeep
        .answer(Err(DeliveryError::temporary(DeliveryErrorKind::Unavailable, "Graph unreachable")));
    rig.upkeep.answer(Ok(UpkeepOutcome::Renewed { expires_at: Some(start + Duration::days(60)) }));
    rig.bridge.upkeep_now(&page()).await.unwrap();
    rig.bridge.run_until_idle().await;
    assert_eq!(rig.upkeep.asked().len(), 1, "the retry waits for its time");

    // The retry's time comes: the queue runs the job again, without anyone sleeping.
    rig.clock.advance(Duration::minutes(15));
    rig.bridge.run_until_idle().await;
    assert_eq!(rig.upkeep.asked(), vec![page(), page()]);
    assert_eq!(rig.bridge.channel_flag(&page()).await.unwrap(), None);
}

#[tokio::test]
async fn replicas_run_one_upkeep_per_account_and_period_including_accounts_only_stored() {
    let start = Utc::now();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(start));
    let upkeep = Arc::new(Scripted { extra: vec![stored_only()], ..Scripted::default() });
    let a = rig_on(store.clone(), clock.clone(), upkeep.clone());
    let b = rig_on(store, clock.clone(), upkeep.clone());

    // Each replica starts (schedules this period's upkeep, runs what is ready) and stops.
    let stop = CancellationToken::new();
    stop.cancel();
    a.bridge.run(stop.clone()).await;
    b.bridge.run(stop.clone()).await;
    let mut asked = upkeep.asked();
    asked.sort();
    assert_eq!(asked, vec![stored_only(), page()], "one upkeep per account between replicas");

    // A restart within the period: nothing new.
    a.bridge.run(stop.clone()).await;
    assert_eq!(upkeep.asked().len(), 2);

    // The next period: each account once more.
    clock.advance(Duration::hours(1));
    b.bridge.run(stop.clone()).await;
    a.bridge.run(stop).await;
    assert_eq!(upkeep.asked().len(), 4);
}
