//! The inbox kit catches planted mistakes too: the recording inbox passes, and an inbox
//! that accepts any signature, or one that duplicates contacts, fails the check that says
//! so, naming the input and what was expected.

use std::sync::Arc;

use async_trait::async_trait;
use wbots_core::testkit::{InboxHarness, RecordingInbox, SIGNATURE_HEADER, inbox_suite};
use wbots_core::{
    AgentAttachment, AgentEnvelope, AgentEvent, ChannelAddress, ChannelKind, ContactId,
    ContactRequest, ConversationId, ConversationRequest, DeliveryError, Inbox, InboxMessageId,
    Media, MessageUpdate, PlatformMessageId, PostMessage, RawRequest, WebhookError,
};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mistake {
    None,
    AcceptsAnySignature,
    DuplicatesContacts,
}

/// The recording inbox with one mistake planted.
#[derive(Debug)]
struct Planted {
    inner: Arc<RecordingInbox>,
    mistake: Mistake,
}

#[async_trait]
impl Inbox for Planted {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn verify(&self, request: &RawRequest<'_>) -> Result<(), WebhookError> {
        if self.mistake == Mistake::AcceptsAnySignature
            && request.header(SIGNATURE_HEADER).is_some()
        {
            return Ok(());
        }
        self.inner.verify(request)
    }
    fn parse(&self, request: &RawRequest<'_>) -> Result<Vec<AgentEnvelope>, WebhookError> {
        self.inner.parse(request)
    }
    async fn upsert_contact(&self, request: &ContactRequest) -> Result<ContactId, DeliveryError> {
        if self.mistake == Mistake::DuplicatesContacts {
            return Ok(ContactId::new(next_contact_id()));
        }
        self.inner.upsert_contact(request).await
    }
    async fn open_conversation(
        &self,
        r: &ConversationRequest,
    ) -> Result<ConversationId, DeliveryError> {
        self.inner.open_conversation(r).await
    }
    async fn find_message(
        &self,
        c: &ConversationId,
        s: &PlatformMessageId,
    ) -> Result<Option<InboxMessageId>, DeliveryError> {
        self.inner.find_message(c, s).await
    }
    async fn post_message(&self, m: &PostMessage) -> Result<InboxMessageId, DeliveryError> {
        self.inner.post_message(m).await
    }
    async fn post_note(
        &self,
        c: &ConversationId,
        t: &str,
    ) -> Result<InboxMessageId, DeliveryError> {
        self.inner.post_note(c, t).await
    }
    async fn update_message(&self, u: &MessageUpdate) -> Result<(), DeliveryError> {
        self.inner.update_message(u).await
    }
    async fn fetch_media(&self, a: &AgentAttachment, max: u64) -> Result<Media, DeliveryError> {
        self.inner.fetch_media(a, max).await
    }
}

fn next_contact_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1000);
    format!("contact-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn harness(mistake: Mistake) -> InboxHarness {
    let inner = Arc::new(RecordingInbox::new());
    let message = inner.agent_message(&"7".into(), &"v1".into(), "hello");
    let note = AgentEnvelope {
        inbox: "7".into(),
        event: AgentEvent::Ignored {
            kind: "message_created".into(),
            reason: "private note".into(),
        },
        contact_thread: None,
    };
    InboxHarness {
        inbox: Arc::new(Planted { inner: inner.clone(), mistake }),
        sign: Box::new(move |body| inner.sign(body)),
        agent_message_body: serde_json::to_vec(&[message]).unwrap(),
        ignored_bodies: vec![serde_json::to_vec(&[note]).unwrap()],
        live: Some(("7".into(), ChannelAddress::new(ChannelKind::new("messenger"), "page-1"))),
        keep_alive: Vec::new(),
    }
}

async fn failures(mistake: Mistake) -> Vec<(&'static str, String)> {
    inbox_suite::run(&harness(mistake))
        .await
        .into_iter()
        .filter_map(|(name, r)| r.err().map(|f| (name, f.to_string())))
        .collect()
}

#[tokio::test]
async fn the_recording_inbox_passes() {
    assert_eq!(failures(Mistake::None).await, Vec::new());
}

#[tokio::test]
async fn an_inbox_that_accepts_any_signature_fails() {
    let failed = failures(Mistake::AcceptsAnySignature).await;
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let (check, message) = &failed[0];
    assert_eq!(*check, "refuses_tampered_and_unsigned_deliveries");
    for needle in ["header `x-test-signature`", "Unauthorized", "constant time", "got:      Ok(())"]
    {
        assert!(message.contains(needle), "{needle:?} missing from:\n{message}");
    }
}

#[tokio::test]
async fn an_inbox_that_duplicates_contacts_fails() {
    let failed = failures(Mistake::DuplicatesContacts).await;
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let (check, message) = &failed[0];
    assert_eq!(*check, "live_operations_are_idempotent");
    for needle in
        ["upsert_contact of the same customer again", "found again rather than duplicated"]
    {
        assert!(message.contains(needle), "{needle:?} missing from:\n{message}");
    }
}
