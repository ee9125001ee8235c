//! Typed link keys: the one place that knows how each relation's key is spelled.
//!
//! The engine and the binary name a link by what it relates ([`LinkKey::contact`],
//! [`LinkKey::unread`], …); a store only sees the key space ([`LinkKey::kind`]) and the
//! encoded key ([`LinkKey::as_str`]), which it stores and compares as an opaque string.

use std::fmt;

use crate::ids::{
    ChannelAddress, ConversationId, InboxId, InboxMessageId, PlatformMessageId, PlatformUserId,
    ThreadId,
};
use crate::store::LinkKind;

/// The key of one link: its key space and the encoded key within it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkKey {
    kind: LinkKind,
    key: String,
}

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.key)
    }
}

/// The data-deletion scope of a customer (`kind:account/user`): the contact key doubles as
/// it, so everything the bridge keeps about a user can be found by it.
pub fn user_scope(address: &ChannelAddress, user: &str) -> String {
    format!("{address}/{user}")
}

impl LinkKey {
    fn new(kind: LinkKind, key: String) -> Self {
        Self { kind, key }
    }

    /// `address/user` → inbox contact id.
    pub fn contact(address: &ChannelAddress, user: &PlatformUserId) -> Self {
        Self::new(LinkKind::Contact, user_scope(address, user.as_str()))
    }

    /// `address/thread` → inbox conversation id.
    pub fn conversation(address: &ChannelAddress, thread: &ThreadId) -> Self {
        Self::new(LinkKind::Conversation, format!("{address}/{thread}"))
    }

    /// `inbox/conversation` → the thread it bridges.
    pub fn conversation_thread(inbox: &InboxId, conversation: &ConversationId) -> Self {
        Self::new(LinkKind::ConversationThread, format!("{inbox}/{conversation}"))
    }

    /// `address/platform message id` → the inbox message it became.
    pub fn platform_message(address: &ChannelAddress, id: &PlatformMessageId) -> Self {
        Self::new(LinkKind::PlatformMessage, format!("{address}/{id}"))
    }

    /// `inbox/inbox message id` → the platform message it came from or went to.
    pub fn inbox_message(inbox: &InboxId, id: &InboxMessageId) -> Self {
        Self::new(LinkKind::InboxMessage, format!("{inbox}/{id}"))
    }

    /// `inbox/inbox message id/part` → the platform message id the part was sent as.
    pub fn outbound_part(inbox: &InboxId, id: &InboxMessageId, part: usize) -> Self {
        Self::new(LinkKind::OutboundPart, format!("{inbox}/{id}/{part}"))
    }

    /// `inbox/inbox message id` → the bridge's record of an outbound message's delivery.
    pub fn outbound_state(inbox: &InboxId, id: &InboxMessageId) -> Self {
        Self::new(LinkKind::OutboundState, format!("{inbox}/{id}"))
    }

    /// `address/thread` → when the customer last wrote.
    pub fn last_inbound(address: &ChannelAddress, thread: &ThreadId) -> Self {
        Self::new(LinkKind::LastInbound, format!("{address}/{thread}"))
    }

    /// `address/thread/sent ms/inbox message id` → an outbound message not yet read.
    pub fn unread(
        address: &ChannelAddress,
        thread: &ThreadId,
        sent_ms: i64,
        id: &InboxMessageId,
    ) -> Self {
        // Zero-padded so key order is time order (see `LinkPrefix::unread`).
        Self::new(LinkKind::Unread, format!("{address}/{thread}/{sent_ms:015}/{id}"))
    }

    /// `address/thread/target message` → the inbox message showing a reaction.
    pub fn reaction(
        address: &ChannelAddress,
        thread: &ThreadId,
        target: &PlatformMessageId,
    ) -> Self {
        Self::new(LinkKind::Reaction, format!("{address}/{thread}/{target}"))
    }

    /// `address` → why the channel is flagged.
    pub fn channel_flag(address: &ChannelAddress) -> Self {
        Self::new(LinkKind::ChannelFlag, address.to_string())
    }

    /// `address` → when the channel's last customer message came in.
    pub fn channel_last_in(address: &ChannelAddress) -> Self {
        Self::new(LinkKind::ChannelLastIn, address.to_string())
    }

    /// `address` → when the channel's last agent message went out.
    pub fn channel_last_out(address: &ChannelAddress) -> Self {
        Self::new(LinkKind::ChannelLastOut, address.to_string())
    }

    /// `address` → who granted the channel's credential (their app-scoped Meta user id).
    pub fn channel_grant(address: &ChannelAddress) -> Self {
        Self::new(LinkKind::ChannelGrant, address.to_string())
    }

    /// `confirmation code` → a data-deletion request's status.
    pub fn data_deletion(code: &str) -> Self {
        Self::new(LinkKind::DataDeletion, code.to_owned())
    }

    /// A key read back from storage, as a store implementation rebuilds it from the kind and
    /// key it stored ([`LinkKey::kind`], [`LinkKey::as_str`]). Not for naming links: use the
    /// per-relation constructors.
    pub fn from_stored(kind: LinkKind, key: impl Into<String>) -> Self {
        Self::new(kind, key.into())
    }

    /// Its key space.
    pub fn kind(&self) -> LinkKind {
        self.kind
    }

    /// The encoded key, as a store keeps it.
    pub fn as_str(&self) -> &str {
        &self.key
    }

    /// When an [`unread`](Self::unread) message found by a scan of `scanned` (a
    /// [`LinkPrefix::unread`]) was sent, ms since the epoch; `None` for another kind or a
    /// key outside the scan. Read from the front: ids and threads may contain '/'.
    pub fn unread_sent_ms(&self, scanned: &LinkPrefix) -> Option<i64> {
        if self.kind != LinkKind::Unread || scanned.kind != LinkKind::Unread {
            return None;
        }
        self.key.strip_prefix(scanned.prefix.as_str())?.split('/').next()?.parse().ok()
    }

    /// The channel a [`channel_flag`](Self::channel_flag) is about, as its address prints.
    pub fn flagged_channel(&self) -> Option<&str> {
        (self.kind == LinkKind::ChannelFlag).then_some(self.key.as_str())
    }
}

/// A range of links for [`LinkStore::links_with_prefix`](super::LinkStore::links_with_prefix):
/// a key space and a key prefix, built per relation like [`LinkKey`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkPrefix {
    kind: LinkKind,
    prefix: String,
}

impl LinkPrefix {
    /// Every link of a kind.
    pub fn all(kind: LinkKind) -> Self {
        Self { kind, prefix: String::new() }
    }

    /// The unread outbound messages of a thread, oldest first.
    pub fn unread(address: &ChannelAddress, thread: &ThreadId) -> Self {
        Self { kind: LinkKind::Unread, prefix: format!("{address}/{thread}/") }
    }

    /// When each customer of an account last wrote, one link per thread.
    pub fn last_inbound(address: &ChannelAddress) -> Self {
        Self { kind: LinkKind::LastInbound, prefix: format!("{address}/") }
    }

    /// Keys of `kind` starting with `prefix` as stored; for store conformance checks, which
    /// test the scan itself.
    pub fn from_stored(kind: LinkKind, prefix: impl Into<String>) -> Self {
        Self { kind, prefix: prefix.into() }
    }

    /// Its key space.
    pub fn kind(&self) -> LinkKind {
        self.kind
    }

    /// The encoded prefix.
    pub fn as_str(&self) -> &str {
        &self.prefix
    }
}
