//! The whole wbots engine in one process, for reading: a memory store, a recording channel
//! standing in for Messenger and a recording inbox standing in for Chatwoot.
//!
//! A customer writes, the message lands in the inbox; an agent answers, the answer goes out
//! on the channel; the platform's echo of it is recognised and dropped.

use std::sync::Arc;

use chrono::Utc;
use wbots_core::store::MemoryStore;
use wbots_core::testkit::{RecordingChannel, RecordingInbox};
use wbots_core::{
    Binding, Bridge, ChannelAddress, ChannelKind, EchoMessage, InboundEnvelope, InboundEvent,
    InboundMessage, OutboundPart, ReopenPolicy,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Wire a bridge: one business account bound to inbox 7.
    let page = ChannelAddress::new(ChannelKind::new("messenger"), "my-page");
    let channel = Arc::new(RecordingChannel::new("fake", vec![page.clone()]));
    let inbox = Arc::new(RecordingInbox::new());
    let bridge = Bridge::builder(Arc::new(MemoryStore::new()), inbox.clone())
        .with_channel(channel.clone())
        .with_binding(Binding {
            address: page.clone(),
            inbox: "7".into(),
            reopen: ReopenPolicy::Reopen,
        })
        .build()?;

    // 2. The platform delivers a customer's message. Ingest stores it durably and only
    //    then returns: this is when the webhook would be answered 200.
    let hello = InboundEnvelope::new(
        page.clone(),
        InboundEvent::Message(InboundMessage {
            id: "mid.1".into(),
            thread: "customer-42".into(),
            sender: "customer-42".into(),
            sent_at: Utc::now(),
            text: Some("Hi! Is my order on its way?".into()),
            attachments: Vec::new(),
            reply_to: None,
            context: None,
        }),
    );
    let report = bridge.ingest_channel("fake", &channel.request(&[hello]).as_raw()).await?;
    println!("webhook: {} event stored, answering 200", report.accepted);

    // 3. Workers bring it into the inbox: contact, conversation, message.
    bridge.run_until_idle().await;
    for m in inbox.messages() {
        println!("inbox:   conversation {} got {:?}", m.conversation, m.text.unwrap_or_default());
    }

    // 4. An agent answers in the inbox; its webhook is ingested the same way.
    let conversation = inbox.conversation_of(&page, "customer-42").ok_or("no conversation")?;
    let reply = inbox.agent_message(&"7".into(), &conversation, "Yes, it ships today!");
    bridge.ingest_inbox(&inbox.request(&[reply]).as_raw()).await?;
    bridge.run_until_idle().await;
    let sent = channel.sent();
    for s in &sent {
        if let OutboundPart::Text(text) = &s.part {
            println!("channel: sent {text:?} to {}", s.thread);
        }
    }

    // 5. The platform echoes the send back; the bridge recognises its own marker.
    let echo = InboundEnvelope::new(
        page.clone(),
        InboundEvent::Echo(EchoMessage {
            id: "m_sent_1".into(),
            thread: "customer-42".into(),
            sent_at: Utc::now(),
            text: Some("Yes, it ships today!".into()),
            attachments: Vec::new(),
            app_id: None,
            metadata: sent.first().and_then(|s| s.marker.clone()),
        }),
    );
    bridge.ingest_channel("fake", &channel.request(&[echo]).as_raw()).await?;
    bridge.run_until_idle().await;
    let outgoing = inbox
        .messages()
        .iter()
        .filter(|m| {
            m.text.is_some() && !matches!(m.direction, Some(wbots_core::Direction::Incoming))
        })
        .count();
    println!("echo:    dropped ({outgoing} outgoing copies in the inbox)");
    Ok(())
}
