//! Chatwoot's webhooks parse into exactly the agent events the bridge must act on, and
//! nothing else; the inbox passes core's conformance suite against the fake Chatwoot.

use std::sync::Arc;

use chrono::Utc;
use wbots_chatwoot::{ChatwootConfig, ChatwootInbox, sign_webhook};
use wbots_core::testkit::{InboxHarness, OwnedRequest};
use wbots_core::{AgentEvent, AttachmentKind, ChannelAddress, ChannelKind, Inbox, Secret};
use wbots_fakes::chatwoot::FakeChatwoot;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn signed(body: &[u8]) -> OwnedRequest {
    let ts = Utc::now().timestamp();
    OwnedRequest::post(body.to_vec())
        .header("x-chatwoot-timestamp", &ts.to_string())
        .header("x-chatwoot-signature", &sign_webhook(&Secret::new("inbox-secret"), ts, body))
}

fn parser() -> ChatwootInbox {
    let config = ChatwootConfig::new("http://127.0.0.1:1".parse().unwrap(), Secret::new("t"), 3)
        .with_webhook_secret(Secret::new("inbox-secret"));
    ChatwootInbox::builder(config).build().unwrap()
}

fn parse(name: &str) -> AgentEvent {
    let inbox = parser();
    let req = signed(&fixture(name));
    inbox.verify(&req.as_raw()).unwrap();
    let mut events = inbox.parse(&req.as_raw()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].inbox.as_str(), "7");
    events.remove(0).event
}

#[test]
fn an_agent_message_with_an_image_and_a_reply() {
    let AgentEvent::Message(m) = parse("message_created_agent") else { panic!() };
    assert_eq!((m.id.as_str(), m.conversation.as_str()), ("4711", "99"));
    assert_eq!(m.text.as_deref(), Some("Hi Ada, your order ships today."));
    assert_eq!(m.reply_to.as_ref().map(|r| r.as_str()), Some("4700"));
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].kind, AttachmentKind::Image);
    assert_eq!(m.attachments[0].file_name.as_deref(), Some("invoice.png"));
    assert_eq!(m.attachments[0].size, Some(20480));
    assert_eq!(m.created_at.to_rfc3339(), "2026-11-24T10:15:00+00:00");
}

#[test]
fn notes_incoming_and_the_bridges_own_messages_are_ignored() {
    for (name, reason) in [
        ("message_created_private_note", "private note"),
        ("message_created_incoming", "incoming message"),
        ("message_created_by_bridge", "posted by the bridge"),
        ("message_created_echo_outgoing", "posted by the bridge"),
        ("conversation_status_changed", "not acted on"),
    ] {
        match parse(name) {
            AgentEvent::Ignored { reason: r, .. } => assert_eq!(r, reason, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn retry_and_typing() {
    assert!(
        matches!(parse("message_updated_retry"), AgentEvent::RetryRequested { ref message, .. } if message.as_str() == "4711")
    );
    assert!(
        matches!(parse("conversation_typing_on"), AgentEvent::Typing { on: true, ref conversation } if conversation.as_str() == "99")
    );
}

#[test]
fn the_path_token_authenticates_unsigned_chatwoot_versions() {
    let config = ChatwootConfig::new("http://127.0.0.1:1".parse().unwrap(), Secret::new("t"), 3)
        .with_webhook_token(Secret::new("s3cret-path"));
    let inbox = ChatwootInbox::builder(config).build().unwrap();
    let body = fixture("message_created_agent");
    assert!(
        inbox.verify(&OwnedRequest::post(body.clone()).path_token("s3cret-path").as_raw()).is_ok()
    );
    assert!(inbox.verify(&OwnedRequest::post(body.clone()).path_token("guess").as_raw()).is_err());
    assert!(inbox.verify(&OwnedRequest::post(body).as_raw()).is_err());
}

#[test]
fn a_stale_or_forged_signature_is_refused() {
    let inbox = parser();
    let body = fixture("message_created_agent");
    let old = Utc::now().timestamp() - 3600;
    let stale = OwnedRequest::post(body.clone())
        .header("x-chatwoot-timestamp", &old.to_string())
        .header("x-chatwoot-signature", &sign_webhook(&Secret::new("inbox-secret"), old, &body));
    assert!(inbox.verify(&stale.as_raw()).is_err());
    let forged = signed(b"{}");
    let forged = OwnedRequest { body: body.clone(), ..forged };
    assert!(inbox.verify(&forged.as_raw()).is_err());
}

async fn harness() -> InboxHarness {
    let fake = FakeChatwoot::start("cw-token", 3).await.unwrap();
    let inbox_id = fake.add_api_inbox("Messenger", None);
    let config = ChatwootConfig::new(fake.url().clone(), Secret::new("cw-token"), 3)
        .with_webhook_secret(Secret::new("inbox-secret"));
    let inbox = Arc::new(ChatwootInbox::builder(config).build().unwrap());
    InboxHarness {
        inbox,
        sign: Box::new(signed),
        agent_message_body: fixture("message_created_agent"),
        ignored_bodies: [
            "message_created_private_note",
            "message_created_incoming",
            "message_created_by_bridge",
            "conversation_status_changed",
        ]
        .iter()
        .map(|n| fixture(n))
        .collect(),
        live: Some((
            inbox_id.to_string().into(),
            ChannelAddress::new(ChannelKind::Messenger, "1122"),
        )),
        // The fake lives exactly as long as the harness.
        keep_alive: vec![Box::new(fake)],
    }
}

wbots_core::inbox_conformance_tests!(harness());

/// A webhook as Chatwoot v4.2+ sends it (`Message#webhook_data`): no `status`, no top-level
/// `conversation_id`; the error, if any, inside `content_attributes`.
fn payload(
    event: &str,
    kind: &str,
    sender: serde_json::Value,
    attributes: serde_json::Value,
) -> AgentEvent {
    let body = serde_json::json!({
        "event": event, "id": 4711, "content": "Hi **Ada**", "content_type": "text",
        "content_attributes": attributes, "additional_attributes": {}, "message_type": kind,
        "private": false, "source_id": null, "created_at": "2026-11-24T10:15:00Z",
        "sender": sender,
        "conversation": {"id": 99, "inbox_id": 7, "status": "open",
            "contact_inbox": {"source_id": "wbots:messenger:1122:psid-9"},
            "meta": {"sender": {"id": 5, "type": "contact", "identifier": "messenger:1122:psid-9"}}},
        "inbox": {"id": 7, "name": "Messenger"}, "account": {"id": 3, "name": "Acme"},
    });
    let bytes = serde_json::to_vec(&body).unwrap();
    let inbox = parser();
    let mut events = inbox.parse(&signed(&bytes).as_raw()).unwrap();
    let e = events.remove(0);
    if !matches!(e.event, AgentEvent::Ignored { .. }) {
        let thread = e.contact_thread.expect("the contact's bridge identity");
        assert_eq!(
            (thread.address, thread.thread.as_str()),
            (ChannelAddress::new(ChannelKind::Messenger, "1122"), "psid-9")
        );
    }
    e.event
}

#[test]
fn message_updated_tells_a_failure_echo_from_chatwoots_own_failure_and_a_retry() {
    let user = serde_json::json!({"id": 1, "type": "user"});
    let ours = serde_json::json!({"external_error": "the customer last wrote 30 hours ago; the platform allows replies within 24 hours"});
    assert!(matches!(
        payload("message_updated", "outgoing", user.clone(), ours),
        AgentEvent::Ignored { ref reason, .. } if reason == "echo of a failure mark"
    ));
    for error in ["503 Service Unavailable", "Net::ReadTimeout with #<TCPSocket:(closed)>"] {
        let chatwoots = serde_json::json!({"external_error": error});
        assert!(
            matches!(payload("message_updated", "outgoing", user.clone(), chatwoots), AgentEvent::Undelivered(ref m) if m.id.as_str() == "4711"),
            "{error}"
        );
    }
    for after_retry in [serde_json::json!({"external_error": null}), serde_json::json!({})] {
        match payload("message_updated", "outgoing", user.clone(), after_retry) {
            AgentEvent::RetryRequested { message, content: Some(m), .. } => {
                assert_eq!(message.as_str(), "4711");
                assert_eq!(m.text.as_deref(), Some("Hi Ada"));
            }
            other => panic!("{other:?}"),
        }
    }
    let deleted = serde_json::json!({"deleted": true});
    assert!(matches!(
        payload("message_updated", "outgoing", user, deleted),
        AgentEvent::Ignored { .. }
    ));
}

#[test]
fn templates_and_bots_are_sent_with_their_author() {
    use wbots_core::Author;
    let none = serde_json::Value::Null;
    let AgentEvent::Message(m) =
        payload("message_created", "template", none, serde_json::json!({}))
    else {
        panic!()
    };
    assert_eq!(m.author, Author::Automation);
    let bot = serde_json::json!({"id": 2, "type": "agent_bot"});
    let AgentEvent::Message(m) = payload("message_created", "outgoing", bot, serde_json::json!({}))
    else {
        panic!()
    };
    assert_eq!(m.author, Author::Bot);
    let user = serde_json::json!({"id": 1, "type": "user"});
    let AgentEvent::Message(m) =
        payload("message_created", "outgoing", user, serde_json::json!({}))
    else {
        panic!()
    };
    assert_eq!(m.author, Author::Person);
}

#[test]
fn typing_a_private_note_is_ignored() {
    let inbox = parser();
    let body = |private: bool| {
        serde_json::to_vec(&serde_json::json!({
            "event": "conversation_typing_on", "is_private": private,
            "conversation": {"id": 99, "inbox_id": 7}, "user": {"id": 1, "type": "user"},
        }))
        .unwrap()
    };
    let parsed = |b: Vec<u8>| inbox.parse(&signed(&b).as_raw()).unwrap().remove(0).event;
    assert!(matches!(parsed(body(true)), AgentEvent::Ignored { .. }));
    assert!(matches!(parsed(body(false)), AgentEvent::Typing { on: true, .. }));
}
