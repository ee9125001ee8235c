//! The inbox conformance suite: what every [`Inbox`] must do.
//!
//! Build an [`InboxHarness`] (pointed at a fake of your inbox for the live checks) and
//! expand [`crate::inbox_conformance_tests!`] in a test file.

use std::fmt;
use std::sync::Arc;

use chrono::Utc;

use crate::agent::AgentEvent;
use crate::error::WebhookError;
use crate::ids::{ChannelAddress, InboxId, PlatformMessageId, PlatformUserId};
use crate::inbox::{
    ContactRequest, ConversationRequest, DeliveryStatus, Direction, Inbox, MessageChange,
    MessageUpdate, PostMessage, ReopenPolicy,
};
use crate::profile::Profile;

use super::channel_suite::{Signer, hostile_bodies};

/// Everything the suite needs to exercise an inbox.
pub struct InboxHarness {
    /// The inbox under test.
    pub inbox: Arc<dyn Inbox>,
    /// Signs a body the way the inbox does.
    pub sign: Signer,
    /// An agent's message as the inbox delivers it: must parse to exactly one
    /// [`AgentEvent::Message`].
    pub agent_message_body: Vec<u8>,
    /// Deliveries the bridge must not send anywhere (a private note, an incoming message,
    /// the inbox's copy of a message the bridge posted): must parse to no `Message`.
    pub ignored_bodies: Vec<Vec<u8>>,
    /// For the live checks: an inbox id and an account to create contacts for, with a fake
    /// of the inbox listening. `None` skips them.
    pub live: Option<(InboxId, ChannelAddress)>,
}

impl fmt::Debug for InboxHarness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxHarness").field("inbox", &self.inbox).finish_non_exhaustive()
    }
}

/// An agent's message parses to one `Message` event.
pub async fn parses_an_agent_message(h: &InboxHarness) {
    let req = (h.sign)(&h.agent_message_body);
    h.inbox.verify(&req.as_raw()).unwrap_or_else(|e| panic!("signed agent message refused: {e}"));
    let events =
        h.inbox.parse(&req.as_raw()).unwrap_or_else(|e| panic!("agent message not parsed: {e}"));
    let messages = events.iter().filter(|e| matches!(e.event, AgentEvent::Message(_))).count();
    assert_eq!(messages, 1, "{events:?}");
}

/// Notes, incoming messages and the bridge's own posts are never sent to a customer.
pub async fn ignores_what_must_not_be_sent(h: &InboxHarness) {
    for body in &h.ignored_bodies {
        let req = (h.sign)(body);
        let events = h.inbox.parse(&req.as_raw()).unwrap_or_default();
        assert!(
            !events.iter().any(|e| matches!(e.event, AgentEvent::Message(_))),
            "must be ignored: {}",
            String::from_utf8_lossy(body)
        );
    }
}

/// Tampered and unsigned deliveries are unauthorized.
pub async fn refuses_tampered_and_unsigned_deliveries(h: &InboxHarness) {
    let signed = (h.sign)(&h.agent_message_body);
    let mut tampered = signed.clone();
    tampered.body.push(b' ');
    let mut unsigned = signed.clone();
    unsigned.headers.clear();
    unsigned.path_token = None;
    for (what, req) in [("tampered", tampered), ("unsigned", unsigned)] {
        assert!(
            matches!(h.inbox.verify(&req.as_raw()), Err(WebhookError::Unauthorized(_))),
            "{what} delivery must be refused"
        );
    }
}

/// Hostile bodies parse or are `Malformed`, never panic.
pub async fn survives_hostile_bodies(h: &InboxHarness) {
    for body in hostile_bodies(&h.agent_message_body) {
        let req = (h.sign)(&body);
        match h.inbox.parse(&req.as_raw()) {
            Ok(_) | Err(WebhookError::Malformed(_)) => {}
            Err(e) => panic!("expected events or Malformed, got {e:?}"),
        }
    }
}

/// Contacts and conversations are found again, not duplicated; posted messages are
/// found by their platform id; status updates and notes are accepted.
pub async fn live_operations_are_idempotent(h: &InboxHarness) {
    let Some((inbox, address)) = &h.live else { return };
    let user = PlatformUserId::new(format!("conformance-{}", uuid::Uuid::new_v4().simple()));
    let contact_req = ContactRequest {
        inbox: inbox.clone(),
        address: address.clone(),
        user: user.clone(),
        profile: Profile { name: "Conformance Customer".into(), username: None, avatar_url: None },
    };
    let contact = h
        .inbox
        .upsert_contact(&contact_req)
        .await
        .unwrap_or_else(|e| panic!("upsert_contact: {e}"));
    assert_eq!(
        h.inbox.upsert_contact(&contact_req).await.ok(),
        Some(contact.clone()),
        "a second upsert finds the same contact"
    );

    let conv_req = ConversationRequest {
        inbox: inbox.clone(),
        address: address.clone(),
        thread: user.as_str().into(),
        contact,
        existing: None,
        reopen: ReopenPolicy::Reopen,
    };
    let conversation = h
        .inbox
        .open_conversation(&conv_req)
        .await
        .unwrap_or_else(|e| panic!("open_conversation: {e}"));
    assert_eq!(
        h.inbox.open_conversation(&conv_req).await.ok(),
        Some(conversation.clone()),
        "a second open finds the same conversation"
    );
    let with_existing = ConversationRequest { existing: Some(conversation.clone()), ..conv_req };
    assert_eq!(h.inbox.open_conversation(&with_existing).await.ok(), Some(conversation.clone()));

    let source =
        PlatformMessageId::new(format!("mid.conformance.{}", uuid::Uuid::new_v4().simple()));
    assert_eq!(
        h.inbox.find_message(&conversation, &source).await.ok(),
        Some(None),
        "nothing posted yet"
    );
    let message = h
        .inbox
        .post_message(&PostMessage {
            inbox: inbox.clone(),
            conversation: conversation.clone(),
            direction: Direction::Incoming,
            text: Some("hello from the conformance suite".into()),
            media: Vec::new(),
            source_id: source.clone(),
            reply_to: None,
            attributes: serde_json::Map::new(),
            sent_at: Utc::now(),
        })
        .await
        .unwrap_or_else(|e| panic!("post_message: {e}"));
    assert_eq!(
        h.inbox.find_message(&conversation, &source).await.ok(),
        Some(Some(message.clone())),
        "found by source id"
    );

    h.inbox
        .update_message(&MessageUpdate {
            conversation: conversation.clone(),
            message,
            change: MessageChange::Status { status: DeliveryStatus::Delivered, error: None },
        })
        .await
        .unwrap_or_else(|e| panic!("update_message: {e}"));
    h.inbox
        .post_note(&conversation, "a private note")
        .await
        .unwrap_or_else(|e| panic!("post_note: {e}"));
}

/// Expands to one `#[tokio::test]` per inbox check; the argument evaluates to a future of
/// an [`InboxHarness`].
#[macro_export]
macro_rules! inbox_conformance_tests {
    ($harness:expr) => {
        $crate::__inbox_check!($harness, parses_an_agent_message);
        $crate::__inbox_check!($harness, ignores_what_must_not_be_sent);
        $crate::__inbox_check!($harness, refuses_tampered_and_unsigned_deliveries);
        $crate::__inbox_check!($harness, survives_hostile_bodies);
        $crate::__inbox_check!($harness, live_operations_are_idempotent);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __inbox_check {
    ($harness:expr, $check:ident) => {
        #[tokio::test]
        async fn $check() {
            let harness = $harness.await;
            $crate::testkit::inbox_suite::$check(&harness).await;
        }
    };
}
