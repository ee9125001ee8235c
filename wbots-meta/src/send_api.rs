//! What Meta's Send API looks like: the request bodies the bridge sends and the answers it
//! reads (S17–S26; meta-platform.md §3, §9). No policy: which body goes to which account is
//! in [`crate::channel`].

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// `POST /{node}/messages` with a message.
#[derive(Debug, Serialize)]
pub(crate) struct MessageRequest<'a> {
    pub(crate) recipient: Recipient<'a>,
    pub(crate) messaging_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tag: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reply_to: Option<ReplyTo<'a>>,
    pub(crate) message: OutMessage<'a>,
}

/// What every message of one send carries besides the message itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Envelope<'a> {
    pub(crate) recipient: Recipient<'a>,
    pub(crate) messaging_type: &'static str,
    pub(crate) tag: Option<&'static str>,
    pub(crate) reply_to: Option<ReplyTo<'a>>,
    /// The bridge's marker, set on the message (Messenger only).
    pub(crate) metadata: Option<&'a str>,
}

impl<'a> Envelope<'a> {
    /// The request sending `message` in this envelope.
    pub(crate) fn with(self, message: OutMessage<'a>) -> MessageRequest<'a> {
        MessageRequest {
            recipient: self.recipient,
            messaging_type: self.messaging_type,
            tag: self.tag,
            reply_to: self.reply_to,
            message: OutMessage { metadata: self.metadata, ..message },
        }
    }
}

/// `POST /{node}/messages` with a sender action (typing, seen, a reaction).
#[derive(Debug, Serialize)]
pub(crate) struct ActionRequest<'a> {
    pub(crate) recipient: Recipient<'a>,
    pub(crate) sender_action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) payload: Option<ReactionPayload<'a>>,
}

/// `POST /{page}/message_attachments`: a file Meta fetches, for Instagram through a Page.
#[derive(Debug, Serialize)]
pub(crate) struct UploadRequest<'a> {
    pub(crate) platform: &'static str,
    pub(crate) message: OutMessage<'a>,
}

/// Who a send goes to: the customer's page- or Instagram-scoped id.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Recipient<'a> {
    pub(crate) id: &'a str,
}

/// The message a send answers.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct ReplyTo<'a> {
    pub(crate) mid: &'a str,
}

// Fields in alphabetical order: the JSON text (in multipart fields) stays byte for byte what
// the bridge sent when it built these bodies as maps.

/// A message: text or one attachment, and the bridge's marker (Messenger only).
#[derive(Debug, Default, Serialize)]
pub(crate) struct OutMessage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) attachment: Option<Attachment<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) metadata: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<&'a str>,
}

/// An attachment of a message.
#[derive(Debug, Serialize)]
pub(crate) struct Attachment<'a> {
    pub(crate) payload: AttachmentPayload<'a>,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
}

/// Where an attachment's file comes from: a URL, an uploaded `attachment_id`, or the
/// request's own `filedata` part (neither).
#[derive(Debug, Default, Serialize)]
pub(crate) struct AttachmentPayload<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) attachment_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) is_reusable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<&'a str>,
}

/// The message a reaction is on, and the reaction (absent to remove it).
#[derive(Debug, Serialize)]
pub(crate) struct ReactionPayload<'a> {
    pub(crate) message_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reaction: Option<&'a str>,
}

/// The answer to a send: `{recipient_id, message_id}`; sender actions answer without a
/// `message_id`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct SendAnswer {
    #[serde(deserialize_with = "text_only")]
    pub(crate) message_id: Option<String>,
}

/// The answer to an upload: `{attachment_id}`, a string or a number.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct UploadAnswer {
    #[serde(deserialize_with = "graph_id")]
    pub(crate) attachment_id: Option<String>,
}

/// A field read only when it is a string; anything else reads as absent.
fn text_only<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// A Graph id: a non-empty string or a number; anything else reads as absent.
fn graph_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// Reads an answer leniently: anything but an object of the expected shape reads as an
/// answer saying nothing (serde would read a list positionally).
pub(crate) fn read<T: for<'de> Deserialize<'de> + Default>(answer: Value) -> T {
    match answer {
        Value::Object(_) => serde_json::from_value(answer).unwrap_or_default(),
        _ => T::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_read_tolerantly() {
        let a: SendAnswer = read(json!({"recipient_id": "1", "message_id": "m_1", "new": 1}));
        assert_eq!(a.message_id.as_deref(), Some("m_1"));
        let a: SendAnswer = read(json!({"message_id": 5}));
        assert_eq!(a.message_id, None);
        let u: UploadAnswer = read(json!({"attachment_id": 1857}));
        assert_eq!(u.attachment_id.as_deref(), Some("1857"));
        let u: UploadAnswer = read(json!({"attachment_id": ""}));
        assert_eq!(u.attachment_id, None);
        let u: UploadAnswer = read(json!([1]));
        assert_eq!(u.attachment_id, None);
    }

    #[test]
    fn absent_fields_are_not_sent() {
        let body = MessageRequest {
            recipient: Recipient { id: "PSID1" },
            messaging_type: "RESPONSE",
            tag: None,
            reply_to: None,
            message: OutMessage { text: Some("hi"), ..Default::default() },
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"recipient": {"id": "PSID1"}, "messaging_type": "RESPONSE", "message": {"text": "hi"}})
        );
    }
}
