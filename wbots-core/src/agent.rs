//! Events that come in from the inbox (agent side) — what [`Inbox::parse`] returns.
//!
//! [`Inbox::parse`]: crate::Inbox::parse

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ChannelAddress, ConversationId, InboxId, InboxMessageId, ThreadId};
use crate::media::AgentAttachment;

/// One parsed agent-side event and the inbox it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentEnvelope {
    /// The inbox (Chatwoot API-channel inbox id) the event belongs to.
    pub inbox: InboxId,
    /// The event.
    pub event: AgentEvent,
    /// The customer thread the conversation's contact stands for, when the inbox knows it
    /// (Chatwoot: the contact inbox's `source_id` the bridge gave the contact). It routes
    /// conversations an agent opened for a known contact, which the bridge never linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_thread: Option<ThreadRef>,
}

impl AgentEnvelope {
    /// An event of `inbox` without a contact thread.
    pub fn new(inbox: InboxId, event: AgentEvent) -> Self {
        Self { inbox, event, contact_thread: None }
    }
}

/// A customer thread on a business account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadRef {
    /// The business account.
    pub address: ChannelAddress,
    /// The customer's thread on it.
    pub thread: ThreadId,
}

/// Something the inbox told the bridge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AgentEvent {
    /// An agent wrote to the customer: send it.
    Message(AgentMessage),
    /// A message changed in a way that may be an agent asking to send it (again):
    /// Chatwoot's retry button arrives as a `message_updated` without an error, exactly like
    /// the echo of any status change. The engine decides from its own records: a message it
    /// failed is retried, one it delivered is left alone, one it never received (Chatwoot
    /// could not hand it over) is sent, once.
    RetryRequested {
        /// The conversation.
        conversation: ConversationId,
        /// The message.
        message: InboxMessageId,
        /// The message as the inbox shows it now, to send if the bridge never received it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<AgentMessage>,
    },
    /// The inbox could not hand this agent message to the bridge (Chatwoot marks it failed
    /// with its HTTP error when its one webhook attempt fails): send it unless the bridge
    /// already did, and correct its status in the inbox.
    Undelivered(AgentMessage),
    /// An agent started or stopped typing.
    Typing {
        /// The conversation.
        conversation: ConversationId,
        /// Started (`true`) or stopped.
        on: bool,
    },
    /// Nothing for the bridge to do: private notes, the inbox's copies of messages the
    /// bridge itself created, unknown event kinds. Recorded and skipped.
    Ignored {
        /// The inbox's event name.
        kind: String,
        /// Why it is skipped.
        reason: String,
    },
}

/// A message an agent wrote in the inbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentMessage {
    /// The inbox's id for the message: the idempotency key of its delivery.
    pub id: InboxMessageId,
    /// The conversation it belongs to.
    pub conversation: ConversationId,
    /// Its text, if any.
    pub text: Option<String>,
    /// Its attachments.
    pub attachments: Vec<AgentAttachment>,
    /// The message it replies to, if the agent replied to one.
    pub reply_to: Option<InboxMessageId>,
    /// When the agent sent it.
    pub created_at: DateTime<Utc>,
    /// Who wrote it: only a person's message may use Meta's human-agent window.
    #[serde(default)]
    pub author: Author,
}

/// Who wrote an agent-side message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Author {
    /// A person (Chatwoot sender type `user`). The default, so jobs stored before the
    /// field existed keep their meaning.
    #[default]
    Person,
    /// A bot (Chatwoot `agent_bot`, `captain_assistant`).
    Bot,
    /// The inbox itself: greetings, out-of-office replies, surveys (Chatwoot `template`).
    Automation,
}
