//! A customer's reactions: shown as a message replying to the message reacted to, replaced
//! by the customer's next reaction to it, removed when they take it back.

use serde_json::{Map, json};

use super::{Inbound, ignore_not_found};
use crate::engine::job::JobError;
use crate::engine::links::{MessageLink, last_inbound_link, to_json, user_scope};
use crate::event::{Reaction, ReactionAction};
use crate::ids::PlatformMessageId;
use crate::inbox::{Direction, MessageChange, MessageUpdate, PostMessage};
use crate::store::{Link, LinkKey, LinkWrite};

impl Inbound<'_> {
    pub(super) async fn reaction(&self, r: Reaction) -> Result<Vec<LinkWrite>, JobError> {
        let (cx, address) = (self.cx, self.address);
        let links = self.links();
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
            self.inbox()?
                .update_message(&MessageUpdate {
                    conversation: previous.conversation,
                    message: previous.message,
                    change: MessageChange::Deleted,
                })
                .await
                .or_else(ignore_not_found)?;
            cx.store.delete_link(&reaction_key).await?;
        }
        if r.action == ReactionAction::Unreact {
            return Ok(writes);
        }
        let target = links.platform_message(address, &r.target).await?;
        let conversation = self.ensure_conversation(&r.thread).await?;
        let emoji = r.emoji.clone().unwrap_or_else(|| "a reaction".to_owned());
        let text = if target.is_some() {
            format!("Reacted {emoji}")
        } else {
            format!("Reacted {emoji} to a message sent before the bridge was connected")
        };
        let mut attributes = Map::new();
        attributes.insert("reaction".into(), json!({ "emoji": r.emoji, "target": r.target }));
        let binding = &self.route()?.binding;
        let source_id =
            PlatformMessageId::new(format!("reaction:{}:{}", r.target, r.at.timestamp_millis()));
        let message = match self.inbox()?.find_message(&conversation, &source_id).await? {
            Some(m) => m,
            None => {
                self.inbox()?
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
}
