//! One messaging item: who, when, and one event named by its key (`"message"`, `"read"`, …;
//! meta-platform.md §2.0–§2.10).

use serde::Deserialize;
use serde::de::IgnoredAny;

use super::events::{Edit, Handover, PolicyEnforcement, Reaction, Read, Receipt};
use super::lenient::{Keyed, Obj, WireId, WireTime};
use super::message::{Message, Postback, Referral};

/// An event body under its key: present (whatever its value) or not.
pub(crate) type Body<T> = Keyed<Obj<T>>;

/// One item of `entry.messaging`, `entry.standby`, or a change's `value`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Item {
    pub(crate) sender: Body<Party>,
    pub(crate) recipient: Body<Party>,
    pub(crate) timestamp: WireTime,
    pub(crate) message: Body<Message>,
    pub(crate) postback: Body<Postback>,
    pub(crate) referral: Body<Referral>,
    pub(crate) read: Body<Read>,
    pub(crate) delivery: Body<Receipt>,
    pub(crate) reaction: Body<Reaction>,
    pub(crate) message_edit: Body<Edit>,
    pub(crate) pass_thread_control: Body<Handover>,
    pub(crate) take_thread_control: Body<Handover>,
    pub(crate) request_thread_control: Body<Handover>,
    pub(crate) app_roles: Keyed<IgnoredAny>,
    pub(crate) policy_enforcement: Body<PolicyEnforcement>,
    pub(crate) optin: Keyed<IgnoredAny>,
    pub(crate) account_linking: Keyed<IgnoredAny>,
}

/// `{"id": …}` of the sender or the recipient.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Party {
    pub(crate) id: WireId,
}

/// The event an item carries: the first of Meta's event keys present, in this order (an
/// item carries one; the order decides for a forged one with several).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event<'a> {
    Message(&'a Message),
    Postback(&'a Postback),
    Referral(&'a Referral),
    Read(&'a Read),
    Delivery(&'a Receipt),
    Reaction(&'a Reaction),
    Edit(&'a Edit),
    /// `pass_thread_control`, `take_thread_control` or `request_thread_control`.
    Handover(&'static str, &'a Handover),
    PolicyEnforcement(&'a PolicyEnforcement),
    /// A known key the bridge does not act on (`app_roles`, `optin`, `account_linking`).
    Ignored(&'static str),
    /// No event key the bridge knows.
    Unknown,
}

impl Event<'_> {
    /// The event's key, as unsupported events are recorded.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Message(_) => "message",
            Self::Postback(_) => "postback",
            Self::Referral(_) => "referral",
            Self::Read(_) => "read",
            Self::Delivery(_) => "delivery",
            Self::Reaction(_) => "reaction",
            Self::Edit(_) => "message_edit",
            Self::Handover(name, _) => name,
            Self::PolicyEnforcement(_) => "policy_enforcement",
            Self::Ignored(name) => name,
            Self::Unknown => "unknown",
        }
    }
}

impl Item {
    /// The sender's id, if it reads as one.
    pub(crate) fn sender_id(&self) -> Option<String> {
        self.sender.get().and_then(|p| p.id.cloned())
    }

    /// The recipient's id, if it reads as one.
    pub(crate) fn recipient_id(&self) -> Option<String> {
        self.recipient.get().and_then(|p| p.id.cloned())
    }

    /// Whether the item names a sender or a recipient at all (a change's `value` that does
    /// is a messaging item).
    pub(crate) fn names_a_party(&self) -> bool {
        self.sender.is_present() || self.recipient.is_present()
    }

    /// The event the item carries.
    pub(crate) fn event(&self) -> Event<'_> {
        let handover = [
            ("pass_thread_control", &self.pass_thread_control),
            ("take_thread_control", &self.take_thread_control),
            ("request_thread_control", &self.request_thread_control),
        ];
        if let Some(m) = self.message.get() {
            Event::Message(m)
        } else if let Some(p) = self.postback.get() {
            Event::Postback(p)
        } else if let Some(r) = self.referral.get() {
            Event::Referral(r)
        } else if let Some(r) = self.read.get() {
            Event::Read(r)
        } else if let Some(d) = self.delivery.get() {
            Event::Delivery(d)
        } else if let Some(r) = self.reaction.get() {
            Event::Reaction(r)
        } else if let Some(e) = self.message_edit.get() {
            Event::Edit(e)
        } else if let Some((name, h)) =
            handover.into_iter().find_map(|(name, h)| h.get().map(|h| (name, &**h)))
        {
            Event::Handover(name, h)
        } else if self.app_roles.is_present() {
            Event::Ignored("app_roles")
        } else if let Some(p) = self.policy_enforcement.get() {
            Event::PolicyEnforcement(p)
        } else if self.optin.is_present() {
            Event::Ignored("optin")
        } else if self.account_linking.is_present() {
            Event::Ignored("account_linking")
        } else {
            Event::Unknown
        }
    }

    /// A postback's referral (Get Started from an m.me link or an ad) as an item of its own,
    /// the same item with the referral in place of the postback (S10).
    pub(crate) fn postback_referral(&self) -> Option<Item> {
        let referral = self.postback.get()?.referral.get()?.clone();
        Some(Item { postback: Keyed::default(), referral: Keyed(Some(referral)), ..self.clone() })
    }
}
