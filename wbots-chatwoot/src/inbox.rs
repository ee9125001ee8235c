//! [`ChatwootInbox`]: the `Inbox` over Chatwoot's Application API.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use wbots_core::{
    AgentAttachment, AgentEnvelope, ContactId, ContactRequest, ConversationId, ConversationRequest,
    DeliveryError, DeliveryErrorKind, DeliveryStatus, Direction, Inbox, InboxMessageId, Media,
    MessageChange, MessageUpdate, PlatformMessageId, PostMessage, RawRequest, ReopenPolicy,
    WebhookError,
};

use crate::client::Client;
use crate::config::{ChatwootConfig, REQUEST_TIMEOUT};
use crate::media::{Downloader, same_origin_redirects};
use crate::webhook::{self, MARKER};

/// A clock, so webhook time windows are testable.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The Chatwoot inbox adapter.
#[derive(Clone)]
pub struct ChatwootInbox {
    client: Client,
    media: Downloader,
    config: ChatwootConfig,
    clock: Clock,
}

impl fmt::Debug for ChatwootInbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatwootInbox")
            .field("client", &self.client)
            .field("config", &self.config)
            .finish()
    }
}

/// Builds a [`ChatwootInbox`].
pub struct ChatwootInboxBuilder {
    config: ChatwootConfig,
    http: Option<reqwest::Client>,
    clock: Clock,
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

    /// Uses this clock for the webhook signature's time window.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<ChatwootInbox, String> {
        if self.config.api_access_token.is_empty() {
            return Err("chatwoot.api_access_token must not be empty".into());
        }
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .redirect(same_origin_redirects())
                .build()
                .map_err(|e| e.to_string())?,
        };
        let media = Downloader::new(&self.config, REQUEST_TIMEOUT)?;
        let client = Client::new(
            http,
            &self.config.url,
            self.config.account_id,
            self.config.api_access_token.clone(),
        )?;
        Ok(ChatwootInbox { client, media, config: self.config, clock: self.clock })
    }
}

impl ChatwootInbox {
    /// Starts building an inbox adapter.
    pub fn builder(config: ChatwootConfig) -> ChatwootInboxBuilder {
        ChatwootInboxBuilder { config, http: None, clock: Arc::new(Utc::now) }
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

#[derive(Debug, Deserialize)]
struct Contact {
    id: Value,
    name: Option<String>,
    identifier: Option<String>,
    thumbnail: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ConversationRef {
    id: Value,
    status: Option<String>,
    inbox_id: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct MessageRef {
    id: Value,
    source_id: Option<String>,
}

fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn required_id(v: &Value, what: &str) -> Result<String, DeliveryError> {
    id_string(v).ok_or_else(|| {
        DeliveryError::temporary(
            DeliveryErrorKind::Unavailable,
            format!("Chatwoot answered {what} without an id"),
        )
    })
}

/// The payload list of an answer: `{payload: [...]}` or `{payload: {contacts: ...}}` or a
/// bare list, depending on the endpoint and version.
fn payload_list<T: for<'de> Deserialize<'de>>(v: Value) -> Vec<T> {
    let list = match v {
        Value::Array(a) => Value::Array(a),
        Value::Object(mut o) => match o.remove("payload") {
            Some(Value::Array(a)) => Value::Array(a),
            Some(Value::Object(mut p)) => {
                p.remove("contacts").or_else(|| p.remove("conversations")).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        },
        _ => Value::Null,
    };
    match list {
        Value::Array(items) => {
            items.into_iter().filter_map(|i| serde_json::from_value(i).ok()).collect()
        }
        _ => Vec::new(),
    }
}

impl ChatwootInbox {
    async fn find_contact(&self, identifier: &str) -> Result<Option<Contact>, DeliveryError> {
        // An exact filter on the identifier: unlike `contacts/search` (substring matches,
        // rate-limited to about 100 a minute per account) it cannot return a lookalike and a
        // burst of new customers does not exhaust the search budget.
        let body = json!({ "payload": [{
            "attribute_key": "identifier",
            "filter_operator": "equal_to",
            "values": [identifier],
            "query_operator": null,
        }] });
        let req = self.client.request(Method::POST, "contacts/filter")?.json(&body);
        let found: Value = self.client.send(req, "looking up a contact").await?;
        Ok(payload_list::<Contact>(found)
            .into_iter()
            .find(|c| c.identifier.as_deref() == Some(identifier)))
    }

    async fn link_contact_inbox(
        &self,
        contact: &str,
        request: &ContactRequest,
    ) -> Result<(), DeliveryError> {
        let req = self
            .client
            .request(Method::POST, &format!("contacts/{contact}/contact_inboxes"))?
            .json(&json!({ "inbox_id": request.inbox.as_str().parse::<u64>().unwrap_or_default(), "source_id": contact_source_id(request) }));
        match self.client.send_raw(req, "linking the contact to the inbox").await {
            Ok(_) => Ok(()),
            // Already linked by an earlier attempt: that is the state we want.
            Err(e)
                if e.kind() == DeliveryErrorKind::InvalidRequest
                    && e.message().to_lowercase().contains("taken") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
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
        let body = json!({
            "source_id": contact_source_id(&contact_request),
            "inbox_id": request.inbox.as_str().parse::<u64>().unwrap_or_default(),
            "contact_id": request.contact.as_str().parse::<u64>().unwrap_or_default(),
            "status": "open",
            "additional_attributes": {
                "wbots_channel": request.address.kind.as_str(),
                "wbots_account": request.address.account.as_str(),
                "wbots_thread": request.thread.as_str(),
            },
        });
        let created: ConversationRef = self
            .client
            .send(
                self.client.request(Method::POST, "conversations")?.json(&body),
                "creating a conversation",
            )
            .await?;
        Ok(ConversationId::new(required_id(&created.id, "a new conversation")?))
    }

    async fn reopen(&self, conversation: &ConversationId) -> Result<(), DeliveryError> {
        let req = self
            .client
            .request(Method::POST, &format!("conversations/{conversation}/toggle_status"))?
            .json(&json!({ "status": "open" }));
        self.client.send_raw(req, "reopening a conversation").await.map(|_| ())
    }

    async fn message(
        &self,
        conversation: &ConversationId,
        body: Value,
        media: &[Media],
        what: &str,
    ) -> Result<InboxMessageId, DeliveryError> {
        let req =
            self.client.request(Method::POST, &format!("conversations/{conversation}/messages"))?;
        let req = if media.is_empty() {
            req.json(&body)
        } else {
            let mut form = reqwest::multipart::Form::new();
            if let Value::Object(fields) = &body {
                for (k, v) in fields {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Null => continue,
                        // Chatwoot parses JSON-encoded hashes in multipart fields.
                        other => other.to_string(),
                    };
                    form = form.text(k.clone(), text);
                }
            }
            for m in media {
                let part = reqwest::multipart::Part::bytes(m.bytes.to_vec())
                    .file_name(m.file_name.clone())
                    .mime_str(&m.content_type)
                    .map_err(|e| {
                        DeliveryError::permanent(
                            DeliveryErrorKind::InvalidRequest,
                            format!("bad content type: {e}"),
                        )
                    })?;
                form = form.part("attachments[]", part);
            }
            req.multipart(form)
        };
        let created: MessageRef = self.client.send(req, what).await?;
        Ok(InboxMessageId::new(required_id(&created.id, "a new message")?))
    }
}

#[async_trait]
impl Inbox for ChatwootInbox {
    fn name(&self) -> &str {
        "chatwoot"
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

    async fn upsert_contact(&self, request: &ContactRequest) -> Result<ContactId, DeliveryError> {
        let identifier = contact_identifier(request);
        let avatar = request.profile.avatar_url.as_ref().map(|u| u.as_str().to_owned());
        let contact = match self.find_contact(&identifier).await? {
            Some(existing) => {
                let id = required_id(&existing.id, "a contact")?;
                let renamed = !request.profile.name.is_empty()
                    && existing.name.as_deref() != Some(request.profile.name.as_str());
                // Chatwoot stores the avatar itself and shows its own thumbnail URL, so a
                // contact without one gets the platform's; an existing one is left alone.
                let needs_avatar =
                    avatar.is_some() && existing.thumbnail.as_deref().unwrap_or("").is_empty();
                if renamed || needs_avatar {
                    let mut body = serde_json::Map::new();
                    if renamed {
                        body.insert("name".into(), json!(request.profile.name));
                    }
                    if needs_avatar {
                        body.insert("avatar_url".into(), json!(avatar));
                    }
                    let req =
                        self.client.request(Method::PUT, &format!("contacts/{id}"))?.json(&body);
                    // A failed profile update never blocks the customer's message.
                    if let Err(e) = self.client.send_raw(req, "updating a contact").await {
                        tracing::warn!(error = %e, "contact profile not updated");
                    }
                }
                id
            }
            None => {
                let mut body = json!({
                    "inbox_id": request.inbox.as_str().parse::<u64>().unwrap_or_default(),
                    "name": request.profile.name,
                    "identifier": identifier,
                    "additional_attributes": {
                        "wbots_channel": request.address.kind.as_str(),
                        "wbots_account": request.address.account.as_str(),
                        "username": request.profile.username,
                    },
                });
                if let Some(a) = &avatar {
                    body["avatar_url"] = json!(a);
                }
                let request = self.client.request(Method::POST, "contacts")?.json(&body);
                let created: Value = match self.client.send(request, "creating a contact").await {
                    Ok(v) => v,
                    // Created by an earlier attempt whose answer was lost: the next attempt
                    // finds it by its identifier.
                    Err(e) if e.message().contains("Identifier has already been taken") => {
                        return Err(DeliveryError::temporary(
                            DeliveryErrorKind::Unavailable,
                            "the contact exists already; looking it up again",
                        )
                        .with_retry_after(std::time::Duration::from_secs(1)));
                    }
                    Err(e) => return Err(e),
                };
                let contact = created
                    .get("payload")
                    .and_then(|p| p.get("contact"))
                    .or_else(|| created.get("payload"))
                    .unwrap_or(&created);
                required_id(contact.get("id").unwrap_or(&Value::Null), "a new contact")?
            }
        };
        self.link_contact_inbox(&contact, request).await?;
        Ok(ContactId::new(contact))
    }

    async fn open_conversation(
        &self,
        request: &ConversationRequest,
    ) -> Result<ConversationId, DeliveryError> {
        if let Some(existing) = &request.existing {
            let req = self.client.request(Method::GET, &format!("conversations/{existing}"))?;
            match self.client.send::<ConversationRef>(req, "reading a conversation").await {
                Ok(c) if c.status.as_deref() != Some("resolved") => return Ok(existing.clone()),
                Ok(_) if request.reopen == ReopenPolicy::Reopen => {
                    self.reopen(existing).await?;
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
        let req = self
            .client
            .request(Method::GET, &format!("contacts/{}/conversations", request.contact))?;
        let listed: Value = self.client.send(req, "listing the contact's conversations").await?;
        let mut in_inbox: Vec<ConversationRef> = payload_list::<ConversationRef>(listed)
            .into_iter()
            .filter(|c| {
                c.inbox_id.as_ref().and_then(id_string).as_deref() == Some(request.inbox.as_str())
            })
            .collect();
        in_inbox.sort_by_key(|c| {
            std::cmp::Reverse(id_string(&c.id).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0))
        });
        if let Some(open) = in_inbox.iter().find(|c| c.status.as_deref() != Some("resolved")) {
            return Ok(ConversationId::new(required_id(&open.id, "a conversation")?));
        }
        match (in_inbox.first(), request.reopen) {
            (Some(resolved), ReopenPolicy::Reopen) => {
                let id = ConversationId::new(required_id(&resolved.id, "a conversation")?);
                self.reopen(&id).await?;
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
            let mut req = self
                .client
                .request(Method::GET, &format!("conversations/{conversation}/messages"))?;
            if let Some(b) = &before {
                req = req.query(&[("before", b.as_str())]);
            }
            let page: Value = self.client.send(req, "listing messages").await?;
            let messages: Vec<MessageRef> = payload_list(page);
            if let Some(m) =
                messages.iter().find(|m| m.source_id.as_deref() == Some(source_id.as_str()))
            {
                return Ok(Some(InboxMessageId::new(required_id(&m.id, "a message")?)));
            }
            let oldest = messages
                .iter()
                .filter_map(|m| id_string(&m.id))
                .filter_map(|s| s.parse::<u64>().ok())
                .min();
            match oldest {
                Some(o) if messages.len() >= 20 => before = Some(o.to_string()),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    async fn post_message(&self, message: &PostMessage) -> Result<InboxMessageId, DeliveryError> {
        let mut attributes = message.attributes.clone();
        attributes.insert(MARKER.into(), json!(true));
        if let Some(reply) = &message.reply_to {
            attributes.insert(
                "in_reply_to".into(),
                json!(
                    reply
                        .as_str()
                        .parse::<u64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| json!(reply.as_str()))
                ),
            );
        }
        let body = json!({
            // The API requires content even when a message is only files.
            "content": message.text.clone().unwrap_or_default(),
            "message_type": match message.direction { Direction::Incoming => "incoming", Direction::Outgoing => "outgoing" },
            "private": false,
            "source_id": message.source_id.as_str(),
            "content_attributes": Value::Object(attributes),
        });
        self.message(&message.conversation, body, &message.media, "posting a message").await
    }

    async fn post_note(
        &self,
        conversation: &ConversationId,
        text: &str,
    ) -> Result<InboxMessageId, DeliveryError> {
        let body = json!({
            "content": text,
            "message_type": "outgoing",
            "private": true,
            "content_attributes": { MARKER: true },
        });
        self.message(conversation, body, &[], "posting a private note").await
    }

    async fn update_message(&self, update: &MessageUpdate) -> Result<(), DeliveryError> {
        let path = format!("conversations/{}/messages/{}", update.conversation, update.message);
        match &update.change {
            MessageChange::Status { status, error } => {
                let status = match status {
                    DeliveryStatus::Sent => "sent",
                    DeliveryStatus::Delivered => "delivered",
                    DeliveryStatus::Read => "read",
                    _ => "failed",
                };
                let mut body = json!({ "status": status });
                if let Some(e) = error {
                    body["external_error"] = json!(e);
                }
                self.client
                    .send_raw(
                        self.client.request(Method::PATCH, &path)?.json(&body),
                        "updating a message status",
                    )
                    .await
                    .map(|_| ())
            }
            MessageChange::Deleted => self
                .client
                .send_raw(self.client.request(Method::DELETE, &path)?, "deleting a message")
                .await
                .map(|_| ()),
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
