//! Meta's two platforms and their names in the bridge. Core knows no platform: the kinds
//! accounts are stored under (`"messenger"`, `"instagram"`, in every key and link) and the
//! names agents read are defined here.

use serde::Deserialize;
use wbots_core::ChannelKind;

/// Messenger accounts (Facebook Pages; webhook `object: "page"`). Stored as `"messenger"`.
pub const MESSENGER: ChannelKind = ChannelKind::from_static("messenger");

/// Instagram professional accounts (webhook `object: "instagram"`). Stored as `"instagram"`.
pub const INSTAGRAM: ChannelKind = ChannelKind::from_static("instagram");

/// Messenger or Instagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// A Facebook Page.
    Messenger,
    /// An Instagram professional account.
    Instagram,
}

impl Platform {
    /// The core channel kind ([`MESSENGER`] or [`INSTAGRAM`]).
    pub fn channel_kind(self) -> ChannelKind {
        match self {
            Self::Messenger => MESSENGER,
            Self::Instagram => INSTAGRAM,
        }
    }

    /// The platform whose accounts are of `kind`, if it is one of Meta's.
    pub fn of_kind(kind: &ChannelKind) -> Option<Self> {
        [Self::Messenger, Self::Instagram].into_iter().find(|p| p.channel_kind() == *kind)
    }

    /// The platform as people read it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Messenger => "Messenger",
            Self::Instagram => "Instagram",
        }
    }

    /// The platform a webhook's `object` names (`"page"`, `"instagram"`); `None` for the
    /// objects the bridge does not serve (`"user"`, `"permissions"`, …).
    pub(crate) fn of_webhook_object(object: &str) -> Option<Self> {
        match object {
            "page" => Some(Self::Messenger),
            "instagram" => Some(Self::Instagram),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_the_names_stored_before_core_stopped_naming_them() {
        assert_eq!(serde_json::to_string(&MESSENGER).unwrap(), "\"messenger\"");
        assert_eq!(serde_json::from_str::<ChannelKind>("\"instagram\"").unwrap(), INSTAGRAM);
        for p in [Platform::Messenger, Platform::Instagram] {
            assert_eq!(Platform::of_kind(&p.channel_kind()), Some(p));
        }
        assert_eq!(Platform::of_kind(&ChannelKind::new("telegram")), None);
        assert_eq!(Platform::of_webhook_object("page"), Some(Platform::Messenger));
        assert_eq!(Platform::of_webhook_object("user"), None);
    }
}
