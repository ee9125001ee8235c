//! The recording doubles pass the same conformance suites as the real adapters, so the
//! engine tests exercise doubles that behave like adapters.

mod channel {
    use std::sync::Arc;

    use chrono::{TimeZone, Utc};
    use wbots_core::testkit::{ChannelHarness, OwnedRequest, RecordingChannel};
    use wbots_core::{
        ChannelAddress, ChannelKind, EchoMessage, InboundEnvelope, InboundEvent, InboundMessage,
    };

    async fn harness() -> ChannelHarness {
        let page = ChannelAddress::new(ChannelKind::new("messenger"), "page-1");
        let channel = Arc::new(RecordingChannel::new("fake", vec![page.clone()]));
        let sent_at = Utc.timestamp_opt(1_732_000_000, 0).unwrap();
        let message = InboundEvent::Message(InboundMessage {
            id: "m_1".into(),
            thread: "alice".into(),
            sender: "alice".into(),
            sent_at,
            text: Some("hello".into()),
            attachments: Vec::new(),
            reply_to: None,
            context: None,
        });
        let echo = InboundEvent::Echo(EchoMessage {
            id: "m_2".into(),
            thread: "alice".into(),
            sent_at,
            text: Some("hi".into()),
            attachments: Vec::new(),
            app_id: None,
            metadata: Some("wbots:1:2:0".into()),
        });
        let sample = channel.request(&[InboundEnvelope::new(page.clone(), message)]).body;
        let echo = channel.request(&[InboundEnvelope::new(page, echo)]).body;
        // The double sends nowhere, so the send checks are skipped (and say so).
        ChannelHarness::new_shared(
            channel.clone(),
            {
                let channel = channel.clone();
                move |body| channel.sign(body)
            },
            sample,
            sent_at,
        )
        .signs_body()
        .with_handshake(OwnedRequest::get("token=test-secret&challenge=42"), "42")
        .with_echo(echo)
    }

    wbots_core::channel_conformance_tests!(harness());
}

mod inbox {
    use std::sync::Arc;

    use wbots_core::testkit::{InboxHarness, RecordingInbox};
    use wbots_core::{AgentEnvelope, AgentEvent, ChannelAddress, ChannelKind};

    async fn harness() -> InboxHarness {
        let inbox = Arc::new(RecordingInbox::new());
        let message = inbox.agent_message(&"7".into(), &"v1".into(), "hello");
        let note = AgentEnvelope {
            inbox: "7".into(),
            event: AgentEvent::Ignored {
                kind: "message_created".into(),
                reason: "private note".into(),
            },
            contact_thread: None,
        };
        InboxHarness {
            inbox: inbox.clone(),
            sign: Box::new({
                let inbox = inbox.clone();
                move |body| inbox.sign(body)
            }),
            agent_message_body: serde_json::to_vec(&[message]).unwrap(),
            ignored_bodies: vec![serde_json::to_vec(&[note]).unwrap()],
            live: Some(("7".into(), ChannelAddress::new(ChannelKind::new("messenger"), "page-1"))),
            keep_alive: Vec::new(),
        }
    }

    wbots_core::inbox_conformance_tests!(harness());
}
