//! The other events of an item: receipts, reactions, edits, the handover protocol and
//! policy enforcement (meta-platform.md §2.5–§2.10; S6–S9, S12–S14).

use serde::Deserialize;

use super::lenient::{Ids, Text, WireId, WireTime};

/// `"read"`: Messenger gives a `watermark`, Instagram the `mid` read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Read {
    pub(crate) watermark: WireTime,
    pub(crate) mid: WireId,
}

/// `"delivery"`: the messages delivered, and/or everything up to a `watermark`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Receipt {
    pub(crate) mids: Ids,
    pub(crate) watermark: WireTime,
}

/// `"reaction"`: `action` is `react` or `unreact`; the emoji comes as `emoji`, or as
/// `reaction` (a name such as `love`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Reaction {
    pub(crate) mid: WireId,
    pub(crate) action: Text,
    pub(crate) emoji: Text,
    pub(crate) reaction: Text,
}

/// `"message_edit"`: the message's new text.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Edit {
    pub(crate) mid: WireId,
    pub(crate) text: Text,
}

/// `pass_thread_control` / `take_thread_control` / `request_thread_control` (§2.9, S13).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Handover {
    pub(crate) new_owner_app_id: WireId,
    pub(crate) requested_owner_app_id: WireId,
}

/// `messaging_policy_enforcement` (S14): `{action: warning|block|unblock, reason}` about
/// the Page itself, with no customer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct PolicyEnforcement {
    pub(crate) action: Text,
    pub(crate) reason: Text,
}
