//! Inbound jobs: platform events brought into the inbox.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tracing::{debug, info};

use super::Bridge;
use super::links::{
    InboxMessageLink, Links, MessageLink, UnreadLink, inbox_message_link, last_inbound_link,
    message_link, to_json, user_scope,
};
use super::worker::JobError;
use crate::channel::Channel;
use crate::error::{DeliveryError, DeliveryErrorKind};
use crate::event::{
    DeliveryReceipt, EchoMessage, InboundEnvelope, InboundEvent, InboundMessage, MessageContext,
    Reaction, ReactionAction, ReadReceipt, ReadUpTo, ReplyTo,
};
use crate::ids::{
    ChannelAddress, ContactId, ConversationId, InboxMessageId, PlatformMessageId, PlatformUserId,
    ThreadId,
};
use crate::inbox::{
    ContactRequest, ConversationRequest, DeliveryStatus, Direction, MessageChange, MessageUpdate,
    PostMessage, ReopenPolicy,
};
use crate::media::{InboundAttachment, Media};
use crate::profile::Profile;
use crate::store::{ClaimedJob, Link, LinkKey, LinkWrite};

/// How many not-yet-read outbound messages one receipt updates at most.
const RECEIPT_BATCH: usize = 200;

/// The text and files of a platform message, ready to post.
struct Rendered {
    text: Option<String>,
    media: Vec<Media>,
    attributes: Map<String, Value>,
}

impl Bridge {
    pub(crate) async fn process_inbound(
        &self,
        claimed: &ClaimedJob,
        envelope: InboundEnvelope,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let InboundEnvelope { address, event } = envelope;
        match event {
            InboundEvent::Message(m) => self.inbound_message(claimed, &address, m).await,
            InboundEvent::Echo(e) => self.inbound_echo(claimed, &address, e).await,
            InboundEvent::Reaction(r) => self.inbound_reaction(&address, r).await,
            InboundEvent::Read(r) => self.inbound_read(&address, r).await,
            InboundEvent::Delivery(d) => self.inbound_delivery(&address, d).await,
            InboundEvent::Edit(e) => {
                self.update_linked(&address, &e.id, MessageChange::Edited { text: e.text }).await
            }
            InboundEvent::Delete(d) => {
                self.update_linked(&address, &d.id, MessageChange::Deleted).await
            }
            InboundEvent::Notice(n) => self.inbound_notice(&address, n).await,
            InboundEvent::AccountStatus(s) => self.inbound_account_status(&address, s).await,
            // Filtered at ingest; a job stored by an older version is simply done.
            _ => Ok(Vec::new()),
        }
    }

    fn routed(
        &self,
        address: &ChannelAddress,
    ) -> Result<(&dyn Channel, &super::Binding), JobError> {
        self.route(address).map(|(c, b)| (c.as_ref(), b)).ok_or_else(|| {
            JobError::Delivery(DeliveryError::permanent(
                DeliveryErrorKind::Other,
                format!("the account {address} is no longer configured"),
            ))
        })
    }

    /// The inbox contact of a platform user: from the store's link, else found or created
    /// in the inbox with the platform profile (once per customer, never per message).
    pub(crate) async fn ensure_contact(
        &self,
        address: &ChannelAddress,
        user: &PlatformUserId,
    ) -> Result<ContactId, JobError> {
        let links = Links(self.store().as_ref());
        if let Some(contact) = links.contact(address, user).await? {
            return Ok(contact);
        }
        let (channel, binding) = self.routed(address)?;
        let profile = match channel.profile(address, user).await {
            Ok(p) => p,
            Err(e) if e.is_temporary() => return Err(e.into()),
            // A profile is nice to have; it never blocks the customer's message.
            Err(e) => {
                debug!(error = %e, "profile unavailable; using a stand-in name");
                fallback_profile(&channel.platform_name(&address.kind), user)
            }
        };
        let contact = self
            .inbox()
            .upsert_contact(&ContactRequest {
                inbox: binding.inbox.clone(),
                address: address.clone(),
                user: user.clone(),
                profile,
            })
            .await?;
        let scope = user_scope(address, user.as_str());
        let link = Link::new(LinkKey::contact(address, user), contact.as_str()).scoped(scope);
        Ok(self.store().put_link(&link).await?.into())
    }

    /// The conversation to post into for a thread.
    pub(crate) async fn ensure_conversation(
        &self,
        address: &ChannelAddress,
        thread: &ThreadId,
    ) -> Result<ConversationId, JobError> {
        let links = Links(self.store().as_ref());
        let existing = links.conversation(address, thread).await?;
        let (_, binding) = self.routed(address)?;
        // With the default policy Chatwoot reopens a resolved conversation when the
        // customer writes, so a known conversation is used as it is. Only the "new" policy
        // needs the inbox to look at its status first.
        if let Some(existing) = &existing {
            if binding.reopen == ReopenPolicy::Reopen {
                return Ok(existing.clone());
            }
        }
        let user = PlatformUserId::new(thread.as_str());
        let contact = self.ensure_contact(address, &user).await?;
        let conversation = self
            .inbox()
            .open_conversation(&ConversationRequest {
                inbox: binding.inbox.clone(),
                address: address.clone(),
                thread: thread.clone(),
                contact,
                existing: existing.clone(),
                reopen: binding.reopen,
            })
            .await?;
        if existing.as_ref() != Some(&conversation) {
            let scope = user_scope(address, thread.as_str());
            let thread_link =
                super::links::ThreadLink { address: address.clone(), thread: thread.clone() };
            self.store()
                .set_link(
                    &Link::new(
                        LinkKey::conversation_thread(&binding.inbox, &conversation),
                        to_json(&thread_link),
                    )
                    .scoped(scope.clone()),
                )
                .await?;
            self.store()
                .set_link(
                    &Link::new(LinkKey::conversation(address, thread), conversation.as_str())
                        .scoped(scope),
                )
                .await?;
        }
        Ok(conversation)
    }

    /// Forgets a conversation the inbox no longer has, so the next attempt opens a new one.
    async fn forget_conversation(
        &self,
        address: &ChannelAddress,
        thread: &ThreadId,
    ) -> Result<(), JobError> {
        self.store().delete_link(&LinkKey::conversation(address, thread)).await?;
        Ok(())
    }

    /// Posts a platform message into its conversation exactly once: a job that failed
    /// before, or whose worker died holding it, may have posted it already, so the inbox is
    /// asked first.
    #[allow(clippy::too_many_arguments)]
    async fn post_once(
        &self,
        claimed: &ClaimedJob,
        address: &ChannelAddress,
        thread: &ThreadId,
        id: &PlatformMessageId,
        direction: Direction,
        sent_at: DateTime<Utc>,
        rendered: Rendered,
        reply_to: Option<InboxMessageId>,
    ) -> Result<(ConversationId, InboxMessageId), JobError> {
        let conversation = self.ensure_conversation(address, thread).await?;
        if claimed.may_have_run_before() {
            if let Some(existing) = self.inbox().find_message(&conversation, id).await? {
                info!(%id, message = %existing, "found the message posted by an earlier attempt");
                return Ok((conversation, existing));
            }
        }
        let (_, binding) = self.routed(address)?;
        let post = PostMessage {
            inbox: binding.inbox.clone(),
            conversation: conversation.clone(),
            direction,
            text: rendered.text,
            media: rendered.media,
            source_id: id.clone(),
            reply_to,
            attributes: rendered.attributes,
            sent_at,
        };
        match self.inbox().post_message(&post).await {
            Ok(message) => Ok((conversation, message)),
            Err(e) if e.kind() == DeliveryErrorKind::NotFound => {
                self.forget_conversation(address, thread).await?;
                Err(DeliveryError::temporary(
                    DeliveryErrorKind::NotFound,
                    format!("conversation {conversation} is gone; a new one will be opened"),
                )
                .into())
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn inbound_message(
        &self,
        claimed: &ClaimedJob,
        address: &ChannelAddress,
        m: InboundMessage,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let links = Links(self.store().as_ref());
        if links.platform_message(address, &m.id).await?.is_some() {
            return Ok(Vec::new());
        }
        let (channel, _) = self.routed(address)?;
        let reply_to = match &m.reply_to {
            Some(ReplyTo::Message { id }) => {
                links.platform_message(address, id).await?.map(|l| l.message)
            }
            _ => None,
        };
        let rendered = self
            .render(
                channel,
                address,
                m.text.as_deref(),
                &m.attachments,
                m.sent_at,
                m.context.as_ref(),
                m.reply_to.as_ref(),
            )
            .await?;
        let (conversation, message) = self
            .post_once(
                claimed,
                address,
                &m.thread,
                &m.id,
                Direction::Incoming,
                m.sent_at,
                rendered,
                reply_to,
            )
            .await?;
        let scope = user_scope(address, m.thread.as_str());
        let (_, binding) = self.routed(address)?;
        Ok(vec![LinkWrite::Set(last_inbound_link(&scope, address, &m.thread, m.sent_at))]
            .into_iter()
            .chain(posted(
                address,
                &binding.inbox,
                &m.thread,
                &m.id,
                conversation,
                message,
                m.sent_at,
            ))
            .collect())
    }

    async fn inbound_echo(
        &self,
        claimed: &ClaimedJob,
        address: &ChannelAddress,
        e: EchoMessage,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let links = Links(self.store().as_ref());
        if links.platform_message(address, &e.id).await?.is_some() {
            debug!(mid = %e.id, "echo of a message the bridge sent or posted; dropped");
            return Ok(Vec::new());
        }
        if let Some(writes) = self.own_echo(address, &e) {
            debug!(mid = %e.id, "echo of the bridge's own send (by marker); dropped");
            return Ok(writes);
        }
        if e.app_id.is_some() && e.app_id == self.config().own_app_id {
            debug!(mid = %e.id, "echo of the bridge's own app; dropped");
            return Ok(Vec::new());
        }
        // Sent from elsewhere (Meta Business Suite, the Instagram app): show it to the team.
        let (channel, binding) = self.routed(address)?;
        let rendered = self
            .render(channel, address, e.text.as_deref(), &e.attachments, e.sent_at, None, None)
            .await?;
        let (conversation, message) = self
            .post_once(
                claimed,
                address,
                &e.thread,
                &e.id,
                Direction::Outgoing,
                e.sent_at,
                rendered,
                None,
            )
            .await?;
        Ok(posted(address, &binding.inbox, &e.thread, &e.id, conversation, message, e.sent_at)
            .to_vec())
    }

    /// Recognises the echo of a part the bridge sent by the marker it set, and records the
    /// part if the worker that sent it died before recording it — so a retry of that job
    /// resumes after the part instead of sending it twice.
    fn own_echo(&self, address: &ChannelAddress, e: &EchoMessage) -> Option<Vec<LinkWrite>> {
        Some(vec![LinkWrite::Insert(own_echo_part(address, e)?)])
    }

    async fn inbound_reaction(
        &self,
        address: &ChannelAddress,
        r: Reaction,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let links = Links(self.store().as_ref());
        let scope = user_scope(address, r.thread.as_str());
        let reaction_key = LinkKey::reaction(address, &r.thread, &r.target);
        // A customer's reaction reopens the messaging window like a message does; Meta
        // lists reacting among the actions that open it, not removing a reaction
        // (meta-platform.md §9, S17).
        let mut writes = Vec::new();
        if r.action == ReactionAction::React {
            writes.push(LinkWrite::Set(last_inbound_link(&scope, address, &r.thread, r.at)));
        }
        // A customer has one reaction per message: a new one replaces the old.
        if let Some(previous) = links.reaction(address, &r.thread, &r.target).await? {
            self.inbox()
                .update_message(&MessageUpdate {
                    conversation: previous.conversation,
                    message: previous.message,
                    change: MessageChange::Deleted,
                })
                .await
                .or_else(ignore_not_found)?;
            self.store().delete_link(&reaction_key).await?;
        }
        if r.action == ReactionAction::Unreact {
            return Ok(writes);
        }
        let target = links.platform_message(address, &r.target).await?;
        let conversation = self.ensure_conversation(address, &r.thread).await?;
        let emoji = r.emoji.clone().unwrap_or_else(|| "a reaction".to_owned());
        let text = if target.is_some() {
            format!("Reacted {emoji}")
        } else {
            format!("Reacted {emoji} to a message sent before the bridge was connected")
        };
        let mut attributes = Map::new();
        attributes.insert("reaction".into(), json!({ "emoji": r.emoji, "target": r.target }));
        let (_, binding) = self.routed(address)?;
        let source_id =
            PlatformMessageId::new(format!("reaction:{}:{}", r.target, r.at.timestamp_millis()));
        let message = match self.inbox().find_message(&conversation, &source_id).await? {
            Some(m) => m,
            None => {
                self.inbox()
                    .post_message(&PostMessage {
                        inbox: binding.inbox.clone(),
                        conversation: conversation.clone(),
                        direction: Direction::Incoming,
                        text: Some(text),
                        media: Vec::new(),
                        source_id,
                        reply_to: target.as_ref().map(|t| t.message.clone()),
                        attributes,
                        sent_at: r.at,
                    })
                    .await?
            }
        };
        writes.push(LinkWrite::Set(
            Link::new(
                reaction_key,
                to_json(&MessageLink { conversation, message, at: r.at.timestamp_millis() }),
            )
            .scoped(scope),
        ));
        Ok(writes)
    }

    async fn inbound_read(
        &self,
        address: &ChannelAddress,
        r: ReadReceipt,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let links = Links(self.store().as_ref());
        let upto = match &r.upto {
            ReadUpTo::Watermark(w) => w.timestamp_millis(),
            ReadUpTo::Message(mid) => match links.platform_message(address, mid).await? {
                Some(l) => l.at,
                None => return Ok(Vec::new()),
            },
        };
        let mut writes = Vec::new();
        for (key, at, unread) in links.unread(address, &r.thread, RECEIPT_BATCH).await? {
            if at > upto {
                break;
            }
            self.set_status(&unread, DeliveryStatus::Read).await?;
            writes.push(LinkWrite::Delete(key));
        }
        Ok(writes)
    }

    async fn inbound_delivery(
        &self,
        address: &ChannelAddress,
        d: DeliveryReceipt,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let links = Links(self.store().as_ref());
        let scope = user_scope(address, d.thread.as_str());
        let mut writes = Vec::new();
        let mut upto = d.watermark.map(|w| w.timestamp_millis()).unwrap_or(i64::MIN);
        for mid in &d.mids {
            if let Some(l) = links.platform_message(address, mid).await? {
                upto = upto.max(l.at);
            }
        }
        for (key, at, mut unread) in links.unread(address, &d.thread, RECEIPT_BATCH).await? {
            if at > upto {
                break;
            }
            if unread.delivered {
                continue;
            }
            self.set_status(&unread, DeliveryStatus::Delivered).await?;
            unread.delivered = true;
            writes.push(LinkWrite::Set(Link::new(key, to_json(&unread)).scoped(scope.clone())));
        }
        Ok(writes)
    }

    async fn set_status(
        &self,
        unread: &UnreadLink,
        status: DeliveryStatus,
    ) -> Result<(), JobError> {
        self.inbox()
            .update_message(&MessageUpdate {
                conversation: unread.conversation.clone(),
                message: unread.message.clone(),
                change: MessageChange::Status { status, error: None },
            })
            .await
            .or_else(ignore_not_found)?;
        Ok(())
    }

    async fn update_linked(
        &self,
        address: &ChannelAddress,
        id: &PlatformMessageId,
        change: MessageChange,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let Some(link) = Links(self.store().as_ref()).platform_message(address, id).await? else {
            debug!(%id, "change to a message the bridge never posted; skipped");
            return Ok(Vec::new());
        };
        self.inbox()
            .update_message(&MessageUpdate {
                conversation: link.conversation,
                message: link.message,
                change,
            })
            .await
            .or_else(ignore_not_found)?;
        Ok(Vec::new())
    }

    /// Turns a platform message into inbox text, files and attributes. Media that cannot be
    /// fetched for good (expired, too large) becomes a line of text rather than blocking
    /// the message; a temporary failure retries the job.
    #[allow(clippy::too_many_arguments)]
    async fn render(
        &self,
        channel: &dyn Channel,
        address: &ChannelAddress,
        text: Option<&str>,
        attachments: &[InboundAttachment],
        sent_at: DateTime<Utc>,
        context: Option<&MessageContext>,
        reply_to: Option<&ReplyTo>,
    ) -> Result<Rendered, JobError> {
        let mut lines: Vec<String> = Vec::new();
        let mut attributes = Map::new();
        let late = Utc::now() - sent_at
            > chrono::Duration::from_std(self.config().late_after).unwrap_or(chrono::Duration::MAX);
        if late {
            lines.push(format!("[sent {}]", sent_at.format("%Y-%m-%d %H:%M UTC")));
        }
        attributes.insert("original_sent_at".into(), json!(sent_at.to_rfc3339()));
        match context {
            Some(MessageContext::Postback { title, payload }) => {
                lines.push(format!(
                    "[button] {}",
                    title.as_deref().or(payload.as_deref()).unwrap_or("")
                ));
                attributes.insert("postback".into(), json!({ "title": title, "payload": payload }));
            }
            Some(MessageContext::QuickReply { payload }) => {
                attributes.insert("quick_reply".into(), json!({ "payload": payload }));
            }
            Some(MessageContext::Referral { source, ref_param, ad_id, detail }) => {
                let from = source.as_deref().unwrap_or("a link");
                let mut line = format!("[arrived via {from}");
                if let Some(r) = ref_param {
                    line.push_str(&format!(", ref {r}"));
                }
                if let Some(ad) = ad_id {
                    line.push_str(&format!(", ad {ad}"));
                }
                if let Some(d) = detail {
                    line.push_str(&format!(": {d}"));
                }
                line.push(']');
                lines.push(line);
                attributes.insert(
                    "referral".into(),
                    json!({ "source": source, "ref": ref_param, "ad_id": ad_id, "detail": detail }),
                );
            }
            _ => {}
        }
        if let Some(ReplyTo::Story { id, url }) = reply_to {
            lines.push(match url {
                Some(u) => format!("[replied to your story] {u}"),
                None => "[replied to your story]".to_owned(),
            });
            attributes.insert("story".into(), json!({ "id": id, "url": url }));
        }
        if let Some(t) = text.filter(|t| !t.is_empty()) {
            lines.push(t.to_owned());
        }
        let mut media = Vec::new();
        for att in attachments {
            if att.kind.is_media() && (att.url.is_some() || att.platform_id.is_some()) {
                match channel.fetch_media(address, att, self.config().max_media_bytes).await {
                    Ok(m) => media.push(m),
                    Err(e) if e.is_temporary() => return Err(e.into()),
                    Err(e) => lines.push(format!(
                        "[{} could not be copied: {}]",
                        att.kind.label(),
                        e.message()
                    )),
                }
            } else {
                let mut line = format!("[{}]", att.kind.label());
                if let Some(title) = &att.title {
                    line.push_str(&format!(" {title}"));
                }
                if let Some(url) = &att.url {
                    line.push_str(&format!(" {url}"));
                }
                lines.push(line);
            }
        }
        let text = (!lines.is_empty()).then(|| lines.join("\n"));
        Ok(Rendered { text, media, attributes })
    }
}

/// The two links of a platform message posted into the inbox, both ways: by its platform
/// id (receipts, reactions, echoes) and by its inbox id (replies quoting it).
fn posted(
    address: &ChannelAddress,
    inbox: &crate::ids::InboxId,
    thread: &ThreadId,
    platform: &PlatformMessageId,
    conversation: ConversationId,
    message: InboxMessageId,
    at: DateTime<Utc>,
) -> [LinkWrite; 2] {
    let scope = user_scope(address, thread.as_str());
    [
        LinkWrite::Insert(message_link(
            &scope,
            address,
            platform,
            &MessageLink { conversation, message: message.clone(), at: at.timestamp_millis() },
        )),
        LinkWrite::Insert(inbox_message_link(
            &scope,
            inbox,
            &message,
            &InboxMessageLink {
                address: address.clone(),
                thread: thread.clone(),
                platform: platform.clone(),
            },
        )),
    ]
}

/// A readable stand-in when the platform will not share a profile: "Messenger user 1234",
/// the platform named by its channel (`Channel::platform_name`).
pub(crate) fn fallback_profile(platform: &str, user: &PlatformUserId) -> Profile {
    let chars: Vec<char> = user.as_str().chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    Profile { name: format!("{platform} user {tail}"), username: None, avatar_url: None }
}

/// A message that is gone on the inbox side needs no further update.
fn ignore_not_found(e: DeliveryError) -> Result<(), DeliveryError> {
    if e.kind() == DeliveryErrorKind::NotFound { Ok(()) } else { Err(e) }
}

/// The record of the part an echo of the bridge's own send (by its marker) proves sent.
/// Also written at ingest: the echo's job queues behind the very send job that needs it.
pub(crate) fn own_echo_part(address: &ChannelAddress, e: &EchoMessage) -> Option<Link> {
    let marker = super::outbound::Marker::parse(e.metadata.as_deref()?)?;
    let scope = user_scope(address, e.thread.as_str());
    Some(
        Link::new(
            LinkKey::outbound_part(&marker.inbox, &marker.message, marker.part),
            e.id.as_str(),
        )
        .scoped(scope),
    )
}
