//! The exact requests the adapter makes, each checked against Chatwoot's published spec
//! (and the status PATCH, which the spec lacks, against the reference).

mod common;

use chrono::Utc;
use serde_json::{Value, json};
use wbots_chatwoot::{ChatwootConfig, ChatwootInbox};
use wbots_core::{
    AttachmentKind, ChannelAddress, ChannelKind, ContactRequest, ConversationRequest,
    DeliveryErrorKind, DeliveryStatus, Direction, Inbox, Media, MessageChange, MessageUpdate,
    PostMessage, Profile, ReopenPolicy, Secret,
};
use wbots_fakes::wiremock::{ChatwootApi, json, refusal, retry_after, status};
use wiremock::{MockServer, Request};

/// Account 3, the account `inbox` talks to.
fn api(server: &MockServer) -> ChatwootApi<'_> {
    ChatwootApi::new(server, 3)
}

fn inbox(server: &MockServer) -> ChatwootInbox {
    ChatwootInbox::builder(ChatwootConfig::new(
        server.uri().parse().unwrap(),
        Secret::new("cw-token"),
        3,
    ))
    .build()
    .unwrap()
}

fn page() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::Messenger, "1122")
}

fn contact_request() -> ContactRequest {
    ContactRequest {
        inbox: "7".into(),
        address: page(),
        user: "psid-9".into(),
        profile: Profile {
            name: "Ada Lovelace".into(),
            username: None,
            avatar_url: Some("https://cdn.example/ada.jpg".parse().unwrap()),
        },
    }
}

/// Every request a server received, checked against the spec.
async fn check_all_against_spec(server: &MockServer) {
    let spec = common::Spec::load();
    for r in server.received_requests().await.unwrap() {
        assert_eq!(
            r.headers.get("api_access_token").and_then(|v| v.to_str().ok()),
            Some("cw-token"),
            "{} {}",
            r.method,
            r.url
        );
        let ct = r.headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let path = r.url.path().to_owned();
        if r.method.as_str() == "PATCH" && path.contains("/messages/") {
            // Not in the spec: PATCH …/messages/{id} with status and external_error.
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            assert!(
                ["sent", "delivered", "read", "failed"].contains(&body["status"].as_str().unwrap())
            );
            assert!(
                body.as_object().unwrap().keys().all(|k| k == "status" || k == "external_error")
            );
            continue;
        }
        let body: Option<Value> = match ct.as_deref() {
            Some(c) if c.starts_with("application/json") => {
                Some(serde_json::from_slice(&r.body).unwrap())
            }
            Some(c) if c.starts_with("multipart/") => Some(multipart_fields(&r)),
            _ => None,
        };
        spec.check(r.method.as_str(), &path, ct.as_deref(), body.as_ref());
    }
}

/// The names of a multipart body's fields, as a JSON object (values are the raw text).
fn multipart_fields(r: &Request) -> Value {
    let text = String::from_utf8_lossy(&r.body);
    let mut out = serde_json::Map::new();
    for part in text.split("Content-Disposition: form-data; name=\"").skip(1) {
        let name = part.split('"').next().unwrap_or("");
        let value =
            part.split("\r\n\r\n").nth(1).unwrap_or("").split("\r\n--").next().unwrap_or("");
        out.insert(name.to_owned(), json!(value));
    }
    Value::Object(out)
}

#[tokio::test]
async fn a_new_customer_becomes_a_contact_with_our_source_id() {
    let server = MockServer::start().await;
    let chatwoot = api(&server);
    chatwoot.filter_contacts()
        .body(json!({"payload": [{"attribute_key": "identifier", "filter_operator": "equal_to", "values": ["messenger:1122:psid-9"]}]}))
        .json(200, json!({"meta": {"count": 0}, "payload": []}))
        .once()
        .await;
    chatwoot.create_contact()
        .body(json!({
            "inbox_id": 7, "name": "Ada Lovelace", "identifier": "messenger:1122:psid-9",
            "avatar_url": "https://cdn.example/ada.jpg",
            "additional_attributes": {"wbots_channel": "messenger", "wbots_account": "1122"}
        }))
        .json(200, json!({"payload": {"contact": {"id": 501, "name": "Ada Lovelace"}, "contact_inbox": {"source_id": "generated", "inbox": {"id": 7}}}}))
        .once()
        .await;
    chatwoot
        .link_contact_inbox(501)
        .body(json!({"inbox_id": 7, "source_id": "wbots:messenger:1122:psid-9"}))
        .json(200, json!({"source_id": "wbots:messenger:1122:psid-9"}))
        .once()
        .await;
    let id = inbox(&server).upsert_contact(&contact_request()).await.unwrap();
    assert_eq!(id.as_str(), "501");
    check_all_against_spec(&server).await;
}

#[tokio::test]
async fn an_existing_contact_is_found_renamed_and_not_duplicated() {
    let server = MockServer::start().await;
    let chatwoot = api(&server);
    chatwoot.filter_contacts()
        .json(200, json!({"payload": [
            {"id": 77, "name": "Someone Else", "identifier": "messenger:1122:psid-99", "thumbnail": ""},
            {"id": 42, "name": "Ada L.", "identifier": "messenger:1122:psid-9", "thumbnail": "https://cw/avatar.png"}
        ]}))
        .await;
    chatwoot
        .update_contact(42)
        .body(json!({"name": "Ada Lovelace"}))
        .json(200, json!({"payload": {"id": 42}}))
        .once()
        .await;
    // Linked already by an earlier attempt: Chatwoot says so, and that is fine.
    chatwoot.link_contact_inbox(42).answers(refusal(422, "Source has already been taken")).await;
    chatwoot.create_contact().answers(status(500)).never().await;
    assert_eq!(inbox(&server).upsert_contact(&contact_request()).await.unwrap().as_str(), "42");
    check_all_against_spec(&server).await;
}

fn conversation_request(existing: Option<&str>, reopen: ReopenPolicy) -> ConversationRequest {
    ConversationRequest {
        inbox: "7".into(),
        address: page(),
        thread: "psid-9".into(),
        contact: "42".into(),
        existing: existing.map(Into::into),
        reopen,
    }
}

#[tokio::test]
async fn conversations_are_reused_reopened_or_created_by_policy() {
    let server = MockServer::start().await;
    let chatwoot = api(&server);
    chatwoot.conversation(10).json(200, json!({"id": 10, "status": "open", "inbox_id": 7})).await;
    chatwoot
        .conversation(11)
        .json(200, json!({"id": 11, "status": "resolved", "inbox_id": 7}))
        .await;
    chatwoot.conversation(12).json(404, json!({"error": "Resource could not be found"})).await;
    chatwoot
        .toggle_status(11)
        .body(json!({"status": "open"}))
        .json(200, json!({"payload": {"success": true}}))
        .once()
        .await;
    chatwoot.create_conversation()
        .body(json!({
            "source_id": "wbots:messenger:1122:psid-9", "inbox_id": 7, "contact_id": 42, "status": "open",
            "additional_attributes": {"wbots_channel": "messenger", "wbots_thread": "psid-9"}
        }))
        .json(200, json!({"id": 99, "status": "open"}))
        .times(2)
        .await;

    let cw = inbox(&server);
    assert_eq!(
        cw.open_conversation(&conversation_request(Some("10"), ReopenPolicy::New))
            .await
            .unwrap()
            .as_str(),
        "10"
    );
    assert_eq!(
        cw.open_conversation(&conversation_request(Some("11"), ReopenPolicy::Reopen))
            .await
            .unwrap()
            .as_str(),
        "11"
    );
    assert_eq!(
        cw.open_conversation(&conversation_request(Some("11"), ReopenPolicy::New))
            .await
            .unwrap()
            .as_str(),
        "99"
    );
    assert_eq!(
        cw.open_conversation(&conversation_request(Some("12"), ReopenPolicy::Reopen))
            .await
            .unwrap()
            .as_str(),
        "99",
        "a deleted conversation is recreated"
    );
    check_all_against_spec(&server).await;
}

#[tokio::test]
async fn without_a_link_the_contacts_open_conversation_in_the_inbox_is_found() {
    let server = MockServer::start().await;
    api(&server)
        .contact_conversations(42)
        .json(
            200,
            json!({"payload": [
                {"id": 5, "inbox_id": 8, "status": "open"},
                {"id": 6, "inbox_id": 7, "status": "resolved"},
                {"id": 9, "inbox_id": 7, "status": "pending"}
            ]}),
        )
        .await;
    let found = inbox(&server)
        .open_conversation(&conversation_request(None, ReopenPolicy::Reopen))
        .await
        .unwrap();
    assert_eq!(found.as_str(), "9");
    check_all_against_spec(&server).await;
}

fn post(direction: Direction, media: Vec<Media>) -> PostMessage {
    let mut attributes = serde_json::Map::new();
    attributes.insert("original_sent_at".into(), json!("2026-11-24T10:00:00Z"));
    PostMessage {
        inbox: "7".into(),
        conversation: "99".into(),
        direction,
        text: Some("Is my order on its way?".into()),
        media,
        source_id: "m_abc".into(),
        reply_to: Some("1234".into()),
        attributes,
        sent_at: Utc::now(),
    }
}

#[tokio::test]
async fn messages_carry_type_source_id_marker_and_reply() {
    let server = MockServer::start().await;
    api(&server)
        .create_message(99)
        .body(json!({
            "content": "Is my order on its way?", "message_type": "incoming", "private": false, "source_id": "m_abc",
            "content_attributes": {"wbots": true, "in_reply_to": 1234, "original_sent_at": "2026-11-24T10:00:00Z"}
        }))
        .json(200, json!({"id": 3001, "content": "Is my order on its way?", "message_type": 0}))
        .once()
        .await;
    assert_eq!(
        inbox(&server).post_message(&post(Direction::Incoming, vec![])).await.unwrap().as_str(),
        "3001"
    );
    check_all_against_spec(&server).await;
}

#[tokio::test]
async fn files_are_uploaded_as_multipart_attachments() {
    let server = MockServer::start().await;
    api(&server).create_message(99).json(200, json!({"id": 3002})).once().await;
    let media = Media {
        bytes: bytes::Bytes::from_static(b"JPEGDATA"),
        content_type: "image/jpeg".into(),
        file_name: "photo.jpg".into(),
        kind: AttachmentKind::Image,
    };
    inbox(&server).post_message(&post(Direction::Outgoing, vec![media])).await.unwrap();
    let r = &server.received_requests().await.unwrap()[0];
    let fields = multipart_fields(r);
    assert_eq!(fields["message_type"], "outgoing");
    assert_eq!(fields["source_id"], "m_abc");
    assert!(fields["content_attributes"].as_str().unwrap().contains("\"wbots\":true"));
    let body = String::from_utf8_lossy(&r.body);
    assert!(body.contains("name=\"attachments[]\"; filename=\"photo.jpg\"\r\nContent-Type: image/jpeg\r\n\r\nJPEGDATA"), "{body}");
    check_all_against_spec(&server).await;
}

#[tokio::test]
async fn status_updates_deletions_and_notes() {
    let server = MockServer::start().await;
    let chatwoot = api(&server);
    chatwoot
        .update_message(99, 3001)
        .body(json!({"status": "failed", "external_error": "outside the 24-hour window"}))
        .json(200, json!({"id": 3001}))
        .once()
        .await;
    chatwoot
        .update_message(99, 3002)
        .body(json!({"status": "read"}))
        .json(200, json!({"id": 3002}))
        .once()
        .await;
    chatwoot.delete_message(99, 3003).json(200, json!({"id": 3003})).once().await;
    chatwoot
        .create_message(99)
        .body(json!({"message_type": "outgoing", "private": true}))
        .json(200, json!({"id": 3004}))
        .times(2)
        .await;
    let cw = inbox(&server);
    let update = |message: &str, change| MessageUpdate {
        conversation: "99".into(),
        message: message.into(),
        change,
    };
    cw.update_message(&update(
        "3001",
        MessageChange::Status {
            status: DeliveryStatus::Failed,
            error: Some("outside the 24-hour window".into()),
        },
    ))
    .await
    .unwrap();
    cw.update_message(&update(
        "3002",
        MessageChange::Status { status: DeliveryStatus::Read, error: None },
    ))
    .await
    .unwrap();
    cw.update_message(&update("3003", MessageChange::Deleted)).await.unwrap();
    cw.update_message(&update("3005", MessageChange::Edited { text: "new text".into() }))
        .await
        .unwrap();
    cw.post_note(&"99".into(), "token expired").await.unwrap();
    let note = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| String::from_utf8_lossy(&r.body).contains("edited"))
        .unwrap();
    let body: Value = serde_json::from_slice(&note.body).unwrap();
    assert_eq!(body["content"], "The customer edited message #3005 to:\nnew text");
    check_all_against_spec(&server).await;
}

#[tokio::test]
async fn a_retry_finds_what_an_earlier_attempt_posted() {
    let server = MockServer::start().await;
    let page: Vec<Value> =
        (0..20).map(|i| json!({"id": 200 + i, "source_id": format!("m_{i}")})).collect();
    let chatwoot = api(&server);
    chatwoot
        .list_messages(99)
        .query("before", "200")
        .json(200, json!({"payload": [{"id": 150, "source_id": "m_old"}]}))
        .await;
    chatwoot.list_messages(99).json(200, json!({"meta": {}, "payload": page})).await;
    let cw = inbox(&server);
    assert_eq!(
        cw.find_message(&"99".into(), &"m_7".into()).await.unwrap().unwrap().as_str(),
        "207"
    );
    assert_eq!(
        cw.find_message(&"99".into(), &"m_old".into()).await.unwrap().unwrap().as_str(),
        "150",
        "older pages are searched"
    );
    assert_eq!(cw.find_message(&"99".into(), &"m_never".into()).await.unwrap(), None);
    check_all_against_spec(&server).await;
}

#[tokio::test]
async fn failures_are_classified() {
    let server = MockServer::start().await;
    let chatwoot = api(&server);
    chatwoot.create_message(1).answers(retry_after(429, 7)).await;
    chatwoot.create_message(2).answers(status(503)).await;
    chatwoot.create_message(3).answers(json(401, json!({"errors": ["You need to sign in"]}))).await;
    chatwoot.create_message(4).answers(status(404)).await;
    let cw = inbox(&server);
    let attempt = |c: &str| {
        let mut p = post(Direction::Incoming, vec![]);
        p.conversation = c.into();
        p
    };
    let e = cw.post_message(&attempt("1")).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.retry_after()),
        (DeliveryErrorKind::RateLimited, Some(std::time::Duration::from_secs(7)))
    );
    assert!(cw.post_message(&attempt("2")).await.unwrap_err().is_temporary());
    let e = cw.post_message(&attempt("3")).await.unwrap_err();
    assert!(e.is_permanent() && e.kind() == DeliveryErrorKind::Unauthorized);
    assert_eq!(
        cw.post_message(&attempt("4")).await.unwrap_err().kind(),
        DeliveryErrorKind::NotFound
    );
    let closed = ChatwootInbox::builder(ChatwootConfig::new(
        "http://127.0.0.1:9".parse().unwrap(),
        Secret::new("t"),
        3,
    ))
    .build()
    .unwrap();
    assert_eq!(
        closed.post_message(&attempt("1")).await.unwrap_err().kind(),
        DeliveryErrorKind::Network
    );
}

#[tokio::test]
async fn setup_creates_and_updates_api_inboxes() {
    let server = MockServer::start().await;
    let chatwoot = api(&server);
    chatwoot.create_inbox()
        .body(json!({"name": "Messenger", "channel": {"type": "api", "webhook_url": "https://bridge.example/webhooks/chatwoot/tok"}}))
        .json(200, json!({"id": 12, "name": "Messenger", "channel_type": "Channel::Api", "webhook_url": "https://bridge.example/webhooks/chatwoot/tok"}))
        .once()
        .await;
    chatwoot.update_inbox(12)
        .body(json!({"channel": {"webhook_url": "https://bridge.example/webhooks/chatwoot/new"}}))
        .json(200, json!({"id": 12, "name": "Messenger", "channel_type": "Channel::Api", "webhook_url": "https://bridge.example/webhooks/chatwoot/new"}))
        .once()
        .await;
    chatwoot
        .list_inboxes()
        .header("api_access_token", "cw-token")
        .json(200, json!({"payload": [{"id": 12, "name": "Messenger"}]}))
        .await;
    let cw = inbox(&server);
    let created = cw
        .create_api_inbox(
            "Messenger",
            &"https://bridge.example/webhooks/chatwoot/tok".parse().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(created.id, 12);
    let updated = cw
        .set_webhook_url(12, &"https://bridge.example/webhooks/chatwoot/new".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        updated.webhook_url.as_deref(),
        Some("https://bridge.example/webhooks/chatwoot/new")
    );
    assert_eq!(cw.verify_token().await.unwrap(), 1);
    // The inbox create/update bodies use `channel`, which the spec documents only in prose.
    let spec = common::Spec::load();
    for r in server.received_requests().await.unwrap() {
        spec.check(r.method.as_str(), r.url.path(), None, None);
    }
}

#[tokio::test]
async fn the_sweep_lists_conversations_by_activity_and_picks_chatwoots_own_failures() {
    let server = MockServer::start().await;
    let now = Utc::now().timestamp();
    let chatwoot = api(&server);
    chatwoot
        .list_conversations()
        .query("inbox_id", "7")
        .query("status", "all")
        .query("page", "1")
        .json(
            200,
            json!({"data": {
                "meta": {"all_count": 2},
                "payload": [
                    {"id": 42, "inbox_id": 7, "last_activity_at": now - 60},
                    {"id": 41, "inbox_id": 7, "last_activity_at": now - 3 * 86400},
                ]
            }}),
        )
        .once()
        .await;
    let user = json!({"id": 5, "type": "user"});
    let m = |id: u64, kind: u64, private: bool, status: &str, error: Option<&str>| {
        json!({"id": id, "content": format!("m{id}"), "message_type": kind, "private": private,
               "status": status, "content_attributes": {"external_error": error},
               "created_at": now - 30, "conversation_id": 42, "sender": user})
    };
    chatwoot.list_messages(42)
        .json(200, json!({
            "meta": {"contact": {"id": 9, "identifier": "messenger:1122:psid-9", "type": "contact"}},
            "payload": [
                m(1000, 1, false, "failed", Some("503 Service Unavailable")),
                m(1001, 1, false, "failed", Some("the customer last wrote 30 hours ago")),
                m(1002, 1, false, "sent", None),
                m(1003, 1, true, "failed", Some("503 Service Unavailable")),
                m(1004, 0, false, "failed", Some("503 Service Unavailable")),
                m(1005, 3, false, "failed", Some("Net::ReadTimeout with #<TCPSocket:(closed)>")),
            ]
        }))
        .once()
        .await;
    let found = inbox(&server)
        .undelivered(&["7".into()], Utc::now() - chrono::Duration::hours(24))
        .await
        .unwrap();
    let ids: Vec<&str> = found
        .iter()
        .map(|e| match &e.event {
            wbots_core::AgentEvent::Undelivered(m) => m.id.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(ids, ["1000", "1005"]);
    let thread = found[0].contact_thread.clone().unwrap();
    assert_eq!((thread.address, thread.thread.as_str()), (page(), "psid-9"));
    check_all_against_spec(&server).await;
}
