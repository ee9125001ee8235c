//! Recording doubles of [`Channel`] and [`Inbox`]: they keep what the engine did to them,
//! in order, and fail on demand. Their webhook format is plain JSON of core's own event
//! types, signed with a shared secret header, so tests write events directly.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;

use super::faults::{Fault, Faults};
use super::request::OwnedRequest;
use crate::agent::{AgentEnvelope, AgentEvent, AgentMessage};
use crate::channel::{Capabilities, Channel};
use crate::error::{DeliveryError, DeliveryErrorKind, WebhookError};
use crate::event::InboundEnvelope;
use crate::ids::{
    ChannelAddress, ContactId, ConversationId, InboxId, InboxMessageId, PlatformMessageId,
    PlatformUserId, ThreadId,
};
use crate::inbox::{
    ContactRequest, ConversationRequest, Direction, Inbox, MessageChange, MessageUpdate,
    PostMessage, ReopenPolicy,
};
use crate::media::{AgentAttachment, AttachmentKind, InboundAttachment, Media};
use crate::outbound::{SendReceipt, SendRequest};
use crate::profile::Profile;
use crate::request::RawRequest;
use crate::secret::Secret;

/// The header the doubles authenticate with: hex HMAC-SHA256 of the body.
pub const SIGNATURE_HEADER: &str = "x-test-signature";

/// The doubles' signature of `body` under `secret`, as their webhooks carry it.
pub fn test_signature(secret: &str, body: &[u8]) -> String {
    crate::hmac_sha256::sign_hex(secret.as_bytes(), &[body])
}

fn verify_signature(secret: &Secret, request: &RawRequest<'_>) -> Result<(), WebhookError> {
    let Some(sig) = request.header(SIGNATURE_HEADER) else {
        return Err(WebhookError::Unauthorized("missing signature".into()));
    };
    if crate::hmac_sha256::verify_hex(secret.expose().as_bytes(), &[request.body], sig) {
        Ok(())
    } else {
        Err(WebhookError::Unauthorized("wrong signature".into()))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn fail(fault: Fault, what: &str) -> Result<(), DeliveryError> {
    match fault {
        Fault::None => Ok(()),
        Fault::Before => Err(DeliveryError::temporary(
            DeliveryErrorKind::Unavailable,
            format!("injected failure before {what}"),
        )),
        Fault::After => Err(DeliveryError::temporary(
            DeliveryErrorKind::Network,
            format!("injected timeout after {what}"),
        )),
    }
}

/// A channel double.
#[derive(Debug)]
pub struct RecordingChannel {
    name: String,
    secret: Secret,
    accounts: Vec<ChannelAddress>,
    capabilities: Capabilities,
    faults: Faults,
    permanent: Mutex<HashSet<String>>,
    sent: Mutex<Vec<SendRequest>>,
}

impl RecordingChannel {
    /// A channel named `name` serving `accounts`, with Meta-like capabilities (24 h
    /// window, 2,000 characters, a handshake answering `token=test-secret&challenge=…`).
    pub fn new(name: &str, accounts: Vec<ChannelAddress>) -> Self {
        let mut capabilities = Capabilities::text_only(2000);
        capabilities.max_media_bytes = 25 * 1024 * 1024;
        capabilities.response_window_hours = Some(24);
        capabilities.reply_to = true;
        capabilities.sender_actions = true;
        capabilities.profiles = true;
        capabilities.echoes = true;
        capabilities.handshake = true;
        Self {
            name: name.to_owned(),
            secret: Secret::new("test-secret"),
            accounts,
            capabilities,
            faults: Faults::none(),
            permanent: Mutex::new(HashSet::new()),
            sent: Mutex::new(Vec::new()),
        }
    }

    /// Replaces the capabilities.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> Self {
        self.capabilities = capabilities;
        self
    }

    /// Injects failures into `send`.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Makes every send to `thread` fail permanently (a customer who blocked the page).
    pub fn fail_permanently_for(&self, thread: &str) {
        lock(&self.permanent).insert(thread.to_owned());
    }

    /// Signs any body as this channel's platform would.
    pub fn sign(&self, body: &[u8]) -> OwnedRequest {
        OwnedRequest::post(body.to_vec())
            .header(SIGNATURE_HEADER, &test_signature(self.secret.expose(), body))
    }

    /// A signed webhook delivery carrying `events`.
    pub fn request(&self, events: &[InboundEnvelope]) -> OwnedRequest {
        let body = serde_json::to_vec(events).unwrap_or_default();
        let signature = test_signature(self.secret.expose(), &body);
        OwnedRequest::post(body).header(SIGNATURE_HEADER, &signature)
    }

    /// Everything sent so far, in order.
    pub fn sent(&self) -> Vec<SendRequest> {
        lock(&self.sent).clone()
    }
}

#[async_trait]
impl Channel for RecordingChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self, _address: &ChannelAddress) -> Capabilities {
        self.capabilities.clone()
    }

    fn accounts(&self) -> Vec<ChannelAddress> {
        self.accounts.clone()
    }

    fn handshake(&self, request: &RawRequest<'_>) -> Result<String, WebhookError> {
        let pairs: HashMap<String, String> =
            serde_urlencoded::from_str(request.query).unwrap_or_default();
        match (pairs.get("token"), pairs.get("challenge")) {
            (Some(t), Some(c)) if self.secret.matches(t.as_bytes()) => Ok(c.clone()),
            _ => Err(WebhookError::Forbidden("wrong verify token".into())),
        }
    }

    fn verify(&self, request: &RawRequest<'_>) -> Result<(), WebhookError> {
        verify_signature(&self.secret, request)
    }

    fn parse(&self, request: &RawRequest<'_>) -> Result<Vec<InboundEnvelope>, WebhookError> {
        serde_json::from_slice(request.body).map_err(|e| WebhookError::Malformed(e.to_string()))
    }

    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, DeliveryError> {
        if lock(&self.permanent).contains(request.thread.as_str()) {
            return Err(DeliveryError::permanent(
                DeliveryErrorKind::RecipientUnavailable,
                "this person isn't available right now",
            )
            .with_code("551/1545041"));
        }
        let fault = self.faults.draw();
        fail(if fault == Fault::After { Fault::None } else { fault }, "send")?;
        let id = {
            let mut sent = lock(&self.sent);
            sent.push(request.clone());
            PlatformMessageId::new(format!("m_sent_{}", sent.len()))
        };
        fail(fault, "send")?;
        Ok(SendReceipt { message_id: Some(id) })
    }

    async fn profile(
        &self,
        _address: &ChannelAddress,
        user: &PlatformUserId,
    ) -> Result<Profile, DeliveryError> {
        Ok(Profile { name: format!("Customer {user}"), username: None, avatar_url: None })
    }

    async fn fetch_media(
        &self,
        _address: &ChannelAddress,
        attachment: &InboundAttachment,
        max_bytes: u64,
    ) -> Result<Media, DeliveryError> {
        let url = attachment.url.as_ref().map(|u| u.to_string()).unwrap_or_default();
        if url.len() as u64 > max_bytes {
            return Err(DeliveryError::permanent(DeliveryErrorKind::TooLarge, "file too large"));
        }
        Ok(Media {
            bytes: Bytes::from(url.into_bytes()),
            content_type: "image/jpeg".into(),
            file_name: "image.jpg".into(),
            kind: attachment.kind.clone(),
        })
    }
}

/// A message as the inbox double holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredMessage {
    /// Its id.
    pub id: InboxMessageId,
    /// Its conversation.
    pub conversation: ConversationId,
    /// Incoming, outgoing, or a private note (`None`).
    pub direction: Option<Direction>,
    /// Its text.
    pub text: Option<String>,
    /// The platform id it was posted with.
    pub source_id: Option<PlatformMessageId>,
    /// Sizes of its files.
    pub media: Vec<usize>,
    /// What it replies to.
    pub reply_to: Option<InboxMessageId>,
    /// Its attributes.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Changes applied to it, in order.
    pub changes: Vec<MessageChange>,
}

#[derive(Debug, Default)]
struct InboxState {
    next_id: u64,
    contacts: HashMap<(ChannelAddress, PlatformUserId), ContactId>,
    contact_creations: u64,
    conversations: HashMap<ConversationId, (ChannelAddress, ThreadId, bool)>,
    messages: Vec<StoredMessage>,
    permanent: HashSet<String>,
    inboxes_called: Vec<InboxId>,
}

/// An inbox double: one account of the inbox system.
#[derive(Debug)]
pub struct RecordingInbox {
    name: String,
    id_space: Option<String>,
    secret: Secret,
    faults: Faults,
    state: Mutex<InboxState>,
    /// While set, every post waits here first: a slow inbox that holds its callers.
    hold: Mutex<Option<std::sync::Arc<tokio::sync::Semaphore>>>,
}

impl Default for RecordingInbox {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordingInbox {
    /// An empty inbox that never fails.
    pub fn new() -> Self {
        Self {
            name: "recording".to_owned(),
            id_space: None,
            secret: Secret::new("inbox-secret"),
            faults: Faults::none(),
            state: Mutex::default(),
            hold: Mutex::default(),
        }
    }

    /// From now on every post waits for a permit of `gate` (given back after): a gate of
    /// no permits holds every caller, a slow inbox holding its workers; closing the gate
    /// lets every post through.
    pub fn hold_posts(&self, gate: std::sync::Arc<tokio::sync::Semaphore>) {
        *lock(&self.hold) = Some(gate);
    }

    /// Another account of the inbox system beside the first: named `name` (its webhook at
    /// `/webhooks/{name}`), signing with `secret`, its inbox ids in the id space `name`.
    pub fn account(name: &str, secret: &str) -> Self {
        Self {
            name: name.to_owned(),
            id_space: Some(name.to_owned()),
            secret: Secret::new(secret),
            ..Self::new()
        }
    }

    /// Keeps bare inbox ids (no id space), as the first account of a bridge does.
    pub fn bare_ids(mut self) -> Self {
        self.id_space = None;
        self
    }

    /// The inbox ids this account was called with (contacts, conversations, posts), in
    /// order: the adapter's own ids, as the inbox system knows them.
    pub fn inboxes_called(&self) -> Vec<InboxId> {
        lock(&self.state).inboxes_called.clone()
    }

    /// Injects failures into `post_message`.
    pub fn with_faults(mut self, faults: Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Makes posting a message whose text contains `needle` fail permanently.
    pub fn fail_permanently_on(&self, needle: &str) {
        lock(&self.state).permanent.insert(needle.to_owned());
    }

    /// Signs any body as this inbox would.
    pub fn sign(&self, body: &[u8]) -> OwnedRequest {
        OwnedRequest::post(body.to_vec())
            .header(SIGNATURE_HEADER, &test_signature(self.secret.expose(), body))
    }

    /// A signed webhook delivery carrying `events`.
    pub fn request(&self, events: &[AgentEnvelope]) -> OwnedRequest {
        let body = serde_json::to_vec(events).unwrap_or_default();
        let signature = test_signature(self.secret.expose(), &body);
        OwnedRequest::post(body).header(SIGNATURE_HEADER, &signature)
    }

    /// An agent's message event, as the inbox would send it.
    pub fn agent_message(
        &self,
        inbox: &InboxId,
        conversation: &ConversationId,
        text: &str,
    ) -> AgentEnvelope {
        let id = {
            let mut s = lock(&self.state);
            s.next_id += 1;
            InboxMessageId::new(format!("agent-{}", s.next_id))
        };
        AgentEnvelope {
            inbox: inbox.clone(),
            event: AgentEvent::Message(AgentMessage {
                id,
                conversation: conversation.clone(),
                text: Some(text.to_owned()),
                attachments: Vec::new(),
                reply_to: None,
                created_at: chrono::Utc::now(),
                author: crate::agent::Author::Person,
            }),
            contact_thread: None,
        }
    }

    /// Every message, in the order posted.
    pub fn messages(&self) -> Vec<StoredMessage> {
        lock(&self.state).messages.clone()
    }

    /// The conversation of a thread, if one was opened.
    pub fn conversation_of(
        &self,
        address: &ChannelAddress,
        thread: &str,
    ) -> Option<ConversationId> {
        lock(&self.state)
            .conversations
            .iter()
            .find(|(_, (a, t, _))| a == address && t.as_str() == thread)
            .map(|(id, _)| id.clone())
    }

    /// How many contacts were created.
    pub fn contacts_created(&self) -> u64 {
        lock(&self.state).contact_creations
    }

    /// Marks a conversation resolved, as an agent would.
    pub fn resolve(&self, conversation: &ConversationId) {
        if let Some(c) = lock(&self.state).conversations.get_mut(conversation) {
            c.2 = true;
        }
    }

    fn next(&self, s: &mut InboxState) -> u64 {
        s.next_id += 1;
        s.next_id
    }
}

#[async_trait]
impl Inbox for RecordingInbox {
    fn name(&self) -> &str {
        &self.name
    }

    fn id_space(&self) -> Option<&str> {
        self.id_space.as_deref()
    }

    fn verify(&self, request: &RawRequest<'_>) -> Result<(), WebhookError> {
        verify_signature(&self.secret, request)
    }

    fn parse(&self, request: &RawRequest<'_>) -> Result<Vec<AgentEnvelope>, WebhookError> {
        serde_json::from_slice(request.body).map_err(|e| WebhookError::Malformed(e.to_string()))
    }

    async fn upsert_contact(&self, request: &ContactRequest) -> Result<ContactId, DeliveryError> {
        let mut s = lock(&self.state);
        s.inboxes_called.push(request.inbox.clone());
        let key = (request.address.clone(), request.user.clone());
        if let Some(id) = s.contacts.get(&key) {
            return Ok(id.clone());
        }
        let id = ContactId::new(format!("c{}", self.next(&mut s)));
        s.contacts.insert(key, id.clone());
        s.contact_creations += 1;
        Ok(id)
    }

    async fn open_conversation(
        &self,
        request: &ConversationRequest,
    ) -> Result<ConversationId, DeliveryError> {
        let mut s = lock(&self.state);
        s.inboxes_called.push(request.inbox.clone());
        if let Some(existing) = &request.existing {
            if let Some((_, _, resolved)) = s.conversations.get_mut(existing) {
                if !*resolved || request.reopen == ReopenPolicy::Reopen {
                    *resolved = false;
                    return Ok(existing.clone());
                }
            }
        } else if let Some((id, _)) = s.conversations.iter().find(|(_, (a, t, resolved))| {
            *a == request.address && *t == request.thread && !*resolved
        }) {
            return Ok(id.clone());
        }
        let id = ConversationId::new(format!("v{}", self.next(&mut s)));
        s.conversations
            .insert(id.clone(), (request.address.clone(), request.thread.clone(), false));
        Ok(id)
    }

    async fn find_message(
        &self,
        conversation: &ConversationId,
        source_id: &PlatformMessageId,
    ) -> Result<Option<InboxMessageId>, DeliveryError> {
        let s = lock(&self.state);
        Ok(s.messages
            .iter()
            .find(|m| &m.conversation == conversation && m.source_id.as_ref() == Some(source_id))
            .map(|m| m.id.clone()))
    }

    async fn post_message(&self, message: &PostMessage) -> Result<InboxMessageId, DeliveryError> {
        let gate = lock(&self.hold).clone();
        if let Some(gate) = gate {
            // A closed gate holds nobody any more.
            let _permit = gate.acquire().await;
        }
        let fault = self.faults.draw();
        fail(if fault == Fault::After { Fault::None } else { fault }, "post")?;
        let id = {
            let mut s = lock(&self.state);
            s.inboxes_called.push(message.inbox.clone());
            let text = message.text.clone().unwrap_or_default();
            if s.permanent.iter().any(|n| text.contains(n.as_str())) {
                return Err(DeliveryError::permanent(
                    DeliveryErrorKind::InvalidRequest,
                    "rejected by the inbox",
                ));
            }
            if !s.conversations.contains_key(&message.conversation) {
                return Err(DeliveryError::permanent(
                    DeliveryErrorKind::NotFound,
                    "no such conversation",
                ));
            }
            let id = InboxMessageId::new(format!("{}", self.next(&mut s)));
            s.messages.push(StoredMessage {
                id: id.clone(),
                conversation: message.conversation.clone(),
                direction: Some(message.direction),
                text: message.text.clone(),
                source_id: Some(message.source_id.clone()),
                media: message.media.iter().map(|m| m.bytes.len()).collect(),
                reply_to: message.reply_to.clone(),
                attributes: message.attributes.clone(),
                changes: Vec::new(),
            });
            id
        };
        fail(fault, "post")?;
        Ok(id)
    }

    async fn post_note(
        &self,
        conversation: &ConversationId,
        text: &str,
    ) -> Result<InboxMessageId, DeliveryError> {
        let mut s = lock(&self.state);
        let id = InboxMessageId::new(format!("{}", self.next(&mut s)));
        s.messages.push(StoredMessage {
            id: id.clone(),
            conversation: conversation.clone(),
            direction: None,
            text: Some(text.to_owned()),
            source_id: None,
            media: Vec::new(),
            reply_to: None,
            attributes: serde_json::Map::new(),
            changes: Vec::new(),
        });
        Ok(id)
    }

    async fn update_message(&self, update: &MessageUpdate) -> Result<(), DeliveryError> {
        let mut s = lock(&self.state);
        match s.messages.iter_mut().find(|m| m.id == update.message) {
            Some(m) => {
                m.changes.push(update.change.clone());
                Ok(())
            }
            // Agent messages are created by the inbox itself; the double records their
            // changes on a placeholder so tests can read them.
            None => {
                s.messages.push(StoredMessage {
                    id: update.message.clone(),
                    conversation: update.conversation.clone(),
                    direction: Some(Direction::Outgoing),
                    text: None,
                    source_id: None,
                    media: Vec::new(),
                    reply_to: None,
                    attributes: serde_json::Map::new(),
                    changes: vec![update.change.clone()],
                });
                Ok(())
            }
        }
    }

    async fn fetch_media(
        &self,
        attachment: &AgentAttachment,
        _max_bytes: u64,
    ) -> Result<Media, DeliveryError> {
        Ok(Media {
            bytes: Bytes::from(attachment.url.to_string().into_bytes()),
            content_type: "application/octet-stream".into(),
            file_name: attachment.file_name.clone().unwrap_or_else(|| "file".into()),
            kind: AttachmentKind::File,
        })
    }
}
