//! Customer messages posted into their conversation, exactly once, with the links that let
//! receipts, reactions, echoes and replies find them later.

use chrono::{DateTime, Utc};
use tracing::info;

use super::Inbound;
use super::render::{Copied, Incoming, Rendered, is_copied, render};
use crate::channel::Channel;
use crate::engine::job::JobError;
use crate::engine::links::{
    InboxMessageLink, MessageLink, inbox_message_link, last_inbound_link, message_link, user_scope,
};
use crate::error::{DeliveryError, DeliveryErrorKind};
use crate::event::{InboundMessage, ReplyTo};
use crate::ids::{
    ChannelAddress, ConversationId, InboxId, InboxMessageId, PlatformMessageId, ThreadId,
};
use crate::inbox::{Direction, PostMessage};
use crate::media::InboundAttachment;
use crate::store::LinkWrite;

/// A platform message to post: who it belongs to and how it looks.
pub(super) struct Post<'a> {
    pub(super) thread: &'a ThreadId,
    pub(super) id: &'a PlatformMessageId,
    pub(super) direction: Direction,
    pub(super) sent_at: DateTime<Utc>,
    pub(super) rendered: Rendered,
    pub(super) reply_to: Option<InboxMessageId>,
}

impl Inbound<'_> {
    /// A customer's message: posted once, and the customer's last message time recorded
    /// (the messaging window starts there).
    pub(super) async fn message(&self, m: InboundMessage) -> Result<Vec<LinkWrite>, JobError> {
        let address = self.address;
        let links = self.links();
        if links.platform_message(address, &m.id).await?.is_some() {
            return Ok(Vec::new());
        }
        let channel = self.route()?.channel.as_ref();
        let reply_to = match &m.reply_to {
            Some(ReplyTo::Message { id }) => {
                links.platform_message(address, id).await?.map(|l| l.message)
            }
            _ => None,
        };
        let incoming = Incoming {
            text: m.text.as_deref(),
            attachments: &m.attachments,
            sent_at: m.sent_at,
            context: m.context.as_ref(),
            reply_to: m.reply_to.as_ref(),
        };
        let rendered = self.render(channel, &incoming).await?;
        let (conversation, message) = self
            .post_once(Post {
                thread: &m.thread,
                id: &m.id,
                direction: Direction::Incoming,
                sent_at: m.sent_at,
                rendered,
                reply_to,
            })
            .await?;
        let scope = user_scope(address, m.thread.as_str());
        let inbox = &self.route()?.binding.inbox;
        Ok(vec![LinkWrite::Set(last_inbound_link(&scope, address, &m.thread, m.sent_at))]
            .into_iter()
            .chain(self.cx.activity.came_in(address, m.sent_at))
            .chain(posted(address, inbox, &m.thread, &m.id, conversation, message, m.sent_at))
            .collect())
    }

    /// Copies the message's files from the platform, then renders it at the engine's now.
    /// Media that cannot be fetched for good (expired, too large) becomes a line of text
    /// rather than blocking the message; a temporary failure retries the job.
    pub(super) async fn render(
        &self,
        channel: &dyn Channel,
        incoming: &Incoming<'_>,
    ) -> Result<Rendered, JobError> {
        let copied = self.copy_files(channel, incoming.attachments).await?;
        Ok(render(incoming, copied, self.cx.now(), self.cx.config.late_after))
    }

    async fn copy_files(
        &self,
        channel: &dyn Channel,
        attachments: &[InboundAttachment],
    ) -> Result<Vec<Copied>, JobError> {
        let mut copied = Vec::with_capacity(attachments.len());
        for att in attachments {
            if !is_copied(att) {
                copied.push(Copied::Described);
                continue;
            }
            match channel.fetch_media(self.address, att, self.cx.config.max_media_bytes).await {
                Ok(m) => copied.push(Copied::File(m)),
                Err(e) if e.is_temporary() => return Err(e.into()),
                Err(e) => copied.push(Copied::Refused(e.message().to_owned())),
            }
        }
        Ok(copied)
    }

    /// Posts a platform message into its conversation exactly once: a job that failed
    /// before, or whose worker died holding it, may have posted it already, so the inbox is
    /// asked first.
    pub(super) async fn post_once(
        &self,
        post: Post<'_>,
    ) -> Result<(ConversationId, InboxMessageId), JobError> {
        let inbox = self.inbox()?;
        let conversation = self.ensure_conversation(post.thread).await?;
        if self.claimed.may_have_run_before() {
            if let Some(existing) = inbox.find_message(&conversation, post.id).await? {
                info!(id = %post.id, message = %existing, "found the message posted by an earlier attempt");
                return Ok((conversation, existing));
            }
        }
        let binding = &self.route()?.binding;
        let message = PostMessage {
            inbox: binding.inbox.clone(),
            conversation: conversation.clone(),
            direction: post.direction,
            text: post.rendered.text,
            media: post.rendered.media,
            source_id: post.id.clone(),
            reply_to: post.reply_to,
            attributes: post.rendered.attributes,
            sent_at: post.sent_at,
        };
        match inbox.post_message(&message).await {
            Ok(message) => Ok((conversation, message)),
            Err(e) if e.kind() == DeliveryErrorKind::NotFound => {
                self.forget_conversation(post.thread).await?;
                Err(DeliveryError::temporary(
                    DeliveryErrorKind::NotFound,
                    format!("conversation {conversation} is gone; a new one will be opened"),
                )
                .into())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The two links of a platform message posted into the inbox, both ways: by its platform
/// id (receipts, reactions, echoes) and by its inbox id (replies quoting it).
pub(super) fn posted(
    address: &ChannelAddress,
    inbox: &InboxId,
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
