//! [`FakeChatwoot`]: a stateful stand-in for Chatwoot's Application API
//! on loopback, for tests, `wbots sandbox` and the load harness.
//!
//! It keeps contacts, contact inboxes, conversations, messages (with uploaded files) and API
//! inboxes; checks the `api_access_token` (refusing agent-bot tokens outside the endpoints
//! Chatwoot lets bots use); and — as Chatwoot does — posts a `message_created` webhook to
//! the inbox's `webhook_url` for **every** message created, the bridge's own included, and
//! a `message_updated` for every change of one (the bridge's own status updates included),
//! signed when a webhook secret is set. Each webhook gets ONE attempt; a failed one marks
//! the message `failed` with the HTTP error (the `hooks` module). Tests act as agents with
//! [`FakeChatwoot::agent_reply`] and inject failures with [`FakeChatwoot::fail_next`].

mod access;
mod hooks;
mod listing;
mod people;

pub use people::FakeUser;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use url::Url;
use wbots_core::Secret;

/// A file attached to a fake message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeAttachment {
    /// Its id.
    pub id: u64,
    /// `image`, `video`, `audio` or `file`.
    pub file_type: String,
    /// As uploaded.
    pub content_type: String,
    /// As uploaded.
    pub file_name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A message as the fake holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeMessage {
    /// Its id.
    pub id: u64,
    /// Its conversation.
    pub conversation_id: u64,
    /// Its text.
    pub content: Option<String>,
    /// `incoming` or `outgoing`.
    pub message_type: String,
    /// A private note.
    pub private: bool,
    /// The `source_id` it was created with.
    pub source_id: Option<String>,
    /// Its `content_attributes`.
    pub content_attributes: Value,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// The reason shown with a failure.
    pub external_error: Option<String>,
    /// Its files.
    pub attachments: Vec<FakeAttachment>,
    /// Deleted (`DELETE …/messages/{id}`).
    pub deleted: bool,
    /// Created by an agent in the fake (not through the API).
    pub by_agent: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Chatwoot's sender type: `user` (a person), `agent_bot`, `contact`; `None` for the
    /// inbox's own `template` messages, which have no sender.
    pub sender_type: Option<String>,
}

/// A contact as the fake holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeContact {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its identifier.
    pub identifier: Option<String>,
    /// Its avatar URL as given.
    pub avatar_url: Option<String>,
    /// Its additional attributes.
    pub additional_attributes: Value,
}

/// A conversation as the fake holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeConversation {
    /// Its id.
    pub id: u64,
    /// Its inbox.
    pub inbox_id: u64,
    /// Its contact.
    pub contact_id: u64,
    /// `open`, `resolved`, `pending`.
    pub status: String,
    /// The contact inbox's source id.
    pub source_id: String,
    /// Its additional attributes.
    pub additional_attributes: Value,
    /// Unix seconds.
    pub created_at: i64,
}

/// An API inbox as the fake holds it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FakeInbox {
    /// Its name.
    pub name: String,
    /// Where its webhooks go.
    pub webhook_url: Option<String>,
    /// The channel's `additional_attributes` (`agent_reply_time_window`…).
    pub additional_attributes: Value,
    /// Its own webhook signing secret. Chatwoot v4.13+ gives every API inbox one (a
    /// `secret` column on `Channel::Api`, generated at creation: PR #13892,
    /// chatwoot-api.md "What Chatwoot sends"): an inbox created through the API gets a
    /// fresh one here. `None`: the installation-wide secret a test sets
    /// ([`FakeChatwoot::set_webhook_secret`]), standing for the secret of the inbox an
    /// operator set up and copied into the bridge's configuration.
    pub secret: Option<Secret>,
}

/// Who writes an agent-side message in the fake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeAuthor {
    /// A person (sender type `user`), `outgoing`.
    Agent,
    /// An agent bot (sender type `agent_bot`), `outgoing`.
    Bot,
    /// The inbox itself: a `template` message (greeting, out-of-office, CSAT), no sender.
    Template,
}

#[derive(Debug, Default)]
struct World {
    next_id: u64,
    token: String,
    account_id: u64,
    base: String,
    webhook_secret: Option<Secret>,
    inboxes: HashMap<u64, FakeInbox>,
    /// Every `webhook_url` an inbox was given through the API, in order: what its account's
    /// administrators could read at some moment (the inbox's settings show it).
    webhook_urls_given: Vec<(u64, String)>,
    bot_tokens: Vec<String>,
    version: String,
    webhook_timeout: Duration,
    webhook_failures: u64,
    webhook_attempts: u64,
    flooded: Vec<u64>,
    contacts: Vec<FakeContact>,
    contact_inboxes: Vec<(u64, u64, String)>,
    conversations: Vec<FakeConversation>,
    messages: Vec<FakeMessage>,
    fail_next: Vec<u16>,
    down: bool,
    requests: u64,
    throttle: Option<Throttle>,
    throttled: u64,
    people: people::People,
}

/// Chatwoot's rack-attack throttle (`config/initializers/rack_attack.rb`:
/// `throttle('req/ip', limit: RACK_ATTACK_LIMIT (3000), period: 1.minute)`; `chatwoot-api.md`):
/// a counter per fixed window aligned on the epoch (rack-attack's `Cache#count` keys on
/// `now / period`), incremented by every request, throttled ones included; past `limit`
/// the answer is 429 `Retry later` with no `Retry-After` (rack-attack 6's default
/// `throttled_responder`, `throttled_response_retry_after_header` false).
#[derive(Debug)]
struct Throttle {
    limit: u64,
    period: Duration,
    window: u128,
    count: u64,
}

impl World {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// The fake server. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeChatwoot {
    url: Url,
    state: Arc<Mutex<World>>,
    _server: tokio::task::JoinHandle<()>,
}

fn lock(state: &Mutex<World>) -> MutexGuard<'_, World> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

type Shared = Arc<Mutex<World>>;

impl FakeChatwoot {
    /// Starts a fake for `account_id`, accepting `token`, on a free loopback port.
    pub async fn start(token: &str, account_id: u64) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let base = format!("http://{addr}");
        let state: Shared = Arc::new(Mutex::new(World {
            token: token.to_owned(),
            account_id,
            base: base.clone(),
            version: "4.15.1".into(),
            webhook_timeout: hooks::DEFAULT_TIMEOUT,
            ..World::default()
        }));
        let app = router(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let url = Url::parse(&base).map_err(std::io::Error::other)?;
        Ok(Self { url, state, _server: server })
    }

    /// The base URL (`chatwoot.url`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Signs webhooks with this secret (`X-Chatwoot-Signature`), as recent Chatwoot does.
    pub fn set_webhook_secret(&self, secret: Option<Secret>) {
        lock(&self.state).webhook_secret = secret;
    }

    /// Creates an API inbox posting to `webhook_url`; returns its id.
    pub fn add_api_inbox(&self, name: &str, webhook_url: Option<&str>) -> u64 {
        let mut s = lock(&self.state);
        let id = s.id();
        s.inboxes.insert(
            id,
            FakeInbox {
                name: name.to_owned(),
                webhook_url: webhook_url.map(str::to_owned),
                additional_attributes: json!({}),
                secret: None,
            },
        );
        id
    }

    /// An inbox as the fake holds it.
    pub fn inbox(&self, inbox: u64) -> Option<FakeInbox> {
        lock(&self.state).inboxes.get(&inbox).cloned()
    }

    /// A person of the installation: signs in with e-mail and password (and MFA's code when
    /// set) or uses their personal access token; their role per account governs what they
    /// may do.
    pub fn add_user(&self, user: FakeUser) {
        lock(&self.state).people.users.push(user);
    }

    /// An administrator changes `email`'s role in `account` (Chatwoot's Agents settings,
    /// `PATCH /api/v1/accounts/{id}/agents/{agent_id}` with `role`,
    /// `app/controllers/api/v1/accounts/agents_controller.rb`): the person's profile says the
    /// new role at once, and what the role allows changes with it.
    pub fn set_role(&self, email: &str, account: u64, role: &str) {
        let mut s = lock(&self.state);
        let user = s.people.users.iter_mut().find(|u| u.email == email);
        if let Some(membership) =
            user.and_then(|u| u.accounts.iter_mut().find(|(id, _, _)| *id == account))
        {
            role.clone_into(&mut membership.2);
        }
    }

    /// Turns on Rack::Attack's `login/ip` rule for the bridge's requests (5 password
    /// sign-ins per 5 minutes; chatwoot-signin-and-sweep.md §1.9). Off by default: the rule
    /// runs in production only and safelists loopback, where the fake listens.
    pub fn throttle_sign_ins(&self, on: bool) {
        lock(&self.state).people.throttle_on(on);
    }

    /// Devise sessions open now (each sign-in takes one of the person's 25, §1.6).
    pub fn open_sessions(&self) -> usize {
        lock(&self.state).people.sessions.len()
    }

    /// The keys of each `POST /auth/sign_in` body received, sorted, in order.
    pub fn sign_in_requests(&self) -> Vec<Vec<String>> {
        lock(&self.state).people.sign_in_keys.clone()
    }

    /// Every inbox, by id.
    pub fn inboxes(&self) -> Vec<(u64, FakeInbox)> {
        let mut all: Vec<(u64, FakeInbox)> =
            lock(&self.state).inboxes.iter().map(|(id, i)| (*id, i.clone())).collect();
        all.sort_by_key(|(id, _)| *id);
        all
    }

    /// The version `GET /api` answers (default `4.15.1`).
    pub fn set_version(&self, version: &str) {
        lock(&self.state).version = version.to_owned();
    }

    /// Accepts `token` as an agent bot's access token: refused outside the endpoints bots
    /// may use, as Chatwoot does.
    pub fn add_bot_token(&self, token: &str) {
        lock(&self.state).bot_tokens.push(token.to_owned());
    }

    /// The installation's `WEBHOOK_TIMEOUT` (default 5 s; a setting from v4.8.0).
    pub fn set_webhook_timeout(&self, timeout: Duration) {
        lock(&self.state).webhook_timeout = timeout;
    }

    /// Webhook attempts that failed so far.
    pub fn webhook_failures(&self) -> u64 {
        lock(&self.state).webhook_failures
    }

    /// Webhook attempts so far (each event gets one), failed ones included.
    pub fn webhook_attempts(&self) -> u64 {
        lock(&self.state).webhook_attempts
    }

    /// Adds a contact with a contact inbox of `inbox` under `source_id`, as another
    /// integration or an agent would; returns the contact's id.
    pub fn add_contact(&self, name: &str, inbox: u64, source_id: &str) -> u64 {
        let mut s = lock(&self.state);
        let id = s.id();
        s.contacts.push(FakeContact {
            id,
            name: name.to_owned(),
            identifier: None,
            avatar_url: None,
            additional_attributes: json!({}),
        });
        s.contact_inboxes.push((id, inbox, source_id.to_owned()));
        id
    }

    /// Every contact inbox: (contact, inbox, source id).
    pub fn contact_inboxes(&self) -> Vec<(u64, u64, String)> {
        lock(&self.state).contact_inboxes.clone()
    }

    /// While `on`, creating a message in `conversation` answers 422 "Too many messages", as
    /// Chatwoot's guard against 200 messages a minute in one conversation does
    /// (`app/models/message.rb`, `chatwoot-api.md`).
    pub fn flood(&self, conversation: u64, on: bool) {
        let mut s = lock(&self.state);
        s.flooded.retain(|c| *c != conversation);
        if on {
            s.flooded.push(conversation);
        }
    }

    /// Moves a message's creation time `seconds` into the past.
    pub fn backdate(&self, message: u64, seconds: i64) {
        if let Some(m) = lock(&self.state).messages.iter_mut().find(|m| m.id == message) {
            m.created_at -= seconds;
        }
    }

    /// Moves a conversation and all its messages `seconds` into the past, so its
    /// `last_activity_at` (computed from them, as Chatwoot does) is that old.
    pub fn backdate_conversation(&self, conversation: u64, seconds: i64) {
        let mut s = lock(&self.state);
        if let Some(c) = s.conversations.iter_mut().find(|c| c.id == conversation) {
            c.created_at -= seconds;
        }
        for m in s.messages.iter_mut().filter(|m| m.conversation_id == conversation) {
            m.created_at -= seconds;
        }
    }

    /// Points an inbox's webhook at `url`.
    pub fn set_webhook_url(&self, inbox: u64, url: &str) {
        if let Some(i) = lock(&self.state).inboxes.get_mut(&inbox) {
            i.webhook_url = Some(url.to_owned());
        }
    }

    /// Every webhook URL inboxes were given through the API (create and update), in order.
    pub fn webhook_urls_given(&self) -> Vec<(u64, String)> {
        lock(&self.state).webhook_urls_given.clone()
    }

    /// The webhook URL of an inbox.
    pub fn webhook_url(&self, inbox: u64) -> Option<String> {
        lock(&self.state).inboxes.get(&inbox).and_then(|i| i.webhook_url.clone())
    }

    /// Every contact.
    pub fn contacts(&self) -> Vec<FakeContact> {
        lock(&self.state).contacts.clone()
    }

    /// Every conversation.
    pub fn conversations(&self) -> Vec<FakeConversation> {
        lock(&self.state).conversations.clone()
    }

    /// Every message, in creation order.
    pub fn messages(&self) -> Vec<FakeMessage> {
        lock(&self.state).messages.clone()
    }

    /// One message.
    pub fn message(&self, id: u64) -> Option<FakeMessage> {
        lock(&self.state).messages.iter().find(|m| m.id == id).cloned()
    }

    /// Requests served so far (including refused ones).
    pub fn requests(&self) -> u64 {
        lock(&self.state).requests
    }

    /// Sets a conversation's status, as an agent resolving it would.
    pub fn set_status(&self, conversation: u64, status: &str) {
        if let Some(c) = lock(&self.state).conversations.iter_mut().find(|c| c.id == conversation) {
            c.status = status.to_owned();
        }
    }

    /// Throttles API requests like Chatwoot's rack-attack: at most `limit` in each fixed
    /// window of `period` (production: 3,000 a minute), 429 past it, no `Retry-After`.
    pub fn limit_requests(&self, limit: u64, period: Duration) {
        lock(&self.state).throttle = Some(Throttle { limit, period, window: 0, count: 0 });
    }

    /// How many requests the throttle answered 429.
    pub fn throttled(&self) -> u64 {
        lock(&self.state).throttled
    }

    /// Answers the next `n` API requests with `status` (a 429 carries `Retry-After: 1`).
    pub fn fail_next(&self, n: usize, status: u16) {
        lock(&self.state).fail_next.extend(std::iter::repeat_n(status, n));
    }

    /// Answers every API request 503 while `down`.
    pub fn set_down(&self, down: bool) {
        lock(&self.state).down = down;
    }

    /// An agent writes `text` (and files) in a conversation: the message is created and its
    /// `message_created` webhook attempted once before this returns (a failed attempt marks
    /// the message failed, as Chatwoot does). Returns the message id and the webhook's HTTP
    /// status (`None` when the inbox has no webhook URL or there was no answer).
    pub async fn agent_reply(
        &self,
        conversation: u64,
        text: &str,
        files: Vec<(String, String, Vec<u8>)>,
    ) -> (u64, Option<u16>) {
        self.write(conversation, FakeAuthor::Agent, text, files).await
    }

    /// A message by `author` in a conversation, like [`FakeChatwoot::agent_reply`].
    pub async fn write(
        &self,
        conversation: u64,
        author: FakeAuthor,
        text: &str,
        files: Vec<(String, String, Vec<u8>)>,
    ) -> (u64, Option<u16>) {
        let id = {
            let mut s = lock(&self.state);
            let id = s.id();
            let attachments = files
                .into_iter()
                .map(|(file_name, content_type, bytes)| {
                    let aid = s.id();
                    FakeAttachment {
                        id: aid,
                        file_type: file_type(&content_type),
                        content_type,
                        file_name,
                        bytes,
                    }
                })
                .collect();
            let (message_type, sender_type) = match author {
                FakeAuthor::Agent => ("outgoing", Some("user".to_owned())),
                FakeAuthor::Bot => ("outgoing", Some("agent_bot".to_owned())),
                FakeAuthor::Template => ("template", None),
            };
            s.messages.push(FakeMessage {
                id,
                conversation_id: conversation,
                content: Some(text.to_owned()),
                message_type: message_type.into(),
                private: false,
                source_id: None,
                content_attributes: json!({}),
                status: "sent".into(),
                external_error: None,
                attachments,
                deleted: false,
                by_agent: true,
                created_at: chrono::Utc::now().timestamp(),
                sender_type,
            });
            id
        };
        let status = hooks::dispatch(&self.state, "message_created", id).await;
        (id, status)
    }

    /// An agent presses *retry* on a failed message (`messages_controller.rb` `retry`):
    /// Chatwoot sets it `sent` and clears `external_error` (`message_updated` #1), then
    /// empties `content_attributes` (#2). No `message_created`. Returns both webhooks'
    /// statuses.
    pub async fn agent_retry(&self, message: u64) -> (Option<u16>, Option<u16>) {
        // Each `update!` fires `message_updated` only when it changes something
        // (`app/models/message.rb:389-395`).
        let first = {
            let mut s = lock(&self.state);
            s.messages
                .iter_mut()
                .find(|m| m.id == message)
                .is_some_and(|m| set_status(m, "sent", None))
        };
        let one = if first {
            hooks::dispatch(&self.state, "message_updated", message).await
        } else {
            None
        };
        let second = {
            let mut s = lock(&self.state);
            s.messages.iter_mut().find(|m| m.id == message).is_some_and(|m| {
                // After #1 `content_attributes` still hold `external_error: null`.
                let changed = m.content_attributes != json!({}) || first;
                m.content_attributes = json!({});
                changed
            })
        };
        let two = if second {
            hooks::dispatch(&self.state, "message_updated", message).await
        } else {
            None
        };
        (one, two)
    }

    /// An agent starts or stops typing (`is_private`: in the private-note editor).
    pub async fn agent_typing(&self, conversation: u64, on: bool, is_private: bool) -> Option<u16> {
        let (hook, timeout) = {
            let s = lock(&self.state);
            (typing_webhook(&s, conversation, on, is_private), s.webhook_timeout)
        };
        let (url, body, secret) = hook?;
        hooks::post_once(&url, &body, secret.as_ref(), timeout).await
    }

    /// An agent opens a new conversation in `inbox` for a known contact, as Chatwoot's
    /// "new conversation" form does: through the contact's contact inbox of that inbox.
    pub fn agent_opens_conversation(&self, contact: u64, inbox: u64) -> Option<u64> {
        let mut s = lock(&self.state);
        let source = s
            .contact_inboxes
            .iter()
            .find(|(c, i, _)| *c == contact && *i == inbox)
            .map(|(_, _, src)| src.clone())?;
        let id = s.id();
        s.conversations.push(FakeConversation {
            id,
            inbox_id: inbox,
            contact_id: contact,
            status: "open".into(),
            source_id: source,
            additional_attributes: json!({}),
            created_at: chrono::Utc::now().timestamp(),
        });
        Some(id)
    }
}

/// Changes a message's status as `Messages::StatusUpdateService` does
/// (`app/services/messages/status_update_service.rb:10-33`): the error is kept only with
/// `failed`, `read → delivered` is refused. Returns whether anything changed (only a change
/// fires `message_updated`, `app/models/message.rb:389-395`).
fn set_status(m: &mut FakeMessage, status: &str, error: Option<String>) -> bool {
    if !["sent", "delivered", "read", "failed"].contains(&status)
        || (m.status == "read" && status == "delivered")
    {
        return false;
    }
    let error = if status == "failed" { error } else { None };
    let changed = m.status != status || m.external_error != error;
    m.status = status.to_owned();
    m.external_error = error;
    changed
}

fn file_type(content_type: &str) -> String {
    match content_type.split('/').next() {
        Some("image") => "image",
        Some("video") => "video",
        Some("audio") => "audio",
        _ => "file",
    }
    .to_owned()
}

/// A message as the Application API renders it (`app/views/api/v1/models/_message.json.jbuilder`):
/// `message_type` and the status as Chatwoot's enums give them, `external_error` inside
/// `content_attributes`, the display id as `conversation_id`.
fn api_message_json(s: &World, m: &FakeMessage) -> Value {
    json!({
        "id": m.id,
        "content": m.content,
        "inbox_id": s.conversations.iter().find(|c| c.id == m.conversation_id).map(|c| c.inbox_id),
        "conversation_id": m.conversation_id,
        "message_type": match m.message_type.as_str() {
            "incoming" => 0,
            "outgoing" => 1,
            "activity" => 2,
            _ => 3,
        },
        "content_type": "text",
        "status": m.status,
        "content_attributes": hooks::content_attributes(&m.content_attributes, m.external_error.as_deref()),
        "created_at": m.created_at,
        "private": m.private,
        "source_id": m.source_id,
        "sender": sender_json(s, m),
        "attachments": attachments_json(s, m),
    })
}

fn attachments_json(s: &World, m: &FakeMessage) -> Vec<Value> {
    m.attachments
        .iter()
        .map(|a| {
            json!({
                "id": a.id,
                "file_type": a.file_type,
                "data_url": format!("{}/rails/active_storage/blobs/{}/{}", s.base, a.id, a.file_name),
                "thumb_url": "",
                "file_size": a.bytes.len(),
            })
        })
        .collect()
}

/// `push_event_data` of the sender: a user, an agent bot, a contact; nothing for templates.
fn sender_json(s: &World, m: &FakeMessage) -> Value {
    match m.sender_type.as_deref() {
        Some("user") => json!({ "id": 1, "name": "Agent Smith", "type": "user" }),
        Some("agent_bot") => json!({ "id": 2, "name": "Helper Bot", "type": "agent_bot" }),
        Some(_) => {
            let contact =
                s.conversations.iter().find(|c| c.id == m.conversation_id).map(|c| c.contact_id);
            json!({ "id": contact, "type": "contact" })
        }
        None => Value::Null,
    }
}

fn conversation_json(s: &World, c: &FakeConversation) -> Value {
    let identifier =
        s.contacts.iter().find(|k| k.id == c.contact_id).and_then(|k| k.identifier.clone());
    json!({
        "id": c.id,
        "inbox_id": c.inbox_id,
        "status": c.status,
        "contact_inbox": { "source_id": c.source_id },
        "meta": { "sender": { "id": c.contact_id, "type": "contact", "identifier": identifier } },
        "additional_attributes": c.additional_attributes,
        "created_at": c.created_at,
        "last_activity_at": last_activity(s, c),
    })
}

/// `conversations.last_activity_at`: the creation time of its latest message, private notes
/// included; later updates of a message do not touch it (`app/models/message.rb:324-333`).
fn last_activity(s: &World, c: &FakeConversation) -> i64 {
    s.messages
        .iter()
        .filter(|m| m.conversation_id == c.id)
        .map(|m| m.created_at)
        .max()
        .unwrap_or(c.created_at)
        .max(c.created_at)
}

/// The webhook Chatwoot would send for `message` (`Message#webhook_data`,
/// `app/models/message.rb:180-198`): URL, body, signing secret. No `status` and no
/// top-level `conversation_id` in it; `message_type` by name.
fn webhook_for(s: &World, event: &str, message: u64) -> Option<(String, String, Option<Secret>)> {
    let m = s.messages.iter().find(|m| m.id == message)?;
    let c = s.conversations.iter().find(|c| c.id == m.conversation_id)?;
    let inbox = s.inboxes.get(&c.inbox_id)?;
    let url = inbox.webhook_url.clone()?;
    let mut body = json!({
        "event": event,
        "id": m.id,
        "content": m.content,
        "content_type": "text",
        "content_attributes": hooks::content_attributes(&m.content_attributes, m.external_error.as_deref()),
        "additional_attributes": {},
        "message_type": m.message_type,
        "private": m.private,
        "source_id": m.source_id,
        "created_at": chrono::DateTime::from_timestamp(m.created_at, 0).map(|t| t.to_rfc3339()),
        "sender": sender_json(s, m),
        "conversation": conversation_json(s, c),
        "inbox": { "id": c.inbox_id, "name": inbox.name },
        "account": { "id": s.account_id, "name": "Acme" },
    });
    if !m.attachments.is_empty() {
        body["attachments"] = json!(attachments_json(s, m));
    }
    Some((url, body.to_string(), signing_secret(s, inbox)))
}

/// The secret an inbox's webhooks are signed with: its own, else the installation-wide
/// one the test set.
fn signing_secret(s: &World, inbox: &FakeInbox) -> Option<Secret> {
    inbox.secret.clone().or_else(|| s.webhook_secret.clone())
}

/// `conversation_typing_on/off` (`app/listeners/webhook_listener.rb`): the conversation,
/// the agent, and `is_private` when the agent types a private note.
fn typing_webhook(
    s: &World,
    conversation: u64,
    on: bool,
    is_private: bool,
) -> Option<(String, String, Option<Secret>)> {
    let c = s.conversations.iter().find(|c| c.id == conversation)?;
    let inbox = s.inboxes.get(&c.inbox_id)?;
    let url = inbox.webhook_url.clone()?;
    let body = json!({
        "event": if on { "conversation_typing_on" } else { "conversation_typing_off" },
        "conversation": conversation_json(s, c),
        "user": { "id": 1, "name": "Agent Smith", "type": "user" },
        "is_private": is_private,
    });
    Some((url, body.to_string(), signing_secret(s, inbox)))
}

fn router(state: Shared) -> Router {
    let api = Router::new()
        .route("/contacts", post(create_contact))
        .route("/contacts/search", get(search_contacts))
        .route("/contacts/filter", post(filter_contacts))
        .route("/contacts/{id}", get(show_contact).put(update_contact).delete(delete_contact))
        .route("/contacts/{id}/contact_inboxes", post(create_contact_inbox))
        .route("/contacts/{id}/conversations", get(contact_conversations))
        .route("/conversations", get(listing::list_conversations).post(create_conversation))
        .route("/conversations/{id}", get(get_conversation))
        .route("/conversations/{id}/toggle_status", post(toggle_status))
        .route("/conversations/{id}/messages", get(listing::list_messages).post(create_message))
        .route(
            "/conversations/{cid}/messages/{id}",
            axum::routing::patch(update_message).delete(delete_message),
        )
        .route("/inboxes", get(list_inboxes).post(create_inbox))
        .route("/inboxes/{id}", get(get_inbox).patch(update_inbox).delete(delete_inbox));
    Router::new()
        .nest("/api/v1/accounts/{account}", api)
        .route("/api/v1/profile", get(profile))
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
        .route("/auth/sign_in", post(people::sign_in))
        .route("/auth/sign_out", axum::routing::delete(people::sign_out))
        .route("/api", get(version))
        .route("/rails/active_storage/blobs/{id}/{name}", get(blob))
        .with_state(state)
}

/// Authentication, injected failures and outages, before any handler.
async fn gate(
    State(state): State<Shared>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    {
        let mut s = lock(&state);
        s.requests += 1;
        if s.down {
            return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
        }
        if let Some(t) = &mut s.throttle {
            let since_epoch = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let window = since_epoch.as_millis() / t.period.as_millis().max(1);
            if window != t.window {
                (t.window, t.count) = (window, 0);
            }
            t.count += 1;
            if t.count > t.limit {
                s.throttled += 1;
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("content-type", "text/plain")],
                    "Retry later\n",
                )
                    .into_response();
            }
        }
        if !s.fail_next.is_empty() {
            let status = s.fail_next.remove(0);
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return (
                code,
                [("retry-after", "1")],
                json!({ "error": "injected failure" }).to_string(),
            )
                .into_response();
        }
        // `app/controllers/api/base_controller.rb:4-12`,
        // `app/controllers/concerns/access_token_auth_helper.rb:2-39`.
        let token = request.headers().get("api_access_token").and_then(|v| v.to_str().ok());
        match token {
            None => {
                return (
                    StatusCode::UNAUTHORIZED,
                    json!({ "errors": ["You need to sign in or sign up before continuing."] })
                        .to_string(),
                )
                    .into_response();
            }
            Some(t) if t == s.token => {}
            Some(t) if s.people.by_token(t).is_some() => {
                let user = s.people.by_token(t).cloned();
                if let Some(user) = user {
                    if let Err(refused) =
                        people::person_may(&s, &user, request.method(), request.uri().path())
                    {
                        return refused;
                    }
                }
            }
            Some(t) if s.bot_tokens.iter().any(|b| b == t) => {
                if !access::bot_may(request.method(), request.uri().path()) {
                    return (
                        StatusCode::UNAUTHORIZED,
                        json!({ "error": "Access to this endpoint is not authorized for bots" })
                            .to_string(),
                    )
                        .into_response();
                }
            }
            Some(_) => {
                return (
                    StatusCode::UNAUTHORIZED,
                    json!({ "error": "Invalid Access Token" }).to_string(),
                )
                    .into_response();
            }
        }
        let account = request
            .uri()
            .path()
            .strip_prefix("/api/v1/accounts/")
            .and_then(|p| p.split('/').next())
            .map(str::to_owned);
        let person = token.is_some_and(|t| s.people.by_token(t).is_some());
        if let (Some(account), false) = (account, person) {
            if account != s.account_id.to_string() {
                return (
                    StatusCode::UNAUTHORIZED,
                    json!({ "error": "You are not authorized to access this account" }).to_string(),
                )
                    .into_response();
            }
        }
    }
    next.run(request).await
}

/// `GET /api`, without authentication (`app/controllers/api_controller.rb:1-24`).
async fn version(State(state): State<Shared>) -> Response {
    let s = lock(&state);
    axum::Json(json!({
        "version": s.version,
        "timestamp": chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string(),
        "queue_services": "ok",
        "data_services": "ok",
    }))
    .into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, json!({ "error": "Resource could not be found" }).to_string())
        .into_response()
}

fn unprocessable(message: &str) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, json!({ "message": message }).to_string()).into_response()
}

fn contact_json(c: &FakeContact) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "identifier": c.identifier,
        "thumbnail": c.avatar_url.clone().unwrap_or_default(),
        "additional_attributes": c.additional_attributes,
    })
}

async fn profile(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let s = lock(&state);
    let token = headers.get("api_access_token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if let Some(user) = s.people.by_token(token) {
        // `GET /api/v1/profile`: the user object without the `data` wrapper (§2.2 of
        // chatwoot-signin-and-sweep.md).
        return axum::Json(people::user_json(user)).into_response();
    }
    // `app/views/api/v1/models/_user.json.jbuilder`: one entry per account with the role.
    axum::Json(json!({ "id": 1, "name": "Agent Smith", "accounts": [{ "id": s.account_id, "name": "Acme", "role": "administrator" }] })).into_response()
}

async fn search_contacts(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let s = lock(&state);
    let needle = q.get("q").cloned().unwrap_or_default().to_lowercase();
    let found: Vec<Value> = s
        .contacts
        .iter()
        .filter(|c| {
            c.name.to_lowercase().contains(&needle)
                || c.identifier.as_deref().is_some_and(|i| i.to_lowercase().contains(&needle))
        })
        .map(contact_json)
        .collect();
    axum::Json(json!({ "meta": { "count": found.len() }, "payload": found })).into_response()
}

async fn filter_contacts(
    State(state): State<Shared>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let s = lock(&state);
    let wanted: Vec<String> = body
        .pointer("/payload/0/values")
        .and_then(Value::as_array)
        .map(|v| v.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let key = body.pointer("/payload/0/attribute_key").and_then(Value::as_str).unwrap_or("");
    let found: Vec<Value> = s
        .contacts
        .iter()
        .filter(|c| {
            key == "identifier" && c.identifier.as_ref().is_some_and(|i| wanted.contains(i))
        })
        .map(contact_json)
        .collect();
    axum::Json(json!({ "meta": { "count": found.len() }, "payload": found })).into_response()
}

async fn create_contact(
    State(state): State<Shared>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = lock(&state);
    let identifier = body.get("identifier").and_then(Value::as_str).map(str::to_owned);
    if identifier.is_some() && s.contacts.iter().any(|c| c.identifier == identifier) {
        return unprocessable("Identifier has already been taken");
    }
    let id = s.id();
    let contact = FakeContact {
        id,
        name: body.get("name").and_then(Value::as_str).unwrap_or("").to_owned(),
        identifier,
        avatar_url: body.get("avatar_url").and_then(Value::as_str).map(str::to_owned),
        additional_attributes: body.get("additional_attributes").cloned().unwrap_or(json!({})),
    };
    let out = contact_json(&contact);
    s.contacts.push(contact);
    // `POST /contacts` with `inbox_id` makes a contact inbox, with the given `source_id` or,
    // without one, a random UUID (`chatwoot-api.md`, Contacts).
    let inbox = body.get("inbox_id").and_then(Value::as_u64).filter(|i| s.inboxes.contains_key(i));
    let contact_inbox = match inbox {
        Some(inbox) => {
            let source = body
                .get("source_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            s.contact_inboxes.push((id, inbox, source.clone()));
            json!({ "source_id": source, "inbox": { "id": inbox } })
        }
        None => Value::Null,
    };
    axum::Json(json!({ "payload": { "contact": out, "contact_inbox": contact_inbox } }))
        .into_response()
}

async fn update_contact(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, u64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = lock(&state);
    let Some(c) = s.contacts.iter_mut().find(|c| c.id == id) else { return not_found() };
    if let Some(name) = body.get("name").and_then(Value::as_str) {
        c.name = name.to_owned();
    }
    if let Some(avatar) = body.get("avatar_url").and_then(Value::as_str) {
        c.avatar_url = Some(avatar.to_owned());
    }
    axum::Json(json!({ "payload": contact_json(c) })).into_response()
}

/// `GET contacts/{id}`: `{payload: contact}` (`contact_show_response` in
/// `fixtures/chatwoot/swagger.json`), 404 for a contact that does not exist.
async fn show_contact(State(state): State<Shared>, Path((_, id)): Path<(String, u64)>) -> Response {
    let s = lock(&state);
    match s.contacts.iter().find(|c| c.id == id) {
        Some(c) => axum::Json(json!({ "payload": contact_json(c) })).into_response(),
        None => not_found(),
    }
}

async fn delete_contact(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, u64)>,
) -> Response {
    let mut s = lock(&state);
    let before = s.contacts.len();
    s.contacts.retain(|c| c.id != id);
    if s.contacts.len() == before {
        return not_found();
    }
    let gone: Vec<u64> =
        s.conversations.iter().filter(|c| c.contact_id == id).map(|c| c.id).collect();
    s.conversations.retain(|c| c.contact_id != id);
    s.messages.retain(|m| !gone.contains(&m.conversation_id));
    s.contact_inboxes.retain(|(c, _, _)| *c != id);
    axum::Json(json!({ "message": "Contact deleted" })).into_response()
}

async fn create_contact_inbox(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, u64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = lock(&state);
    let inbox = body.get("inbox_id").and_then(Value::as_u64).unwrap_or(0);
    let source = body.get("source_id").and_then(Value::as_str).unwrap_or("").to_owned();
    if !s.inboxes.contains_key(&inbox) || !s.contacts.iter().any(|c| c.id == id) {
        return not_found();
    }
    // The same (contact, inbox, source_id) answers the existing row; another contact's
    // source id is taken (`chatwoot-api.md`, Contacts).
    if s.contact_inboxes.iter().any(|(c, i, src)| *c == id && *i == inbox && *src == source) {
        return axum::Json(json!({ "source_id": source, "inbox": { "id": inbox } }))
            .into_response();
    }
    if s.contact_inboxes.iter().any(|(_, i, src)| *i == inbox && *src == source) {
        return unprocessable("Source has already been taken");
    }
    s.contact_inboxes.push((id, inbox, source.clone()));
    axum::Json(json!({ "source_id": source, "inbox": { "id": inbox } })).into_response()
}

async fn contact_conversations(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, u64)>,
) -> Response {
    let s = lock(&state);
    let list: Vec<Value> = s
        .conversations
        .iter()
        .filter(|c| c.contact_id == id)
        .map(|c| conversation_json(&s, c))
        .collect();
    axum::Json(json!({ "payload": list })).into_response()
}

async fn create_conversation(
    State(state): State<Shared>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = lock(&state);
    let inbox_id = body.get("inbox_id").and_then(Value::as_u64).unwrap_or(0);
    let contact_id = body.get("contact_id").and_then(Value::as_u64).unwrap_or(0);
    if !s.inboxes.contains_key(&inbox_id) || !s.contacts.iter().any(|c| c.id == contact_id) {
        return unprocessable("inbox or contact missing");
    }
    let id = s.id();
    let conversation = FakeConversation {
        id,
        inbox_id,
        contact_id,
        status: body.get("status").and_then(Value::as_str).unwrap_or("open").to_owned(),
        source_id: body.get("source_id").and_then(Value::as_str).unwrap_or("").to_owned(),
        additional_attributes: body.get("additional_attributes").cloned().unwrap_or(json!({})),
        created_at: chrono::Utc::now().timestamp(),
    };
    let out = conversation_json(&s, &conversation);
    s.conversations.push(conversation);
    axum::Json(out).into_response()
}

async fn get_conversation(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, u64)>,
) -> Response {
    let s = lock(&state);
    match s.conversations.iter().find(|c| c.id == id) {
        Some(c) => axum::Json(conversation_json(&s, c)).into_response(),
        None => not_found(),
    }
}

async fn toggle_status(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, u64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = lock(&state);
    let Some(c) = s.conversations.iter_mut().find(|c| c.id == id) else { return not_found() };
    c.status = body.get("status").and_then(Value::as_str).unwrap_or("open").to_owned();
    axum::Json(json!({ "payload": { "success": true, "current_status": c.status, "conversation_id": id } })).into_response()
}

async fn create_message(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, u64)>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let multipart = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    let mut fields = serde_json::Map::new();
    let mut files = Vec::new();
    if multipart {
        let Ok(mut form) =
            <Multipart as axum::extract::FromRequest<()>>::from_request(request, &()).await
        else {
            return unprocessable("bad multipart body");
        };
        while let Ok(Some(field)) = form.next_field().await {
            let name = field.name().unwrap_or("").to_owned();
            if name == "attachments[]" {
                let file_name = field.file_name().unwrap_or("file").to_owned();
                let content_type =
                    field.content_type().unwrap_or("application/octet-stream").to_owned();
                let bytes = field.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                files.push((file_name, content_type, bytes));
            } else {
                let text = field.text().await.unwrap_or_default();
                let value = if name == "content_attributes" {
                    serde_json::from_str(&text).unwrap_or(json!({}))
                } else if name == "private" {
                    json!(text == "true")
                } else {
                    json!(text)
                };
                fields.insert(name, value);
            }
        }
    } else {
        let Ok(axum::Json(Value::Object(body))) =
            <axum::Json<Value> as axum::extract::FromRequest<()>>::from_request(request, &()).await
        else {
            return unprocessable("bad JSON body");
        };
        fields = body;
    }
    let (out, mid) = {
        let mut s = lock(&state);
        if !s.conversations.iter().any(|c| c.id == id) {
            return not_found();
        }
        if s.flooded.contains(&id) {
            // The flood guard's validation error, rendered by the controller's rescue as 422.
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": "Validation failed: Too many messages" }).to_string(),
            )
                .into_response();
        }
        let message_type =
            fields.get("message_type").and_then(Value::as_str).unwrap_or("outgoing").to_owned();
        let source_id = fields.get("source_id").and_then(Value::as_str).map(str::to_owned);
        if source_id.is_some()
            && s.messages.iter().any(|m| m.conversation_id == id && m.source_id == source_id)
        {
            // Chatwoot does not refuse a repeated source_id: the bridge must not send one.
            tracing::warn!(?source_id, "fake Chatwoot: a second message with the same source_id");
        }
        let mid = s.id();
        let attachments = files
            .into_iter()
            .map(|(file_name, content_type, bytes)| FakeAttachment {
                id: s.id(),
                file_type: file_type(&content_type),
                content_type,
                file_name,
                bytes,
            })
            .collect();
        let incoming = message_type == "incoming";
        let message = FakeMessage {
            id: mid,
            conversation_id: id,
            content: fields.get("content").and_then(Value::as_str).map(str::to_owned),
            message_type,
            private: fields.get("private").and_then(Value::as_bool).unwrap_or(false),
            source_id,
            content_attributes: fields.get("content_attributes").cloned().unwrap_or(json!({})),
            status: "sent".into(),
            external_error: None,
            attachments,
            deleted: false,
            by_agent: false,
            created_at: chrono::Utc::now().timestamp(),
            // The token's user: the bridge writes as a person.
            sender_type: Some(if incoming { "contact" } else { "user" }.into()),
        };
        let out = api_message_json(&s, &message);
        s.messages.push(message);
        (out, mid)
    };
    // Like Chatwoot, the webhook goes out after the answer, from a background job.
    hooks::dispatch_later(&state, "message_created", mid);
    axum::Json(out).into_response()
}

/// `PATCH …/messages/{id}` (v4.2.0+, `messages_controller.rb:16-19,67-79`): `status` and
/// `external_error` through `Messages::StatusUpdateService`; an unknown status is ignored
/// and still answered 200. A change fires `message_updated`.
async fn update_message(
    State(state): State<Shared>,
    Path((_, cid, id)): Path<(String, u64, u64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let (out, changed) = {
        let mut s = lock(&state);
        let Some(index) = s.messages.iter().position(|m| m.id == id && m.conversation_id == cid)
        else {
            return not_found();
        };
        let status = body.get("status").and_then(Value::as_str).unwrap_or("").to_owned();
        let error = body.get("external_error").and_then(Value::as_str).map(str::to_owned);
        let changed = set_status(&mut s.messages[index], &status, error);
        (api_message_json(&s, &s.messages[index]), changed)
    };
    if changed {
        hooks::dispatch_later(&state, "message_updated", id);
    }
    axum::Json(out).into_response()
}

/// `DELETE …/messages/{id}`: the content is replaced and `content_attributes.deleted` set,
/// which fires `message_updated`.
async fn delete_message(
    State(state): State<Shared>,
    Path((_, cid, id)): Path<(String, u64, u64)>,
) -> Response {
    {
        let mut s = lock(&state);
        let Some(m) = s.messages.iter_mut().find(|m| m.id == id && m.conversation_id == cid) else {
            return not_found();
        };
        m.deleted = true;
        m.content = Some("This message was deleted".into());
        if let Value::Object(a) = &mut m.content_attributes {
            a.insert("deleted".into(), json!(true));
        } else {
            m.content_attributes = json!({ "deleted": true });
        }
    }
    hooks::dispatch_later(&state, "message_updated", id);
    axum::Json(json!({ "id": id })).into_response()
}

/// An API inbox as `app/views/api/v1/models/_inbox.json.jbuilder:115-122` renders it for an
/// administrator: with its webhook `secret` from v4.13.0.
fn inbox_json(s: &World, id: u64, inbox: &FakeInbox) -> Value {
    let signed = version_at_least(&s.version, 4, 13);
    json!({
        "id": id,
        "name": inbox.name,
        "channel_type": "Channel::Api",
        "webhook_url": inbox.webhook_url,
        "hmac_token": "fake-hmac-token",
        "secret": if signed { signing_secret(s, inbox).map(|k| k.expose().to_owned()) } else { None },
        "additional_attributes": inbox.additional_attributes,
    })
}

fn version_at_least(version: &str, major: u64, minor: u64) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

async fn list_inboxes(State(state): State<Shared>) -> Response {
    let s = lock(&state);
    let list: Vec<Value> = s.inboxes.iter().map(|(id, i)| inbox_json(&s, *id, i)).collect();
    axum::Json(json!({ "payload": list })).into_response()
}

async fn get_inbox(State(state): State<Shared>, Path((_, id)): Path<(String, u64)>) -> Response {
    let s = lock(&state);
    match s.inboxes.get(&id) {
        Some(i) => axum::Json(inbox_json(&s, id, i)).into_response(),
        None => not_found(),
    }
}

/// `POST /inboxes` and `PATCH /inboxes/{id}`: the channel's editable attributes are
/// `webhook_url`, `hmac_mandatory` and `additional_attributes`
/// (`app/models/channel/api.rb:26`); an update replaces `additional_attributes` whole.
fn apply_channel(inbox: &mut FakeInbox, body: &Value) {
    if let Some(w) = body.pointer("/channel/webhook_url").and_then(Value::as_str) {
        inbox.webhook_url = Some(w.to_owned());
    }
    if let Some(a) = body.pointer("/channel/additional_attributes") {
        inbox.additional_attributes = a.clone();
    }
}

async fn create_inbox(
    State(state): State<Shared>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = lock(&state);
    let name = body.get("name").and_then(Value::as_str).unwrap_or("API").to_owned();
    // v4.13+ generates the new inbox's own webhook secret (PR #13892). Older versions
    // have none: the fake then signs with the installation-wide secret, if a test set one.
    let secret = version_at_least(&s.version, 4, 13)
        .then(|| Secret::new(uuid::Uuid::new_v4().simple().to_string()));
    let mut inbox = FakeInbox { name, webhook_url: None, additional_attributes: json!({}), secret };
    apply_channel(&mut inbox, &body);
    let id = s.id();
    if let Some(url) = &inbox.webhook_url {
        s.webhook_urls_given.push((id, url.clone()));
    }
    let out = inbox_json(&s, id, &inbox);
    s.inboxes.insert(id, inbox);
    axum::Json(out).into_response()
}

async fn update_inbox(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, u64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = lock(&state);
    let Some(inbox) = s.inboxes.get_mut(&id) else { return not_found() };
    apply_channel(inbox, &body);
    let inbox = inbox.clone();
    if let Some(url) = body.pointer("/channel/webhook_url").and_then(Value::as_str) {
        s.webhook_urls_given.push((id, url.to_owned()));
    }
    let out = inbox_json(&s, id, &inbox);
    axum::Json(out).into_response()
}

/// `DELETE /inboxes/{id}`: Chatwoot answers 200 `{"message": …}` at once and destroys the
/// inbox (with its conversations) in a background job; an unknown id is 404 (`find`).
/// Source: chatwoot/chatwoot `app/controllers/api/v1/accounts/inboxes_controller.rb`
/// (`destroy`: `DeleteObjectJob.perform_later(@inbox, …)`, `render status: :ok, json:
/// { message: I18n.t('messages.inbox_deletetion_response') }`). The fake deletes at once.
async fn delete_inbox(State(state): State<Shared>, Path((_, id)): Path<(String, u64)>) -> Response {
    let mut s = lock(&state);
    if s.inboxes.remove(&id).is_none() {
        return not_found();
    }
    axum::Json(json!({ "message": "Your inbox deletion request will be processed in some time." }))
        .into_response()
}

async fn blob(State(state): State<Shared>, Path((id, _name)): Path<(u64, String)>) -> Response {
    let s = lock(&state);
    let file = s.messages.iter().flat_map(|m| m.attachments.iter()).find(|a| a.id == id);
    match file {
        Some(a) => ([("content-type", a.content_type.clone())], a.bytes.clone()).into_response(),
        None => not_found(),
    }
}
