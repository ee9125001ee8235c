//! The fake's endpoints. Each rule cites the Meta page it follows (S-numbers of
//! `shared/reference/meta-platform.md`).

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use wbots_core::Secret;
use wbots_meta::{appsecret_proof, sign_body};

use super::{SentMessage, Shared, Upload, World, lock, payload};

/// "Max file size is 8 MB for images and 25 MB for all other file types" (S19; Instagram
/// the same, S25/S26).
const MAX_IMAGE_BYTES: usize = 8 * 1024 * 1024;
const MAX_FILE_BYTES: usize = 25 * 1024 * 1024;

/// The fields a Page subscription takes (S1's table). Instagram-Login names such as
/// `messaging_seen` or `messaging_referral` are not among them (meta-platform.md §9).
const PAGE_FIELDS: &[&str] = &[
    "messages",
    "message_echoes",
    "message_deliveries",
    "message_reads",
    "message_reactions",
    "message_edits",
    "messaging_postbacks",
    "messaging_referrals",
    "messaging_optins",
    "messaging_handovers",
    "standby",
    "messaging_policy_enforcement",
    "messaging_account_linking",
    "messaging_feedback",
    "inbox_labels",
    "feed",
];

type Q = Query<HashMap<String, String>>;

/// A Graph error answer (S21, S22 shape).
pub(super) fn graph_error(status: u16, code: i64, subcode: Option<i64>, message: &str) -> Response {
    let mut error = json!({ "message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AFakeTrace" });
    if let Some(s) = subcode {
        error["error_subcode"] = json!(s);
    }
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        axum::Json(json!({ "error": error })),
    )
        .into_response()
}

fn limit_for(attachment_type: &str) -> usize {
    if attachment_type == "image" { MAX_IMAGE_BYTES } else { MAX_FILE_BYTES }
}

fn too_large() -> Response {
    // The legacy Send-API table's answer for an oversized attachment (S21 legacy, S19).
    graph_error(400, 100, Some(2018109), "(#100) Attachment size exceeds allowable limit")
}

/// The caller's token, after the checks every Graph call goes through: a refused token
/// (S22: 190 with subcode 460 once invalidated) and, when the app requires it, a correct
/// `appsecret_proof` (S34: "API calls from the server require an appsecret_proof
/// argument" / "Invalid appsecret_proof provided in the API argument", code 100).
#[allow(clippy::result_large_err)]
pub(super) fn authorize(
    w: &mut World,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<String, Response> {
    w.calls += 1;
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or_else(|| query.get("access_token").cloned())
        .unwrap_or_default();
    if token.is_empty() {
        return Err(graph_error(
            400,
            190,
            None,
            "An access token is required to request this resource.",
        ));
    }
    if w.revoked.contains(&token) {
        return Err(graph_error(
            400,
            190,
            Some(460),
            "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
        ));
    }
    if let Some(secret) = &w.require_proof {
        let expected = appsecret_proof(secret, &token);
        match query.get("appsecret_proof") {
            None => {
                return Err(graph_error(
                    400,
                    100,
                    None,
                    "API calls from the server require an appsecret_proof argument",
                ));
            }
            Some(given) if given != &expected => {
                return Err(graph_error(
                    400,
                    100,
                    None,
                    "Invalid appsecret_proof provided in the API argument",
                ));
            }
            Some(_) => {}
        }
    }
    Ok(token)
}

/// A request body as JSON, or as the multipart form Meta also takes (fields holding JSON
/// text, and `filedata`): (body, uploaded file as (name, content type, bytes)).
#[allow(clippy::result_large_err)]
async fn read_body(
    headers: &HeaderMap,
    request: Request,
) -> Result<(Value, Option<(String, String, Vec<u8>)>), Response> {
    let multipart = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/"));
    if !multipart {
        return match axum::Json::<Value>::from_request(request, &()).await {
            Ok(axum::Json(v)) => Ok((v, None)),
            Err(_) => Err(graph_error(400, 100, None, "(#100) Invalid JSON")),
        };
    }
    let Ok(mut form) = Multipart::from_request(request, &()).await else {
        return Err(StatusCode::BAD_REQUEST.into_response());
    };
    let mut body = json!({});
    let mut file = None;
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or("").to_owned();
        if name == "filedata" {
            let file_name = field.file_name().unwrap_or("").to_owned();
            let content_type = field.content_type().unwrap_or("").to_owned();
            let bytes = field.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            file = Some((file_name, content_type, bytes));
        } else {
            let text = field.text().await.unwrap_or_default();
            body[name] = serde_json::from_str(&text).unwrap_or(Value::String(text));
        }
    }
    Ok((body, file))
}

/// The Page a node names: a Page id, or `me` with a Page token.
fn page_of(w: &World, node: &str, token: &str) -> Option<String> {
    if w.pages.contains_key(node) {
        return Some(node.to_owned());
    }
    if node == "me" {
        return w.page_of_token(token).map(|(id, _)| id);
    }
    None
}

pub(super) async fn messages(
    State(world): State<Shared>,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Q,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let token = match authorize(&mut lock(&world), &headers, &query) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let (body, file) = match read_body(&headers, request).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (answer, echo) = {
        let mut w = lock(&world);
        if !w.failures.is_empty() {
            let (status, error, extra) = w.failures.remove(0);
            let mut response = (
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                error.to_string(),
            )
                .into_response();
            for (k, v) in extra {
                if let (Ok(k), Ok(v)) = (
                    axum::http::HeaderName::from_bytes(k.as_bytes()),
                    axum::http::HeaderValue::from_str(&v),
                ) {
                    response.headers_mut().insert(k, v);
                }
            }
            return response;
        }
        let text = |p: &str| body.pointer(p).and_then(Value::as_str).map(str::to_owned);
        let recipient = text("/recipient/id").unwrap_or_default();
        let instagram = w.instagram_users.contains(&recipient) || w.is_linked_instagram(&node);
        let attachment_type = text("/message/attachment/type");
        if let Some((_, _, bytes)) = &file {
            // Multipart `filedata` straight to `/messages` is documented for Messenger only;
            // Instagram takes files by URL or attachment_id (S19, S26; meta-platform.md §9).
            if instagram {
                return graph_error(400, 100, Some(2018047), "(#100) Upload attachment failure.");
            }
            if bytes.len() > limit_for(attachment_type.as_deref().unwrap_or("file")) {
                return too_large();
            }
        }
        let attachment_id =
            body.pointer("/message/attachment/payload/attachment_id").and_then(|v| {
                v.as_str().map(str::to_owned).or_else(|| v.as_u64().map(|n| n.to_string()))
            });
        if let Some(id) = &attachment_id {
            // Attachment ids are private to the Page that uploaded them, and an Instagram
            // upload names its platform (S19, S26).
            let page = page_of(&w, &node, &token);
            let valid = w.attachments.get(id).is_some_and(|(owner, platform)| {
                page.as_deref().is_none_or(|p| p == owner)
                    && (platform.as_deref() == Some("instagram")) == instagram
            });
            if !valid {
                return graph_error(
                    400,
                    100,
                    Some(2018074),
                    "(#100) The attachment_id is not valid or does not belong to this Page.",
                );
            }
        }
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
            recipient: recipient.clone(),
            messaging_type: text("/messaging_type"),
            tag: text("/tag"),
            text: text("/message/text"),
            attachment_type,
            attachment_url: text("/message/attachment/payload/url"),
            attachment_id,
            upload: file.map(|(name, ct, bytes)| (name, ct, bytes.len())),
            metadata: text("/message/metadata"),
            reply_to: text("/reply_to/mid"),
            sender_action,
            reaction: text("/payload/reaction"),
            message_id: message_id.clone(),
            appsecret_proof: query.get("appsecret_proof").cloned(),
        };
        let echo = match (&w.echo, &message_id) {
            (Some((url, secret, app_id, object)), Some(mid)) => {
                // An Instagram echo comes from the Instagram account, under `instagram`
                // (S15, S16), even when the send went through its Page.
                let account = page_of(&w, &node, &sent.token)
                    .and_then(|p| w.pages.get(&p).and_then(|p| p.instagram.clone()))
                    .filter(|_| instagram)
                    .unwrap_or_else(|| node.clone());
                let object = if instagram { "instagram" } else { object.as_str() };
                let body = payload::echo(
                    object,
                    &account,
                    &sent.recipient,
                    mid,
                    sent.text.as_deref(),
                    // `metadata` comes back on Messenger echoes (S5, S23); Meta documents
                    // none for Instagram (meta-platform.md §9).
                    sent.metadata.as_deref().filter(|_| !instagram),
                    app_id.as_deref(),
                    chrono::Utc::now().timestamp_millis(),
                );
                Some((url.clone(), secret.clone(), body))
            }
            _ => None,
        };
        w.sent.push(sent);
        let mut answer = json!({ "recipient_id": recipient });
        if let Some(mid) = message_id {
            answer["message_id"] = json!(mid);
        }
        (answer, echo)
    };
    if let Some((url, secret, body)) = echo {
        // Meta echoes shortly after accepting the send, from elsewhere.
        tokio::spawn(deliver_until_acknowledged(url, secret, body));
    }
    let mut held = lock(&world).hold_answers.subscribe();
    // Returns at once unless a test holds answers; an error means the fake is shutting down.
    let _ = held.wait_for(|hold| !hold).await;
    axum::Json(answer).into_response()
}

/// The Attachment Upload API: `POST /{page-id}/message_attachments` with the file by URL
/// (Meta fetches it) or as multipart `filedata`, `platform=instagram` for Instagram; the
/// answer is an `attachment_id` private to the Page (S19, S26). Instagram files come from
/// a URL only ("images must be uploaded from a URL", meta-platform.md §9).
pub(super) async fn message_attachments(
    State(world): State<Shared>,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Q,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let page = {
        let mut w = lock(&world);
        let token = match authorize(&mut w, &headers, &query) {
            Ok(t) => t,
            Err(r) => return r,
        };
        if w.is_linked_instagram(&node) {
            return unsupported_post(&node);
        }
        page_of(&w, &node, &token).unwrap_or_else(|| node.clone())
    };
    let (body, file) = match read_body(&headers, request).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let platform = body.get("platform").and_then(Value::as_str).map(str::to_owned);
    let kind = body
        .pointer("/message/attachment/type")
        .and_then(Value::as_str)
        .unwrap_or("file")
        .to_owned();
    let url =
        body.pointer("/message/attachment/payload/url").and_then(Value::as_str).map(str::to_owned);
    let (len, content_type) = match (&file, &url) {
        (Some(_), _) if platform.as_deref() == Some("instagram") => {
            return graph_error(400, 100, Some(2018047), "(#100) Upload attachment failure.");
        }
        (Some((_, ct, bytes)), _) => (bytes.len(), ct.clone()),
        (None, Some(u)) => {
            // Meta fetches the URL itself: 10 s for most files, 75 s for video (S19).
            let timeout = if kind == "video" { 75 } else { 10 };
            let fetched = async {
                let r = reqwest::Client::builder()
                    .timeout(Duration::from_secs(timeout))
                    .build()
                    .ok()?
                    .get(u)
                    .send()
                    .await
                    .ok()?;
                if !r.status().is_success() {
                    return None;
                }
                let ct = r
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                Some((r.bytes().await.ok()?.len(), ct))
            }
            .await;
            match fetched {
                Some(f) => f,
                None => {
                    return graph_error(
                        400,
                        100,
                        Some(2018008),
                        "(#100) Failed to fetch the file from the url",
                    );
                }
            }
        }
        (None, None) => return graph_error(400, 100, None, "(#100) No file or url given"),
    };
    // The type must match the file's Content-Type (S19: audio needs audio/*; C4).
    let ct_ok = match kind.as_str() {
        "image" => content_type.starts_with("image/"),
        "video" => content_type.starts_with("video/"),
        "audio" => content_type.starts_with("audio/"),
        _ => true,
    };
    if !ct_ok {
        return graph_error(400, 100, Some(2018047), "(#100) Upload attachment failure.");
    }
    if len > limit_for(&kind) {
        return too_large();
    }
    let mut w = lock(&world);
    w.next += 1;
    let id = (1_857_777_774_821_000u64 + w.next).to_string();
    w.attachments.insert(id.clone(), (page.clone(), platform.clone()));
    w.uploads.push(Upload {
        page,
        platform,
        attachment_type: kind,
        url,
        len,
        attachment_id: id.clone(),
    });
    axum::Json(json!({ "attachment_id": id })).into_response()
}

/// Graph's answer to an edge a node does not have (S22).
fn unsupported_post(node: &str) -> Response {
    graph_error(
        400,
        100,
        Some(33),
        &format!(
            "Unsupported post request. Object with ID '{node}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
        ),
    )
}

fn app_id(w: &World) -> String {
    w.echo
        .as_ref()
        .and_then(|(_, _, app, _)| app.clone())
        .unwrap_or_else(|| "1517776481860111".into())
}

/// `GET /{node}/subscribed_apps`: the apps subscribed, with their fields (S1).
pub(super) async fn subscribed_apps(
    State(world): State<Shared>,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Q,
    headers: HeaderMap,
) -> Response {
    let mut w = lock(&world);
    if let Err(r) = authorize(&mut w, &headers, &query) {
        return r;
    }
    if w.is_linked_instagram(&node) {
        return graph_error(
            400,
            100,
            None,
            &format!(
                "(#100) Tried accessing nonexisting field (subscribed_apps) on node type (ShadowIGUser) of {node}"
            ),
        );
    }
    let data: Vec<Value> = w
        .subscriptions
        .get(&node)
        .map(|fields| {
            vec![json!({ "id": app_id(&w), "name": "wbots", "subscribed_fields": fields })]
        })
        .unwrap_or_default();
    axum::Json(json!({ "data": data })).into_response()
}

/// `POST /{node}/subscribed_apps?subscribed_fields=…` (S1). An Instagram account linked to
/// a Page has no such edge: it is subscribed through its Page, with Page fields
/// (meta-platform.md §9).
pub(super) async fn subscribe(
    State(world): State<Shared>,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Q,
    headers: HeaderMap,
) -> Response {
    let mut w = lock(&world);
    let token = match authorize(&mut w, &headers, &query) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if w.is_linked_instagram(&node) {
        return unsupported_post(&node);
    }
    // With an Instagram-Login token `/me` is the professional account (§5.7, S19).
    let node = match w.login.instagram_token_accounts.get(&token) {
        Some(account) if node == "me" => account.clone(),
        _ => node,
    };
    let Some(fields) = query.get("subscribed_fields") else {
        return graph_error(400, 100, None, "(#100) The parameter subscribed_fields is required");
    };
    let fields: Vec<String> = fields.split(',').map(|f| f.trim().to_owned()).collect();
    if w.pages.contains_key(&node) {
        if let Some((i, bad)) =
            fields.iter().enumerate().find(|(_, f)| !PAGE_FIELDS.contains(&f.as_str()))
        {
            return graph_error(
                400,
                100,
                None,
                &format!(
                    "(#100) Param subscribed_fields[{i}] must be one of {{{}}} - got \"{bad}\"",
                    PAGE_FIELDS.join(", ")
                ),
            );
        }
    }
    w.subscriptions.insert(node, fields);
    axum::Json(json!({ "success": true })).into_response()
}

/// `GET /{node}`: `me` (the Page of a Page token, with its linked Instagram account:
/// `GET /me?fields=id,name,instagram_business_account`, meta-platform.md §9), or a
/// customer's profile (S28, S29).
pub(super) async fn node(
    State(world): State<Shared>,
    Path((_version, user)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Response {
    let mut w = lock(&world);
    let token = match authorize(&mut w, &headers, &q) {
        Ok(t) => t,
        Err(r) => return r,
    };
    if user == "me" {
        if let Some(me) = super::login::instagram_me(&w, &token) {
            return axum::Json(me).into_response();
        }
        return match w.page_of_token(&token) {
            Some((id, page)) => {
                let mut me = json!({ "id": id, "name": page.name });
                if let Some(ig) = page.instagram {
                    me["instagram_business_account"] = json!({ "id": ig });
                }
                axum::Json(me).into_response()
            }
            None => graph_error(
                400,
                190,
                None,
                "Invalid OAuth access token - Cannot parse access token",
            ),
        };
    }
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

pub(super) async fn media(State(world): State<Shared>, Path(name): Path<String>) -> Response {
    let w = lock(&world);
    match w.media.get(&name) {
        Some((ct, bytes)) => ([("content-type", ct.clone())], bytes.clone()).into_response(),
        None if name.starts_with("avatar-") => {
            ([("content-type", "image/jpeg".to_owned())], b"JPEG".to_vec()).into_response()
        }
        None => (StatusCode::NOT_FOUND, "URL signature expired").into_response(),
    }
}

/// Delivers a webhook as Meta does: an answer other than 200 (or none: the server is down)
/// is not an acknowledgement, and the notification comes again. Meta's page: "If a
/// notification sent to your server fails, we will immediately try a few more times … If,
/// after 15 minutes, we are still unable to deliver notifications, an alert is sent … continues
/// to fail for 1 hour … your app will be unsubscribed"
/// (<https://developers.facebook.com/docs/messenger-platform/webhooks>, meta-platform.md §1.3).
/// Meta documents no schedule inside that hour: the fake tries again at once, then after
/// growing pauses up to 2 s, and gives up after the hour.
async fn deliver_until_acknowledged(url: String, secret: Secret, body: String) {
    let client = reqwest::Client::new();
    let give_up = std::time::Instant::now() + Duration::from_secs(3600);
    let mut pause = Duration::ZERO;
    while std::time::Instant::now() < give_up {
        let answer = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sign_body(&secret, body.as_bytes()))
            .body(body.clone())
            .send()
            .await;
        if answer.is_ok_and(|a| a.status() == reqwest::StatusCode::OK) {
            return;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).clamp(Duration::from_millis(100), Duration::from_secs(2));
    }
}
