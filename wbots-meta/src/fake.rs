//! [`FakeGraph`] (feature `testkit`): a stateful stand-in for the Graph API's Send, profile
//! and media endpoints on loopback, and [`payload`] builders for the webhook bodies Meta
//! sends. Used by the tests, `wbots sandbox` and the load harness.
//!
//! Like Meta, the fake can echo every message it accepts back to the bridge's webhook
//! (`is_echo`, `app_id`, `metadata`), signed with the app secret.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use url::Url;
use wbots_core::Secret;

use crate::signature::sign_body;

/// One request the fake accepted on `/{version}/{node}/messages`.
#[derive(Clone, Debug, PartialEq)]
pub struct SentMessage {
    /// The node in the path (Page id, Instagram id or `me`).
    pub node: String,
    /// The bearer token used.
    pub token: String,
    /// `recipient.id`.
    pub recipient: String,
    /// `messaging_type`.
    pub messaging_type: Option<String>,
    /// `tag`.
    pub tag: Option<String>,
    /// `message.text`.
    pub text: Option<String>,
    /// `message.attachment.type`.
    pub attachment_type: Option<String>,
    /// `message.attachment.payload.url`.
    pub attachment_url: Option<String>,
    /// The uploaded `filedata`: (file name, content type, length).
    pub upload: Option<(String, String, usize)>,
    /// `message.metadata`.
    pub metadata: Option<String>,
    /// `reply_to.mid`.
    pub reply_to: Option<String>,
    /// `sender_action`.
    pub sender_action: Option<String>,
    /// `payload.reaction`.
    pub reaction: Option<String>,
    /// The `message_id` the fake answered with (none for sender actions).
    pub message_id: Option<String>,
}

#[derive(Default)]
struct World {
    sent: Vec<SentMessage>,
    next: u64,
    names: HashMap<String, (String, String)>,
    media: HashMap<String, (String, Vec<u8>)>,
    failures: Vec<(u16, Value)>,
    echo: Option<(String, Secret, Option<String>, String)>,
    base: String,
}

/// The fake Graph API. Dropping it stops the server.
pub struct FakeGraph {
    url: Url,
    world: Arc<Mutex<World>>,
    _server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeGraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGraph").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

fn lock(w: &Mutex<World>) -> MutexGuard<'_, World> {
    w.lock().unwrap_or_else(|e| e.into_inner())
}

type Shared = Arc<Mutex<World>>;

impl FakeGraph {
    /// Starts the fake on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let base = format!("http://{}", listener.local_addr()?);
        let world: Shared = Arc::new(Mutex::new(World { base: base.clone(), ..World::default() }));
        let app = Router::new()
            .route("/{version}/{node}/messages", post(messages))
            .route("/{version}/{node}/subscribed_apps", get(subscribed_apps).post(subscribe))
            .route("/{version}/{node}", get(profile))
            .route("/media/{name}", get(media))
            .with_state(world.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url: Url::parse(&base).map_err(std::io::Error::other)?, world, _server: server })
    }

    /// The base URL (`meta.graph_url` and `meta.instagram_graph_url`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Every accepted send, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        lock(&self.world).sent.clone()
    }

    /// Names a customer: profiles answer with it.
    pub fn set_name(&self, user: &str, first: &str, last: &str) {
        lock(&self.world).names.insert(user.to_owned(), (first.to_owned(), last.to_owned()));
    }

    /// Serves `bytes` at a URL on the fake, as Meta's CDN serves attachments.
    pub fn host_media(&self, name: &str, content_type: &str, bytes: Vec<u8>) -> Url {
        let mut w = lock(&self.world);
        w.media.insert(name.to_owned(), (content_type.to_owned(), bytes));
        let base = w.base.clone();
        Url::parse(&format!("{base}/media/{name}")).unwrap_or_else(|_| self.url.clone())
    }

    /// Answers the next `n` sends with HTTP `status`, `Retry-After: 1` and this Graph error
    /// body, e.g.
    /// `json!({"error": {"code": 613, "message": "Calls to this API have exceeded the rate limit"}})`.
    pub fn fail_next(&self, n: usize, status: u16, body: Value) {
        lock(&self.world).failures.extend(std::iter::repeat_n((status, body), n));
    }

    /// Echoes every accepted message to `webhook_url`, signed with `app_secret`, as Meta
    /// does; `object` is `page` or `instagram`.
    pub fn echo_to(
        &self,
        webhook_url: &str,
        app_secret: Secret,
        app_id: Option<String>,
        object: &str,
    ) {
        lock(&self.world).echo =
            Some((webhook_url.to_owned(), app_secret, app_id, object.to_owned()));
    }
}

async fn messages(
    State(world): State<Shared>,
    Path((_version, node)): Path<(String, String)>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    if token.is_empty() {
        return (StatusCode::BAD_REQUEST, json!({"error": {"message": "An access token is required", "type": "OAuthException", "code": 190}}).to_string()).into_response();
    }
    let multipart = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    let mut body = json!({});
    let mut upload = None;
    if multipart {
        let Ok(mut form) = Multipart::from_request(request, &()).await else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        while let Ok(Some(field)) = form.next_field().await {
            let name = field.name().unwrap_or("").to_owned();
            if name == "filedata" {
                let file_name = field.file_name().unwrap_or("").to_owned();
                let content_type = field.content_type().unwrap_or("").to_owned();
                let len = field.bytes().await.map(|b| b.len()).unwrap_or(0);
                upload = Some((file_name, content_type, len));
            } else {
                let text = field.text().await.unwrap_or_default();
                body[name] = serde_json::from_str(&text).unwrap_or(Value::String(text));
            }
        }
    } else {
        let Ok(axum::Json(v)) = axum::Json::<Value>::from_request(request, &()).await else {
            return (
                StatusCode::BAD_REQUEST,
                json!({"error": {"message": "(#100) Invalid JSON", "code": 100}}).to_string(),
            )
                .into_response();
        };
        body = v;
    }
    let (answer, echo) = {
        let mut w = lock(&world);
        if !w.failures.is_empty() {
            let (status, error) = w.failures.remove(0);
            // Retry-After: 1 keeps tests fast; without it the bridge waits a minute.
            return (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                [("retry-after", "1")],
                error.to_string(),
            )
                .into_response();
        }
        let text = |p: &str| body.pointer(p).and_then(Value::as_str).map(str::to_owned);
        let sender_action = text("/sender_action");
        let message_id = if sender_action.is_some() {
            None
        } else {
            w.next += 1;
            Some(format!("m_fake_{}", w.next))
        };
        let sent = SentMessage {
            node: node.clone(),
            token,
            recipient: text("/recipient/id").unwrap_or_default(),
            messaging_type: text("/messaging_type"),
            tag: text("/tag"),
            text: text("/message/text"),
            attachment_type: text("/message/attachment/type"),
            attachment_url: text("/message/attachment/payload/url"),
            upload,
            metadata: text("/message/metadata"),
            reply_to: text("/reply_to/mid"),
            sender_action,
            reaction: text("/payload/reaction"),
            message_id: message_id.clone(),
        };
        let echo = match (&w.echo, &message_id) {
            (Some((url, secret, app_id, object)), Some(mid)) => {
                let account = if node == "me" { "me".to_owned() } else { node.clone() };
                let body = payload::echo(
                    object,
                    &account,
                    &sent.recipient,
                    mid,
                    sent.text.as_deref(),
                    sent.metadata.as_deref(),
                    app_id.as_deref(),
                    chrono::Utc::now().timestamp_millis(),
                );
                Some((url.clone(), secret.clone(), body))
            }
            _ => None,
        };
        let recipient = sent.recipient.clone();
        w.sent.push(sent);
        let mut answer = json!({ "recipient_id": recipient });
        if let Some(mid) = message_id {
            answer["message_id"] = json!(mid);
        }
        (answer, echo)
    };
    if let Some((url, secret, body)) = echo {
        // Meta echoes shortly after accepting the send, from elsewhere.
        tokio::spawn(async move {
            let _ = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", sign_body(&secret, body.as_bytes()))
                .body(body)
                .send()
                .await;
        });
    }
    axum::Json(answer).into_response()
}

async fn subscribed_apps(State(world): State<Shared>) -> Response {
    let w = lock(&world);
    let app = w
        .echo
        .as_ref()
        .and_then(|(_, _, app, _)| app.clone())
        .unwrap_or_else(|| "1517776481860111".into());
    axum::Json(json!({ "data": [{ "id": app, "name": "wbots", "subscribed_fields": ["messages", "message_echoes"] }] })).into_response()
}

async fn subscribe() -> Response {
    axum::Json(json!({ "success": true })).into_response()
}

async fn profile(
    State(world): State<Shared>,
    Path((_version, user)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let w = lock(&world);
    let tail: String = user.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    let (first, last) = w.names.get(&user).cloned().unwrap_or_else(|| ("Customer".into(), tail));
    let fields = q.get("fields").cloned().unwrap_or_default();
    let pic = format!("{}/media/avatar-{user}.jpg", w.base);
    if fields.contains("first_name") {
        axum::Json(
            json!({ "first_name": first, "last_name": last, "profile_pic": pic, "id": user }),
        )
        .into_response()
    } else {
        axum::Json(json!({ "name": format!("{first} {last}"), "username": first.to_lowercase(), "profile_pic": pic, "id": user })).into_response()
    }
}

async fn media(State(world): State<Shared>, Path(name): Path<String>) -> Response {
    let w = lock(&world);
    match w.media.get(&name) {
        Some((ct, bytes)) => ([("content-type", ct.clone())], bytes.clone()).into_response(),
        None if name.starts_with("avatar-") => {
            ([("content-type", "image/jpeg".to_owned())], b"JPEG".to_vec()).into_response()
        }
        None => (StatusCode::NOT_FOUND, "URL signature expired").into_response(),
    }
}

/// Webhook bodies as Meta sends them (shapes from the reference's examples).
pub mod payload {
    use serde_json::{Value, json};

    /// One `messaging` item from a customer.
    pub fn customer_item(
        account: &str,
        customer: &str,
        ts_ms: i64,
        key: &str,
        value: Value,
    ) -> Value {
        let mut item = json!({ "sender": { "id": customer }, "recipient": { "id": account }, "timestamp": ts_ms });
        item[key] = value;
        item
    }

    /// A whole webhook body: `object` (`page` / `instagram`) with one entry per
    /// (account, items).
    pub fn body(object: &str, entries: &[(&str, Vec<Value>)]) -> String {
        let entry: Vec<Value> = entries
            .iter()
            .map(|(account, items)| json!({ "id": account, "time": chrono::Utc::now().timestamp_millis(), "messaging": items }))
            .collect();
        json!({ "object": object, "entry": entry }).to_string()
    }

    /// A customer's text message.
    pub fn text(
        object: &str,
        account: &str,
        customer: &str,
        mid: &str,
        text: &str,
        ts_ms: i64,
    ) -> String {
        body(
            object,
            &[(
                account,
                vec![customer_item(
                    account,
                    customer,
                    ts_ms,
                    "message",
                    json!({ "mid": mid, "text": text }),
                )],
            )],
        )
    }

    /// A customer's image (or other attachment `kind`) served at `url`.
    pub fn attachment(
        object: &str,
        account: &str,
        customer: &str,
        mid: &str,
        kind: &str,
        url: &str,
        ts_ms: i64,
    ) -> String {
        let message =
            json!({ "mid": mid, "attachments": [{ "type": kind, "payload": { "url": url } }] });
        body(
            object,
            &[(account, vec![customer_item(account, customer, ts_ms, "message", message)])],
        )
    }

    /// An echo of a message the business account sent.
    #[allow(clippy::too_many_arguments)]
    pub fn echo(
        object: &str,
        account: &str,
        customer: &str,
        mid: &str,
        text: Option<&str>,
        metadata: Option<&str>,
        app_id: Option<&str>,
        ts_ms: i64,
    ) -> String {
        let mut message = json!({ "mid": mid, "is_echo": true });
        if let Some(t) = text {
            message["text"] = json!(t);
        }
        if let Some(m) = metadata {
            message["metadata"] = json!(m);
        }
        if let Some(a) = app_id {
            message["app_id"] = a.parse::<u64>().map(Value::from).unwrap_or_else(|_| json!(a));
        }
        let item = json!({ "sender": { "id": account }, "recipient": { "id": customer }, "timestamp": ts_ms, "message": message });
        body(object, &[(account, vec![item])])
    }

    /// A delivery receipt (Messenger).
    pub fn delivery(account: &str, customer: &str, mids: &[&str], watermark_ms: i64) -> String {
        let item = customer_item(
            account,
            customer,
            watermark_ms,
            "delivery",
            json!({ "mids": mids, "watermark": watermark_ms }),
        );
        body("page", &[(account, vec![item])])
    }

    /// A read receipt (Messenger's watermark form).
    pub fn read(account: &str, customer: &str, watermark_ms: i64) -> String {
        body(
            "page",
            &[(
                account,
                vec![customer_item(
                    account,
                    customer,
                    watermark_ms,
                    "read",
                    json!({ "watermark": watermark_ms }),
                )],
            )],
        )
    }

    /// A reaction (`react` / `unreact`).
    pub fn reaction(
        object: &str,
        account: &str,
        customer: &str,
        target: &str,
        emoji: Option<&str>,
        action: &str,
        ts_ms: i64,
    ) -> String {
        let mut r = json!({ "mid": target, "action": action });
        if let Some(e) = emoji {
            r["emoji"] = json!(e);
            r["reaction"] = json!("love");
        }
        body(object, &[(account, vec![customer_item(account, customer, ts_ms, "reaction", r)])])
    }
}
