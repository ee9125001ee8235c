//! Meta's webhook bodies → core events: the policy over the shapes in `src/wire/`.
//!
//! Which side of an exchange is the business, which events the bridge acts on, and the ids
//! it derives where Meta gives none. Reading is tolerant (see `src/wire/`): a new field
//! or a value of an unexpected type never turns a delivery into a 400 that makes Meta retry
//! for an hour; only a body that is not a JSON object with an `object` string and an
//! `entry` array is [`WebhookError::Malformed`].

mod attachments;
mod handover;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use url::Url;
use wbots_core::{
    AccountAction, AccountStatus, AttachmentKind, ChannelAddress, ChannelKind, DeliveryReceipt,
    EchoMessage, InboundAttachment, InboundEnvelope, InboundEvent, InboundMessage, MessageContext,
    MessageDelete, MessageEdit, Notice, PlatformMessageId, Reaction, ReactionAction, ReadReceipt,
    ReadUpTo, ReplyTo, Unsupported, WebhookError,
};

use crate::Platform;
use crate::wire::{self, Event, Item};

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
    // Only an object has fields (a derived shape would also read an array positionally).
    let delivery = if root.is_object() {
        wire::Delivery::deserialize(root).unwrap_or_default()
    } else {
        wire::Delivery::default()
    };
    let object = delivery
        .object
        .as_deref()
        .ok_or_else(|| WebhookError::Malformed("no \"object\" field".into()))?;
    let entries = delivery
        .entry
        .array()
        .ok_or_else(|| WebhookError::Malformed("no \"entry\" array".into()))?;
    let platform = Platform::of_webhook_object(object);
    let kind = platform.map_or_else(|| ChannelKind::new(object.to_owned()), Platform::channel_kind);
    let mut out = Vec::new();
    for entry in entries {
        let entry_id = entry.id.cloned().unwrap_or_default();
        if platform.is_none() {
            out.push(unsupported(&kind, &entry_id, &format!("object:{object}"), None, None));
            continue;
        }
        let at = Where { kind: &kind, entry_id: &entry_id, ctx: &ctx };
        for item in entry.messaging.iter() {
            // A postback's referral (Get Started from an m.me link or an ad) is kept as its
            // own message before the tap (S10).
            if let Some(referral) = item.postback_referral() {
                out.push(at.item(&referral, false));
            }
            out.push(at.item(item, false));
        }
        for item in entry.standby.iter() {
            out.push(at.item(item, true));
        }
        for change in entry.changes.iter() {
            let field = change.field.as_deref().unwrap_or("unknown");
            match field {
                // The dashboard's test form wraps a messaging item in `changes`.
                "messages"
                | "messaging_postbacks"
                | "messaging_referral"
                | "messaging_referrals"
                | "messaging_seen"
                | "message_reactions"
                | "message_edits"
                | "message_echoes"
                | "message_deliveries"
                | "message_reads"
                    if change.value.names_a_party() =>
                {
                    out.push(at.item(&change.value, false));
                }
                _ => out.push(unsupported(&kind, &entry_id, field, None, None)),
            }
        }
    }
    Ok(out)
}

/// What the parser knows about the app.
struct Context<'a> {
    own: &'a HashSet<String>,
    app_id: Option<&'a str>,
}

/// The entry an item came in.
struct Where<'a> {
    kind: &'a ChannelKind,
    entry_id: &'a str,
    ctx: &'a Context<'a>,
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

impl Where<'_> {
    /// One item → one event, tagged with the business account it is for.
    fn item(&self, item: &Item, standby: bool) -> InboundEnvelope {
        let kind = self.kind;
        let sender = item.sender_id();
        let recipient = item.recipient_id();
        let at = item.timestamp.get();
        let event = item.event();
        let is_echo = matches!(event, Event::Message(m) if m.is_echo.is_true())
            || sender.as_ref().is_some_and(|s| {
                self.ctx.own.contains(s) && recipient.as_ref().is_some_and(|r| r != s)
            });
        // The business side of the exchange is the account; the other side is the thread.
        let (account, customer) = if is_echo { (sender, recipient) } else { (recipient, sender) };
        let account = account.filter(|a| a != "0").unwrap_or_else(|| self.entry_id.to_owned());
        let Some(customer) = customer else {
            if let Event::PolicyEnforcement(p) = event {
                return policy_enforcement(kind, &account, p, at);
            }
            return unsupported(kind, &account, "no_customer_id", None, at);
        };
        let skip = |what: &str| unsupported(kind, &account, what, Some(customer.clone()), at);
        let when = Moment { at, customer: &customer };
        let event = match event {
            Event::Message(m) => match message(m, is_echo, &when) {
                Ok(event) => event,
                Err(what) => return skip(what),
            },
            Event::Postback(p) if !standby => postback(p, &when),
            Event::Referral(r) => referral(r, &when),
            Event::Read(r) => {
                let upto = match (r.watermark.get(), r.mid.cloned()) {
                    (Some(w), _) => ReadUpTo::Watermark(w),
                    (None, Some(mid)) => ReadUpTo::Message(mid.into()),
                    _ => return skip("read"),
                };
                InboundEvent::Read(ReadReceipt { thread: customer.as_str().into(), upto })
            }
            Event::Delivery(d) => InboundEvent::Delivery(DeliveryReceipt {
                thread: customer.as_str().into(),
                mids: d.mids.0.iter().map(|m| PlatformMessageId::new(m.as_str())).collect(),
                watermark: d.watermark.get(),
            }),
            Event::Reaction(r) => {
                let Some(target) = r.mid.cloned() else { return skip("reaction") };
                let action = if r.action.as_deref() == Some("unreact") {
                    ReactionAction::Unreact
                } else {
                    ReactionAction::React
                };
                InboundEvent::Reaction(Reaction {
                    thread: customer.as_str().into(),
                    target: target.into(),
                    emoji: r.emoji.cloned().or_else(|| r.reaction.cloned()),
                    action,
                    at: when.or_now(),
                })
            }
            Event::Edit(e) => {
                let Some(mid) = e.mid.cloned() else { return skip("message_edit") };
                InboundEvent::Edit(MessageEdit {
                    thread: customer.as_str().into(),
                    id: mid.into(),
                    text: e.text.cloned().unwrap_or_default(),
                    at: when.or_now(),
                })
            }
            Event::Handover(name, h) => InboundEvent::Notice(Notice {
                thread: customer.as_str().into(),
                kind: name.to_owned(),
                text: handover::note(name, h, self.ctx.app_id),
                at: when.or_now(),
            }),
            other => {
                let name = other.name();
                return skip(&if standby { format!("standby:{name}") } else { name.to_owned() });
            }
        };
        InboundEnvelope::new(ChannelAddress::new(kind.clone(), account.as_str()), event)
    }
}

/// When an item happened and with whom.
struct Moment<'a> {
    at: Option<DateTime<Utc>>,
    customer: &'a str,
}

impl Moment<'_> {
    /// The item's time; now when it has none.
    fn or_now(&self) -> DateTime<Utc> {
        self.at.unwrap_or_else(Utc::now)
    }

    /// An id for an event Meta gives none, from what a redelivery repeats: the customer,
    /// the item's time and what the event carries.
    fn derived_id(&self, what: &str, carried: Option<&str>) -> String {
        let ts = self.at.map(|t| t.timestamp_millis()).unwrap_or_default();
        format!("{what}:{}:{ts}:{}", self.customer, carried.unwrap_or(""))
    }

    fn message(
        &self,
        id: impl Into<PlatformMessageId>,
        context: Option<MessageContext>,
    ) -> InboundEvent {
        InboundEvent::Message(InboundMessage {
            id: id.into(),
            thread: self.customer.into(),
            sender: self.customer.into(),
            sent_at: self.or_now(),
            text: None,
            attachments: Vec::new(),
            reply_to: None,
            context,
        })
    }
}

/// A message: the business's own (an echo), a deletion, or the customer's. `Err` names an
/// unusable one.
fn message(
    m: &wire::Message,
    is_echo: bool,
    when: &Moment<'_>,
) -> Result<InboundEvent, &'static str> {
    let Some(mid) = m.mid.cloned() else { return Err("message_without_mid") };
    let mut attachments = attachments::read(m.attachments.as_slice());
    let text = m.text.cloned();
    let customer = when.customer;
    if is_echo {
        return Ok(InboundEvent::Echo(EchoMessage {
            id: mid.into(),
            thread: customer.into(),
            sent_at: when.or_now(),
            text,
            attachments,
            app_id: m.app_id.cloned(),
            metadata: m.metadata.cloned(),
        }));
    }
    if m.is_deleted.is_true() {
        return Ok(InboundEvent::Delete(MessageDelete {
            thread: customer.into(),
            id: mid.into(),
            at: when.or_now(),
        }));
    }
    if m.is_unsupported.is_true() {
        attachments.push(InboundAttachment {
            kind: AttachmentKind::Other("unsupported content (open the app to see it)".into()),
            url: None,
            platform_id: None,
            title: None,
            file_name: None,
        });
    }
    let reply_to = match m.reply_to.story.get() {
        Some(story) => Some(ReplyTo::Story {
            id: story.id.cloned(),
            url: story.url.as_deref().and_then(|u| Url::parse(u).ok()),
        }),
        None => m.reply_to.mid.cloned().map(|id| ReplyTo::Message { id: id.into() }),
    };
    let context = m
        .quick_reply
        .payload
        .cloned()
        .map(|payload| MessageContext::QuickReply { payload })
        .or_else(|| m.referral.get().map(|r| referral_context(r)));
    Ok(InboundEvent::Message(InboundMessage {
        id: mid.into(),
        thread: customer.into(),
        sender: customer.into(),
        sent_at: when.or_now(),
        text,
        attachments,
        reply_to,
        context,
    }))
}

/// A button tap. Postbacks may come without a mid; two taps in the same millisecond differ
/// by their payload, so it is part of the derived id.
fn postback(p: &wire::Postback, when: &Moment<'_>) -> InboundEvent {
    let id = p.mid.cloned().unwrap_or_else(|| when.derived_id("postback", p.payload.as_deref()));
    when.message(
        id,
        Some(MessageContext::Postback { title: p.title.cloned(), payload: p.payload.cloned() }),
    )
}

/// A referral into an existing thread: a message of its own, with an id derived from it.
fn referral(r: &wire::Referral, when: &Moment<'_>) -> InboundEvent {
    when.message(when.derived_id("referral", r.ref_param.as_deref()), Some(referral_context(r)))
}

fn referral_context(r: &wire::Referral) -> MessageContext {
    let detail = match r.ads_context_data.ad_title.get() {
        Some(title) => title.cloned(),
        None => r.referer_uri.cloned(),
    };
    MessageContext::Referral {
        source: r.source.cloned(),
        ref_param: r.ref_param.cloned(),
        ad_id: r.ad_id.cloned(),
        detail,
    }
}

/// `messaging_policy_enforcement` (S14): about the Page itself, with no customer.
fn policy_enforcement(
    kind: &ChannelKind,
    account: &str,
    p: &wire::PolicyEnforcement,
    at: Option<DateTime<Utc>>,
) -> InboundEnvelope {
    let action = match p.action.as_deref() {
        Some("block") => AccountAction::Blocked,
        Some("unblock") => AccountAction::Unblocked,
        Some("warning") => AccountAction::Warned,
        _ => return unsupported(kind, account, "policy_enforcement", None, at),
    };
    InboundEnvelope::new(
        ChannelAddress::new(kind.clone(), account),
        InboundEvent::AccountStatus(AccountStatus {
            action,
            reason: p.reason.cloned(),
            at: at.unwrap_or_else(Utc::now),
        }),
    )
}
