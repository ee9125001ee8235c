//! Chatwoot's webhooks to the API inbox: authentication and parsing into agent events.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use url::Url;
use wbots_core::{
    AgentAttachment, AgentEnvelope, AgentEvent, AgentMessage, AttachmentKind, Author,
    ConversationId, InboxId, InboxMessageId, RawRequest, Secret, ThreadRef, WebhookError,
    hmac_sha256,
};

use crate::config::SIGNATURE_TOLERANCE;
use crate::inbox::{thread_of_identifier, thread_of_source_id};

/// The key in `content_attributes` that marks messages the bridge created.
pub const MARKER: &str = "wbots";

/// `X-Chatwoot-Signature` of `body` sent at `timestamp`: `sha256=` + hex HMAC-SHA256 of
/// `"{timestamp}.{body}"` under the inbox's webhook secret.
pub fn sign_webhook(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let timestamp = timestamp.to_string();
    let tag =
        hmac_sha256::sign_hex(secret.expose().as_bytes(), &[timestamp.as_bytes(), b".", body]);
    format!("sha256={tag}")
}

/// Authenticates a delivery: a valid signature within the time window, or the right path
/// token. With neither configured every delivery is refused.
pub(crate) fn verify(
    request: &RawRequest<'_>,
    secret: Option<&Secret>,
    token: Option<&Secret>,
    now: DateTime<Utc>,
) -> Result<(), WebhookError> {
    if secret.is_none() && token.is_none() {
        return Err(WebhookError::Unauthorized(
            "no Chatwoot webhook authentication configured (chatwoot.webhook_secret or chatwoot.webhook_token)".into(),
        ));
    }
    if let (Some(expected), Some(given)) = (token, request.path_token) {
        if expected.matches(given.as_bytes()) {
            return Ok(());
        }
        return Err(WebhookError::Unauthorized("wrong webhook path token".into()));
    }
    let Some(secret) = secret else {
        return Err(WebhookError::Unauthorized("webhook path token missing".into()));
    };
    let (Some(signature), Some(timestamp)) =
        (request.header("x-chatwoot-signature"), request.header("x-chatwoot-timestamp"))
    else {
        return Err(WebhookError::Unauthorized(
            "missing X-Chatwoot-Signature or X-Chatwoot-Timestamp".into(),
        ));
    };
    let Ok(ts) = timestamp.trim().parse::<i64>() else {
        return Err(WebhookError::Unauthorized("unreadable X-Chatwoot-Timestamp".into()));
    };
    // Signed as Chatwoot writes it: the integer timestamp, a dot, the raw body.
    let ts_text = ts.to_string();
    let signed = [ts_text.as_bytes(), b".", request.body];
    let authentic = signature
        .trim()
        .strip_prefix("sha256=")
        .is_some_and(|tag| hmac_sha256::verify_hex(secret.expose().as_bytes(), &signed, tag));
    if !authentic {
        return Err(WebhookError::Unauthorized("X-Chatwoot-Signature does not match".into()));
    }
    // Checked after the signature, so the answer tells nothing to someone without the key.
    let skew = (now.timestamp() - ts).unsigned_abs();
    if skew > SIGNATURE_TOLERANCE.as_secs() {
        return Err(WebhookError::Unauthorized(format!(
            "X-Chatwoot-Timestamp is {skew} s away from now"
        )));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(default)]
    event: String,
    id: Option<Value>,
    content: Option<String>,
    message_type: Option<Value>,
    #[serde(default)]
    private: bool,
    source_id: Option<Value>,
    #[serde(default)]
    content_attributes: Option<Value>,
    created_at: Option<Value>,
    conversation: Option<Conversation>,
    inbox: Option<Inbox>,
    inbox_id: Option<Value>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    sender: Option<Sender>,
    /// Typing events: the agent types in the private-note editor.
    #[serde(default)]
    is_private: bool,
}

#[derive(Debug, Deserialize)]
struct Sender {
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Conversation {
    id: Value,
    inbox_id: Option<Value>,
    contact_inbox: Option<ContactInbox>,
    meta: Option<ConversationMeta>,
}

#[derive(Debug, Deserialize)]
struct ContactInbox {
    source_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ConversationMeta {
    sender: Option<ContactRef>,
}

#[derive(Debug, Deserialize)]
struct ContactRef {
    identifier: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Inbox {
    id: Value,
}

#[derive(Debug, Deserialize)]
struct Attachment {
    file_type: Option<String>,
    data_url: Option<String>,
    file_size: Option<u64>,
    #[serde(default)]
    extension: Option<String>,
}

/// An id as Chatwoot sends it: a number, or a string of digits.
fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// `message_type` is a name in webhooks (`"outgoing"`), a number in some API answers (1).
fn message_type(v: Option<&Value>) -> &'static str {
    match v {
        Some(Value::String(s)) => match s.as_str() {
            "incoming" => "incoming",
            "outgoing" => "outgoing",
            "activity" => "activity",
            "template" => "template",
            _ => "unknown",
        },
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) => "incoming",
            Some(1) => "outgoing",
            Some(2) => "activity",
            Some(3) => "template",
            _ => "unknown",
        },
        _ => "unknown",
    }
}

fn time(v: Option<&Value>) -> DateTime<Utc> {
    match v {
        Some(Value::Number(n)) => n.as_i64().and_then(|s| DateTime::from_timestamp(s, 0)),
        Some(Value::String(s)) => {
            DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
        }
        _ => None,
    }
    .unwrap_or_else(Utc::now)
}

fn attachment_kind(file_type: Option<&str>) -> AttachmentKind {
    match file_type {
        Some("image") => AttachmentKind::Image,
        Some("video") => AttachmentKind::Video,
        Some("audio") => AttachmentKind::Audio,
        Some("location") => AttachmentKind::Location,
        Some("fallback") => AttachmentKind::Fallback,
        _ => AttachmentKind::File,
    }
}

fn ignored(kind: &str, reason: impl Into<String>) -> AgentEvent {
    AgentEvent::Ignored { kind: kind.to_owned(), reason: reason.into() }
}

/// Whether the message carries a source id or the bridge's marker: the bridge posted it.
fn created_by_bridge(p: &Payload) -> bool {
    let has_source = p.source_id.as_ref().and_then(id_of).is_some();
    let marked = p
        .content_attributes
        .as_ref()
        .and_then(|a| a.get(MARKER))
        .is_some_and(|m| m.as_bool() == Some(true));
    has_source || marked
}

/// Who wrote a message: a person only when Chatwoot's sender is a `user`; `template`
/// messages (greetings, out-of-office, surveys) and sender-less outgoing ones (automation
/// rules) are the inbox's own.
fn author(kind: &str, sender: Option<&Sender>) -> Author {
    match (kind, sender.and_then(|s| s.kind.as_deref())) {
        ("template", _) => Author::Automation,
        (_, Some("user")) => Author::Person,
        (_, Some(_)) => Author::Bot,
        (_, None) => Author::Automation,
    }
}

/// The last path segment of an attachment URL as a file name: Active Storage URLs carry
/// the name percent-encoded (`r%C3%A9sum%C3%A9.pdf`).
pub(crate) fn file_name_of(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.next_back()?;
    let decoded = percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned();
    // A decoded name is still one name: no path separators smuggled in through %2F.
    let name = decoded.rsplit(['/', '\\']).next().unwrap_or("").trim().to_owned();
    (!name.is_empty()).then_some(name)
}

fn string_attribute<'a>(p: &'a Payload, key: &str) -> Option<&'a str> {
    p.content_attributes.as_ref()?.get(key)?.as_str().filter(|s| !s.trim().is_empty())
}

/// The agent message a payload describes.
fn agent_message(
    p: &Payload,
    id: String,
    conversation: ConversationId,
    kind: &str,
) -> AgentMessage {
    let attachments = p
        .attachments
        .iter()
        .filter_map(|a| {
            let url = Url::parse(a.data_url.as_deref()?).ok()?;
            let file_name =
                file_name_of(&url).or_else(|| a.extension.as_ref().map(|e| format!("file.{e}")));
            Some(AgentAttachment {
                kind: attachment_kind(a.file_type.as_deref()),
                url,
                file_name,
                size: a.file_size,
            })
        })
        .collect();
    let reply_to = p
        .content_attributes
        .as_ref()
        .and_then(|a| a.get("in_reply_to"))
        .and_then(id_of)
        .map(InboxMessageId::new);
    AgentMessage {
        id: InboxMessageId::new(id),
        conversation,
        text: p
            .content
            .as_deref()
            .map(crate::markdown::to_plain_text)
            .filter(|c| !c.trim().is_empty()),
        attachments,
        reply_to,
        created_at: time(p.created_at.as_ref()),
        author: author(kind, p.sender.as_ref()),
    }
}

/// The customer a conversation's contact stands for, from what the bridge gave the contact:
/// the contact inbox's `source_id`, else the contact's identifier.
fn contact_thread(p: &Payload) -> Option<ThreadRef> {
    let c = p.conversation.as_ref()?;
    c.contact_inbox
        .as_ref()
        .and_then(|ci| ci.source_id.as_deref())
        .and_then(thread_of_source_id)
        .or_else(|| {
            c.meta
                .as_ref()
                .and_then(|m| m.sender.as_ref())
                .and_then(|s| s.identifier.as_deref())
                .and_then(thread_of_identifier)
        })
}

/// A message as the Application API lists it (`GET …/messages`), when it is one the sweep
/// must send: an agent's (person, bot or the inbox's template), not a note, not the
/// bridge's own, marked `failed` by Chatwoot's webhook delivery. Returns it with the time
/// it was written.
pub(crate) fn swept_message(value: &Value, conversation: &ConversationId) -> Option<AgentMessage> {
    let p: Payload = serde_json::from_value(value.clone()).ok()?;
    let id = p.id.as_ref().and_then(id_of)?;
    let kind = message_type(p.message_type.as_ref());
    let failed = value.get("status").and_then(Value::as_str) == Some("failed");
    let transport =
        string_attribute(&p, "external_error").is_some_and(crate::transport::is_webhook_failure);
    if p.private || !(kind == "outgoing" || kind == "template") || created_by_bridge(&p) {
        return None;
    }
    if !failed || !transport {
        return None;
    }
    Some(agent_message(&p, id, conversation.clone(), kind))
}

/// Parses one delivery.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<AgentEnvelope>, WebhookError> {
    let p: Payload = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not a Chatwoot webhook: {e}")))?;
    let conversation = p.conversation.as_ref().and_then(|c| id_of(&c.id)).map(ConversationId::new);
    let inbox = p
        .inbox
        .as_ref()
        .and_then(|i| id_of(&i.id))
        .or_else(|| p.conversation.as_ref().and_then(|c| c.inbox_id.as_ref()).and_then(id_of))
        .or_else(|| p.inbox_id.as_ref().and_then(id_of))
        .map(InboxId::new)
        .unwrap_or_else(|| InboxId::new(""));
    let event = p.event.as_str();

    let parsed = match event {
        "message_created" | "message_updated" => {
            let (Some(conversation), Some(id)) = (conversation, p.id.as_ref().and_then(id_of))
            else {
                return Err(WebhookError::Malformed(format!(
                    "{event} without a message id or conversation"
                )));
            };
            let kind = message_type(p.message_type.as_ref());
            let deleted = p
                .content_attributes
                .as_ref()
                .and_then(|a| a.get("deleted"))
                .is_some_and(|d| d.as_bool() == Some(true));
            if p.private {
                ignored(event, "private note")
            } else if kind != "outgoing" && kind != "template" {
                ignored(event, format!("{kind} message"))
            } else if created_by_bridge(&p) {
                ignored(event, "posted by the bridge")
            } else if deleted {
                ignored(event, "deleted")
            } else if event == "message_created" {
                AgentEvent::Message(agent_message(&p, id, conversation, kind))
            } else {
                // The payload has no status (`Message#webhook_data`): an update is told
                // apart by `content_attributes.external_error`.
                match string_attribute(&p, "external_error") {
                    // Chatwoot could not deliver an earlier webhook of this message.
                    Some(e) if crate::transport::is_webhook_failure(e) => {
                        AgentEvent::Undelivered(agent_message(&p, id, conversation, kind))
                    }
                    // The echo of a failure mark (the bridge's own): never a send.
                    Some(_) => ignored(event, "echo of a failure mark"),
                    // A retry (Chatwoot clears the error) or another status change: the
                    // engine's records tell which.
                    None => AgentEvent::RetryRequested {
                        conversation: conversation.clone(),
                        message: InboxMessageId::new(id.clone()),
                        content: Some(agent_message(&p, id, conversation, kind)),
                    },
                }
            }
        }
        "conversation_typing_on" | "conversation_typing_off" => match conversation {
            Some(_) if p.is_private => ignored(event, "typing a private note"),
            Some(conversation) => {
                AgentEvent::Typing { conversation, on: event == "conversation_typing_on" }
            }
            None => ignored(event, "no conversation"),
        },
        other => ignored(other, "not acted on"),
    };
    let thread = match &parsed {
        AgentEvent::Ignored { .. } => None,
        _ => contact_thread(&p),
    };
    Ok(vec![AgentEnvelope { inbox, event: parsed, contact_thread: thread }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, Method};

    fn req<'a>(headers: &'a HeaderMap, body: &'a [u8], token: Option<&'a str>) -> RawRequest<'a> {
        RawRequest { method: &Method::POST, query: "", headers, body, path_token: token }
    }

    fn signed(secret: &Secret, ts: i64, body: &[u8]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-chatwoot-signature", sign_webhook(secret, ts, body).parse().unwrap());
        h.insert("x-chatwoot-timestamp", ts.to_string().parse().unwrap());
        h
    }

    #[test]
    fn signature_token_and_time_window() {
        let secret = Secret::new("inbox-secret");
        let token = Secret::new("path-token");
        let now = Utc::now();
        let body = br#"{"event":"message_created"}"#;
        let ok = signed(&secret, now.timestamp(), body);
        assert!(verify(&req(&ok, body, None), Some(&secret), None, now).is_ok());
        let tampered = br#"{"event":"message_created" }"#;
        assert!(verify(&req(&ok, tampered, None), Some(&secret), None, now).is_err());
        let stale = signed(&secret, now.timestamp() - 301, body);
        assert!(verify(&req(&stale, body, None), Some(&secret), None, now).is_err());
        let wrong_key = signed(&Secret::new("other"), now.timestamp(), body);
        assert!(verify(&req(&wrong_key, body, None), Some(&secret), None, now).is_err());
        let none = HeaderMap::new();
        assert!(verify(&req(&none, body, Some("path-token")), None, Some(&token), now).is_ok());
        assert!(verify(&req(&none, body, Some("path-tokem")), None, Some(&token), now).is_err());
        assert!(verify(&req(&none, body, None), None, Some(&token), now).is_err());
        assert!(
            verify(&req(&ok, body, None), None, None, now).is_err(),
            "nothing configured refuses all"
        );
    }
}
