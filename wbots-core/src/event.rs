//! Events that come in from a platform (customer side) — what [`Channel::parse`] returns.
//!
//! [`Channel::parse`]: crate::Channel::parse

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::ids::{ChannelAddress, PlatformMessageId, PlatformUserId, ThreadId};
use crate::media::InboundAttachment;

/// One parsed event and the business account it belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundEnvelope {
    /// The account the event was addressed to (Meta's `entry.id` / `recipient.id`).
    pub address: ChannelAddress,
    /// The event.
    pub event: InboundEvent,
}

impl InboundEnvelope {
    /// Wraps an event for an account.
    pub fn new(address: ChannelAddress, event: InboundEvent) -> Self {
        Self { address, event }
    }

    /// The key that makes a redelivery of this event a duplicate: address, event kind and
    /// the platform's own id for it.
    pub fn idempotency_key(&self) -> String {
        format!("in/{}/{}", self.address, self.event.dedup_id())
    }

    /// The key under which events are kept in order: one per conversation thread.
    pub fn ordering_key(&self) -> String {
        match self.event.thread() {
            Some(thread) => thread_key(&self.address, thread),
            None => self.idempotency_key(),
        }
    }
}

/// The ordering (and scoping) key of a conversation thread: `kind:account/thread`.
pub fn thread_key(address: &ChannelAddress, thread: &ThreadId) -> String {
    format!("{address}/{thread}")
}

/// Something a platform told the bridge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum InboundEvent {
    /// A customer wrote to the business (text, attachments, postback, referral…).
    Message(InboundMessage),
    /// The business account sent a message; the platform echoes every one, including the
    /// bridge's own sends.
    Echo(EchoMessage),
    /// The customer reacted to a message, or removed a reaction.
    Reaction(Reaction),
    /// The customer read the business's messages.
    Read(ReadReceipt),
    /// The business's messages reached the customer's device.
    Delivery(DeliveryReceipt),
    /// The customer edited a message.
    Edit(MessageEdit),
    /// The customer unsent a message.
    Delete(MessageDelete),
    /// Something agents should know about a thread that the customer did not write
    /// (another app took over the conversation…): shown as a private note.
    Notice(Notice),
    /// The platform restricted or restored the business account (Meta's policy
    /// enforcement).
    AccountStatus(AccountStatus),
    /// Anything the bridge does not act on: recorded and skipped, never an error.
    Unsupported(Unsupported),
}

impl InboundEvent {
    /// The thread the event belongs to, when it belongs to one.
    pub fn thread(&self) -> Option<&ThreadId> {
        match self {
            Self::Message(m) => Some(&m.thread),
            Self::Echo(e) => Some(&e.thread),
            Self::Reaction(r) => Some(&r.thread),
            Self::Read(r) => Some(&r.thread),
            Self::Delivery(d) => Some(&d.thread),
            Self::Edit(e) => Some(&e.thread),
            Self::Delete(d) => Some(&d.thread),
            Self::Notice(n) => Some(&n.thread),
            Self::AccountStatus(_) => None,
            Self::Unsupported(u) => u.thread.as_ref(),
        }
    }

    /// The platform user the event is about (for data deletion): the customer.
    pub fn customer(&self) -> Option<PlatformUserId> {
        self.thread().map(|t| PlatformUserId::new(t.as_str()))
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Message(_) => "message",
            Self::Echo(_) => "echo",
            Self::Reaction(_) => "reaction",
            Self::Read(_) => "read",
            Self::Delivery(_) => "delivery",
            Self::Edit(_) => "edit",
            Self::Delete(_) => "delete",
            Self::Notice(_) => "notice",
            Self::AccountStatus(_) => "account_status",
            Self::Unsupported(_) => "unsupported",
        }
    }

    /// The part of the idempotency key that identifies the event within its account.
    fn dedup_id(&self) -> String {
        match self {
            Self::Message(m) => format!("message/{}", m.id),
            Self::Echo(e) => format!("echo/{}", e.id),
            Self::Reaction(r) => format!(
                "reaction/{}/{}/{}/{}",
                r.thread,
                r.target,
                r.at.timestamp_millis(),
                r.emoji.as_deref().unwrap_or("")
            ),
            Self::Read(r) => match &r.upto {
                ReadUpTo::Watermark(w) => format!("read/{}/{}", r.thread, w.timestamp_millis()),
                ReadUpTo::Message(mid) => format!("read/{}/{mid}", r.thread),
            },
            Self::Delivery(d) => {
                let mids: Vec<&str> = d.mids.iter().map(|m| m.as_str()).collect();
                format!(
                    "delivery/{}/{}/{}",
                    d.thread,
                    d.watermark.map(|w| w.timestamp_millis()).unwrap_or_default(),
                    mids.join(",")
                )
            }
            Self::Edit(e) => format!("edit/{}/{}", e.id, e.at.timestamp_millis()),
            Self::Delete(d) => format!("delete/{}", d.id),
            Self::Notice(n) => {
                format!("notice/{}/{}/{}", n.thread, n.kind, n.at.timestamp_millis())
            }
            Self::AccountStatus(a) => {
                format!("account_status/{:?}/{}", a.action, a.at.timestamp_millis())
            }
            Self::Unsupported(u) => format!(
                "unsupported/{}/{}/{}",
                u.kind,
                u.thread.as_ref().map(|t| t.as_str()).unwrap_or(""),
                u.at.map(|t| t.timestamp_millis()).unwrap_or_default()
            ),
        }
    }
}

/// A message from a customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The platform's id for it. Platforms that give none (a referral without a message)
    /// get a deterministic one from the parser, so redeliveries still deduplicate.
    pub id: PlatformMessageId,
    /// The conversation thread.
    pub thread: ThreadId,
    /// Who wrote it.
    pub sender: PlatformUserId,
    /// When the customer sent it (the platform's timestamp, not the time it arrived).
    pub sent_at: DateTime<Utc>,
    /// Its text, if any.
    pub text: Option<String>,
    /// Its attachments, in order.
    pub attachments: Vec<InboundAttachment>,
    /// What it replies to, if anything.
    pub reply_to: Option<ReplyTo>,
    /// Why it was sent, when that is more than typing (buttons, ads, stories).
    pub context: Option<MessageContext>,
}

/// What an inbound message replies to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReplyTo {
    /// Another message of the conversation.
    Message {
        /// The replied-to message.
        id: PlatformMessageId,
    },
    /// A story of the business (Instagram story reply).
    Story {
        /// The story's id.
        id: Option<String>,
        /// Where the story is served (expires with the story).
        url: Option<Url>,
    },
}

/// Where a message came from, beyond the customer typing it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum MessageContext {
    /// The customer tapped a quick reply.
    QuickReply {
        /// The quick reply's developer payload.
        payload: String,
    },
    /// The customer tapped a button (Meta's postback).
    Postback {
        /// The button's label, as the customer saw it.
        title: Option<String>,
        /// The button's developer payload.
        payload: Option<String>,
    },
    /// The customer arrived through a link or an ad.
    Referral {
        /// Where from: `SHORTLINK` (m.me / ig.me), `ADS`, `CUSTOMER_CHAT_PLUGIN`…
        source: Option<String>,
        /// The `ref` parameter of the link.
        ref_param: Option<String>,
        /// The ad, for ad referrals.
        ad_id: Option<String>,
        /// The referring URL or ad title, where given.
        detail: Option<String>,
    },
}

/// A message the business account sent, echoed back by the platform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EchoMessage {
    /// The platform's id for it.
    pub id: PlatformMessageId,
    /// The conversation thread (the customer it was sent to).
    pub thread: ThreadId,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
    /// Its text, if any.
    pub text: Option<String>,
    /// Its attachments.
    pub attachments: Vec<InboundAttachment>,
    /// The app that sent it, when the platform says (Meta's `app_id`).
    pub app_id: Option<String>,
    /// The sender's free-form metadata (Meta's `metadata`), which the bridge sets on its
    /// own sends so their echoes are recognised.
    pub metadata: Option<String>,
}

/// A reaction added or removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    /// The conversation thread.
    pub thread: ThreadId,
    /// The message reacted to.
    pub target: PlatformMessageId,
    /// The emoji, where the platform gives it (removals may not).
    pub emoji: Option<String>,
    /// Added or removed.
    pub action: ReactionAction,
    /// When.
    pub at: DateTime<Utc>,
}

/// Whether a reaction was added or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReactionAction {
    /// Added.
    React,
    /// Removed.
    Unreact,
}

/// How far the customer has read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadReceipt {
    /// The conversation thread.
    pub thread: ThreadId,
    /// Up to what.
    pub upto: ReadUpTo,
}

/// The two ways platforms say how far a customer has read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum ReadUpTo {
    /// Everything sent up to this time (Messenger's `watermark`).
    Watermark(DateTime<Utc>),
    /// This message and everything before it (Instagram's `read.mid`).
    Message(PlatformMessageId),
}

/// Messages that reached the customer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryReceipt {
    /// The conversation thread.
    pub thread: ThreadId,
    /// The delivered messages, when listed.
    pub mids: Vec<PlatformMessageId>,
    /// Everything sent before this time was delivered.
    pub watermark: Option<DateTime<Utc>>,
}

/// A customer edited a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageEdit {
    /// The conversation thread.
    pub thread: ThreadId,
    /// The edited message.
    pub id: PlatformMessageId,
    /// Its new text.
    pub text: String,
    /// When it was edited.
    pub at: DateTime<Utc>,
}

/// A customer unsent a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MessageDelete {
    /// The conversation thread.
    pub thread: ThreadId,
    /// The deleted message.
    pub id: PlatformMessageId,
    /// When.
    pub at: DateTime<Utc>,
}

/// Something agents should see in a conversation, as a private note.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// The conversation thread.
    pub thread: ThreadId,
    /// The platform's name for what happened (`"pass_thread_control"`…).
    pub kind: String,
    /// The note, written for agents.
    pub text: String,
    /// When, by the platform's clock.
    pub at: DateTime<Utc>,
}

/// The platform changed what the business account may do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountStatus {
    /// What the platform did.
    pub action: AccountAction,
    /// The platform's reason, where given.
    pub reason: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// What a platform did to a business account.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountAction {
    /// Sending is blocked: the channel is flagged until it is reconnected or unblocked.
    Blocked,
    /// A warning: nothing stops yet.
    Warned,
    /// A block was lifted.
    Unblocked,
}

/// An event the bridge records and skips.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unsupported {
    /// The platform's name for the event kind (`"standby"`, `"pass_thread_control"`,
    /// `"policy_enforcement"`, or the unknown field's name).
    pub kind: String,
    /// The thread, when the event names one.
    pub thread: Option<ThreadId>,
    /// When, where the platform says.
    pub at: Option<DateTime<Utc>>,
    /// A short human-readable detail for the log.
    pub detail: Option<String>,
}

impl Unsupported {
    /// An unsupported event of `kind` with nothing more known.
    pub fn kind(kind: impl Into<String>) -> Self {
        Self { kind: kind.into(), thread: None, at: None, detail: None }
    }
}
