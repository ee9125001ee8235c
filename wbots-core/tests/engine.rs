//! The engine driven through recording doubles: exactly once, in order, through failures.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use tokio_util::sync::CancellationToken;
use wbots_core::store::{JobQueue, JobState, LinkStore, MemoryStore, Store};
use wbots_core::testkit::{Faults, RecordingChannel, RecordingInbox, StoredMessage};
use wbots_core::{
    AgentEnvelope, AgentEvent, Backoff, Binding, Bridge, ChannelAddress, ChannelKind,
    DeliveryReceipt, DeliveryStatus, Direction, EchoMessage, EngineConfig, InboundEnvelope,
    InboundEvent, InboundMessage, InboxId, MessageChange, OutboundPart, ReadReceipt, ReadUpTo,
    ReopenPolicy, Unsupported, WebhookError,
};

fn page() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::new("messenger"), "page-1")
}

fn inbox_id() -> InboxId {
    InboxId::new("7")
}

fn message(thread: &str, seq: usize, at_ms: i64) -> InboundEnvelope {
    InboundEnvelope::new(
        page(),
        InboundEvent::Message(InboundMessage {
            id: format!("m-{thread}-{seq}").into(),
            thread: thread.into(),
            sender: thread.into(),
            sent_at: Utc.timestamp_millis_opt(at_ms).single().unwrap_or_else(Utc::now),
            text: Some(format!("{thread} #{seq}")),
            attachments: Vec::new(),
            reply_to: None,
            context: None,
        }),
    )
}

struct Rig {
    bridge: Bridge,
    channel: Arc<RecordingChannel>,
    inbox: Arc<RecordingInbox>,
    store: Arc<dyn Store>,
}

fn rig(channel: RecordingChannel, inbox: RecordingInbox, store: Arc<dyn Store>) -> Rig {
    let channel = Arc::new(channel);
    let inbox = Arc::new(inbox);
    let config = EngineConfig::default()
        .with_workers(8)
        .with_max_attempts(60)
        .with_poll_interval(Duration::from_millis(5))
        .with_backoff(Backoff { base: Duration::from_millis(1), max: Duration::from_millis(20) });
    let bridge = Bridge::builder(store.clone(), inbox.clone())
        .with_channel(channel.clone())
        .with_binding(Binding { address: page(), inbox: inbox_id(), reopen: ReopenPolicy::Reopen })
        .with_config(config)
        .build()
        .unwrap();
    Rig { bridge, channel, inbox, store }
}

fn default_rig() -> Rig {
    rig(
        RecordingChannel::new("fake", vec![page()]),
        RecordingInbox::new(),
        Arc::new(MemoryStore::new()),
    )
}

/// Runs the workers until no job is queued or running (bounded, so a bug fails the test
/// instead of hanging it).
async fn drain(rig: &Rig) {
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn({
        let bridge = rig.bridge.clone();
        let shutdown = shutdown.clone();
        async move { bridge.run(shutdown).await }
    });
    let settled = tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let s = rig.store.stats().await.unwrap();
            if s.queued == 0 && s.running == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    shutdown.cancel();
    worker.await.unwrap();
    assert!(settled.is_ok(), "jobs did not settle: {:?}", rig.store.stats().await);
}

/// 1,000 events over 50 conversations, ingested interleaved in deliveries of 20.
async fn ingest_burst(rig: &Rig) -> Vec<InboundEnvelope> {
    let base = Utc::now().timestamp_millis();
    let events: Vec<InboundEnvelope> =
        (0..1000).map(|i| message(&format!("user-{}", i % 50), i / 50, base + i as i64)).collect();
    for chunk in events.chunks(20) {
        let req = rig.channel.request(chunk);
        let report = rig.bridge.ingest_channel("fake", &req.as_raw()).await.unwrap();
        assert_eq!(report.accepted, chunk.len());
    }
    events
}

/// Asserts every event reached the inbox exactly once, in order within its conversation.
fn assert_exactly_once_in_order(messages: &[StoredMessage], events: &[InboundEnvelope]) {
    let mut count: HashMap<String, usize> = HashMap::new();
    for m in messages {
        *count.entry(m.source_id.clone().unwrap().into_inner()).or_default() += 1;
    }
    let doubled: Vec<_> = count.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "doubled: {doubled:?}");
    assert_eq!(count.len(), events.len(), "every event arrives");

    let mut per_conversation: HashMap<_, Vec<usize>> = HashMap::new();
    for m in messages {
        let text = m.text.clone().unwrap();
        let seq: usize = text.rsplit('#').next().unwrap().parse().unwrap();
        per_conversation.entry(m.conversation.clone()).or_default().push(seq);
    }
    assert_eq!(per_conversation.len(), 50, "one conversation per customer");
    for (conversation, seqs) in per_conversation {
        let expected: Vec<usize> = (0..20).collect();
        assert_eq!(seqs, expected, "order in conversation {conversation}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_reaches_the_inbox_exactly_once_in_order() {
    let rig = default_rig();
    let events = ingest_burst(&rig).await;
    drain(&rig).await;
    assert_exactly_once_in_order(&rig.inbox.messages(), &events);
    assert_eq!(rig.inbox.contacts_created(), 50);
    let stats = rig.store.stats().await.unwrap();
    assert_eq!((stats.done, stats.dead), (1000, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_30_percent_transient_failures_still_exactly_once_in_order() {
    // Half the failures happen after the inbox stored the message (a lost answer), the
    // case that duplicates messages in bridges that retry blindly.
    let inbox = RecordingInbox::new().with_faults(Faults::new(0.15, 0.15, 42));
    let rig = rig(RecordingChannel::new("fake", vec![page()]), inbox, Arc::new(MemoryStore::new()));
    let events = ingest_burst(&rig).await;
    drain(&rig).await;
    assert_exactly_once_in_order(&rig.inbox.messages(), &events);
    let stats = rig.store.stats().await.unwrap();
    assert_eq!((stats.done, stats.dead), (1000, 0));
    let retried = rig
        .store
        .jobs(JobState::Done, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|j| j.attempts > 0)
        .count();
    assert!(retried > 100, "the faults really happened: {retried} jobs retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_failure_is_wedged_with_its_reason_and_blocks_nothing() {
    let rig = default_rig();
    rig.inbox.fail_permanently_on("user-3 #5");
    let events = ingest_burst(&rig).await;
    drain(&rig).await;

    let dead = rig.store.jobs(JobState::Dead, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert!(dead[0].idempotency_key.ends_with("m-user-3-5"), "{dead:?}");
    assert!(dead[0].last_error.as_deref().unwrap().contains("rejected by the inbox"));

    let messages = rig.inbox.messages();
    assert_eq!(messages.len(), 999);
    // The rest of the same conversation went on, in order.
    let user3: Vec<String> = messages
        .iter()
        .filter(|m| m.text.as_deref().unwrap().starts_with("user-3 "))
        .map(|m| m.text.clone().unwrap())
        .collect();
    let expected: Vec<String> =
        (0..20).filter(|s| *s != 5).map(|s| format!("user-3 #{s}")).collect();
    assert_eq!(user3, expected);
    assert_eq!(events.len(), 1000);
}

#[tokio::test]
async fn duplicate_ingest_creates_no_new_work() {
    let rig = default_rig();
    let events: Vec<_> =
        (0..5).map(|i| message("alice", i, Utc::now().timestamp_millis())).collect();
    let req = rig.channel.request(&events);
    let first = rig.bridge.ingest_channel("fake", &req.as_raw()).await.unwrap();
    let second = rig.bridge.ingest_channel("fake", &req.as_raw()).await.unwrap();
    assert_eq!((first.accepted, first.duplicates), (5, 0));
    assert_eq!((second.accepted, second.duplicates), (0, 5));
    rig.bridge.run_until_idle().await;
    // And once done, a late redelivery is still a duplicate.
    let third = rig.bridge.ingest_channel("fake", &req.as_raw()).await.unwrap();
    assert_eq!(third.duplicates, 5);
    rig.bridge.run_until_idle().await;
    assert_eq!(rig.inbox.messages().len(), 5);
}

#[tokio::test]
async fn bad_input_is_refused_and_stores_nothing() {
    let rig = default_rig();
    let good = rig.channel.request(&[message("alice", 0, 0)]);

    let mut tampered = good.clone();
    tampered.body.push(b' ');
    tampered.headers.insert("x-test-signature", "forged".parse().unwrap());
    let err = rig.bridge.ingest_channel("fake", &tampered.as_raw()).await.unwrap_err();
    assert!(matches!(err, WebhookError::Unauthorized(_)));
    assert_eq!(err.status(), 401);

    let mut unsigned = good.clone();
    unsigned.headers.clear();
    assert_eq!(
        rig.bridge.ingest_channel("fake", &unsigned.as_raw()).await.unwrap_err().status(),
        401
    );

    // Signed, so it passes verification and fails parsing.
    let garbage = rig.channel.sign(b"{not json");
    assert_eq!(
        rig.bridge.ingest_channel("fake", &garbage.as_raw()).await.unwrap_err().status(),
        400
    );

    assert_eq!(rig.bridge.ingest_channel("nope", &good.as_raw()).await.unwrap_err().status(), 404);

    // Authentic but for an account nobody configured, or of an unknown kind: 200, skipped.
    let other = InboundEnvelope::new(
        ChannelAddress::new(ChannelKind::new("messenger"), "other-page"),
        message("bob", 0, 0).event,
    );
    let unknown = InboundEnvelope::new(
        page(),
        InboundEvent::Unsupported(Unsupported::kind("policy_enforcement")),
    );
    let report = rig
        .bridge
        .ingest_channel("fake", &rig.channel.request(&[other, unknown]).as_raw())
        .await
        .unwrap();
    assert_eq!((report.accepted, report.unrouted, report.unsupported), (0, 1, 1));

    let stats = rig.store.stats().await.unwrap();
    assert_eq!(stats.queued + stats.running + stats.done + stats.dead, 0, "nothing stored");
}

/// A customer writes, an agent answers: the answer goes to the customer, its echo is
/// dropped, a message sent from the Meta app shows up as outgoing, receipts update status.
#[tokio::test]
async fn agent_reply_echo_and_receipts() {
    let rig = default_rig();
    let now = Utc::now().timestamp_millis();
    rig.bridge
        .ingest_channel("fake", &rig.channel.request(&[message("alice", 0, now)]).as_raw())
        .await
        .unwrap();
    rig.bridge.run_until_idle().await;
    let conversation = rig.inbox.conversation_of(&page(), "alice").unwrap();

    let reply =
        rig.inbox.agent_message(&inbox_id(), &conversation, "Hello Alice, how can we help?");
    let AgentEvent::Message(agent_msg) = &reply.event else { unreachable!() };
    let agent_id = agent_msg.id.clone();
    let report = rig
        .bridge
        .ingest_inbox(&rig.inbox.request(std::slice::from_ref(&reply)).as_raw())
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    // Chatwoot may send the same webhook again.
    let again = rig.bridge.ingest_inbox(&rig.inbox.request(&[reply]).as_raw()).await.unwrap();
    assert_eq!(again.duplicates, 1);
    rig.bridge.run_until_idle().await;

    let sent = rig.channel.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].thread.as_str(), "alice");
    assert_eq!(sent[0].part, OutboundPart::Text("Hello Alice, how can we help?".into()));
    let marker = sent[0].marker.clone().unwrap();

    // The platform echoes the send: dropped, no second message in the inbox.
    let echo = |id: &str, metadata: Option<String>, text: &str| {
        InboundEnvelope::new(
            page(),
            InboundEvent::Echo(EchoMessage {
                id: id.into(),
                thread: "alice".into(),
                sent_at: Utc::now(),
                text: Some(text.into()),
                attachments: Vec::new(),
                app_id: None,
                metadata,
            }),
        )
    };
    let own = echo("m_sent_1", Some(marker), "Hello Alice, how can we help?");
    let from_app = echo("m_app_1", None, "Sent from the Meta app");
    rig.bridge
        .ingest_channel("fake", &rig.channel.request(&[own, from_app]).as_raw())
        .await
        .unwrap();
    rig.bridge.run_until_idle().await;

    let messages = rig.inbox.messages();
    let outgoing: Vec<&StoredMessage> = messages
        .iter()
        .filter(|m| m.direction == Some(Direction::Outgoing) && m.text.is_some())
        .collect();
    assert_eq!(outgoing.len(), 1, "{messages:#?}");
    assert_eq!(outgoing[0].text.as_deref(), Some("Sent from the Meta app"));

    // Delivery then read.
    let later = Utc::now() + chrono::Duration::seconds(5);
    let delivery = InboundEnvelope::new(
        page(),
        InboundEvent::Delivery(DeliveryReceipt {
            thread: "alice".into(),
            mids: vec!["m_sent_1".into()],
            watermark: None,
        }),
    );
    let read = InboundEnvelope::new(
        page(),
        InboundEvent::Read(ReadReceipt {
            thread: "alice".into(),
            upto: ReadUpTo::Watermark(later),
        }),
    );
    rig.bridge
        .ingest_channel("fake", &rig.channel.request(&[delivery, read]).as_raw())
        .await
        .unwrap();
    rig.bridge.run_until_idle().await;
    let agent_record = rig.inbox.messages().into_iter().find(|m| m.id == agent_id).unwrap();
    assert_eq!(
        agent_record.changes,
        vec![
            MessageChange::Status { status: DeliveryStatus::Delivered, error: None },
            MessageChange::Status { status: DeliveryStatus::Read, error: None },
        ]
    );
}

#[tokio::test]
async fn a_long_reply_is_sent_in_parts_each_exactly_once_despite_failures() {
    let channel = RecordingChannel::new("fake", vec![page()]).with_faults(Faults::new(0.4, 0.0, 7));
    let rig = rig(channel, RecordingInbox::new(), Arc::new(MemoryStore::new()));
    let now = Utc::now().timestamp_millis();
    rig.bridge
        .ingest_channel("fake", &rig.channel.request(&[message("alice", 0, now)]).as_raw())
        .await
        .unwrap();
    drain(&rig).await;
    let conversation = rig.inbox.conversation_of(&page(), "alice").unwrap();
    let text = (0..600).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
    let reply = rig.inbox.agent_message(&inbox_id(), &conversation, &text);
    rig.bridge.ingest_inbox(&rig.inbox.request(&[reply]).as_raw()).await.unwrap();
    drain(&rig).await;

    let parts: Vec<String> = rig
        .channel
        .sent()
        .into_iter()
        .map(|s| match s.part {
            OutboundPart::Text(t) => t,
            other => panic!("unexpected part {other:?}"),
        })
        .collect();
    assert!(parts.len() >= 3, "{} parts", parts.len());
    assert!(parts.iter().all(|p| p.chars().count() <= 2000));
    assert_eq!(parts.join(" "), text, "every part once, in order");
}

#[tokio::test]
async fn a_reply_outside_the_window_fails_with_a_reason_the_agent_sees() {
    let rig = default_rig();
    let two_days_ago = (Utc::now() - chrono::Duration::hours(48)).timestamp_millis();
    rig.bridge
        .ingest_channel("fake", &rig.channel.request(&[message("alice", 0, two_days_ago)]).as_raw())
        .await
        .unwrap();
    rig.bridge.run_until_idle().await;
    let conversation = rig.inbox.conversation_of(&page(), "alice").unwrap();
    // Delivered late, the customer's message shows when it was really sent.
    let first = &rig.inbox.messages()[0];
    assert!(first.text.as_deref().unwrap().starts_with("[sent "), "{first:?}");

    let reply = rig.inbox.agent_message(&inbox_id(), &conversation, "Sorry for the delay");
    let AgentEvent::Message(agent_msg) = &reply.event else { unreachable!() };
    let agent_id = agent_msg.id.clone();
    rig.bridge.ingest_inbox(&rig.inbox.request(&[reply]).as_raw()).await.unwrap();
    rig.bridge.run_until_idle().await;

    assert!(rig.channel.sent().is_empty());
    let record = rig.inbox.messages().into_iter().find(|m| m.id == agent_id).unwrap();
    let MessageChange::Status { status, error } = &record.changes[0] else { panic!("{record:?}") };
    assert_eq!(*status, DeliveryStatus::Failed);
    assert!(error.as_deref().unwrap().contains("allows replies within 24 hours"), "{error:?}");
    let dead = rig.store.jobs(JobState::Dead, 10).await.unwrap();
    assert_eq!(dead.len(), 1);

    // The agent presses retry after the customer wrote again: the bridge sends it now.
    let fresh = message("alice", 1, Utc::now().timestamp_millis());
    rig.bridge.ingest_channel("fake", &rig.channel.request(&[fresh]).as_raw()).await.unwrap();
    rig.bridge.run_until_idle().await;
    let retry = AgentEnvelope {
        inbox: inbox_id(),
        event: AgentEvent::RetryRequested {
            conversation: conversation.clone(),
            message: agent_id.clone(),
            content: None,
        },
        contact_thread: None,
    };
    let report = rig
        .bridge
        .ingest_inbox(&rig.inbox.request(std::slice::from_ref(&retry)).as_raw())
        .await
        .unwrap();
    assert_eq!(report.accepted, 1);
    rig.bridge.run_until_idle().await;
    assert_eq!(rig.channel.sent().len(), 1);
    // The status update that retry caused comes back as message_updated: nothing happens.
    let echo_of_update =
        rig.bridge.ingest_inbox(&rig.inbox.request(&[retry]).as_raw()).await.unwrap();
    assert_eq!(echo_of_update.accepted, 0);
    rig.bridge.run_until_idle().await;
    assert_eq!(rig.channel.sent().len(), 1);
}

#[tokio::test]
async fn a_reaction_is_shown_reopens_the_window_and_can_be_removed() {
    use wbots_core::{Reaction, ReactionAction};
    let rig = default_rig();
    let old = (Utc::now() - chrono::Duration::hours(30)).timestamp_millis();
    rig.bridge
        .ingest_channel("fake", &rig.channel.request(&[message("alice", 0, old)]).as_raw())
        .await
        .unwrap();
    rig.bridge.run_until_idle().await;
    let target = rig.inbox.messages()[0].id.clone();

    let reaction = |action, at| {
        InboundEnvelope::new(
            page(),
            InboundEvent::Reaction(Reaction {
                thread: "alice".into(),
                target: "m-alice-0".into(),
                emoji: Some("❤️".into()),
                action,
                at,
            }),
        )
    };
    let now = Utc::now();
    rig.bridge
        .ingest_channel(
            "fake",
            &rig.channel.request(&[reaction(ReactionAction::React, now)]).as_raw(),
        )
        .await
        .unwrap();
    rig.bridge.run_until_idle().await;
    let shown =
        rig.inbox.messages().into_iter().find(|m| m.text.as_deref() == Some("Reacted ❤️")).unwrap();
    assert_eq!(shown.reply_to, Some(target), "shown as a reply to the message reacted to");

    // The reaction reopened the 24-hour window: an agent reply goes out.
    let conversation = rig.inbox.conversation_of(&page(), "alice").unwrap();
    let reply = rig.inbox.agent_message(&inbox_id(), &conversation, "Glad you liked it");
    rig.bridge.ingest_inbox(&rig.inbox.request(&[reply]).as_raw()).await.unwrap();
    rig.bridge.run_until_idle().await;
    assert_eq!(rig.channel.sent().len(), 1);

    let later = now + chrono::Duration::seconds(1);
    rig.bridge
        .ingest_channel(
            "fake",
            &rig.channel.request(&[reaction(ReactionAction::Unreact, later)]).as_raw(),
        )
        .await
        .unwrap();
    rig.bridge.run_until_idle().await;
    let removed = rig.inbox.messages().into_iter().find(|m| m.id == shown.id).unwrap();
    assert_eq!(removed.changes, vec![MessageChange::Deleted]);
}

/// The same burst through real PostgreSQL: claims race across 8 workers on real row locks.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_postgres_with_failures_is_exactly_once_in_order() {
    let Some(url) = wbots_test_services::postgres_url() else {
        return;
    };
    let store = Arc::new(wbots_core::testkit::fresh_postgres(&url).await.unwrap());
    let inbox = RecordingInbox::new().with_faults(Faults::new(0.1, 0.1, 9));
    let rig = rig(RecordingChannel::new("fake", vec![page()]), inbox, store);
    let events = ingest_burst(&rig).await;
    drain(&rig).await;
    assert_exactly_once_in_order(&rig.inbox.messages(), &events);
    assert_eq!(rig.store.stats().await.unwrap().dead, 0);
}

#[tokio::test]
async fn forgetting_a_customer_removes_their_data_and_nobody_elses() {
    use wbots_core::store::LinkKey;
    let rig = default_rig();
    let now = Utc::now().timestamp_millis();
    let events = [message("alice", 0, now), message("alice", 1, now + 1), message("bob", 0, now)];
    rig.bridge.ingest_channel("fake", &rig.channel.request(&events).as_raw()).await.unwrap();
    rig.bridge.run_until_idle().await;
    // A message of Alice's still queued when she asks.
    rig.bridge
        .ingest_channel("fake", &rig.channel.request(&[message("alice", 2, now + 2)]).as_raw())
        .await
        .unwrap();

    let report = rig.bridge.forget_customer(&"alice".into()).await.unwrap();
    assert_eq!(report.accounts, vec![page()]);
    assert_eq!(report.contacts.len(), 1);
    assert!(report.removed.links >= 4, "{report:?}");
    assert_eq!(rig.store.stats().await.unwrap().queued, 0, "her queued message is gone");
    let contact = |user: &str| LinkKey::contact(&page(), &user.into());
    assert_eq!(rig.store.get_link(&contact("alice")).await.unwrap(), None);
    assert!(rig.store.get_link(&contact("bob")).await.unwrap().is_some());
    // Her finished jobs are gone too, keys and all; Bob's stays.
    let done = rig.store.jobs(wbots_core::store::JobState::Done, 100).await.unwrap();
    assert_eq!(done.len(), 1, "{done:?}");
    assert!(
        done.iter()
            .all(|j| !j.idempotency_key.contains("alice") && !j.ordering_key.contains("alice")),
        "{done:?}"
    );
}

/// The same burst through SQLite on a file.
#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_sqlite_with_failures_is_exactly_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("wbots.db").display());
    let store = wbots_core::store::SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let inbox = RecordingInbox::new().with_faults(Faults::new(0.1, 0.1, 11));
    let rig = rig(RecordingChannel::new("fake", vec![page()]), inbox, Arc::new(store));
    let events = ingest_burst(&rig).await;
    drain(&rig).await;
    assert_exactly_once_in_order(&rig.inbox.messages(), &events);
    assert_eq!(rig.store.stats().await.unwrap().dead, 0);
}

/// A channel's last message in and out, as the connect page and `wbots channels list` show
/// them: none before any traffic, the customer's message time once one came in, the time
/// the platform accepted the agent's answer once it went out (to the minute: one process
/// writes a channel's time at most once a minute); an older message processed late (a
/// retry) never moves a time back.
async fn channel_activity_is_recorded(store: Arc<dyn Store>) {
    use wbots_core::ManualClock;
    use wbots_core::store::ChannelActivity;

    let start = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).single().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let channel = Arc::new(RecordingChannel::new("fake", vec![page()]));
    let inbox = Arc::new(RecordingInbox::new());
    let bridge = Bridge::builder(store.clone(), inbox.clone())
        .with_channel(channel.clone())
        .with_binding(Binding { address: page(), inbox: inbox_id(), reopen: ReopenPolicy::Reopen })
        .with_clock(clock.clone())
        .build()
        .unwrap();
    let activity = || async { ChannelActivity::of(store.as_ref(), &page()).await.unwrap() };
    assert_eq!(activity().await, ChannelActivity::default(), "no traffic yet");

    let came_in = start + chrono::Duration::seconds(30);
    let msg = message("alice", 0, came_in.timestamp_millis());
    bridge.ingest_channel("fake", &channel.request(&[msg]).as_raw()).await.unwrap();
    bridge.run_until_idle().await;
    assert_eq!(activity().await, ChannelActivity { last_in: Some(came_in), last_out: None });

    clock.advance(chrono::Duration::minutes(2));
    let conversation = inbox.conversation_of(&page(), "alice").unwrap();
    let reply = inbox.agent_message(&inbox_id(), &conversation, "Hello Alice");
    bridge.ingest_inbox(&inbox.request(&[reply]).as_raw()).await.unwrap();
    bridge.run_until_idle().await;
    assert_eq!(channel.sent().len(), 1, "the answer went out");
    let went_out = start + chrono::Duration::minutes(2);
    assert_eq!(
        activity().await,
        ChannelActivity { last_in: Some(came_in), last_out: Some(went_out) }
    );

    // A message of another thread sent earlier, processed only now: the newest time stays.
    let late = message("ben", 0, start.timestamp_millis());
    bridge.ingest_channel("fake", &channel.request(&[late]).as_raw()).await.unwrap();
    bridge.run_until_idle().await;
    assert!(inbox.conversation_of(&page(), "ben").is_some(), "ben's message was posted");
    assert_eq!(activity().await.last_in, Some(came_in));
}

#[tokio::test]
async fn channel_activity_through_the_memory_store() {
    channel_activity_is_recorded(Arc::new(MemoryStore::new())).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn channel_activity_through_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("wbots.db").display());
    let store = wbots_core::store::SqliteStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    channel_activity_is_recorded(Arc::new(store)).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn channel_activity_through_postgres() {
    let Some(url) = wbots_test_services::postgres_url() else {
        return;
    };
    let store = wbots_core::testkit::fresh_postgres(&url).await.unwrap();
    channel_activity_is_recorded(Arc::new(store)).await;
}
