//! [`FakeChatwoot`] (feature `testkit`): a stateful stand-in for Chatwoot's Application API
//! on loopback, for tests, `wbots sandbox` and the load harness.
//!
//! It keeps contacts, contact inboxes, conversations, messages (with uploaded files) and API
//! inboxes; checks the `api_access_token`; and — as Chatwoot does — posts a
//! `message_created` webhook to the inbox's `webhook_url` for **every** message created,
//! the bridge's own included, signed when a webhook secret is set. Tests act as agents with
//! [`FakeChatwoot::agent_reply`] and inject failures with [`FakeChatwoot::fail_next`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use url::Url;
use wbots_core::Secret;

use crate::webhook::sign_webhook;

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
}

#[derive(Debug, Default)]
struct World {
    next_id: u64,
    token: String,
    account_id: u64,
    base: String,
    webhook_secret: Option<Secret>,
    inboxes: HashMap<u64, (String, Option<String>)>,
    contacts: Vec<FakeContact>,
    contact_inboxes: Vec<(u64, u64, String)>,
    conversations: Vec<FakeConversation>,
    messages: Vec<FakeMessage>,
    fail_next: Vec<u16>,
    down: bool,
    requests: u64,
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
    http: reqwest::Client,
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
            ..World::default()
        }));
        let app = router(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let url = Url::parse(&base).map_err(std::io::Error::other)?;
        Ok(Self { url, state, http: reqwest::Client::new(), _server: server })
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
        s.inboxes.insert(id, (name.to_owned(), webhook_url.map(str::to_owned)));
        id
    }

    /// Points an inbox's webhook at `url`.
    pub fn set_webhook_url(&self, inbox: u64, url: &str) {
        if let Some(i) = lock(&self.state).inboxes.get_mut(&inbox) {
            i.1 = Some(url.to_owned());
        }
    }

    /// The webhook URL of an inbox.
    pub fn webhook_url(&self, inbox: u64) -> Option<String> {
        lock(&self.state).inboxes.get(&inbox).and_then(|(_, w)| w.clone())
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

    /// Answers the next `n` API requests with `status` (a 429 carries `Retry-After: 1`).
    pub fn fail_next(&self, n: usize, status: u16) {
        lock(&self.state).fail_next.extend(std::iter::repeat_n(status, n));
    }

    /// Answers every API request 503 while `down`.
    pub fn set_down(&self, down: bool) {
        lock(&self.state).down = down;
    }

    /// An agent writes `text` (and files) in a conversation: the message is created and its
    /// `message_created` webhook delivered before this returns. Returns the message id and
    /// the webhook's HTTP status (`None` when the inbox has no webhook URL or it failed).
    pub async fn agent_reply(
        &self,
        conversation: u64,
        text: &str,
        files: Vec<(String, String, Vec<u8>)>,
    ) -> (u64, Option<u16>) {
        let (id, hook) = {
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
            s.messages.push(FakeMessage {
                id,
                conversation_id: conversation,
                content: Some(text.to_owned()),
                message_type: "outgoing".into(),
                private: false,
                source_id: None,
                content_attributes: json!({}),
                status: "sent".into(),
                external_error: None,
                attachments,
                deleted: false,
                by_agent: true,
            });
            (id, webhook_for(&s, "message_created", id))
        };
        let status = self.deliver(hook).await;
        (id, status)
    }

    /// An agent presses *retry* on a failed message: Chatwoot sets it back to `sent` and
    /// sends `message_updated`.
    pub async fn agent_retry(&self, message: u64) -> Option<u16> {
        let hook = {
            let mut s = lock(&self.state);
            if let Some(m) = s.messages.iter_mut().find(|m| m.id == message) {
                m.status = "sent".into();
                m.external_error = None;
                m.content_attributes = json!({});
            }
            webhook_for(&s, "message_updated", message)
        };
        self.deliver(hook).await
    }

    async fn deliver(&self, hook: Option<(String, String, Option<Secret>)>) -> Option<u16> {
        let (url, body, secret) = hook?;
        send_webhook(&self.http, &url, body, secret.as_ref()).await
    }
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

async fn send_webhook(
    http: &reqwest::Client,
    url: &str,
    body: String,
    secret: Option<&Secret>,
) -> Option<u16> {
    let mut req = http.post(url).header("content-type", "application/json");
    if let Some(secret) = secret {
        let ts = chrono::Utc::now().timestamp();
        req = req
            .header("x-chatwoot-timestamp", ts.to_string())
            .header("x-chatwoot-signature", sign_webhook(secret, ts, body.as_bytes()))
            .header("x-chatwoot-delivery", uuid::Uuid::new_v4().to_string());
    }
    req.body(body).send().await.ok().map(|r| r.status().as_u16())
}

fn message_json(s: &World, m: &FakeMessage) -> Value {
    json!({
        "id": m.id,
        "content": m.content,
        "content_type": "text",
        "content_attributes": m.content_attributes,
        "message_type": m.message_type,
        "private": m.private,
        "source_id": m.source_id,
        "status": m.status,
        "conversation_id": m.conversation_id,
        "created_at": chrono::Utc::now().timestamp(),
        "attachments": m.attachments.iter().map(|a| json!({
            "id": a.id,
            "file_type": a.file_type,
            "data_url": format!("{}/rails/active_storage/blobs/{}/{}", s.base, a.id, a.file_name),
            "thumb_url": "",
            "file_size": a.bytes.len(),
        })).collect::<Vec<_>>(),
    })
}

fn conversation_json(c: &FakeConversation) -> Value {
    json!({
        "id": c.id,
        "inbox_id": c.inbox_id,
        "status": c.status,
        "contact_inbox": { "source_id": c.source_id },
        "meta": { "sender": { "id": c.contact_id, "type": "contact" } },
        "additional_attributes": c.additional_attributes,
    })
}

/// The webhook Chatwoot would send for `message`: URL, body, signing secret.
fn webhook_for(s: &World, event: &str, message: u64) -> Option<(String, String, Option<Secret>)> {
    let m = s.messages.iter().find(|m| m.id == message)?;
    let c = s.conversations.iter().find(|c| c.id == m.conversation_id)?;
    let (inbox_name, url) = s.inboxes.get(&c.inbox_id)?;
    let url = url.clone()?;
    let mut body = message_json(s, m);
    body["event"] = json!(event);
    body["created_at"] = json!(chrono::Utc::now().to_rfc3339());
    body["additional_attributes"] = json!({});
    body["sender"] = if m.message_type == "outgoing" {
        json!({ "id": 1, "name": "Agent Smith", "type": "user" })
    } else {
        json!({ "id": c.contact_id, "type": "contact" })
    };
    body["conversation"] = conversation_json(c);
    body["inbox"] = json!({ "id": c.inbox_id, "name": inbox_name });
    body["account"] = json!({ "id": s.account_id, "name": "Acme" });
    Some((url, body.to_string(), s.webhook_secret.clone()))
}

fn router(state: Shared) -> Router {
    let api = Router::new()
        .route("/contacts", post(create_contact))
        .route("/contacts/search", get(search_contacts))
        .route("/contacts/filter", post(filter_contacts))
        .route("/contacts/{id}", axum::routing::put(update_contact).delete(delete_contact))
        .route("/contacts/{id}/contact_inboxes", post(create_contact_inbox))
        .route("/contacts/{id}/conversations", get(contact_conversations))
        .route("/conversations", post(create_conversation))
        .route("/conversations/{id}", get(get_conversation))
        .route("/conversations/{id}/toggle_status", post(toggle_status))
        .route("/conversations/{id}/messages", get(list_messages).post(create_message))
        .route(
            "/conversations/{cid}/messages/{id}",
            axum::routing::patch(update_message).delete(delete_message),
        )
        .route("/inboxes", get(list_inboxes).post(create_inbox))
        .route("/inboxes/{id}", get(get_inbox).patch(update_inbox));
    Router::new()
        .nest("/api/v1/accounts/{account}", api)
        .route("/api/v1/profile", get(profile))
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate))
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
        let token = request.headers().get("api_access_token").and_then(|v| v.to_str().ok());
        if token != Some(s.token.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                json!({ "errors": ["You need to sign in or sign up before continuing."] })
                    .to_string(),
            )
                .into_response();
        }
        let account = request
            .uri()
            .path()
            .strip_prefix("/api/v1/accounts/")
            .and_then(|p| p.split('/').next())
            .map(str::to_owned);
        if let Some(account) = account {
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

async fn profile(State(state): State<Shared>) -> Response {
    let s = lock(&state);
    axum::Json(json!({ "id": 1, "name": "Agent Smith", "accounts": [{ "id": s.account_id, "name": "Acme" }] })).into_response()
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
    axum::Json(json!({ "payload": { "contact": out, "contact_inbox": { "source_id": null } } }))
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
    let list: Vec<Value> =
        s.conversations.iter().filter(|c| c.contact_id == id).map(conversation_json).collect();
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
    };
    let out = conversation_json(&conversation);
    s.conversations.push(conversation);
    axum::Json(out).into_response()
}

async fn get_conversation(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, u64)>,
) -> Response {
    let s = lock(&state);
    match s.conversations.iter().find(|c| c.id == id) {
        Some(c) => axum::Json(conversation_json(c)).into_response(),
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

async fn list_messages(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, u64)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let s = lock(&state);
    if !s.conversations.iter().any(|c| c.id == id) {
        return not_found();
    }
    let before = q.get("before").and_then(|b| b.parse::<u64>().ok()).unwrap_or(u64::MAX);
    let mut page: Vec<&FakeMessage> =
        s.messages.iter().filter(|m| m.conversation_id == id && m.id < before).collect();
    let skip = page.len().saturating_sub(20);
    page.drain(..skip);
    let payload: Vec<Value> = page.iter().map(|m| message_json(&s, m)).collect();
    axum::Json(json!({ "meta": {}, "payload": payload })).into_response()
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
    let (out, hook) = {
        let mut s = lock(&state);
        if !s.conversations.iter().any(|c| c.id == id) {
            return not_found();
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
        };
        let out = message_json(&s, &message);
        s.messages.push(message);
        (out, webhook_for(&s, "message_created", mid))
    };
    // Like Chatwoot, the webhook goes out after the answer, from a background job.
    if let Some((url, body, secret)) = hook {
        tokio::spawn(async move {
            send_webhook(&reqwest::Client::new(), &url, body, secret.as_ref()).await;
        });
    }
    axum::Json(out).into_response()
}

async fn update_message(
    State(state): State<Shared>,
    Path((_, cid, id)): Path<(String, u64, u64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = lock(&state);
    let Some(m) = s.messages.iter_mut().find(|m| m.id == id && m.conversation_id == cid) else {
        return not_found();
    };
    if let Some(status) = body.get("status").and_then(Value::as_str) {
        if !["sent", "delivered", "read", "failed"].contains(&status) {
            return unprocessable("invalid status");
        }
        m.status = status.to_owned();
    }
    m.external_error = body.get("external_error").and_then(Value::as_str).map(str::to_owned);
    let out = json!({ "id": m.id, "status": m.status });
    axum::Json(out).into_response()
}

async fn delete_message(
    State(state): State<Shared>,
    Path((_, cid, id)): Path<(String, u64, u64)>,
) -> Response {
    let mut s = lock(&state);
    let Some(m) = s.messages.iter_mut().find(|m| m.id == id && m.conversation_id == cid) else {
        return not_found();
    };
    m.deleted = true;
    m.content = Some("This message was deleted".into());
    axum::Json(json!({ "id": id })).into_response()
}

fn inbox_json(id: u64, name: &str, webhook: &Option<String>) -> Value {
    json!({ "id": id, "name": name, "channel_type": "Channel::Api", "webhook_url": webhook })
}

async fn list_inboxes(State(state): State<Shared>) -> Response {
    let s = lock(&state);
    let list: Vec<Value> = s.inboxes.iter().map(|(id, (n, w))| inbox_json(*id, n, w)).collect();
    axum::Json(json!({ "payload": list })).into_response()
}

async fn get_inbox(State(state): State<Shared>, Path((_, id)): Path<(String, u64)>) -> Response {
    let s = lock(&state);
    match s.inboxes.get(&id) {
        Some((n, w)) => axum::Json(inbox_json(id, n, w)).into_response(),
        None => not_found(),
    }
}

async fn create_inbox(
    State(state): State<Shared>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = lock(&state);
    let name = body.get("name").and_then(Value::as_str).unwrap_or("API").to_owned();
    let webhook = body.pointer("/channel/webhook_url").and_then(Value::as_str).map(str::to_owned);
    let id = s.id();
    s.inboxes.insert(id, (name.clone(), webhook.clone()));
    axum::Json(inbox_json(id, &name, &webhook)).into_response()
}

async fn update_inbox(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, u64)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = lock(&state);
    let Some((name, webhook)) = s.inboxes.get_mut(&id) else { return not_found() };
    if let Some(w) = body.pointer("/channel/webhook_url").and_then(Value::as_str) {
        *webhook = Some(w.to_owned());
    }
    let out = inbox_json(id, name, webhook);
    axum::Json(out).into_response()
}

async fn blob(State(state): State<Shared>, Path((id, _name)): Path<(u64, String)>) -> Response {
    let s = lock(&state);
    let file = s.messages.iter().flat_map(|m| m.attachments.iter()).find(|a| a.id == id);
    match file {
        Some(a) => ([("content-type", a.content_type.clone())], a.bytes.clone()).into_response(),
        None => not_found(),
    }
}
