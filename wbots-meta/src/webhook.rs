//! Meta's webhook bodies → core events.
//!
//! Read defensively as JSON values rather than typed structs: Meta adds attachment types and
//! event kinds every year, sends ids as strings or numbers and timestamps in ms, seconds or
//! strings (the dashboard's test form), and a new field must never turn into a 400 that makes
//! Meta retry for an hour.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::Value;
use url::Url;
use wbots_core::{
    AccountAction, AccountStatus, AttachmentKind, ChannelAddress, ChannelKind, DeliveryReceipt,
    EchoMessage, InboundAttachment, InboundEnvelope, InboundEvent, InboundMessage, MessageContext,
    MessageDelete, MessageEdit, Notice, PlatformMessageId, Reaction, ReactionAction, ReadReceipt,
    ReadUpTo, ReplyTo, Unsupported, WebhookError,
};

use crate::Platform;

/// Parses a webhook body. `own_accounts` are the configured Page / Instagram ids: a message
/// *from* one of them is the business's own (Instagram sometimes omits `is_echo`).
pub fn parse(
    body: &[u8],
    own_accounts: &HashSet<String>,
) -> Result<Vec<InboundEnvelope>, WebhookError> {
    parse_for_app(body, own_accounts, None)
}

/// [`parse`], knowing the app's own id (`app_id`) so handover events can say whether the
/// bridge or another app now holds a conversation.
pub fn parse_for_app(
    body: &[u8],
    own_accounts: &HashSet<String>,
    app_id: Option<&str>,
) -> Result<Vec<InboundEnvelope>, WebhookError> {
    let ctx = Context { own: own_accounts, app_id };
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| WebhookError::Malformed(format!("not JSON: {e}")))?;
    let object = root
        .get("object")
        .and_then(Value::as_str)
        .ok_or_else(|| WebhookError::Malformed("no \"object\" field".into()))?;
    let entries = root
        .get("entry")
        .and_then(Value::as_array)
        .ok_or_else(|| WebhookError::Malformed("no \"entry\" array".into()))?;
    let platform = Platform::of_webhook_object(object);
    let kind = platform.map_or_else(|| ChannelKind::new(object.to_owned()), Platform::channel_kind);
    let mut out = Vec::new();
    for entry in entries {
        let entry_id = entry.get("id").and_then(id_of).unwrap_or_default();
        if platform.is_none() {
            out.push(unsupported(&kind, &entry_id, &format!("object:{object}"), None, None));
            continue;
        }
        for key in ["messaging", "standby"] {
            for item in entry.get(key).and_then(Value::as_array).into_iter().flatten() {
                let standby = key == "standby";
                // A postback's referral (Get Started from an m.me link or an ad) is kept as
                // its own message before the tap (S10).
                if let Some(referral) = item.pointer("/postback/referral").filter(|_| !standby) {
                    let mut r = item.clone();
                    if let Some(o) = r.as_object_mut() {
                        o.remove("postback");
                        o.insert("referral".into(), referral.clone());
                    }
                    out.push(parse_item(&kind, &entry_id, &r, &ctx, false));
                }
                out.push(parse_item(&kind, &entry_id, item, &ctx, standby));
            }
        }
        for change in entry.get("changes").and_then(Value::as_array).into_iter().flatten() {
            let field = change.get("field").and_then(Value::as_str).unwrap_or("unknown");
            match (field, change.get("value")) {
                // The dashboard's test form wraps a messaging item in `changes`.
                (
                    "messages"
                    | "messaging_postbacks"
                    | "messaging_referral"
                    | "messaging_referrals"
                    | "messaging_seen"
                    | "message_reactions"
                    | "message_edits"
                    | "message_echoes"
                    | "message_deliveries"
                    | "message_reads",
                    Some(value),
                ) if value.get("sender").is_some() || value.get("recipient").is_some() => {
                    out.push(parse_item(&kind, &entry_id, value, &ctx, false));
                }
                _ => out.push(unsupported(&kind, &entry_id, field, None, None)),
            }
        }
    }
    Ok(out)
}

/// An id as Meta sends it: a string, or a number.
fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A timestamp in ms, seconds, or a string of either.
fn time_of(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let n = match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        _ => return None,
    };
    // Ten-digit values are seconds (webhook `changes`, the dashboard's test form).
    let ms = if n.abs() < 100_000_000_000 { n.saturating_mul(1000) } else { n };
    DateTime::from_timestamp_millis(ms)
}

fn text_of(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

fn unsupported(
    kind: &ChannelKind,
    account: &str,
    what: &str,
    thread: Option<String>,
    at: Option<DateTime<Utc>>,
) -> InboundEnvelope {
    let mut u = Unsupported::kind(what);
    u.thread = thread.map(Into::into);
    u.at = at;
    InboundEnvelope::new(ChannelAddress::new(kind.clone(), account), InboundEvent::Unsupported(u))
}

const EVENT_KEYS: [&str; 14] = [
    "message",
    "postback",
    "referral",
    "read",
    "delivery",
    "reaction",
    "message_edit",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
    "policy_enforcement",
    "optin",
    "account_linking",
];

/// What the parser knows about the app.
struct Context<'a> {
    own: &'a HashSet<String>,
    app_id: Option<&'a str>,
}

fn parse_item(
    kind: &ChannelKind,
    entry_id: &str,
    item: &Value,
    ctx: &Context<'_>,
    standby: bool,
) -> InboundEnvelope {
    let own = ctx.own;
    let sender = item.pointer("/sender/id").and_then(id_of);
    let recipient = item.pointer("/recipient/id").and_then(id_of);
    let at = time_of(item.get("timestamp"));
    let event_kind =
        EVENT_KEYS.iter().find(|k| item.get(**k).is_some()).copied().unwrap_or("unknown");
    let message = item.get("message");
    let is_echo = message.and_then(|m| m.get("is_echo")).and_then(Value::as_bool).unwrap_or(false)
        || sender
            .as_ref()
            .is_some_and(|s| own.contains(s) && recipient.as_ref().is_some_and(|r| r != s));
    // The business side of the exchange is the account; the other side is the thread.
    let (account, customer) = if is_echo {
        (sender.clone(), recipient.clone())
    } else {
        (recipient.clone(), sender.clone())
    };
    let account = account.filter(|a| a != "0").unwrap_or_else(|| entry_id.to_owned());
    let address = ChannelAddress::new(kind.clone(), account.as_str());
    let Some(customer) = customer else {
        if event_kind == "policy_enforcement" {
            return policy_enforcement(kind, &account, &item["policy_enforcement"], at);
        }
        return unsupported(kind, &account, "no_customer_id", None, at);
    };
    let at_or_now = at.unwrap_or_else(Utc::now);
    let event = match event_kind {
        "message" => {
            let Some(m) = message else {
                return unsupported(kind, &account, "message", Some(customer), at);
            };
            let Some(mid) = m.get("mid").and_then(id_of) else {
                return unsupported(kind, &account, "message_without_mid", Some(customer), at);
            };
            let attachments = attachments_of(m);
            let text = text_of(m.get("text"));
            if is_echo {
                InboundEvent::Echo(EchoMessage {
                    id: mid.into(),
                    thread: customer.into(),
                    sent_at: at_or_now,
                    text,
                    attachments,
                    app_id: m.get("app_id").and_then(id_of),
                    metadata: text_of(m.get("metadata")),
                })
            } else if m.get("is_deleted").and_then(Value::as_bool) == Some(true) {
                InboundEvent::Delete(MessageDelete {
                    thread: customer.into(),
                    id: mid.into(),
                    at: at_or_now,
                })
            } else {
                let mut attachments = attachments;
                if m.get("is_unsupported").and_then(Value::as_bool) == Some(true) {
                    attachments.push(InboundAttachment {
                        kind: AttachmentKind::Other(
                            "unsupported content (open the app to see it)".into(),
                        ),
                        url: None,
                        platform_id: None,
                        title: None,
                        file_name: None,
                    });
                }
                let reply_to = m.get("reply_to").and_then(|r| {
                    if let Some(story) = r.get("story") {
                        Some(ReplyTo::Story {
                            id: story.get("id").and_then(id_of),
                            url: story
                                .get("url")
                                .and_then(Value::as_str)
                                .and_then(|u| Url::parse(u).ok()),
                        })
                    } else {
                        r.get("mid")
                            .and_then(id_of)
                            .map(|id| ReplyTo::Message { id: PlatformMessageId::new(id) })
                    }
                });
                let context = m
                    .pointer("/quick_reply/payload")
                    .and_then(Value::as_str)
                    .map(|p| MessageContext::QuickReply { payload: p.to_owned() })
                    .or_else(|| m.get("referral").map(referral_of));
                InboundEvent::Message(InboundMessage {
                    id: mid.into(),
                    thread: customer.as_str().into(),
                    sender: customer.into(),
                    sent_at: at_or_now,
                    text,
                    attachments,
                    reply_to,
                    context,
                })
            }
        }
        "postback" if !standby => {
            let p = &item["postback"];
            let ts = at.map(|t| t.timestamp_millis()).unwrap_or_default();
            // Postbacks may come without a mid; two taps in the same millisecond differ
            // by their payload, so it is part of the synthesized id.
            let id = p.get("mid").and_then(id_of).unwrap_or_else(|| {
                format!(
                    "postback:{customer}:{ts}:{}",
                    p.get("payload").and_then(Value::as_str).unwrap_or("")
                )
            });
            InboundEvent::Message(InboundMessage {
                id: id.into(),
                thread: customer.as_str().into(),
                sender: customer.into(),
                sent_at: at_or_now,
                text: None,
                attachments: Vec::new(),
                reply_to: None,
                context: Some(MessageContext::Postback {
                    title: text_of(p.get("title")),
                    payload: text_of(p.get("payload")),
                }),
            })
        }
        "referral" => {
            let ts = at.map(|t| t.timestamp_millis()).unwrap_or_default();
            InboundEvent::Message(InboundMessage {
                id: format!(
                    "referral:{customer}:{ts}:{}",
                    item.pointer("/referral/ref").and_then(Value::as_str).unwrap_or("")
                )
                .into(),
                thread: customer.as_str().into(),
                sender: customer.into(),
                sent_at: at_or_now,
                text: None,
                attachments: Vec::new(),
                reply_to: None,
                context: Some(referral_of(&item["referral"])),
            })
        }
        "read" => {
            let r = &item["read"];
            let upto = match (time_of(r.get("watermark")), r.get("mid").and_then(id_of)) {
                (Some(w), _) => ReadUpTo::Watermark(w),
                (None, Some(mid)) => ReadUpTo::Message(mid.into()),
                _ => return unsupported(kind, &account, "read", Some(customer), at),
            };
            InboundEvent::Read(ReadReceipt { thread: customer.into(), upto })
        }
        "delivery" => {
            let d = &item["delivery"];
            let mids = d
                .get("mids")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(id_of)
                .map(Into::into)
                .collect();
            InboundEvent::Delivery(DeliveryReceipt {
                thread: customer.into(),
                mids,
                watermark: time_of(d.get("watermark")),
            })
        }
        "reaction" => {
            let r = &item["reaction"];
            let Some(target) = r.get("mid").and_then(id_of) else {
                return unsupported(kind, &account, "reaction", Some(customer), at);
            };
            let action = if r.get("action").and_then(Value::as_str) == Some("unreact") {
                ReactionAction::Unreact
            } else {
                ReactionAction::React
            };
            let emoji = text_of(r.get("emoji")).or_else(|| text_of(r.get("reaction")));
            InboundEvent::Reaction(Reaction {
                thread: customer.into(),
                target: target.into(),
                emoji,
                action,
                at: at_or_now,
            })
        }
        "message_edit" => {
            let e = &item["message_edit"];
            let Some(mid) = e.get("mid").and_then(id_of) else {
                return unsupported(kind, &account, "message_edit", Some(customer), at);
            };
            InboundEvent::Edit(MessageEdit {
                thread: customer.into(),
                id: mid.into(),
                text: text_of(e.get("text")).unwrap_or_default(),
                at: at_or_now,
            })
        }
        "pass_thread_control" | "take_thread_control" | "request_thread_control" => {
            let Some(text) = handover_note(event_kind, &item[event_kind], ctx.app_id) else {
                return unsupported(kind, &account, event_kind, Some(customer), at);
            };
            InboundEvent::Notice(Notice {
                thread: customer.into(),
                kind: event_kind.to_owned(),
                text,
                at: at_or_now,
            })
        }
        other => {
            let name = if standby { format!("standby:{other}") } else { other.to_owned() };
            return unsupported(kind, &account, &name, Some(customer), at);
        }
    };
    InboundEnvelope::new(address, event)
}

/// The note agents see when the conversation changes hands (Messenger handover protocol,
/// S13: `pass_thread_control`, `take_thread_control`, `request_thread_control`).
fn handover_note(event: &str, v: &Value, app_id: Option<&str>) -> Option<String> {
    let app = |k: &str| v.get(k).and_then(id_of);
    let ours = |id: &Option<String>| id.is_some() && id.as_deref() == app_id;
    match event {
        "pass_thread_control" | "take_thread_control" => {
            let new_owner = app("new_owner_app_id");
            Some(if ours(&new_owner) {
                "This conversation was handed back to the bridge: replies from here reach the customer again.".to_owned()
            } else {
                let who = new_owner
                    .map(|id| format!("another app ({id})"))
                    .unwrap_or_else(|| "another app".to_owned());
                format!(
                    "{} now holds this conversation (Messenger handover): the customer's messages still show here, but replies sent from here may fail until it hands the conversation back.",
                    capitalise(&who)
                )
            })
        }
        "request_thread_control" => {
            let who = app("requested_owner_app_id").unwrap_or_else(|| "?".to_owned());
            Some(format!("Another app ({who}) asks to take over this conversation."))
        }
        _ => None,
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// `messaging_policy_enforcement` (S14): `{action: warning|block|unblock, reason}` about
/// the Page itself, with no customer.
fn policy_enforcement(
    kind: &ChannelKind,
    account: &str,
    v: &Value,
    at: Option<DateTime<Utc>>,
) -> InboundEnvelope {
    let action = match v.get("action").and_then(Value::as_str) {
        Some("block") => AccountAction::Blocked,
        Some("unblock") => AccountAction::Unblocked,
        Some("warning") => AccountAction::Warned,
        _ => return unsupported(kind, account, "policy_enforcement", None, at),
    };
    InboundEnvelope::new(
        ChannelAddress::new(kind.clone(), account),
        InboundEvent::AccountStatus(AccountStatus {
            action,
            reason: text_of(v.get("reason")),
            at: at.unwrap_or_else(Utc::now),
        }),
    )
}

fn referral_of(r: &Value) -> MessageContext {
    MessageContext::Referral {
        source: text_of(r.get("source")),
        ref_param: text_of(r.get("ref")),
        ad_id: r.get("ad_id").and_then(id_of),
        detail: r
            .pointer("/ads_context_data/ad_title")
            .or_else(|| r.get("referer_uri"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    }
}

fn kind_of(t: &str) -> AttachmentKind {
    match t {
        "image" => AttachmentKind::Image,
        "video" => AttachmentKind::Video,
        "audio" => AttachmentKind::Audio,
        "file" => AttachmentKind::File,
        "sticker" | "like_heart" => AttachmentKind::Sticker,
        "location" => AttachmentKind::Location,
        "fallback" => AttachmentKind::Fallback,
        "share" => AttachmentKind::Share,
        "story_mention" => AttachmentKind::StoryMention,
        "reel" | "ig_reel" => AttachmentKind::Reel,
        "post" | "ig_post" => AttachmentKind::Post,
        "template" => AttachmentKind::Template,
        other => AttachmentKind::Other(other.to_owned()),
    }
}

fn attachments_of(m: &Value) -> Vec<InboundAttachment> {
    let list = m.get("attachments").and_then(Value::as_array).cloned().unwrap_or_default();
    // During Meta's sticker transition a sticker arrives as a `sticker` attachment and an
    // `image` twin (S4). The legacy format has the `image` alone, carrying `sticker_id`
    // (meta-platform.md §9): it is the sticker's only picture and is kept.
    let has_sticker = list.iter().any(|a| a.get("type").and_then(Value::as_str) == Some("sticker"));
    let mut out = Vec::new();
    for a in &list {
        let t = a.get("type").and_then(Value::as_str).unwrap_or("unknown");
        if has_sticker
            && t == "image"
            && (a.pointer("/payload/sticker_id").is_some() || list.len() > 1)
        {
            continue;
        }
        let payload = a.get("payload");
        let url = payload
            .and_then(|p| p.get("url"))
            .or_else(|| a.get("url"))
            .and_then(Value::as_str)
            .and_then(|u| Url::parse(u).ok());
        let title = a
            .get("title")
            .or_else(|| payload.and_then(|p| p.get("title")))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                let c = payload.and_then(|p| p.get("coordinates"))?;
                Some(format!("{}, {}", c.get("lat")?, c.get("long")?))
            });
        let platform_id = payload
            .and_then(|p| {
                p.get("sticker_id")
                    .or_else(|| p.get("ig_post_media_id"))
                    .or_else(|| p.get("attachment_id"))
            })
            .and_then(id_of);
        out.push(InboundAttachment { kind: kind_of(t), url, platform_id, title, file_name: None });
    }
    out
}
