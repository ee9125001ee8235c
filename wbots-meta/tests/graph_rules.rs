//! The channel against the FakeGraph, which keeps Meta's documented rules: appsecret_proof,
//! business-use-case rate limits, subscription through the Page, Instagram files by URL or
//! attachment_id, `metadata` on Messenger only, size limits per type.

use std::time::Duration;

use wbots_core::{
    AttachmentKind, Channel, ChannelAddress, ChannelKind, DeliveryErrorKind, Media,
    MessagingWindow, OutboundPart, Secret, SendRequest,
};
use wbots_fakes::meta::FakeGraph;
use wbots_meta::{Login, MetaAccount, MetaChannel, MetaConfig, appsecret_proof};

const APP_SECRET: &str = "app-secret";

fn config(graph: &FakeGraph, secret: &str) -> MetaConfig {
    MetaConfig::new(Secret::new(secret), Secret::new("verify")).with_graph_urls(graph.url().clone())
}

/// Messenger `PAGE1`; Instagram `IG2` through Page `PAGE2` (learned from its token);
/// Instagram-Login `IG1`.
fn world(graph: &FakeGraph) {
    graph.add_page("PAGE1", "page-token", None);
    graph.add_page("PAGE2", "page-token-2", Some("IG2"));
    graph.add_instagram_user("IGSID1");
}

fn channel_with(graph: &FakeGraph, secret: &str) -> MetaChannel {
    MetaChannel::builder(config(graph, secret))
        .account(MetaAccount::messenger("PAGE1", Secret::new("page-token")))
        .account(MetaAccount::instagram("IG2", Secret::new("page-token-2"), Login::Facebook))
        .account(MetaAccount::instagram("IG1", Secret::new("ig-token"), Login::Instagram))
        .build()
        .unwrap()
}

fn channel(graph: &FakeGraph) -> MetaChannel {
    channel_with(graph, APP_SECRET)
}

fn messenger() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::Messenger, "PAGE1")
}

fn ig_facebook() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::Instagram, "IG2")
}

fn ig_login() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::Instagram, "IG1")
}

fn request(address: ChannelAddress, part: OutboundPart) -> SendRequest {
    let thread = if address.kind == ChannelKind::Instagram { "IGSID1" } else { "PSID1" };
    SendRequest {
        address,
        thread: thread.into(),
        part,
        window: MessagingWindow::Response,
        reply_to: None,
        marker: Some("wbots:7:42:0".into()),
    }
}

fn text(t: &str) -> OutboundPart {
    OutboundPart::Text(t.into())
}

fn media(kind: AttachmentKind, len: usize, name: &str, content_type: &str) -> OutboundPart {
    OutboundPart::Media(Media {
        bytes: vec![7u8; len].into(),
        content_type: content_type.into(),
        file_name: name.into(),
        kind,
    })
}

const MB: usize = 1024 * 1024;

#[tokio::test]
async fn appsecret_proof_goes_with_every_graph_call() {
    let graph = FakeGraph::start().await.unwrap();
    world(&graph);
    graph.require_appsecret_proof(Secret::new(APP_SECRET));
    let ch = channel(&graph);
    // Send, multipart upload, profile, /me + message_attachments, subscription: all pass.
    ch.send(&request(messenger(), text("hello"))).await.unwrap();
    ch.send(&request(messenger(), media(AttachmentKind::File, 10, "a.pdf", "application/pdf")))
        .await
        .unwrap();
    ch.profile(&messenger(), &"PSID1".into()).await.unwrap();
    let photo = graph.host_media("p.jpg", "image/jpeg", vec![1; 100]);
    ch.send(&request(
        ig_facebook(),
        OutboundPart::MediaUrl { kind: AttachmentKind::Image, url: photo },
    ))
    .await
    .unwrap();
    ch.subscribe(&messenger()).await.unwrap();
    assert_eq!(ch.subscribed_apps(&messenger()).await.unwrap().len(), 1);
    let sent = graph.sent();
    assert_eq!(
        sent[0].appsecret_proof.as_deref(),
        Some(appsecret_proof(&Secret::new(APP_SECRET), "page-token").as_str())
    );
    assert_eq!(sent.len(), 3);

    // Configured with the wrong app secret, the bridge is refused as Meta refuses it.
    let wrong = channel_with(&graph, "not-the-app-secret");
    let e = wrong.send(&request(messenger(), text("hello"))).await.unwrap_err();
    assert!(e.is_permanent());
    assert!(e.message().contains("Invalid appsecret_proof"), "{e}");
    assert_eq!(graph.sent().len(), 3);
}

#[tokio::test]
async fn business_use_case_limits_wait_as_meta_says_or_back_off() {
    let graph = FakeGraph::start().await.unwrap();
    world(&graph);
    let ch = channel(&graph);
    graph.rate_limit_next(1, 80006, "PAGE1", Some(3));
    let e = ch.send(&request(messenger(), text("hi"))).await.unwrap_err();
    assert!(e.is_temporary(), "{e}");
    assert_eq!(e.kind(), DeliveryErrorKind::RateLimited);
    assert_eq!(e.code(), Some("80006"));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(180)), "3 minutes, from the header");

    // Without X-Business-Use-Case-Usage: temporary, and the job queue's backoff decides.
    graph.rate_limit_next(1, 80002, "IG2", None);
    let e = ch.send(&request(ig_facebook(), text("hi"))).await.unwrap_err();
    assert!(e.is_temporary() && e.retry_after().is_none(), "{e}");

    ch.send(&request(messenger(), text("hi"))).await.unwrap();
    assert_eq!(graph.sent().len(), 1, "sent once the limit lifted");
}

#[tokio::test]
async fn metadata_only_on_messenger() {
    let graph = FakeGraph::start().await.unwrap();
    world(&graph);
    let ch = channel(&graph);
    for address in [messenger(), ig_facebook(), ig_login()] {
        ch.send(&request(address, text("hi"))).await.unwrap();
    }
    let metadata: Vec<Option<String>> = graph.sent().into_iter().map(|s| s.metadata).collect();
    assert_eq!(metadata, vec![Some("wbots:7:42:0".to_owned()), None, None]);
}

#[tokio::test]
async fn instagram_through_facebook_is_subscribed_through_its_page() {
    let graph = FakeGraph::start().await.unwrap();
    world(&graph);
    let ch = channel(&graph);
    assert!(ch.subscribed_apps(&ig_facebook()).await.unwrap().is_empty(), "not yet subscribed");
    assert_eq!(ch.subscribe(&ig_facebook()).await.unwrap(), "PAGE2", "the Page, learned by /me");
    let fields = graph.subscribed_fields("PAGE2");
    for f in ["messages", "standby", "messaging_handovers", "messaging_policy_enforcement"] {
        assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
    }
    let sub = ch.subscription(&ig_facebook()).await.unwrap();
    assert_eq!((sub.node.as_str(), sub.apps.len()), ("PAGE2", 1));
    // The Page learned is used to send too, and named as the account's parent.
    ch.send(&request(ig_facebook(), text("hi"))).await.unwrap();
    assert_eq!(graph.sent()[0].node, "PAGE2");
    assert_eq!(ch.accounts_behind("PAGE2"), vec![ig_facebook()]);

    // What Meta refuses, the fake refuses: no subscribed_apps edge on the Instagram
    // account, no Instagram field names on a Page.
    let http = reqwest::Client::new();
    let base = graph.url().as_str().trim_end_matches('/');
    let r = http
        .post(format!("{base}/v23.0/IG2/subscribed_apps?subscribed_fields=messages"))
        .bearer_auth("page-token-2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!(
            "{base}/v23.0/PAGE2/subscribed_apps?subscribed_fields=messages,messaging_seen"
        ))
        .bearer_auth("page-token-2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("got \\\"messaging_seen\\\""));

    // A configured Page id is used as it is; a token of a Page linked elsewhere is named.
    graph.add_page("PAGE3", "page-token-3", Some("IG-OTHER"));
    let ch = MetaChannel::builder(config(&graph, APP_SECRET))
        .account(
            MetaAccount::instagram("IG2", Secret::new("page-token-2"), Login::Facebook)
                .with_page_id(Some("PAGE2".into())),
        )
        .account(MetaAccount::instagram("IG9", Secret::new("page-token-3"), Login::Facebook))
        .build()
        .unwrap();
    assert_eq!(ch.accounts_behind("PAGE2"), vec![ig_facebook()], "known before any call");
    let e = ch.subscribe(&ChannelAddress::new(ChannelKind::Instagram, "IG9")).await.unwrap_err();
    assert!(e.message().contains("linked to Instagram account IG-OTHER, not IG9"), "{e}");
}

#[tokio::test]
async fn instagram_files_go_by_url_or_attachment_id_never_multipart() {
    let graph = FakeGraph::start().await.unwrap();
    world(&graph);
    let ch = channel(&graph);
    assert!(ch.capabilities(&ig_facebook()).media_by_url);
    assert!(ch.capabilities(&ig_login()).media_by_url);
    assert!(!ch.capabilities(&messenger()).media_by_url);
    let photo = graph.host_media("photo.jpg", "image/jpeg", vec![1; 5000]);
    let part = || OutboundPart::MediaUrl { kind: AttachmentKind::Image, url: photo.clone() };

    // Through the Page: uploaded from the URL with platform=instagram, then sent by id.
    ch.send(&request(ig_facebook(), part())).await.unwrap();
    let uploads = graph.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(
        (uploads[0].page.as_str(), uploads[0].platform.as_deref(), uploads[0].len),
        ("PAGE2", Some("instagram"), 5000)
    );
    assert_eq!(uploads[0].url.as_deref(), Some(photo.as_str()));
    let sent = graph.sent();
    assert_eq!(sent[0].attachment_id.as_deref(), Some(uploads[0].attachment_id.as_str()));
    assert_eq!((sent[0].upload.clone(), sent[0].attachment_url.clone()), (None, None));

    // Instagram Login: by URL.
    ch.send(&request(ig_login(), part())).await.unwrap();
    assert_eq!(graph.sent()[1].attachment_url.as_deref(), Some(photo.as_str()));
    assert_eq!(graph.uploads().len(), 1);

    // Bytes cannot go to Instagram: refused before calling Meta.
    let calls = graph.calls();
    let e = ch
        .send(&request(ig_facebook(), media(AttachmentKind::Image, 10, "x.jpg", "image/jpeg")))
        .await
        .unwrap_err();
    assert!(e.is_permanent() && e.message().contains("by URL only"), "{e}");
    assert_eq!(graph.calls(), calls);

    // Messenger keeps its multipart upload.
    ch.send(&request(messenger(), media(AttachmentKind::File, 10, "a.pdf", "application/pdf")))
        .await
        .unwrap();
    assert_eq!(graph.sent()[2].upload, Some(("a.pdf".into(), "application/pdf".into(), 10)));

    // And Meta (the fake) refuses multipart to /messages for an Instagram customer.
    let form = reqwest::multipart::Form::new()
        .text("recipient", r#"{"id":"IGSID1"}"#)
        .text("message", r#"{"attachment":{"type":"image","payload":{}}}"#)
        .part(
            "filedata",
            reqwest::multipart::Part::bytes(vec![1, 2])
                .file_name("x.jpg")
                .mime_str("image/jpeg")
                .unwrap(),
        );
    let r = reqwest::Client::new()
        .post(format!("{}/v23.0/PAGE2/messages", graph.url().as_str().trim_end_matches('/')))
        .bearer_auth("page-token-2")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("2018047"));
}

#[tokio::test]
async fn size_limits_per_type_are_checked_before_sending() {
    let graph = FakeGraph::start().await.unwrap();
    world(&graph);
    let ch = channel(&graph);
    let calls = graph.calls();
    let e = ch
        .send(&request(messenger(), media(AttachmentKind::Image, 9 * MB, "big.png", "image/png")))
        .await
        .unwrap_err();
    assert_eq!((e.kind(), e.is_permanent()), (DeliveryErrorKind::TooLarge, true));
    assert_eq!(e.message(), "big.png is 9.0 MB; Meta takes images of at most 8 MB");
    assert_eq!(graph.calls(), calls, "refused before calling Meta");
    // 9 MB is fine for a video (25 MB); 26 MB is not.
    ch.send(&request(messenger(), media(AttachmentKind::Video, 9 * MB, "v.mp4", "video/mp4")))
        .await
        .unwrap();
    let e = ch
        .send(&request(messenger(), media(AttachmentKind::Video, 26 * MB, "v.mp4", "video/mp4")))
        .await
        .unwrap_err();
    assert!(e.message().contains("videos of at most 25 MB"), "{e}");
    // A file Meta fetches by URL is measured by Meta: the fake refuses it as Meta does.
    let big = graph.host_media("big.jpg", "image/jpeg", vec![1; 9 * MB]);
    let e = ch
        .send(&request(
            ig_facebook(),
            OutboundPart::MediaUrl { kind: AttachmentKind::Image, url: big },
        ))
        .await
        .unwrap_err();
    assert_eq!((e.kind(), e.is_permanent()), (DeliveryErrorKind::TooLarge, true), "{e}");
}

#[test]
fn the_flag_fingerprint_changes_with_the_token_and_never_shows_it() {
    let config = MetaConfig::new(Secret::new(APP_SECRET), Secret::new("v"));
    let fp = |token: &str| {
        MetaChannel::builder(config.clone())
            .account(MetaAccount::messenger("PAGE1", Secret::new(token)))
            .build()
            .unwrap()
            .credential_fingerprint(&messenger())
            .unwrap()
    };
    assert_eq!(fp("page-token"), fp("page-token"));
    assert_ne!(fp("page-token"), fp("new-page-token"));
    assert!(!fp("page-token").contains("page-token"));
    assert!(
        !appsecret_proof(&Secret::new(APP_SECRET), "page-token").starts_with(&fp("page-token"))
    );
}
