//! A customer's message and what comes with it: attachments, the message it replies to, a
//! quick reply, a referral; and the postback of a button tap (meta-platform.md §2.1–§2.4;
//! S4, S5, S10, S11).

use serde::Deserialize;
use serde_json::Value;

use super::lenient::{Flag, Keyed, Obj, Objects, Text, WireId};

/// `"message": {…}`, a customer's or (with `is_echo`) the business's own.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Message {
    pub(crate) mid: WireId,
    pub(crate) text: Text,
    pub(crate) is_echo: Flag,
    /// The customer deleted it (Instagram, §2.1).
    pub(crate) is_deleted: Flag,
    /// Content Meta cannot show through the API (Instagram, §2.1).
    pub(crate) is_unsupported: Flag,
    /// On an echo: the app that sent it.
    pub(crate) app_id: WireId,
    /// On an echo: the `metadata` the sender set (the bridge's marker).
    pub(crate) metadata: Text,
    pub(crate) attachments: Objects<Attachment>,
    pub(crate) reply_to: Obj<ReplyTo>,
    pub(crate) quick_reply: Obj<QuickReply>,
    /// A message that starts from an ad or a link (§2.4).
    pub(crate) referral: Keyed<Obj<Referral>>,
}

/// `"reply_to"`: a story of the business (Instagram), else a message by its `mid`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ReplyTo {
    pub(crate) story: Keyed<Obj<Story>>,
    pub(crate) mid: WireId,
}

/// `"story": {"id", "url"}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Story {
    pub(crate) id: WireId,
    pub(crate) url: Text,
}

/// `"quick_reply": {"payload"}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct QuickReply {
    pub(crate) payload: Text,
}

/// One attachment. Meta adds types every year; an unknown one keeps its name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Attachment {
    #[serde(rename = "type")]
    pub(crate) kind: Text,
    pub(crate) payload: Obj<AttachmentPayload>,
    /// Older shapes put the URL and title beside the payload.
    pub(crate) url: Text,
    pub(crate) title: Keyed<Text>,
}

/// An attachment's `payload`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct AttachmentPayload {
    pub(crate) url: Keyed<Text>,
    pub(crate) title: Text,
    pub(crate) coordinates: Obj<Coordinates>,
    /// A sticker's id; an `image` carrying it is a sticker's picture (meta-platform.md §9).
    pub(crate) sticker_id: Keyed<WireId>,
    /// An Instagram post's media id.
    pub(crate) ig_post_media_id: Keyed<WireId>,
    pub(crate) attachment_id: WireId,
}

/// A location's `coordinates`, kept as the JSON Meta sent (shown to agents as `lat, long`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Coordinates {
    pub(crate) lat: Keyed<Value>,
    pub(crate) long: Keyed<Value>,
}

/// `"referral"`: where a conversation came from (an ad, an m.me link; §2.4, S11).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Referral {
    pub(crate) source: Text,
    #[serde(rename = "ref")]
    pub(crate) ref_param: Text,
    pub(crate) ad_id: WireId,
    pub(crate) ads_context_data: Obj<AdsContext>,
    pub(crate) referer_uri: Text,
}

/// `"ads_context_data"` of an ad referral.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct AdsContext {
    pub(crate) ad_title: Keyed<Text>,
}

/// `"postback"`: a button tap (§2.3, S10). It may come without a `mid`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Postback {
    pub(crate) mid: WireId,
    pub(crate) title: Text,
    pub(crate) payload: Text,
    /// Get Started from an m.me link or an ad.
    pub(crate) referral: Keyed<Obj<Referral>>,
}
