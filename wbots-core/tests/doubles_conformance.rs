//! The recording doubles pass the same conformance suites as the real adapters, so the
//! engine tests exercise doubles that behave like adapters.

mod channel {
    use std::sync::Arc;

    use wbots_core::testkit::{ChannelHarness, OwnedRequest, RecordingChannel};
    use wbots_core::{ChannelAddress, ChannelKind, InboundEnvelope, InboundEvent, Unsupported};

    async fn harness() -> ChannelHarness {
        let page = ChannelAddress::new(ChannelKind::Messenger, "page-1");
        let channel = Arc::new(RecordingChannel::new("fake", vec![page.clone()]));
        let mut event = Unsupported::kind("standby");
        event.thread = Some("alice".into());
        let sample = channel
            .request(&[InboundEnvelope::new(page.clone(), InboundEvent::Unsupported(event))])
            .body;
        ChannelHarness {
            channel: channel.clone(),
            sign: Box::new({
                let channel = channel.clone();
                move |body| channel.sign(body)
            }),
            sample_body: sample,
            handshake: Some((OwnedRequest::get("token=test-secret&challenge=42"), "42".into())),
            send_target: Some((page, "alice".into())),
            signs_body: true,
        }
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
            live: Some(("7".into(), ChannelAddress::new(ChannelKind::Messenger, "page-1"))),
        }
    }

    wbots_core::inbox_conformance_tests!(harness());
}
