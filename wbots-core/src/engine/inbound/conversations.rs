//! The inbox contact and conversation of a customer's thread: from the store's links, else
//! found or created in the inbox once, then linked.

use tracing::debug;

use super::Inbound;
use crate::engine::job::JobError;
use crate::engine::links::{ThreadLink, to_json, user_scope};
use crate::ids::{ContactId, ConversationId, PlatformUserId, ThreadId};
use crate::inbox::{ContactRequest, ConversationRequest, ReopenPolicy};
use crate::profile::Profile;
use crate::store::{Link, LinkKey};

impl Inbound<'_> {
    /// The inbox contact of a platform user: from the store's link, else found or created
    /// in the inbox with the platform profile (once per customer, never per message).
    pub(super) async fn ensure_contact(
        &self,
        user: &PlatformUserId,
    ) -> Result<ContactId, JobError> {
        let address = self.address;
        if let Some(contact) = self.links().contact(address, user).await? {
            return Ok(contact);
        }
        let route = self.route()?;
        let profile = match route.channel.profile(address, user).await {
            Ok(p) => p,
            Err(e) if e.is_temporary() => return Err(e.into()),
            // A profile is nice to have; it never blocks the customer's message.
            Err(e) => {
                debug!(error = %e, "profile unavailable; using a stand-in name");
                fallback_profile(&route.channel.platform_name(&address.kind), user)
            }
        };
        let contact = self
            .inbox()?
            .upsert_contact(&ContactRequest {
                inbox: route.binding.inbox.clone(),
                address: address.clone(),
                user: user.clone(),
                profile,
            })
            .await?;
        let scope = user_scope(address, user.as_str());
        let link = Link::new(LinkKey::contact(address, user), contact.as_str()).scoped(scope);
        Ok(self.cx.store.put_link(&link).await?.into())
    }

    /// The conversation to post into for a thread.
    pub(super) async fn ensure_conversation(
        &self,
        thread: &ThreadId,
    ) -> Result<ConversationId, JobError> {
        let address = self.address;
        let existing = self.links().conversation(address, thread).await?;
        let binding = &self.route()?.binding;
        // With the default policy Chatwoot reopens a resolved conversation when the
        // customer writes, so a known conversation is used as it is. Only the "new" policy
        // needs the inbox to look at its status first.
        if let Some(existing) = &existing {
            if binding.reopen == ReopenPolicy::Reopen {
                return Ok(existing.clone());
            }
        }
        let user = PlatformUserId::new(thread.as_str());
        let contact = self.ensure_contact(&user).await?;
        let conversation = self
            .inbox()?
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
            let thread_link = ThreadLink { address: address.clone(), thread: thread.clone() };
            self.cx
                .store
                .set_link(
                    &Link::new(
                        LinkKey::conversation_thread(&binding.inbox, &conversation),
                        to_json(&thread_link),
                    )
                    .scoped(scope.clone()),
                )
                .await?;
            self.cx
                .store
                .set_link(
                    &Link::new(LinkKey::conversation(address, thread), conversation.as_str())
                        .scoped(scope),
                )
                .await?;
        }
        Ok(conversation)
    }

    /// Forgets a conversation the inbox no longer has, so the next attempt opens a new one.
    pub(super) async fn forget_conversation(&self, thread: &ThreadId) -> Result<(), JobError> {
        self.cx.store.delete_link(&LinkKey::conversation(self.address, thread)).await?;
        Ok(())
    }
}

/// A readable stand-in when the platform will not share a profile: "Messenger user 1234",
/// the platform named by its channel (`Channel::platform_name`).
pub(crate) fn fallback_profile(platform: &str, user: &PlatformUserId) -> Profile {
    let chars: Vec<char> = user.as_str().chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    Profile { name: format!("{platform} user {tail}"), username: None, avatar_url: None }
}
