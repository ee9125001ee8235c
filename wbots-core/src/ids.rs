//! Typed identifiers. Every id is a string on the wire and in the store, so each platform
//! keeps its own format (Meta's numeric strings, Chatwoot's integers, Telegram's chat ids);
//! the types only stop one kind of id from being passed where another is expected.

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

/// The platform a channel adapter speaks to.
///
/// Stored as its lowercase name (`"messenger"`, `"instagram"`, or the name an integrator
/// chose for [`ChannelKind::Other`]), so adding a platform needs no change to core.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
#[non_exhaustive]
pub enum ChannelKind {
    /// Facebook Messenger (`object: "page"`).
    Messenger,
    /// Instagram Direct (`object: "instagram"`).
    Instagram,
    /// Any other platform, by its lowercase name (e.g. `"telegram"`).
    Other(String),
}

impl ChannelKind {
    /// The kind's stable lowercase name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Messenger => "messenger",
            Self::Instagram => "instagram",
            Self::Other(name) => name,
        }
    }
}

impl From<String> for ChannelKind {
    fn from(s: String) -> Self {
        match s.as_str() {
            "messenger" => Self::Messenger,
            "instagram" => Self::Instagram,
            _ => Self::Other(s),
        }
    }
}

impl From<&str> for ChannelKind {
    fn from(s: &str) -> Self {
        Self::from(s.to_owned())
    }
}

impl From<ChannelKind> for String {
    fn from(k: ChannelKind) -> Self {
        match k {
            ChannelKind::Other(name) => name,
            other => other.as_str().to_owned(),
        }
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
        assert_eq!(ChannelKind::from("telegram"), ChannelKind::Other("telegram".into()));
    }

    #[test]
    fn address_displays_as_kind_and_account() {
        let a = ChannelAddress::new(ChannelKind::Messenger, "123");
        assert_eq!(a.to_string(), "messenger:123");
    }
}
