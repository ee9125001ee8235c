//! [`ChatwootInbox`]: the `Inbox` over Chatwoot's Application API.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use wbots_core::{
    AgentAttachment, AgentEnvelope, BuildError, ContactId, ContactRequest, ConversationId,
    ConversationRequest, DeliveryError, DeliveryErrorKind, DeliveryStatus, Direction, Inbox,
    InboxId, InboxMessageId, Media, MessageChange, MessageUpdate, PlatformMessageId, PostMessage,
    RawRequest, ReopenPolicy, ThreadRef, WebhookError,
};

use crate::client::Client;
use crate::config::{ChatwootConfig, REQUEST_TIMEOUT};
use crate::media::Downloader;
use crate::webhook::{self, MARKER};
use crate::wire::contacts::{self, ContactAttributes, ContactUpdate, Created, NewContact};
use crate::wire::conversations::{self, Conversation, ConversationAttributes, NewConversation};
use crate::wire::messages::{self, NewMessage, StatusUpdate};
use crate::wire::numeric_id;
use wbots_core::download::same_origin_redirects;
use wbots_core::rate_budget::Budget;
use wbots_core::store::{BudgetRate, RateBudgets};

/// The name of the bridge's first Chatwoot account: its webhook path, `/webhooks/chatwoot`.
const DEFAULT_NAME: &str = "chatwoot";

/// A clock, so webhook time windows are testable.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The Chatwoot inbox adapter.
#[derive(Clone)]
pub struct ChatwootInbox {
    /// `None`: the bridge's one account, `chatwoot` with bare inbox ids.
    name: Option<String>,
    client: Client,
    media: Downloader,
    config: ChatwootConfig,
    clock: Clock,
}

impl fmt::Debug for ChatwootInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatwootInbox")
            .field("name", &self.name())
            .field("client", &self.client)
            .field("config", &self.config)
            .finish()
    }
}

/// Builds a [`ChatwootInbox`].
pub struct ChatwootInboxBuilder {
    name: Option<String>,
    config: ChatwootConfig,
    http: Option<reqwest::Client>,
    clock: Clock,
    budgets: Option<Arc<dyn RateBudgets>>,
}

impl fmt::Debug for ChatwootInboxBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatwootInboxBuilder").field("config", &self.config).finish_non_exhaustive()
    }
}

impl ChatwootInboxBuilder {
    /// Uses this HTTP client (connection pool, proxy, timeouts) for API requests. Its
    /// requests carry the `api_access_token`, so it must not follow redirects to other
    /// origins (reqwest's default does, header included); give it
    /// `reqwest::redirect::Policy::none()`. Attachments are downloaded with the adapter's
    /// own clients, which check every URL and address.
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Names the adapter of one more Chatwoot account beside the bridge's first (possibly
    /// on another installation): its webhook is served at `/webhooks/{name}` (and
    /// `/webhooks/{name}/{token}`), and the engine knows its inbox `42` as `42@{name}`
    /// (its [`Inbox::id_space`]), so ids of two installations never meet in stored keys.
    /// `name` is `a-z 0-9 . _ -` and must not change while links exist. Without it the
    /// adapter is `chatwoot` with bare inbox ids, as a bridge with one account always was.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Draws every request to Chatwoot from the installation's request budget
    /// (`max_requests_per_minute`), kept in `budgets` (the bridge's store): one budget per
    /// installation (its origin), shared by every adapter on it in the process and, on
    /// PostgreSQL, by every replica. Without it (or with 0 a minute) requests are not paced.
    pub fn with_rate_budgets(mut self, budgets: Arc<dyn RateBudgets>) -> Self {
        self.budgets = Some(budgets);
        self
    }

    /// Uses this clock for the webhook signature's time window.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<ChatwootInbox, BuildError> {
        if let Some(name) = &self.name {
            let usable = !name.is_empty()
                && name.len() <= 64
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                });
            if !usable || name == DEFAULT_NAME {
                return Err(BuildError::new(
                    "chatwoot.name",
                    "must be a-z 0-9 . _ - (at most 64), and not \"chatwoot\"",
                ));
            }
        }
        if self.config.api_access_token.is_empty() {
            return Err(BuildError::new("chatwoot.api_access_token", "must not be empty"));
        }
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .redirect(same_origin_redirects())
                .build()
                .map_err(|e| {
                    BuildError::new("http_client", "could not build the HTTP client").with_source(e)
                })?,
        };
        let media = Downloader::new(&self.config, REQUEST_TIMEOUT)?;
        let client = Client::new(
            http,
            &self.config.url,
            self.config.account_id,
            self.config.api_access_token.clone(),
        )?;
        let client = match (self.budgets, self.config.max_requests_per_minute) {
            (Some(budgets), per_minute) if per_minute > 0 => client.with_budget(Budget::new(
                budgets,
                budget_name(&self.config.url),
                BudgetRate::per_minute(per_minute),
            )),
            _ => client,
        };
        Ok(ChatwootInbox { name: self.name, client, media, config: self.config, clock: self.clock })
    }
}

/// The budget of the installation at `url`: Chatwoot counts requests per client address
/// for the whole server, so every account and path on one origin shares it.
fn budget_name(url: &url::Url) -> String {
    format!("chatwoot {}", url.origin().ascii_serialization())
}

impl ChatwootInbox {
    /// Starts building an inbox adapter.
    pub fn builder(config: ChatwootConfig) -> ChatwootInboxBuilder {
        ChatwootInboxBuilder {
            name: None,
            config,
            http: None,
            clock: Arc::new(Utc::now),
            budgets: None,
        }
    }

    /// The API client, for setup and checks.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The configuration.
    pub fn config(&self) -> &ChatwootConfig {
        &self.config
    }
}

/// The contact identifier the bridge gives a platform user: stable, unique per account.
pub fn contact_identifier(request: &ContactRequest) -> String {
    format!("{}:{}", request.address, request.user)
}

/// The contact-inbox `source_id` of a platform user: also what the bridge can recognise.
pub fn contact_source_id(request: &ContactRequest) -> String {
    format!("wbots:{}:{}", request.address, request.user)
}

/// The customer thread a contact identifier (`kind:account:user`, see
/// [`contact_identifier`]) names. On Messenger and Instagram the thread is the user.
pub fn thread_of_identifier(identifier: &str) -> Option<ThreadRef> {
    let mut parts = identifier.splitn(3, ':');
    let (kind, account, user) = (parts.next()?, parts.next()?, parts.next()?);
    if kind.is_empty() || account.is_empty() || user.is_empty() {
        return None;
    }
    Some(ThreadRef { address: wbots_core::ChannelAddress::new(kind, account), thread: user.into() })
}

/// The customer thread a contact-inbox `source_id` (`wbots:kind:account:user`, see
/// [`contact_source_id`]) names.
pub fn thread_of_source_id(source_id: &str) -> Option<ThreadRef> {
    thread_of_identifier(source_id.strip_prefix("wbots:")?)
}

impl ChatwootInbox {
    async fn find_contact(
        &self,
        identifier: &str,
    ) -> Result<Option<contacts::Contact>, DeliveryError> {
        // An exact filter on the identifier: unlike `contacts/search` (substring matches,
        // rate-limited to about 100 a minute per account) it cannot return a lookalike and a
        // burst of new customers does not exhaust the search budget.
        Ok(contacts::filter_by_identifier(&self.client, identifier)
            .await?
            .into_iter()
            .find(|c| c.identifier.as_deref() == Some(identifier)))
    }

    async fn create_conversation(
        &self,
        request: &ConversationRequest,
    ) -> Result<ConversationId, DeliveryError> {
        let contact_request = ContactRequest {
            inbox: request.inbox.clone(),
            address: request.address.clone(),
            user: request.thread.as_str().into(),
            profile: Default::default(),
        };
        let body = NewConversation {
            source_id: &contact_source_id(&contact_request),
            inbox_id: numeric_id(request.inbox.as_str(), "inbox id")?,
            contact_id: numeric_id(request.contact.as_str(), "contact id")?,
            status: "open",
            additional_attributes: ConversationAttributes {
                wbots_channel: request.address.kind.as_str(),
                wbots_account: request.address.account.as_str(),
                wbots_thread: request.thread.as_str(),
            },
        };
        let created = conversations::create(&self.client, &body).await?;
        Ok(ConversationId::new(created.id.required("a new conversation")?))
    }
}

#[async_trait]
impl Inbox for ChatwootInbox {
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(DEFAULT_NAME)
    }

    fn id_space(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn verify(&self, request: &RawRequest<'_>) -> Result<(), WebhookError> {
        webhook::verify(
            request,
            self.config.webhook_secret.as_ref(),
            self.config.webhook_token.as_ref(),
            (self.clock)(),
        )
    }

    fn parse(&self, request: &RawRequest<'_>) -> Result<Vec<AgentEnvelope>, WebhookError> {
        webhook::parse(request.body)
    }

    /// Chatwoot makes one webhook attempt per event and never retries it.
    fn drops_webhooks(&self) -> bool {
        true
    }

    async fn undelivered(
        &self,
        inboxes: &[InboxId],
        since: DateTime<Utc>,
    ) -> Result<Vec<AgentEnvelope>, DeliveryError> {
        crate::sweep::undelivered(&self.client, inboxes, since).await
    }

    async fn upsert_contact(&self, request: &ContactRequest) -> Result<ContactId, DeliveryError> {
        let identifier = contact_identifier(request);
        let source_id = contact_source_id(request);
        let inbox_id = numeric_id(request.inbox.as_str(), "inbox id")?;
        let avatar = request.profile.avatar_url.as_ref().map(|u| u.as_str());
        let contact = match self.find_contact(&identifier).await? {
            Some(existing) => {
                let id = existing.id.required("a contact")?;
                let renamed = !request.profile.name.is_empty()
                    && existing.name.as_deref() != Some(request.profile.name.as_str());
                // Chatwoot stores the avatar itself and shows its own thumbnail URL, so a
                // contact without one gets the platform's; an existing one is left alone.
                let needs_avatar =
                    avatar.is_some() && existing.thumbnail.as_deref().unwrap_or("").is_empty();
                if renamed || needs_avatar {
                    let update = ContactUpdate {
                        name: renamed.then_some(request.profile.name.as_str()),
                        avatar_url: if needs_avatar { avatar } else { None },
                    };
                    // A failed profile update never blocks the customer's message.
                    if let Err(e) = contacts::update(&self.client, &id, &update).await {
                        tracing::warn!(error = %e, "contact profile not updated");
                    }
                }
                id
            }
            None => {
                // With `inbox_id` but no `source_id`, Chatwoot adds a contact inbox with a
                // random source id: a stray one beside the bridge's (`chatwoot-api.md`).
                let body = NewContact {
                    inbox_id,
                    source_id: &source_id,
                    name: &request.profile.name,
                    identifier: &identifier,
                    additional_attributes: ContactAttributes {
                        wbots_channel: request.address.kind.as_str(),
                        wbots_account: request.address.account.as_str(),
                        username: request.profile.username.as_deref(),
                    },
                    avatar_url: avatar,
                };
                match contacts::create(&self.client, &body).await? {
                    Created::Contact(id) => id,
                    // Created by an earlier attempt whose answer was lost: the next attempt
                    // finds it by its identifier.
                    Created::IdentifierTaken => {
                        return Err(DeliveryError::temporary(
                            DeliveryErrorKind::Unavailable,
                            "the contact exists already; looking it up again",
                        )
                        .with_retry_after(std::time::Duration::from_secs(1)));
                    }
                }
            }
        };
        // Already linked by an earlier attempt is the state we want too.
        contacts::link_inbox(&self.client, &contact, inbox_id, &source_id).await?;
        Ok(ContactId::new(contact))
    }

    async fn open_conversation(
        &self,
        request: &ConversationRequest,
    ) -> Result<ConversationId, DeliveryError> {
        if let Some(existing) = &request.existing {
            match conversations::get(&self.client, existing.as_str()).await {
                Ok(c) if !c.is_resolved() => return Ok(existing.clone()),
                Ok(_) if request.reopen == ReopenPolicy::Reopen => {
                    conversations::reopen(&self.client, existing.as_str()).await?;
                    return Ok(existing.clone());
                }
                Ok(_) => return self.create_conversation(request).await,
                Err(e) if e.kind() == DeliveryErrorKind::NotFound => {
                    return self.create_conversation(request).await;
                }
                Err(e) => return Err(e),
            }
        }
        // No link: an earlier attempt may have created one before crashing.
        let mut in_inbox: Vec<Conversation> =
            conversations::of_contact(&self.client, request.contact.as_str())
                .await?
                .into_iter()
                .filter(|c| c.inbox_id.as_str() == Some(request.inbox.as_str()))
                .collect();
        in_inbox.sort_by_key(|c| std::cmp::Reverse(c.id.number().unwrap_or(0)));
        if let Some(open) = in_inbox.iter().find(|c| !c.is_resolved()) {
            return Ok(ConversationId::new(open.id.required("a conversation")?));
        }
        match (in_inbox.first(), request.reopen) {
            (Some(resolved), ReopenPolicy::Reopen) => {
                let id = ConversationId::new(resolved.id.required("a conversation")?);
                conversations::reopen(&self.client, id.as_str()).await?;
                Ok(id)
            }
            _ => self.create_conversation(request).await,
        }
    }

    async fn find_message(
        &self,
        conversation: &ConversationId,
        source_id: &PlatformMessageId,
    ) -> Result<Option<InboxMessageId>, DeliveryError> {
        // Newest first, page by page: a retried message is among the latest.
        let mut before: Option<String> = None;
        for _ in 0..5 {
            let page =
                messages::page(&self.client, conversation.as_str(), before.as_deref()).await?;
            if let Some(m) =
                page.iter().find(|m| m.source_id.as_deref() == Some(source_id.as_str()))
            {
                return Ok(Some(InboxMessageId::new(m.id.required("a message")?)));
            }
            match page.iter().filter_map(|m| m.id.number()).min() {
                Some(oldest) if page.len() >= 20 => before = Some(oldest.to_string()),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    async fn post_message(&self, message: &PostMessage) -> Result<InboxMessageId, DeliveryError> {
        let mut attributes = message.attributes.clone();
        attributes.insert(MARKER.into(), Value::Bool(true));
        if message.direction == Direction::Outgoing {
            // Sent from Meta's own apps: marked as Chatwoot's own Meta channels mark them
            // (`content_attributes.external_echo`, `chatwoot-api.md`).
            attributes.insert("external_echo".into(), Value::Bool(true));
        }
        if let Some(reply) = &message.reply_to {
            // Chatwoot's own ids are numbers; anything else goes as the text it is.
            let reply = match reply.as_str().parse::<u64>() {
                Ok(n) => Value::from(n),
                Err(_) => Value::from(reply.as_str()),
            };
            attributes.insert("in_reply_to".into(), reply);
        }
        let body = NewMessage {
            content: message.text.as_deref().unwrap_or_default(),
            message_type: match message.direction {
                Direction::Incoming => "incoming",
                Direction::Outgoing => "outgoing",
            },
            private: false,
            source_id: Some(message.source_id.as_str()),
            content_attributes: attributes,
        };
        let id = messages::create(
            &self.client,
            message.conversation.as_str(),
            &body,
            &message.media,
            "posting a message",
        )
        .await?;
        Ok(InboxMessageId::new(id))
    }

    async fn post_note(
        &self,
        conversation: &ConversationId,
        text: &str,
    ) -> Result<InboxMessageId, DeliveryError> {
        let mut attributes = serde_json::Map::new();
        attributes.insert(MARKER.into(), Value::Bool(true));
        let body = NewMessage {
            content: text,
            message_type: "outgoing",
            private: true,
            source_id: None,
            content_attributes: attributes,
        };
        let id = messages::create(
            &self.client,
            conversation.as_str(),
            &body,
            &[],
            "posting a private note",
        )
        .await?;
        Ok(InboxMessageId::new(id))
    }

    async fn update_message(&self, update: &MessageUpdate) -> Result<(), DeliveryError> {
        let (conversation, message) = (update.conversation.as_str(), update.message.as_str());
        match &update.change {
            MessageChange::Status { status, error } => {
                let status = match status {
                    DeliveryStatus::Sent => "sent",
                    DeliveryStatus::Delivered => "delivered",
                    DeliveryStatus::Read => "read",
                    _ => "failed",
                };
                let body = StatusUpdate { status, external_error: error.as_deref() };
                messages::update_status(&self.client, conversation, message, &body).await
            }
            MessageChange::Deleted => messages::delete(&self.client, conversation, message).await,
            MessageChange::Edited { text } => {
                // Chatwoot's API cannot change a message's content: agents get a note.
                let note = format!("The customer edited message #{} to:\n{text}", update.message);
                self.post_note(&update.conversation, &note).await.map(|_| ())
            }
            _ => Err(DeliveryError::unsupported("this message change")),
        }
    }

    async fn fetch_media(
        &self,
        attachment: &AgentAttachment,
        max_bytes: u64,
    ) -> Result<Media, DeliveryError> {
        self.media.fetch(attachment, max_bytes.min(self.config.max_media_bytes)).await
    }
}
