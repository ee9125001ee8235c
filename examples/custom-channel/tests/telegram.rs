//! The Telegram channel passes core's conformance suite, parses Telegram's updates into the
//! right events, and makes the exact Bot API calls.

use std::time::Duration;

use chrono::TimeZone;
use example_custom_channel::{SECRET_HEADER, TelegramChannel, telegram};
use wbots_core::testkit::{
    ChannelHarness, FakeAnswer, FakePlatform, OwnedRequest, PlatformAnswers,
};
use wbots_core::{
    AttachmentKind, Channel, ChannelAddress, DeliveryErrorKind, InboundEvent, MessageContext,
    MessagingWindow, OutboundPart, ReplyTo, Secret, SendRequest,
};
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "123456:ABC-test-token";

fn channel(server: &MockServer) -> TelegramChannel {
    channel_at(&server.uri().parse().unwrap())
}

fn channel_at(api: &url::Url) -> TelegramChannel {
    TelegramChannel::new(Secret::new(TOKEN), Secret::new("hook-secret"))
        .unwrap()
        .with_base_url(api.clone())
}

fn signed(body: &[u8]) -> OwnedRequest {
    OwnedRequest::post(body.to_vec()).header(SECRET_HEADER, "hook-secret")
}

const TEXT_UPDATE: &str = r#"{"update_id":10000,"message":{"message_id":1365,"from":{"id":1111111,"is_bot":false,"first_name":"Ada","username":"ada"},"chat":{"id":1111111,"type":"private","first_name":"Ada"},"date":1441645532,"text":"Hello bot"}}"#;

/// A Bot API answer: `{"ok": true, "result": …}`, or `{"ok": false, "error_code", "description",
/// "parameters"}` with the same HTTP status (<https://core.telegram.org/bots/api#making-requests>,
/// `ResponseParameters.retry_after`: <https://core.telegram.org/bots/api#responseparameters>).
fn ok(result: serde_json::Value) -> FakeAnswer {
    FakeAnswer::json(200, &serde_json::json!({ "ok": true, "result": result }))
}

fn failed(status: u16, description: &str) -> FakeAnswer {
    FakeAnswer::json(
        status,
        &serde_json::json!({ "ok": false, "error_code": status, "description": description }),
    )
}

async fn harness() -> ChannelHarness {
    let fake = FakePlatform::start().await.unwrap();
    let channel = channel_at(fake.url());
    let address = channel.address().clone();
    let answers = PlatformAnswers::new(ok(
        serde_json::json!({"message_id": 77, "chat": {"id": 1111111}, "date": 1}),
    ))
    .reaction_sent(ok(serde_json::json!(true)))
    .action_sent(ok(serde_json::json!(true)))
    .profile(ok(serde_json::json!({"id": 1111111, "type": "private", "first_name": "Ada"})))
    .rate_limited(
        FakeAnswer::json(
            429,
            &serde_json::json!({"ok": false, "error_code": 429,
                "description": "Too Many Requests: retry after 17", "parameters": {"retry_after": 17}}),
        ),
        Duration::from_secs(17),
    )
    .unavailable(failed(502, "Bad Gateway"))
    .unauthorized(failed(401, "Unauthorized"))
    .invalid(failed(400, "Bad Request: message text is empty"));
    ChannelHarness::new(
        channel,
        signed,
        TEXT_UPDATE,
        chrono::Utc.timestamp_opt(1441645532, 0).unwrap(),
    )
    .with_platform(fake, address, "1111111", answers)
}

wbots_core::channel_conformance_tests!(harness());

fn parse_one(body: &str) -> InboundEvent {
    let ch = TelegramChannel::new(Secret::new(TOKEN), Secret::new("hook-secret")).unwrap();
    let mut events = ch.parse(&signed(body.as_bytes()).as_raw()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].address, ChannelAddress::new(telegram(), "123456"));
    events.remove(0).event
}

#[test]
fn a_text_message_keeps_its_chat_scoped_id() {
    let InboundEvent::Message(m) = parse_one(TEXT_UPDATE) else { panic!() };
    assert_eq!(m.id.as_str(), "1111111:1365");
    assert_eq!(m.thread.as_str(), "1111111");
    assert_eq!(m.text.as_deref(), Some("Hello bot"));
    assert_eq!(m.sent_at.timestamp(), 1441645532);
}

#[test]
fn a_photo_keeps_its_largest_size_and_caption_and_a_reply_its_target() {
    let body = r#"{"update_id":2,"message":{"message_id":9,"from":{"id":5},"chat":{"id":-100200,"type":"group"},"date":1700000000,
        "caption":"look","photo":[{"file_id":"small","file_unique_id":"a","width":90,"height":90,"file_size":1000},
        {"file_id":"large","file_unique_id":"b","width":800,"height":800,"file_size":90000}],
        "reply_to_message":{"message_id":8,"chat":{"id":-100200},"date":1699999999}}}"#;
    let InboundEvent::Message(m) = parse_one(body) else { panic!() };
    assert_eq!(m.thread.as_str(), "-100200", "a group chat is the thread");
    assert_eq!(m.sender.as_str(), "5", "the sender is not the thread");
    assert_eq!(m.text.as_deref(), Some("look"));
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].kind, AttachmentKind::Image);
    assert_eq!(m.attachments[0].platform_id.as_deref(), Some("large"));
    assert_eq!(m.reply_to, Some(ReplyTo::Message { id: "-100200:8".into() }));
}

#[test]
fn edits_buttons_and_unknown_updates() {
    let edit = r#"{"update_id":3,"edited_message":{"message_id":9,"chat":{"id":7},"date":1,"edit_date":5,"text":"fixed"}}"#;
    let InboundEvent::Edit(e) = parse_one(edit) else { panic!() };
    assert_eq!((e.id.as_str(), e.text.as_str(), e.at.timestamp()), ("7:9", "fixed", 5));

    let button = r#"{"update_id":4,"callback_query":{"id":"cb1","from":{"id":7},"data":"ORDER_STATUS","message":{"message_id":3,"chat":{"id":7},"date":9}}}"#;
    let InboundEvent::Message(m) = parse_one(button) else { panic!() };
    assert_eq!(
        m.context,
        Some(MessageContext::Postback { title: None, payload: Some("ORDER_STATUS".into()) })
    );

    let poll = r#"{"update_id":5,"poll":{"id":"p"}}"#;
    let InboundEvent::Unsupported(u) = parse_one(poll) else { panic!() };
    assert_eq!(u.kind, "poll");
}

#[test]
fn a_wrong_or_missing_secret_token_is_refused() {
    let ch = TelegramChannel::new(Secret::new(TOKEN), Secret::new("hook-secret")).unwrap();
    let wrong = OwnedRequest::post(TEXT_UPDATE).header(SECRET_HEADER, "guess");
    assert!(ch.verify(&wrong.as_raw()).is_err());
    assert!(ch.verify(&OwnedRequest::post(TEXT_UPDATE).as_raw()).is_err());
}

fn send_request(part: OutboundPart) -> SendRequest {
    SendRequest {
        address: ChannelAddress::new(telegram(), "123456"),
        thread: "42".into(),
        part,
        window: MessagingWindow::Response,
        reply_to: Some("42:7".into()),
        marker: None,
    }
}

#[tokio::test]
async fn send_message_is_the_exact_bot_api_call() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/sendMessage")))
        .and(body_json(serde_json::json!({
            "chat_id": "42", "text": "On its way!",
            "reply_parameters": {"message_id": 7, "allow_sending_without_reply": true}
        })))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok":true,"result":{"message_id":8}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let receipt = channel(&server)
        .send(&send_request(OutboundPart::Text("On its way!".into())))
        .await
        .unwrap();
    assert_eq!(receipt.message_id.unwrap().as_str(), "42:8");
}

#[tokio::test]
async fn a_photo_is_uploaded_as_multipart() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/sendPhoto")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok":true,"result":{"message_id":9}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let media = wbots_core::Media {
        bytes: bytes::Bytes::from_static(b"\x89PNG fake"),
        content_type: "image/png".into(),
        file_name: "receipt.png".into(),
        kind: AttachmentKind::Image,
    };
    channel(&server).send(&send_request(OutboundPart::Media(media))).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let body = String::from_utf8_lossy(&requests[0].body);
    let content_type = requests[0].headers.get("content-type").unwrap().to_str().unwrap();
    assert!(content_type.starts_with("multipart/form-data"), "{content_type}");
    assert!(body.contains("name=\"chat_id\"\r\n\r\n42"), "{body}");
    assert!(body.contains("name=\"photo\"; filename=\"receipt.png\""), "{body}");
    assert!(body.contains("PNG fake"), "the file bytes are in the body");
}

#[tokio::test]
async fn errors_are_classified_with_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/sendMessage")))
        .respond_with(ResponseTemplate::new(429).set_body_json(serde_json::json!({
            "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 17", "parameters": {"retry_after": 17}
        })))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/sendMessage")))
        .respond_with(ResponseTemplate::new(403).set_body_json(serde_json::json!({
            "ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"
        })))
        .mount(&server)
        .await;
    let ch = channel(&server);
    let limited = ch.send(&send_request(OutboundPart::Text("x".into()))).await.unwrap_err();
    assert_eq!(limited.kind(), DeliveryErrorKind::RateLimited);
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(17)));
    let blocked = ch.send(&send_request(OutboundPart::Text("x".into()))).await.unwrap_err();
    assert_eq!(blocked.kind(), DeliveryErrorKind::RecipientUnavailable);
    assert!(blocked.is_permanent());
}

#[tokio::test]
async fn files_are_fetched_through_get_file_within_the_size_cap() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/getFile")))
        .and(body_json(serde_json::json!({"file_id": "large"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok":true,"result":{"file_id":"large","file_path":"photos/file_1.jpg","file_size":4}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/file/bot{TOKEN}/photos/file_1.jpg")))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-type", "image/jpeg")
                .set_body_bytes(b"JPEG".to_vec()),
        )
        .mount(&server)
        .await;
    let ch = channel(&server);
    let att = wbots_core::InboundAttachment {
        kind: AttachmentKind::Image,
        url: None,
        platform_id: Some("large".into()),
        title: None,
        file_name: None,
    };
    let media = ch.fetch_media(ch.address(), &att, 1024).await.unwrap();
    assert_eq!(
        (&media.bytes[..], media.content_type.as_str(), media.file_name.as_str()),
        (&b"JPEG"[..], "image/jpeg", "file_1.jpg")
    );
    let too_big = ch.fetch_media(ch.address(), &att, 2).await.unwrap_err();
    assert_eq!(too_big.kind(), DeliveryErrorKind::TooLarge);
}
