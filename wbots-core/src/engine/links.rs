//! Typed access to the links the engine keeps: key formats and JSON values in one place.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::agent::AgentMessage;
use crate::error::StoreError;
use crate::ids::{
    ChannelAddress, ContactId, ConversationId, InboxId, InboxMessageId, PlatformMessageId,
    PlatformUserId, ThreadId,
};
use crate::store::{Link, LinkKind, Store};

/// The data-deletion scope of a customer: everything the bridge keeps about them carries it.
pub(crate) fn user_scope(address: &ChannelAddress, user: &str) -> String {
    format!("{address}/{user}")
}

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
        .map_err(|e| StoreError::Corrupt(format!("{} link: {e}", kind.as_str())))
}

pub(crate) mod key {
    use super::*;

    pub fn contact(address: &ChannelAddress, user: &PlatformUserId) -> String {
        user_scope(address, user.as_str())
    }
    pub fn conversation(address: &ChannelAddress, thread: &ThreadId) -> String {
        format!("{address}/{thread}")
    }
    pub fn conversation_thread(inbox: &InboxId, conversation: &ConversationId) -> String {
        format!("{inbox}/{conversation}")
    }
    pub fn platform_message(address: &ChannelAddress, id: &PlatformMessageId) -> String {
        format!("{address}/{id}")
    }
    pub fn inbox_message(inbox: &InboxId, id: &InboxMessageId) -> String {
        format!("{inbox}/{id}")
    }
    pub fn outbound_part(inbox: &InboxId, id: &InboxMessageId, part: usize) -> String {
        format!("{inbox}/{id}/{part}")
    }
    pub fn unread_prefix(address: &ChannelAddress, thread: &ThreadId) -> String {
        format!("{address}/{thread}/")
    }
    pub fn unread(
        address: &ChannelAddress,
        thread: &ThreadId,
        at: i64,
        id: &InboxMessageId,
    ) -> String {
        // Zero-padded so key order is time order.
        format!("{address}/{thread}/{at:015}/{id}")
    }
    pub fn reaction(
        address: &ChannelAddress,
        thread: &ThreadId,
        target: &PlatformMessageId,
    ) -> String {
        format!("{address}/{thread}/{target}")
    }
}

pub(crate) fn message_link(
    scope: &str,
    address: &ChannelAddress,
    id: &PlatformMessageId,
    value: &MessageLink,
) -> Link {
    Link::new(LinkKind::PlatformMessage, key::platform_message(address, id), json(value))
        .scoped(scope)
}

pub(crate) fn inbox_message_link(
    scope: &str,
    inbox: &InboxId,
    id: &InboxMessageId,
    value: &InboxMessageLink,
) -> Link {
    Link::new(LinkKind::InboxMessage, key::inbox_message(inbox, id), json(value)).scoped(scope)
}

pub(crate) fn unread_link(
    scope: &str,
    address: &ChannelAddress,
    thread: &ThreadId,
    at: i64,
    value: &UnreadLink,
) -> Link {
    Link::new(LinkKind::Unread, key::unread(address, thread, at, &value.message), json(value))
        .scoped(scope)
}

pub(crate) fn failed_outbound_link(scope: &str, inbox: &InboxId, value: &FailedOutbound) -> Link {
    Link::new(LinkKind::OutboundState, key::inbox_message(inbox, &value.message.id), json(value))
        .scoped(scope)
}

pub(crate) fn last_inbound_link(
    scope: &str,
    address: &ChannelAddress,
    thread: &ThreadId,
    at: DateTime<Utc>,
) -> Link {
    Link::new(
        LinkKind::LastInbound,
        key::conversation(address, thread),
        at.timestamp_millis().to_string(),
    )
    .scoped(scope)
}

/// Typed reads over a store.
pub(crate) struct Links<'a>(pub &'a dyn Store);

impl Links<'_> {
    pub async fn contact(
        &self,
        address: &ChannelAddress,
        user: &PlatformUserId,
    ) -> Result<Option<ContactId>, StoreError> {
        Ok(self.0.get_link(LinkKind::Contact, &key::contact(address, user)).await?.map(Into::into))
    }

    pub async fn conversation(
        &self,
        address: &ChannelAddress,
        thread: &ThreadId,
    ) -> Result<Option<ConversationId>, StoreError> {
        Ok(self
            .0
            .get_link(LinkKind::Conversation, &key::conversation(address, thread))
            .await?
            .map(Into::into))
    }

    pub async fn thread_of(
        &self,
        inbox: &InboxId,
        conversation: &ConversationId,
    ) -> Result<Option<ThreadLink>, StoreError> {
        let kind = LinkKind::ConversationThread;
        match self.0.get_link(kind, &key::conversation_thread(inbox, conversation)).await? {
            Some(raw) => parse(kind, &raw).map(Some),
            None => Ok(None),
        }
    }

    pub async fn platform_message(
        &self,
        address: &ChannelAddress,
        id: &PlatformMessageId,
    ) -> Result<Option<MessageLink>, StoreError> {
        let kind = LinkKind::PlatformMessage;
        match self.0.get_link(kind, &key::platform_message(address, id)).await? {
            Some(raw) => parse(kind, &raw).map(Some),
            None => Ok(None),
        }
    }

    pub async fn inbox_message(
        &self,
        inbox: &InboxId,
        id: &InboxMessageId,
    ) -> Result<Option<InboxMessageLink>, StoreError> {
        let kind = LinkKind::InboxMessage;
        match self.0.get_link(kind, &key::inbox_message(inbox, id)).await? {
            Some(raw) => parse(kind, &raw).map(Some),
            None => Ok(None),
        }
    }

    pub async fn sent_part(
        &self,
        inbox: &InboxId,
        id: &InboxMessageId,
        part: usize,
    ) -> Result<Option<PlatformMessageId>, StoreError> {
        Ok(self
            .0
            .get_link(LinkKind::OutboundPart, &key::outbound_part(inbox, id, part))
            .await?
            .map(Into::into))
    }

    pub async fn failed_outbound(
        &self,
        inbox: &InboxId,
        id: &InboxMessageId,
    ) -> Result<Option<FailedOutbound>, StoreError> {
        let kind = LinkKind::OutboundState;
        match self.0.get_link(kind, &key::inbox_message(inbox, id)).await? {
            Some(raw) => parse(kind, &raw).map(Some),
            None => Ok(None),
        }
    }

    pub async fn last_inbound(
        &self,
        address: &ChannelAddress,
        thread: &ThreadId,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let raw =
            self.0.get_link(LinkKind::LastInbound, &key::conversation(address, thread)).await?;
        Ok(raw.and_then(|r| r.parse::<i64>().ok()).and_then(DateTime::from_timestamp_millis))
    }

    pub async fn reaction(
        &self,
        address: &ChannelAddress,
        thread: &ThreadId,
        target: &PlatformMessageId,
    ) -> Result<Option<MessageLink>, StoreError> {
        let kind = LinkKind::Reaction;
        match self.0.get_link(kind, &key::reaction(address, thread, target)).await? {
            Some(raw) => parse(kind, &raw).map(Some),
            None => Ok(None),
        }
    }

    pub async fn unread(
        &self,
        address: &ChannelAddress,
        thread: &ThreadId,
        limit: usize,
    ) -> Result<Vec<(String, i64, UnreadLink)>, StoreError> {
        let prefix = key::unread_prefix(address, thread);
        let links = self.0.links_with_prefix(LinkKind::Unread, &prefix, limit).await?;
        let mut out = Vec::with_capacity(links.len());
        for link in links {
            let at = link.key[prefix.len()..]
                .split('/')
                .next()
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or_default();
            out.push((link.key.clone(), at, parse(LinkKind::Unread, &link.value)?));
        }
        Ok(out)
    }
}

/// Serialises a link value (for writes built outside this module).
pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    json(value)
}
