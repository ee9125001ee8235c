//! Events that come in from the inbox (agent side) — what [`Inbox::parse`] returns.
//!
//! [`Inbox::parse`]: crate::Inbox::parse

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, InboxId, InboxMessageId};
use crate::media::AgentAttachment;

/// One parsed agent-side event and the inbox it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentEnvelope {
    /// The inbox (Chatwoot API-channel inbox id) the event belongs to.
    pub inbox: InboxId,
    /// The event.
    pub event: AgentEvent,
}

/// Something the inbox told the bridge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AgentEvent {
    /// An agent wrote to the customer: send it.
    Message(AgentMessage),
    /// An agent asked to send a failed message again (Chatwoot's retry button arrives as a
    /// `message_updated`). The engine acts only when its own record of the message says it
    /// failed with parts unsent, so the bridge's own status updates cannot loop.
    RetryRequested {
        /// The conversation.
        conversation: ConversationId,
        /// The message.
        message: InboxMessageId,
    },
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
}
