//! How the engine tells inboxes of several inbox adapters apart.
//!
//! Chatwoot's inbox and message ids are unique only within one installation, and the
//! engine keeps inbox ids in stored keys (`out/{inbox}/{message}`, links
//! `{inbox}/{conversation}`, send markers `wbots:{inbox}:{message}:{part}`). So an adapter
//! may declare an id space ([`Inbox::id_space`]): the engine then knows its inbox `42` as
//! `42@{space}` and [`SpacedInbox`] translates at the adapter's boundary. The one adapter
//! without a space keeps bare ids: a deployment with one Chatwoot account keeps every key
//! it stored, with no migration. Spaces are per adapter (per account), not per
//! installation, so an id also says which adapter — which account's token — serves it.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::agent::AgentEnvelope;
use crate::error::{DeliveryError, DeliveryErrorKind, Error, WebhookError};
use crate::ids::{ContactId, ConversationId, InboxId, InboxMessageId, PlatformMessageId};
use crate::inbox::{ContactRequest, ConversationRequest, Inbox, MessageUpdate, PostMessage};
use crate::media::{AgentAttachment, Media};
use crate::request::RawRequest;

/// Between an inbox's own id and its adapter's space.
const SEPARATOR: char = '@';

/// The id space an engine inbox id belongs to (`None`: the bare ids) and the adapter's own
/// id.
fn split(inbox: &InboxId) -> (&str, Option<&str>) {
    match inbox.as_str().rsplit_once(SEPARATOR) {
        Some((own, space)) => (own, Some(space)),
        None => (inbox.as_str(), None),
    }
}

/// Whether a space name is usable: non-empty, `A-Z a-z 0-9 . _ -`, so it can sit in keys
/// (`/`), markers (`:`) and after the separator without ambiguity.
fn valid_space(space: &str) -> bool {
    !space.is_empty()
        && space.len() <= 64
        && space.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Whether an inbox id can sit in the engine's keys and markers: no `:` (markers are split
/// on it), no `/` (key segments), not empty.
pub(crate) fn valid_id(inbox: &InboxId) -> bool {
    let (own, _) = split(inbox);
    !own.is_empty() && !inbox.as_str().contains([':', '/'])
}

/// The adapter that serves `inbox`: the one whose id space the id names.
pub(crate) fn adapter_of<'a>(
    adapters: &'a [Arc<dyn Inbox>],
    inbox: &InboxId,
) -> Option<&'a Arc<dyn Inbox>> {
    if !valid_id(inbox) {
        return None;
    }
    let (_, space) = split(inbox);
    adapters.iter().find(|a| a.id_space() == space)
}

/// Checks a set of adapters (at least one, unique names, at most one without a space, unique valid
/// spaces) and wraps those with a space in a [`SpacedInbox`].
pub(crate) fn check_adapters(adapters: Vec<Arc<dyn Inbox>>) -> Result<Vec<Arc<dyn Inbox>>, Error> {
    if adapters.is_empty() {
        return Err(Error::Config("no inbox adapter".into()));
    }
    let mut checked: Vec<Arc<dyn Inbox>> = Vec::with_capacity(adapters.len());
    for adapter in adapters {
        if checked.iter().any(|a| a.name() == adapter.name()) {
            return Err(Error::Config(format!(
                "two inbox adapters are named {:?}",
                adapter.name()
            )));
        }
        let space = adapter.id_space();
        if let Some(space) = space {
            if !valid_space(space) {
                return Err(Error::Config(format!(
                    "the inbox adapter {:?} has an unusable id space {space:?} (A-Z a-z 0-9 . _ -)",
                    adapter.name()
                )));
            }
        }
        if let Some(other) = checked.iter().find(|a| a.id_space() == space) {
            return Err(Error::Config(match space {
                None => format!(
                    "the inbox adapters {:?} and {:?} both use bare inbox ids; give all but one an id space",
                    other.name(),
                    adapter.name()
                ),
                Some(space) => format!(
                    "the inbox adapters {:?} and {:?} share the id space {space:?}",
                    other.name(),
                    adapter.name()
                ),
            }));
        }
        checked.push(match space {
            Some(_) => Arc::new(SpacedInbox { inner: adapter }),
            None => adapter,
        });
    }
    Ok(checked)
}

/// An adapter with an id space, as the engine sees it: its inbox ids carry `@{space}`
/// going in to the engine and lose it going out to the adapter.
#[derive(Debug)]
pub(crate) struct SpacedInbox {
    inner: Arc<dyn Inbox>,
}

impl SpacedInbox {
    fn space(&self) -> &str {
        self.inner.id_space().unwrap_or_default()
    }

    /// The engine's id of one of the adapter's inboxes.
    fn qualified(&self, own: &InboxId) -> InboxId {
        InboxId::new(format!("{own}{SEPARATOR}{}", self.space()))
    }

    /// The adapter's own id of an engine inbox id; an id of another space is refused for
    /// good, so one account's calls never carry another's inbox.
    fn own(&self, inbox: &InboxId) -> Result<InboxId, DeliveryError> {
        match split(inbox) {
            (own, Some(space)) if space == self.space() => Ok(InboxId::new(own)),
            _ => Err(DeliveryError::permanent(
                DeliveryErrorKind::InvalidRequest,
                format!("the inbox {inbox} is not served by the inbox adapter {}", self.name()),
            )),
        }
    }

    fn qualify_all(&self, mut envelopes: Vec<AgentEnvelope>) -> Vec<AgentEnvelope> {
        for envelope in &mut envelopes {
            envelope.inbox = self.qualified(&envelope.inbox);
        }
        envelopes
    }
}

#[async_trait]
impl Inbox for SpacedInbox {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn id_space(&self) -> Option<&str> {
        self.inner.id_space()
    }

    fn verify(&self, request: &RawRequest<'_>) -> Result<(), WebhookError> {
        self.inner.verify(request)
    }

    fn parse(&self, request: &RawRequest<'_>) -> Result<Vec<AgentEnvelope>, WebhookError> {
        Ok(self.qualify_all(self.inner.parse(request)?))
    }

    async fn upsert_contact(&self, request: &ContactRequest) -> Result<ContactId, DeliveryError> {
        let request = ContactRequest { inbox: self.own(&request.inbox)?, ..request.clone() };
        self.inner.upsert_contact(&request).await
    }

    async fn open_conversation(
        &self,
        request: &ConversationRequest,
    ) -> Result<ConversationId, DeliveryError> {
        let request = ConversationRequest { inbox: self.own(&request.inbox)?, ..request.clone() };
        self.inner.open_conversation(&request).await
    }

    async fn find_message(
        &self,
        conversation: &ConversationId,
        source_id: &PlatformMessageId,
    ) -> Result<Option<InboxMessageId>, DeliveryError> {
        self.inner.find_message(conversation, source_id).await
    }

    async fn post_message(&self, message: &PostMessage) -> Result<InboxMessageId, DeliveryError> {
        // `Media` holds `Bytes`: the copy shares the files.
        let message = PostMessage { inbox: self.own(&message.inbox)?, ..message.clone() };
        self.inner.post_message(&message).await
    }

    async fn post_note(
        &self,
        conversation: &ConversationId,
        text: &str,
    ) -> Result<InboxMessageId, DeliveryError> {
        self.inner.post_note(conversation, text).await
    }

    async fn update_message(&self, update: &MessageUpdate) -> Result<(), DeliveryError> {
        self.inner.update_message(update).await
    }

    async fn fetch_media(
        &self,
        attachment: &AgentAttachment,
        max_bytes: u64,
    ) -> Result<Media, DeliveryError> {
        self.inner.fetch_media(attachment, max_bytes).await
    }

    fn drops_webhooks(&self) -> bool {
        self.inner.drops_webhooks()
    }

    async fn undelivered(
        &self,
        inboxes: &[InboxId],
        since: DateTime<Utc>,
    ) -> Result<Vec<AgentEnvelope>, DeliveryError> {
        let own: Vec<InboxId> = inboxes.iter().filter_map(|i| self.own(i).ok()).collect();
        Ok(self.qualify_all(self.inner.undelivered(&own, since).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_at_the_last_separator_and_keep_out_of_keys() {
        assert_eq!(split(&"42".into()), ("42", None));
        assert_eq!(split(&"42@eu".into()), ("42", Some("eu")));
        assert!(valid_id(&"42@chat.example.org".into()));
        assert!(!valid_id(&"4:2".into()));
        assert!(!valid_id(&"4/2".into()));
        assert!(!valid_id(&"@eu".into()));
        assert!(valid_space("chat.example.org"));
        assert!(!valid_space("a:b"));
        assert!(!valid_space(""));
    }
}
