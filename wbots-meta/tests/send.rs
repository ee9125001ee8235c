//! The exact requests Meta receives for each send form, the error table row by row,
//! profiles, media downloads and the rate limiter.

use std::time::Duration;

use serde_json::json;
use wbots_core::{
    AttachmentKind, Channel, ChannelAddress, DeliveryErrorKind, InboundAttachment, Media,
    MessagingWindow, OutboundPart, Secret, SendRequest, SenderAction,
};
use wbots_fakes::wiremock::{
    GraphApi, Route, accepted, action_accepted, file, graph_error, json, text,
};
use wbots_meta::{Login, MetaAccount, MetaChannel, MetaConfig, errors};
use wiremock::{MockServer, ResponseTemplate};

fn channel(server: &MockServer) -> MetaChannel {
    let config = MetaConfig::new(Secret::new("app-secret"), Secret::new("verify"))
        .with_graph_urls(server.uri().parse().unwrap());
    MetaChannel::builder(config)
        .account(
            MetaAccount::messenger("PAGE1", Secret::new("page-token")).with_human_agent_tag(true),
        )
        .account(MetaAccount::instagram("IG1", Secret::new("ig-token"), Login::Instagram))
        .account(MetaAccount::instagram("IG2", Secret::new("page-token-2"), Login::Facebook))
        .build()
        .unwrap()
}

fn messenger() -> ChannelAddress {
    ChannelAddress::new(wbots_core::ChannelKind::Messenger, "PAGE1")
}

fn request(address: ChannelAddress, part: OutboundPart) -> SendRequest {
    SendRequest {
        address,
        thread: "PSID1".into(),
        part,
        window: MessagingWindow::Response,
        reply_to: None,
        marker: Some("wbots:7:42:0".into()),
    }
}

fn ok() -> ResponseTemplate {
    accepted("PSID1", "m_AG5Hz2U")
}

#[tokio::test]
async fn text_goes_to_the_page_with_the_bearer_token_and_marker() {
    let server = MockServer::start().await;
    GraphApi::new(&server)
        .send("PAGE1")
        .header("authorization", "Bearer page-token")
        .exact_body(json!({
            "recipient": {"id": "PSID1"}, "messaging_type": "RESPONSE",
            "message": {"text": "Your order ships today", "metadata": "wbots:7:42:0"}
        }))
        .answers(ok())
        .once()
        .await;
    let receipt = channel(&server)
        .send(&request(messenger(), OutboundPart::Text("Your order ships today".into())))
        .await
        .unwrap();
    assert_eq!(receipt.message_id.unwrap().as_str(), "m_AG5Hz2U");
    // The token never travels in the URL, where proxies log it; its appsecret_proof does
    // (hex HMAC-SHA256 of the token keyed with the app secret, S34).
    let r = &server.received_requests().await.unwrap()[0];
    assert_eq!(
        r.url.query(),
        Some("appsecret_proof=d8b448b9cc7d64c51098271805b3cc20b5b715e52bd587eb71b610259587c856")
    );
}

#[tokio::test]
async fn human_agent_tag_and_reply_to() {
    let server = MockServer::start().await;
    GraphApi::new(&server)
        .send("PAGE1")
        .exact_body(json!({
            "recipient": {"id": "PSID1"}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
            "reply_to": {"mid": "m_customer"},
            "message": {"text": "Sorry for the wait", "metadata": "wbots:7:42:0"}
        }))
        .answers(ok())
        .once()
        .await;
    let mut r = request(messenger(), OutboundPart::Text("Sorry for the wait".into()));
    r.window = MessagingWindow::HumanAgent;
    r.reply_to = Some("m_customer".into());
    channel(&server).send(&r).await.unwrap();
}

#[tokio::test]
async fn attachment_by_url() {
    let server = MockServer::start().await;
    GraphApi::new(&server)
        .send("PAGE1")
        .exact_body(json!({
            "recipient": {"id": "PSID1"}, "messaging_type": "RESPONSE",
            "message": {"attachment": {"type": "image", "payload": {"url": "https://cdn.example/receipt.png", "is_reusable": true}}, "metadata": "wbots:7:42:0"}
        }))
        .answers(ok())
        .once()
        .await;
    let part = OutboundPart::MediaUrl {
        kind: AttachmentKind::Image,
        url: "https://cdn.example/receipt.png".parse().unwrap(),
    };
    channel(&server).send(&request(messenger(), part)).await.unwrap();
}

#[tokio::test]
async fn upload_as_multipart_filedata() {
    let server = MockServer::start().await;
    GraphApi::new(&server).send("PAGE1").answers(ok()).once().await;
    let media = Media {
        bytes: bytes::Bytes::from_static(b"%PDF-1.7 invoice"),
        content_type: "application/pdf".into(),
        file_name: "invoice.pdf".into(),
        kind: AttachmentKind::File,
    };
    channel(&server).send(&request(messenger(), OutboundPart::Media(media))).await.unwrap();
    let r = &server.received_requests().await.unwrap()[0];
    let body = String::from_utf8_lossy(&r.body);
    assert!(
        r.headers.get("content-type").unwrap().to_str().unwrap().starts_with("multipart/form-data")
    );
    assert!(body.contains("name=\"recipient\"\r\n\r\n{\"id\":\"PSID1\"}"), "{body}");
    assert!(body.contains("name=\"messaging_type\"\r\n\r\nRESPONSE"), "{body}");
    assert!(body.contains(r#"{"attachment":{"payload":{"is_reusable":true},"type":"file"},"metadata":"wbots:7:42:0"}"#), "{body}");
    assert!(body.contains("name=\"filedata\"; filename=\"invoice.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7 invoice"), "{body}");
}

#[tokio::test]
async fn reactions_and_sender_actions() {
    let server = MockServer::start().await;
    let graph = GraphApi::new(&server);
    let action = |node: &str, body| {
        graph.send(node).exact_body(body).answers(action_accepted("PSID1")).once()
    };
    action("PAGE1", json!({"recipient": {"id": "PSID1"}, "sender_action": "react", "payload": {"message_id": "m_t", "reaction": "😊"}})).await;
    action("PAGE1", json!({"recipient": {"id": "PSID1"}, "sender_action": "unreact", "payload": {"message_id": "m_t"}})).await;
    action("PAGE1", json!({"recipient": {"id": "PSID1"}, "sender_action": "typing_on"})).await;
    // Instagram (Instagram Login) accepts only "love", on graph.instagram.com's path.
    graph.send("IG1").header("authorization", "Bearer ig-token")
        .exact_body(json!({"recipient": {"id": "PSID1"}, "sender_action": "react", "payload": {"message_id": "m_t", "reaction": "love"}}))
        .answers(action_accepted("PSID1")).once().await;
    let ch = channel(&server);
    let react = |emoji: Option<&str>| OutboundPart::Reaction {
        target: "m_t".into(),
        emoji: emoji.map(str::to_owned),
    };
    assert_eq!(ch.send(&request(messenger(), react(Some("😊")))).await.unwrap().message_id, None);
    ch.send(&request(messenger(), react(None))).await.unwrap();
    ch.send(&request(messenger(), OutboundPart::Action(SenderAction::TypingOn))).await.unwrap();
    let ig = ChannelAddress::new(wbots_core::ChannelKind::Instagram, "IG1");
    ch.send(&request(ig, react(Some("😊")))).await.unwrap();
}

#[tokio::test]
async fn instagram_through_facebook_login_sends_via_the_page() {
    let server = MockServer::start().await;
    GraphApi::new(&server)
        .send("me")
        .header("authorization", "Bearer page-token-2")
        .answers(ok())
        .once()
        .await;
    let ig = ChannelAddress::new(wbots_core::ChannelKind::Instagram, "IG2");
    channel(&server).send(&request(ig, OutboundPart::Text("hi".into()))).await.unwrap();
}

/// Every row of the error table, as Meta answers it.
#[tokio::test]
async fn the_error_table_row_by_row() {
    let rows: &[(u16, serde_json::Value, DeliveryErrorKind, bool, &str)] = &[
        (
            400,
            json!({"code": 10, "error_subcode": 2018278, "message": "(#10) This message is sent outside of allowed window."}),
            DeliveryErrorKind::OutsideWindow,
            false,
            "10/2018278",
        ),
        (
            400,
            json!({"code": 10, "error_subcode": 2534022}),
            DeliveryErrorKind::OutsideWindow,
            false,
            "10/2534022",
        ),
        (
            400,
            json!({"code": 551, "error_subcode": 1545041, "message": "(#551) This person isn't available right now."}),
            DeliveryErrorKind::RecipientUnavailable,
            false,
            "551/1545041",
        ),
        (
            400,
            json!({"code": 100, "error_subcode": 2018001, "message": "No matching user found"}),
            DeliveryErrorKind::RecipientUnavailable,
            false,
            "100/2018001",
        ),
        (
            400,
            json!({"code": 100, "message": "(#100) Invalid parameter"}),
            DeliveryErrorKind::InvalidRequest,
            false,
            "100",
        ),
        (
            400,
            json!({"code": 190, "error_subcode": 463, "message": "Error validating access token: Session has expired"}),
            DeliveryErrorKind::Unauthorized,
            false,
            "190/463",
        ),
        (
            403,
            json!({"code": 200, "message": "(#200) Permissions error"}),
            DeliveryErrorKind::Forbidden,
            false,
            "200",
        ),
        (
            400,
            json!({"code": 10, "message": "(#10) Application does not have permission for this action"}),
            DeliveryErrorKind::Forbidden,
            false,
            "10",
        ),
        (
            500,
            json!({"code": 1, "message": "An unknown error occurred"}),
            DeliveryErrorKind::Unavailable,
            true,
            "1",
        ),
        (
            500,
            json!({"code": 2, "message": "Service temporarily unavailable"}),
            DeliveryErrorKind::Unavailable,
            true,
            "2",
        ),
        (
            500,
            json!({"code": 1200, "message": "Temporary send message failure"}),
            DeliveryErrorKind::Unavailable,
            true,
            "1200",
        ),
        (
            400,
            json!({"code": 4, "message": "(#4) Application request limit reached", "is_transient": true}),
            DeliveryErrorKind::RateLimited,
            true,
            "4",
        ),
        (
            400,
            json!({"code": 17, "message": "(#17) User request limit reached"}),
            DeliveryErrorKind::RateLimited,
            true,
            "17",
        ),
        (
            400,
            json!({"code": 32, "message": "(#32) Page request limit reached"}),
            DeliveryErrorKind::RateLimited,
            true,
            "32",
        ),
        (
            400,
            json!({"code": 613, "message": "Calls to this API have exceeded the rate limit."}),
            DeliveryErrorKind::RateLimited,
            true,
            "613",
        ),
        (502, json!(null), DeliveryErrorKind::Unavailable, true, "http 502"),
        (429, json!(null), DeliveryErrorKind::RateLimited, true, "http 429"),
    ];
    for (status, error, kind, temporary, code) in rows {
        let body = if error.is_null() {
            b"<html>Bad gateway</html>".to_vec()
        } else {
            serde_json::to_vec(&json!({"error": error})).unwrap()
        };
        let e = errors::classify(*status, &body, None);
        assert_eq!(
            (e.kind(), e.is_temporary(), e.code()),
            (*kind, *temporary, Some(*code)),
            "row {code}"
        );
        if *kind == DeliveryErrorKind::RateLimited {
            assert_eq!(
                e.retry_after(),
                Some(errors::DEFAULT_RATE_LIMIT_WAIT),
                "{code} waits a minute without Retry-After"
            );
        }
    }
    let with_header = errors::classify(429, b"", Some(Duration::from_secs(5)));
    assert_eq!(with_header.retry_after(), Some(Duration::from_secs(5)));
    assert!(errors::classify(400, br#"{"error":{"code":190}}"#, None).message().contains("renew"));
    // Through the channel: a 190 is permanent and a network failure temporary.
    let server = MockServer::start().await;
    GraphApi::new(&server)
        .send("PAGE1")
        .answers(graph_error(
            400,
            json!({"code": 190, "message": "Invalid OAuth access token.", "fbtrace_id": "A1"}),
        ))
        .await;
    let e = channel(&server)
        .send(&request(messenger(), OutboundPart::Text("x".into())))
        .await
        .unwrap_err();
    assert_eq!((e.kind(), e.is_permanent()), (DeliveryErrorKind::Unauthorized, true));
    let config = MetaConfig::new(Secret::new("s"), Secret::new("v"))
        .with_graph_urls("http://127.0.0.1:9".parse().unwrap());
    let closed = MetaChannel::builder(config)
        .account(MetaAccount::messenger("PAGE1", Secret::new("t")))
        .build()
        .unwrap();
    assert_eq!(
        closed
            .send(&request(messenger(), OutboundPart::Text("x".into())))
            .await
            .unwrap_err()
            .kind(),
        DeliveryErrorKind::Network
    );
}

#[tokio::test]
async fn profiles_for_both_platforms_cached_and_failing_cleanly() {
    let server = MockServer::start().await;
    let graph = GraphApi::new(&server);
    graph.node("PSID1").query("fields", "first_name,last_name,profile_pic")
        .json(200, json!({"first_name": "Ada", "last_name": "Lovelace", "profile_pic": "https://cdn.example/ada.jpg", "id": "PSID1"}))
        .once().await;
    graph
        .node("IGSID1")
        .query("fields", "name,username,profile_pic")
        .json(200, json!({"name": null, "username": "grace.h", "profile_pic": null}))
        .await;
    graph.node("PHONEUSER")
        .answers(graph_error(400, json!({"code": 100, "error_subcode": 2018218, "message": "No profile available for this user."})))
        .await;
    let ch = channel(&server);
    let p = ch.profile(&messenger(), &"PSID1".into()).await.unwrap();
    assert_eq!(
        (p.name.as_str(), p.avatar_url.as_ref().map(|u| u.as_str())),
        ("Ada Lovelace", Some("https://cdn.example/ada.jpg"))
    );
    ch.profile(&messenger(), &"PSID1".into()).await.unwrap();
    let ig = ChannelAddress::new(wbots_core::ChannelKind::Instagram, "IG1");
    let p = ch.profile(&ig, &"IGSID1".into()).await.unwrap();
    assert_eq!((p.name.as_str(), p.username.as_deref()), ("grace.h", Some("grace.h")));
    // Consent or phone-number accounts: a permanent error, so the engine names them itself.
    assert!(ch.profile(&messenger(), &"PHONEUSER".into()).await.unwrap_err().is_permanent());
}

#[tokio::test]
async fn media_is_downloaded_within_the_cap_and_expired_urls_fail_for_good() {
    let server = MockServer::start().await;
    let graph = GraphApi::new(&server);
    graph.cdn("/cdn/photo.jpg").answers(file("image/jpeg", vec![7u8; 1000])).await;
    graph.cdn("/cdn/expired").answers(text(403, "URL signature expired")).await;
    let ch = channel(&server);
    let att = |p: &str| {
        InboundAttachment::from_url(
            AttachmentKind::Image,
            format!("{}{p}", server.uri()).parse().unwrap(),
        )
    };
    let media = ch.fetch_media(&messenger(), &att("/cdn/photo.jpg"), 4096).await.unwrap();
    assert_eq!(
        (media.bytes.len(), media.content_type.as_str(), media.file_name.as_str()),
        (1000, "image/jpeg", "photo.jpg")
    );
    assert_eq!(
        ch.fetch_media(&messenger(), &att("/cdn/photo.jpg"), 999).await.unwrap_err().kind(),
        DeliveryErrorKind::TooLarge
    );
    let expired = ch.fetch_media(&messenger(), &att("/cdn/expired"), 4096).await.unwrap_err();
    assert!(expired.is_permanent());
}

#[tokio::test]
async fn a_spent_media_budget_refuses_without_calling_meta() {
    let server = MockServer::start().await;
    GraphApi::new(&server).send("PAGE1").answers(ok()).await;
    let ch = channel(&server);
    let part = || OutboundPart::MediaUrl {
        kind: AttachmentKind::Video,
        url: "https://cdn.example/v.mp4".parse().unwrap(),
    };
    let mut refused = None;
    for _ in 0..11 {
        if let Err(e) = ch.send(&request(messenger(), part())).await {
            refused = Some(e);
            break;
        }
    }
    let e = refused.expect("the 11th media send within a second is refused");
    assert_eq!(e.kind(), DeliveryErrorKind::RateLimited);
    assert!(e.retry_after().is_some_and(|d| d <= Duration::from_millis(100)));
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        10,
        "the refused send never reached Meta"
    );
}

#[test]
fn capabilities_are_declared_per_account() {
    let config = MetaConfig::new(Secret::new("s"), Secret::new("v"));
    let ch = MetaChannel::builder(config)
        .account(MetaAccount::messenger("PAGE1", Secret::new("t")).with_human_agent_tag(true))
        .account(MetaAccount::instagram("IG1", Secret::new("t"), Login::Instagram))
        .build()
        .unwrap();
    let m = ch.capabilities(&messenger());
    assert_eq!(
        (m.max_text_chars, m.max_text_bytes, m.human_agent_window_hours),
        (2000, None, Some(168))
    );
    let i = ch.capabilities(&ChannelAddress::new(wbots_core::ChannelKind::Instagram, "IG1"));
    assert_eq!(
        (i.max_text_chars, i.max_text_bytes, i.human_agent_window_hours),
        (1000, Some(1000), None)
    );
}

#[tokio::test]
async fn a_user_id_goes_into_the_graph_path_as_one_escaped_segment() {
    let server = MockServer::start().await;
    Route::any_path(&server, "GET").answers(json(200, json!({"first_name": "Ada"}))).await;
    // An id that would otherwise climb to another node (`/v23.0/me/accounts`).
    let _ = channel(&server).profile(&messenger(), &"../me/accounts?x=1".into()).await;
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].url.path(), "/v23.0/..%2Fme%2Faccounts%3Fx=1");
    assert!(requests[0].url.query_pairs().all(|(k, _)| k != "x"));
}

#[test]
fn a_refused_configuration_names_its_key() {
    let config = MetaConfig::new(Secret::new("app-secret"), Secret::new("verify"));
    let twice = MetaChannel::builder(config.clone())
        .account(MetaAccount::messenger("PAGE1", Secret::new("a")))
        .account(MetaAccount::messenger("PAGE1", Secret::new("b")))
        .build()
        .unwrap_err();
    assert_eq!(twice.key(), "channels");
    let empty = MetaChannel::builder(config)
        .account(MetaAccount::messenger("PAGE1", Secret::new("")))
        .build()
        .unwrap_err();
    assert_eq!(empty.key(), "channels.access_token");
    assert!(empty.to_string().contains("PAGE1"), "{empty}");
    let no_secret = MetaChannel::builder(MetaConfig::new(Secret::new(""), Secret::new("v")))
        .build()
        .unwrap_err();
    assert_eq!(no_secret.key(), "meta.app_secret");
}
