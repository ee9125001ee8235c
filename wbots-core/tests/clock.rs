//! The engine reads the time from the clock it is given: with a manual clock, a day passes
//! without waiting, and what an agent sees changes as Meta's windows close.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use wbots_core::store::{MemoryStore, Store};
use wbots_core::testkit::{RecordingChannel, RecordingInbox};
use wbots_core::{
    AgentEvent, Author, Binding, Bridge, Capabilities, ChannelAddress, ChannelKind, ConversationId,
    DeliveryStatus, InboundEnvelope, InboundEvent, InboundMessage, InboxId, InboxMessageId,
    ManualClock, MessageChange, MessagingWindow, ReopenPolicy,
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
    clock: Arc<ManualClock>,
}

/// A Messenger-like channel: a 24-hour window, and a person's reply allowed for 7 days.
fn rig(start: DateTime<Utc>) -> Rig {
    let base = RecordingChannel::new("fake", vec![page()]);
    let mut caps: Capabilities = wbots_core::Channel::capabilities(&base, &page());
    caps.human_agent_window_hours = Some(168);
    let channel = Arc::new(base.with_capabilities(caps));
    let inbox = Arc::new(RecordingInbox::new());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(start));
    let bridge = Bridge::builder(store, inbox.clone())
        .with_channel(channel.clone())
        .with_binding(Binding { address: page(), inbox: inbox_id(), reopen: ReopenPolicy::Reopen })
        .with_clock(clock.clone())
        .build()
        .unwrap();
    Rig { bridge, channel, inbox, clock }
}

/// An agent's reply by `author`, run to its end; returns its id.
async fn reply(
    rig: &Rig,
    conversation: &ConversationId,
    text: &str,
    author: Author,
) -> InboxMessageId {
    let mut envelope = rig.inbox.agent_message(&inbox_id(), conversation, text);
    let AgentEvent::Message(m) = &mut envelope.event else { unreachable!() };
    m.author = author;
    let id = m.id.clone();
    rig.bridge.ingest_inbox(&rig.inbox.request(&[envelope]).as_raw()).await.unwrap();
    rig.bridge.run_until_idle().await;
    id
}

/// The failure shown on an agent's message, if it failed.
fn failure(rig: &Rig, id: &InboxMessageId) -> Option<String> {
    let record = rig.inbox.messages().into_iter().find(|m| &m.id == id)?;
    record.changes.into_iter().find_map(|c| match c {
        MessageChange::Status { status: DeliveryStatus::Failed, error } => error,
        _ => None,
    })
}

#[tokio::test]
async fn windows_close_as_the_clock_moves() {
    let start = Utc::now();
    let rig = rig(start);
    let hello = InboundEnvelope::new(
        page(),
        InboundEvent::Message(InboundMessage {
            id: "m-alice-0".into(),
            thread: "alice".into(),
            sender: "alice".into(),
            sent_at: start,
            text: Some("hello".into()),
            attachments: Vec::new(),
            reply_to: None,
            context: None,
        }),
    );
    rig.bridge.ingest_channel("fake", &rig.channel.request(&[hello]).as_raw()).await.unwrap();
    // The bridge was slow: by its clock the message is an hour old when posted, so the
    // agent sees when it was really sent (the inbox stamps it with the time of posting).
    rig.clock.advance(Duration::hours(1));
    rig.bridge.run_until_idle().await;
    let posted = rig.inbox.messages()[0].text.clone().unwrap();
    let sent = format!("[sent {}]", start.format("%Y-%m-%d %H:%M UTC"));
    assert_eq!(posted, format!("{sent}\nhello"));
    let conversation = rig.inbox.conversation_of(&page(), "alice").unwrap();

    // 23 hours after Alice wrote: the standard window, for a bot too.
    rig.clock.set(start + Duration::hours(23));
    let early = reply(&rig, &conversation, "Our bot says hi", Author::Bot).await;
    assert_eq!(failure(&rig, &early), None);
    assert_eq!(rig.channel.sent().len(), 1);
    assert_eq!(rig.channel.sent()[0].window, MessagingWindow::Response);

    // 30 hours: only a person may still answer, under Meta's human-agent tag.
    rig.clock.set(start + Duration::hours(30));
    let bot = reply(&rig, &conversation, "Our bot again", Author::Bot).await;
    let why = failure(&rig, &bot).expect("the bot's late message fails");
    assert!(why.contains("accepts only messages a person wrote (HUMAN_AGENT)"), "{why}");
    assert_eq!(rig.channel.sent().len(), 1, "nothing sent for the bot");
    let person = reply(&rig, &conversation, "Sorry for the wait", Author::Person).await;
    assert_eq!(failure(&rig, &person), None);
    assert_eq!(rig.channel.sent().len(), 2);
    assert_eq!(rig.channel.sent()[1].window, MessagingWindow::HumanAgent);

    // Eight days: nobody may.
    rig.clock.set(start + Duration::days(8));
    let late = reply(&rig, &conversation, "Still there?", Author::Person).await;
    let why = failure(&rig, &late).expect("a reply after 7 days fails");
    assert!(why.contains("the customer last wrote 192 hours ago"), "{why}");
    assert!(why.contains("allows replies within 168 hours"), "{why}");
    assert_eq!(rig.channel.sent().len(), 2, "nothing sent after the window closed");
}
