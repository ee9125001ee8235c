//! Pigeon's webhook: the signature over the raw body, and its JSON events → core events.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use wbots_core::{
    AttachmentKind, ChannelAddress, EchoMessage, InboundAttachment, InboundEnvelope, InboundEvent,
    InboundMessage, ReplyTo, Secret, Unsupported, WebhookError, hmac_sha256,
};

use crate::pigeon;

/// The header Pigeon signs deliveries in: `sha256=<hex HMAC-SHA256(secret, raw body)>`.
pub const SIGNATURE_HEADER: &str = "x-pigeon-signature";

/// The signature header's value for `body`, as Pigeon computes it.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    format!("sha256={}", hmac_sha256::sign_hex(secret.expose().as_bytes(), &[body]))
}

/// Checks the signature over the exact raw bytes, in constant time.
pub(crate) fn verify(
    secret: &Secret,
    header: Option<&str>,
    body: &[u8],
) -> Result<(), WebhookError> {
    let Some(given) = header else {
        return Err(WebhookError::Unauthorized("missing X-Pigeon-Signature".into()));
    };
    let authentic = given
        .trim()
        .strip_prefix("sha256=")
        .is_some_and(|tag| hmac_sha256::verify_hex(secret.expose().as_bytes(), &[body], tag));
    if authentic {
        Ok(())
    } else {
        Err(WebhookError::Unauthorized("wrong X-Pigeon-Signature".into()))
    }
}

#[derive(Debug, Deserialize)]
struct Delivery {
    account_id: String,
    events: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Event {
    created_at: DateTime<Utc>,
    conversation_id: String,
    sender: Option<Sender>,
    message: Message,
}

#[derive(Debug, Deserialize)]
struct Sender {
    id: String,
}

#[derive(Debug, Deserialize)]
struct Message {
    id: String,
    text: Option<String>,
    reply_to: Option<String>,
    metadata: Option<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
}

#[derive(Debug, Deserialize)]
struct Attachment {
    kind: String,
    url: url::Url,
    name: Option<String>,
}

fn attachment(a: Attachment) -> InboundAttachment {
    let kind = match a.kind.as_str() {
        "image" => AttachmentKind::Image,
        "video" => AttachmentKind::Video,
        "audio" => AttachmentKind::Audio,
        _ => AttachmentKind::File,
    };
    InboundAttachment { kind, url: Some(a.url), platform_id: None, title: None, file_name: a.name }
}

/// Parses an authenticated delivery. A body that is not a delivery is `Malformed`; an
/// event of a kind the bridge does not act on, or of a known kind but an unexpected shape,
/// is recorded and skipped (`Unsupported`) so the rest of the delivery still goes through.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<InboundEnvelope>, WebhookError> {
    let delivery: Delivery = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not a Pigeon delivery: {e}")))?;
    // Every event is tagged with the account the delivery names, served or not: the engine
    // skips (and counts) events for accounts that are not bound, never misroutes them.
    let address = ChannelAddress::new(pigeon(), delivery.account_id);
    let mut out = Vec::with_capacity(delivery.events.len());
    for raw in delivery.events {
        let kind = raw.get("type").and_then(|t| t.as_str()).unwrap_or("unknown").to_owned();
        let event = match (kind.as_str(), serde_json::from_value::<Event>(raw)) {
            ("message.created", Ok(e)) => {
                let sender = e.sender.map(|s| s.id).unwrap_or_else(|| e.conversation_id.clone());
                InboundEvent::Message(InboundMessage {
                    id: e.message.id.into(),
                    thread: e.conversation_id.into(),
                    sender: sender.into(),
                    // Pigeon's own time, never the time of parsing.
                    sent_at: e.created_at,
                    text: e.message.text,
                    attachments: e.message.attachments.into_iter().map(attachment).collect(),
                    reply_to: e.message.reply_to.map(|id| ReplyTo::Message { id: id.into() }),
                    context: None,
                })
            }
            ("message.sent", Ok(e)) => InboundEvent::Echo(EchoMessage {
                id: e.message.id.into(),
                thread: e.conversation_id.into(),
                sent_at: e.created_at,
                text: e.message.text,
                attachments: e.message.attachments.into_iter().map(attachment).collect(),
                app_id: None,
                metadata: e.message.metadata,
            }),
            (_, Ok(_)) => InboundEvent::Unsupported(Unsupported::kind(kind)),
            (_, Err(e)) => {
                let mut u = Unsupported::kind(kind);
                u.detail = Some(format!("unexpected shape: {e}"));
                InboundEvent::Unsupported(u)
            }
        };
        out.push(InboundEnvelope::new(address.clone(), event));
    }
    Ok(out)
}
