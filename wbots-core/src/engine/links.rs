//! Typed access to the links the engine keeps: their JSON values in one place. Key formats
//! live in the store layer ([`LinkKey`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::agent::AgentMessage;
use crate::error::StoreError;
use crate::ids::{
    ChannelAddress, ContactId, ConversationId, InboxId, InboxMessageId, PlatformMessageId,
    PlatformUserId, ThreadId,
};
use crate::store::{Link, LinkKey, LinkKind, LinkPrefix, Store};

pub(crate) use crate::store::user_scope;

/// A platform message and the inbox message it became (either direction).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MessageLink {
    pub conversation: ConversationId,
    pub message: InboxMessageId,
    /// When it was sent on the platform, ms since the epoch.
    pub at: i64,
}

/// An inbox message and the platform message it came from or went to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InboxMessageLink {
    pub address: ChannelAddress,
    pub thread: ThreadId,
    pub platform: PlatformMessageId,
}

/// The thread a conversation bridges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ThreadLink {
    pub address: ChannelAddress,
    pub thread: ThreadId,
}

/// The bridge's record of an outbound message that failed, kept so an agent's retry can
/// resend exactly the parts that were not sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct FailedOutbound {
    pub message: AgentMessage,
    pub reason: String,
    pub failed_at: i64,
}

/// An outbound message the customer has not read yet (for watermark receipts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UnreadLink {
    pub conversation: ConversationId,
    pub message: InboxMessageId,
    pub delivered: bool,
}

fn json<T: Serialize>(value: &T) -> String {
    // Serialising these plain structs cannot fail; an empty object keeps the link readable
    // if it ever did.
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_owned())
}

fn parse<T: for<'de> Deserialize<'de>>(kind: LinkKind, raw: &str) -> Result<T, StoreError> {
    serde_json::from_str(raw)
        .map_err(|e| StoreError::corrupt(format!("{} link: {e}", kind.as_str())).caused_by(e))
}

pub(crate) fn message_link(
    scope: &str,
    address: &ChannelAddress,
    id: &PlatformMessageId,
    value: &MessageLink,
) -> Link {
    Link::new(LinkKey::platform_message(address, id), json(value)).scoped(scope)
}

pub(crate) fn inbox_message_link(
    scope: &str,
    inbox: &InboxId,
    id: &InboxMessageId,
    value: &InboxMessageLink,
) -> Link {
    Link::new(LinkKey::inbox_message(inbox, id), json(value)).scoped(scope)
}

pub(crate) fn unread_link(
    scope: &str,
    address: &ChannelAddress,
    thread: &ThreadId,
    at: i64,
    value: &UnreadLink,
) -> Link {
    Link::new(LinkKey::unread(address, thread, at, &value.message), json(value)).scoped(scope)
}

pub(crate) fn failed_outbound_link(scope: &str, inbox: &InboxId, value: &FailedOutbound) -> Link {
    Link::new(LinkKey::outbound_state(inbox, &value.message.id), json(value)).scoped(scope)
}

pub(crate) fn last_inbound_link(
    scope: &str,
    address: &ChannelAddress,
    thread: &ThreadId,
    at: DateTime<Utc>,
) -> Link {
    Link::new(LinkKey::last_inbound(address, thread), at.timestamp_millis().to_string())
        .scoped(scope)
}

/// Typed reads over a store.
pub(crate) struct Links<'a>(pub &'a dyn Store);

impl Links<'_> {
    pub(super) async fn contact(
        &self,
        address: &ChannelAddress,
        user: &PlatformUserId,
    ) -> Result<Option<ContactId>, StoreError> {
        Ok(self.0.get_link(&LinkKey::contact(address, user)).await?.map(Into::into))
    }

    pub(super) async fn conversation(
        &self,
        address: &ChannelAddress,
        thread: &ThreadId,
    ) -> Result<Option<ConversationId>, StoreError> {
        Ok(self.0.get_link(&LinkKey::conversation(address, thread)).await?.map(Into::into))
    }

    pub(super) async fn thread_of(
        &self,
        inbox: &InboxId,
        conversation: &ConversationId,
    ) -> Result<Option<ThreadLink>, StoreError> {
        let kind = LinkKind::ConversationThread;
        match self.0.get_link(&LinkKey::conversation_thread(inbox, conversation)).await? {
            Some(raw) => parse(kind, &raw).map(Some),
            None => Ok(None),
        }
    }

    pub(super) async fn platform_message(
        &self,
        address: &ChannelAddress,
        id: &PlatformMessageId,
    ) -> Result<Option<MessageLink>, StoreError> {
        let kind = LinkKind::PlatformMessage;
        match self.0.get_link(&LinkKey::platform_message(address, id)).await? {
            Some(raw) => parse(kind, &raw).map(Some),
            None => Ok(None),
        }
    }

    pub(super) async fn inbox_message(
        &self,
        inbox: &InboxId,
        id: &InboxMessageId,
    ) -> Result<Option<InboxMessageLink>, StoreError> {
        let kind = LinkKind::InboxMessage;
        match self.0.get_link(&LinkKey::inbox_message(inbox, id)).await? {
            Some(raw) => parse(kind, &raw).map(Some),
            None => Ok(None),
        }
    }

    pub(super) async fn sent_part(
        &self,
        inbox: &InboxId,
        id: &InboxMessageId,
        part: usize,
    ) -> Result<Option<PlatformMessageId>, StoreError> {
        Ok(self.0.get_link(&LinkKey::outbound_part(inbox, id, part)).await?.map(Into::into))
    }

    pub(super) async fn failed_outbound(
        &self,
        inbox: &InboxId,
        id: &InboxMessageId,
    ) -> Result<Option<FailedOutbound>, StoreError> {
        let kind = LinkKind::OutboundState;
        match self.0.get_link(&LinkKey::outbound_state(inbox, id)).await? {
            Some(raw) => parse(kind, &raw).map(Some),
            None => Ok(None),
        }
    }

    pub(super) async fn last_inbound(
        &self,
        address: &ChannelAddress,
        thread: &ThreadId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let raw = self.0.get_link(&LinkKey::last_inbound(address, thread)).await?;
        Ok(raw.and_then(|r| r.parse::<i64>().ok()).and_then(DateTime::from_timestamp_millis))
    }

    pub(super) async fn reaction(
        &self,
        address: &ChannelAddress,
        thread: &ThreadId,
        target: &PlatformMessageId,
    ) -> Result<Option<MessageLink>, StoreError> {
        let kind = LinkKind::Reaction;
        match self.0.get_link(&LinkKey::reaction(address, thread, target)).await? {
            Some(raw) => parse(kind, &raw).map(Some),
            None => Ok(None),
        }
    }

    pub(super) async fn unread(
        &self,
        address: &ChannelAddress,
        thread: &ThreadId,
        limit: usize,
    ) -> Result<Vec<(LinkKey, i64, UnreadLink)>, StoreError> {
        let prefix = LinkPrefix::unread(address, thread);
        let links = self.0.links_with_prefix(&prefix, limit).await?;
        let mut out = Vec::with_capacity(links.len());
        for link in links {
            let at = link.key.unread_sent_ms(&prefix).unwrap_or_default();
            out.push((link.key.clone(), at, parse(LinkKind::Unread, &link.value)?));
        }
        Ok(out)
    }
}

/// Serialises a link value (for writes built outside this module).
pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    json(value)
}
