//! Typed identifiers. Every id is a string on the wire and in the store, so each platform
//! keeps its own format (Meta's numeric strings, Chatwoot's integers, Telegram's chat ids);
//! the types only stop one kind of id from being passed where another is expected.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a raw id.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The raw id.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consumes the id, returning the raw string.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A business account on a channel: a Facebook Page id, an Instagram professional
    /// account id, a Telegram bot id. Meta puts it in `entry.id` and `recipient.id`.
    AccountId
);
string_id!(
    /// A customer as the platform knows them: a page-scoped id (PSID), an Instagram-scoped
    /// id (IGSID), a Telegram user id.
    PlatformUserId
);
string_id!(
    /// A conversation thread on the platform. For Meta's one-to-one messaging this is the
    /// customer's id; platforms with group chats use the chat id.
    ThreadId
);
string_id!(
    /// A message as the platform knows it (Meta's `mid`).
    PlatformMessageId
);
string_id!(
    /// A contact in the inbox (Chatwoot's contact id).
    ContactId
);
string_id!(
    /// A conversation in the inbox (Chatwoot's conversation id).
    ConversationId
);
string_id!(
    /// An inbox of the inbox system (Chatwoot's API-channel inbox id).
    InboxId
);
string_id!(
    /// A message in the inbox (Chatwoot's message id).
    InboxMessageId
);

/// A job in the durable queue, assigned by the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The platform a channel adapter speaks to, by its stable lowercase name.
///
/// Core knows no platform: the adapters name their kinds (`wbots_meta::MESSENGER` is
/// `"messenger"`). Stored and serialised as the bare name, so the name must never change
/// once accounts of that kind are bound (it is in every key and link).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct ChannelKind(Cow<'static, str>);

impl ChannelKind {
    /// A kind by its lowercase name (`a-z`, `0-9`, `-`, `_`; e.g. `"telegram"`).
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Self(name.into())
    }

    /// A kind from a static name, for constants (`const TELEGRAM: ChannelKind = …`).
    pub const fn from_static(name: &'static str) -> Self {
        Self(Cow::Borrowed(name))
    }

    /// The kind's stable lowercase name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for ChannelKind {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&str> for ChannelKind {
    fn from(s: &str) -> Self {
        Self::new(s.to_owned())
    }
}

impl From<ChannelKind> for String {
    fn from(k: ChannelKind) -> Self {
        k.0.into_owned()
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelKind({})", self.as_str())
    }
}

/// One business account on one platform: the unit that is bound to an inbox.
///
/// Displayed (and used in store keys) as `kind:account`, e.g. `messenger:1234567890`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChannelAddress {
    /// The platform.
    pub kind: ChannelKind,
    /// The business account on it.
    pub account: AccountId,
}

impl ChannelAddress {
    /// An address from its parts.
    pub fn new(kind: impl Into<ChannelKind>, account: impl Into<AccountId>) -> Self {
        Self { kind: kind.into(), account: account.into() }
    }
}

impl fmt::Display for ChannelAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.account)
    }
}

impl fmt::Debug for ChannelAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelAddress({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_kind_round_trips_through_its_name() {
        for name in ["messenger", "instagram", "telegram"] {
            let kind = ChannelKind::from(name);
            assert_eq!(kind.as_str(), name);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<ChannelKind>(&json).unwrap(), kind);
        }
        // A constant, a borrowed and an owned name are one kind.
        const TELEGRAM: ChannelKind = ChannelKind::from_static("telegram");
        assert_eq!(ChannelKind::from("telegram"), TELEGRAM);
        assert_eq!(ChannelKind::new(String::from("telegram")), TELEGRAM);
    }

    #[test]
    fn address_displays_as_kind_and_account() {
        let a = ChannelAddress::new(ChannelKind::new("messenger"), "123");
        assert_eq!(a.to_string(), "messenger:123");
    }
}
