//! Telegram's webhook `Update` → core events.
//!
//! Telegram's model differs from Meta's: one update per request, ids unique only within a
//! chat (so the platform message id is `chat:message`), photos as several sizes of one
//! `file_id`, group chats where the thread (chat) is not the sender.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use wbots_core::{
    AttachmentKind, ChannelAddress, InboundAttachment, InboundEnvelope, InboundEvent,
    InboundMessage, MessageContext, MessageEdit, ReplyTo, Unsupported, WebhookError,
};

#[derive(Debug, Deserialize)]
pub(crate) struct Update {
    pub update_id: i64,
    pub message: Option<Message>,
    pub edited_message: Option<Message>,
    pub callback_query: Option<CallbackQuery>,
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Message {
    pub message_id: i64,
    pub from: Option<User>,
    pub chat: Chat,
    pub date: i64,
    pub edit_date: Option<i64>,
    pub text: Option<String>,
    pub caption: Option<String>,
    #[serde(default)]
    pub photo: Vec<PhotoSize>,
    pub document: Option<FileRef>,
    pub voice: Option<FileRef>,
    pub audio: Option<FileRef>,
    pub video: Option<FileRef>,
    pub sticker: Option<FileRef>,
    pub reply_to_message: Option<Box<Message>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct User {
    pub id: i64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Chat {
    pub id: i64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PhotoSize {
    pub file_id: String,
    #[serde(default)]
    pub file_size: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct FileRef {
    pub file_id: String,
    #[serde(default)]
    pub file_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CallbackQuery {
    pub id: String,
    pub from: User,
    pub message: Option<Message>,
    pub data: Option<String>,
}

fn time(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_else(Utc::now)
}

fn file(kind: AttachmentKind, f: &FileRef) -> InboundAttachment {
    InboundAttachment {
        kind,
        url: None,
        platform_id: Some(f.file_id.clone()),
        title: None,
        file_name: f.file_name.clone(),
    }
}

fn attachments(m: &Message) -> Vec<InboundAttachment> {
    let mut out = Vec::new();
    // Telegram sends every size of a photo; the largest is the one worth keeping.
    if let Some(best) = m.photo.iter().max_by_key(|p| p.file_size.unwrap_or(0)) {
        out.push(file(
            AttachmentKind::Image,
            &FileRef { file_id: best.file_id.clone(), file_name: None },
        ));
    }
    for (kind, f) in [
        (AttachmentKind::File, &m.document),
        (AttachmentKind::Audio, &m.voice),
        (AttachmentKind::Audio, &m.audio),
        (AttachmentKind::Video, &m.video),
        (AttachmentKind::Sticker, &m.sticker),
    ] {
        if let Some(f) = f {
            out.push(file(kind, f));
        }
    }
    out
}

pub(crate) fn message_id(chat: i64, message: i64) -> String {
    format!("{chat}:{message}")
}

/// Parses one update for the bot `address`.
pub(crate) fn parse(
    address: &ChannelAddress,
    body: &[u8],
) -> Result<Vec<InboundEnvelope>, WebhookError> {
    let update: Update = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not a Telegram update: {e}")))?;
    let event = if let Some(m) = update.message {
        let sender = m.from.as_ref().map(|u| u.id).unwrap_or(m.chat.id);
        InboundEvent::Message(InboundMessage {
            id: message_id(m.chat.id, m.message_id).into(),
            thread: m.chat.id.to_string().into(),
            sender: sender.to_string().into(),
            sent_at: time(m.date),
            text: m.text.clone().or_else(|| m.caption.clone()),
            attachments: attachments(&m),
            reply_to: m
                .reply_to_message
                .as_ref()
                .map(|r| ReplyTo::Message { id: message_id(m.chat.id, r.message_id).into() }),
            context: None,
        })
    } else if let Some(m) = update.edited_message {
        InboundEvent::Edit(MessageEdit {
            thread: m.chat.id.to_string().into(),
            id: message_id(m.chat.id, m.message_id).into(),
            text: m.text.or(m.caption).unwrap_or_default(),
            at: time(m.edit_date.unwrap_or(m.date)),
        })
    } else if let Some(q) = update.callback_query {
        // A tapped inline button: Meta's postback, in Telegram's words.
        let chat = q.message.as_ref().map(|m| m.chat.id).unwrap_or(q.from.id);
        InboundEvent::Message(InboundMessage {
            id: format!("callback:{}", q.id).into(),
            thread: chat.to_string().into(),
            sender: q.from.id.to_string().into(),
            sent_at: q.message.as_ref().map(|m| time(m.date)).unwrap_or_else(Utc::now),
            text: None,
            attachments: Vec::new(),
            reply_to: None,
            context: Some(MessageContext::Postback { title: None, payload: q.data }),
        })
    } else {
        let kind = update.other.keys().next().cloned().unwrap_or_else(|| "empty".to_owned());
        let mut u = Unsupported::kind(kind);
        u.detail = Some(format!("update {}", update.update_id));
        InboundEvent::Unsupported(u)
    };
    Ok(vec![InboundEnvelope::new(address.clone(), event)])
}
