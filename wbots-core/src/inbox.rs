//! The [`Inbox`] trait: the team's shared inbox (Chatwoot).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::agent::AgentEnvelope;
use crate::error::{DeliveryError, WebhookError};
use crate::ids::{
    ChannelAddress, ContactId, ConversationId, InboxId, InboxMessageId, PlatformMessageId,
    PlatformUserId, ThreadId,
};
use crate::media::{AgentAttachment, Media};
use crate::profile::Profile;
use crate::request::RawRequest;

/// What to do when a customer writes into a conversation the team has resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReopenPolicy {
    /// Reopen the resolved conversation (the default: the history stays in one place).
    #[default]
    Reopen,
    /// Start a new conversation.
    New,
}

/// Find-or-create a contact for a platform user.
#[derive(Clone, Debug, PartialEq)]
pub struct ContactRequest {
    /// The inbox the contact belongs to.
    pub inbox: InboxId,
    /// The business account the customer wrote to.
    pub address: ChannelAddress,
    /// The customer.
    pub user: PlatformUserId,
    /// What the platform tells about them.
    pub profile: Profile,
}

/// Find-or-open a conversation for a thread.
#[derive(Clone, Debug, PartialEq)]
pub struct ConversationRequest {
    /// The inbox.
    pub inbox: InboxId,
    /// The business account.
    pub address: ChannelAddress,
    /// The platform thread.
    pub thread: ThreadId,
    /// The contact, from [`Inbox::upsert_contact`].
    pub contact: ContactId,
    /// The conversation the bridge used last for this thread, if any.
    pub existing: Option<ConversationId>,
    /// What to do when `existing` is resolved.
    pub reopen: ReopenPolicy,
}

/// Which way a posted message went, from the business's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer.
    Incoming,
    /// From the business, sent outside the inbox (an echo from the Meta app).
    Outgoing,
}

/// A message to post into an inbox conversation.
#[derive(Clone, Debug, PartialEq)]
pub struct PostMessage {
    /// The inbox.
    pub inbox: InboxId,
    /// The conversation.
    pub conversation: ConversationId,
    /// Incoming or outgoing.
    pub direction: Direction,
    /// The text to show, already annotated by the engine (late delivery, context).
    pub text: Option<String>,
    /// Files to upload with it.
    pub media: Vec<Media>,
    /// The platform's id of the message: the inbox must store it (Chatwoot `source_id`) so
    /// [`Inbox::find_message`] can tell whether an earlier attempt already posted it.
    pub source_id: PlatformMessageId,
    /// The inbox message this replies to.
    pub reply_to: Option<InboxMessageId>,
    /// Structured context (story, postback, referral, reaction, original time) to keep on
    /// the message (Chatwoot `content_attributes`).
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// When it was originally sent on the platform.
    pub sent_at: DateTime<Utc>,
}

/// The status of a business message on the platform, as shown to agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryStatus {
    /// The platform accepted it.
    Sent,
    /// It reached the customer's device.
    Delivered,
    /// The customer read it.
    Read,
    /// It could not be sent.
    Failed,
}

/// A change to a message already in the inbox.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MessageChange {
    /// A new delivery status, with the platform's reason for failures.
    Status {
        /// The status.
        status: DeliveryStatus,
        /// Shown to the agent (Chatwoot `external_error`).
        error: Option<String>,
    },
    /// The customer unsent it.
    Deleted,
    /// The customer edited it.
    Edited {
        /// The new text.
        text: String,
    },
}

/// A change to apply to an inbox message.
#[derive(Clone, Debug, PartialEq)]
pub struct MessageUpdate {
    /// The conversation the message is in.
    pub conversation: ConversationId,
    /// The message.
    pub message: InboxMessageId,
    /// The change.
    pub change: MessageChange,
}

/// The team's inbox (Chatwoot).
///
/// # Contract
/// Like [`crate::Channel`], `verify` and `parse` are synchronous and free of I/O, and each
/// async method is **one attempt** that classifies its failure as temporary or permanent.
///
/// # Implementing
/// - `verify` authenticates in constant time over the raw body.
/// - `parse` must mark everything the bridge should not send as
///   [`crate::AgentEvent::Ignored`]: private notes, incoming messages, and the inbox's
///   copies of messages the bridge itself posted (recognisable by their `source_id`).
/// - `upsert_contact` and `open_conversation` must be idempotent: a second call with the
///   same request finds what the first created (search by identifier / `source_id`) instead
///   of creating a duplicate, because a crash can separate the creation from the bridge
///   recording it.
/// - `post_message` stores `source_id`; `find_message` finds a message by it.
/// - A conversation the inbox no longer has answers
///   [`crate::DeliveryErrorKind::NotFound`]; the engine then forgets it and opens a new one.
#[async_trait]
pub trait Inbox: Send + Sync + std::fmt::Debug + 'static {
    /// A stable lowercase name: the webhook path (`/webhooks/{name}`), logs, metrics.
    /// Unique among the inbox adapters of one bridge.
    fn name(&self) -> &str;

    /// Where this adapter's inbox ids live when a bridge holds several adapters (several
    /// Chatwoot accounts, possibly on several installations, whose ids may collide).
    ///
    /// `None` (the default): the engine knows its inboxes by their bare ids (`42`), as a
    /// bridge with one inbox adapter always has, so the keys it stored stay valid. At most
    /// one adapter of a bridge answers `None`.
    ///
    /// `Some(space)`: the engine knows its inbox `42` as `42@{space}` — in bindings, links,
    /// job keys and send markers — and translates at the boundary, so the adapter itself
    /// only ever sees and reports its own bare ids. `space` is `A-Z a-z 0-9 . _ -`, unique
    /// per bridge, and must never change while links exist (it is in their keys).
    fn id_space(&self) -> Option<&str> {
        None
    }

    /// Authenticates a webhook delivery. [`WebhookError::Unauthorized`] when it fails.
    fn verify(&self, request: &RawRequest<'_>) -> Result<(), WebhookError>;

    /// Parses an authenticated delivery into agent events.
    fn parse(&self, request: &RawRequest<'_>) -> Result<Vec<AgentEnvelope>, WebhookError>;

    /// Finds or creates the contact for a platform user, updating name and avatar when the
    /// profile changed.
    async fn upsert_contact(&self, request: &ContactRequest) -> Result<ContactId, DeliveryError>;

    /// Returns the conversation to post into: `existing` when still usable, otherwise one
    /// reopened or newly created according to the policy.
    async fn open_conversation(
        &self,
        request: &ConversationRequest,
    ) -> Result<ConversationId, DeliveryError>;

    /// Finds a message of `conversation` by the platform id it was posted with.
    async fn find_message(
        &self,
        conversation: &ConversationId,
        source_id: &PlatformMessageId,
    ) -> Result<Option<InboxMessageId>, DeliveryError>;

    /// Posts a message into a conversation.
    async fn post_message(&self, message: &PostMessage) -> Result<InboxMessageId, DeliveryError>;

    /// Posts a private note that only agents see (token expired, window closed…).
    async fn post_note(
        &self,
        conversation: &ConversationId,
        text: &str,
    ) -> Result<InboxMessageId, DeliveryError>;

    /// Applies a change to a message already posted.
    async fn update_message(&self, update: &MessageUpdate) -> Result<(), DeliveryError>;

    /// Downloads an agent's attachment, at most `max_bytes` long.
    async fn fetch_media(
        &self,
        attachment: &AgentAttachment,
        max_bytes: u64,
    ) -> Result<Media, DeliveryError>;

    /// Whether the inbox may fail to hand agent messages to the bridge for good (it does not
    /// retry its webhooks), so the engine must sweep for them with
    /// [`Inbox::undelivered`]. `false` by default.
    fn drops_webhooks(&self) -> bool {
        false
    }

    /// Agent messages written in `inboxes` since `since` that the inbox could not hand to
    /// the bridge (its webhook failed), as [`crate::AgentEvent::Undelivered`] events. The
    /// engine's periodic sweep sends them, once. Inboxes whose webhooks are retried until
    /// acknowledged need not implement it.
    async fn undelivered(
        &self,
        inboxes: &[InboxId],
        since: DateTime<Utc>,
    ) -> Result<Vec<AgentEnvelope>, DeliveryError> {
        let _ = (inboxes, since);
        Ok(Vec::new())
    }
}
