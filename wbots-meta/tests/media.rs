//! Downloading customers' attachments safely: the attacks of issue #14 refused, the allowed
//! path kept. The Graph API and an "internal service" are two wiremock servers; the internal
//! one records whatever reaches it, which is what each test checks.

use wbots_core::{
    AttachmentKind, Channel, ChannelAddress, ChannelKind, DeliveryError, InboundAttachment, Secret,
};
use wbots_fakes::wiremock::{GraphApi, Route, file, redirect, text};
use wbots_meta::{MetaAccount, MetaChannel, MetaConfig};
use wiremock::MockServer;

const TOKEN: &str = "page-secret-token";

fn channel(graph: &MockServer) -> MetaChannel {
    let config = MetaConfig::new(Secret::new("app-secret"), Secret::new("verify"))
        .with_graph_urls(graph.uri().parse().unwrap());
    MetaChannel::builder(config)
        .account(MetaAccount::messenger("PAGE1", Secret::new(TOKEN)))
        .build()
        .unwrap()
}

fn page() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::Messenger, "PAGE1")
}

async fn internal_service() -> MockServer {
    let server = MockServer::start().await;
    Route::any_path(&server, "GET").answers(text(200, "INTERNAL SECRET")).await;
    server
}

async fn refused(ch: &MetaChannel, url: &str) -> DeliveryError {
    let att = InboundAttachment::from_url(AttachmentKind::Image, url.parse().unwrap());
    let e = ch.fetch_media(&page(), &att, 1 << 20).await.unwrap_err();
    assert!(e.is_permanent(), "{url}: {e}");
    e
}

#[tokio::test]
async fn an_attachment_off_meta_hosts_is_not_fetched() {
    let graph = MockServer::start().await;
    let internal = internal_service().await;
    let ch = channel(&graph);
    for (url, host) in [
        (format!("{}/admin/keys", internal.uri()), "127.0.0.1".to_owned()),
        (format!("http://localhost:{}/x.jpg", internal.address().port()), "localhost".into()),
        ("http://169.254.169.254/latest/meta-data/".into(), "169.254.169.254".into()),
        ("https://cdn.example/photo.jpg".into(), "cdn.example".into()),
        (
            "https://fbcdn.net.attacker.example/photo.jpg".into(),
            "fbcdn.net.attacker.example".into(),
        ),
    ] {
        assert_eq!(
            refused(&ch, &url).await.message(),
            format!("not downloaded: {host} is not one of Meta's media hosts")
        );
    }
    assert!(internal.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn only_http_and_https_are_fetched() {
    let graph = MockServer::start().await;
    let ch = channel(&graph);
    assert_eq!(
        refused(&ch, "file:///etc/passwd").await.message(),
        "not downloaded: only http and https URLs are fetched, not file:"
    );
}

#[tokio::test]
async fn a_redirect_off_meta_hosts_is_not_followed() {
    let graph = MockServer::start().await;
    let internal = internal_service().await;
    GraphApi::new(&graph)
        .cdn("/media/photo.jpg")
        .answers(redirect(302, &format!("{}/admin/keys", internal.uri())))
        .await;
    let e = refused(&channel(&graph), &format!("{}/media/photo.jpg", graph.uri())).await;
    assert_eq!(
        e.message(),
        "not downloaded: the redirect leads to 127.0.0.1, which is not one of Meta's media hosts"
    );
    assert!(internal.received_requests().await.unwrap().is_empty());
}

/// The Graph API (on 127.0.0.1) redirects a call to another origin (`localhost`): the
/// request, and the bearer token with it, does not follow.
#[tokio::test]
async fn the_token_never_follows_a_redirect_to_another_host() {
    let graph = MockServer::start().await;
    let elsewhere = internal_service().await;
    let stolen = format!("http://localhost:{}/steal", elsewhere.address().port());
    GraphApi::new(&graph).node("PSID1").answers(redirect(307, &stolen)).await;
    let e = channel(&graph).profile(&page(), &"PSID1".into()).await.unwrap_err();
    assert!(!e.message().contains(TOKEN), "{e}");
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
    // Nor does the media download carry the token anywhere.
    GraphApi::new(&graph).cdn("/media/photo.jpg").answers(file("", b"JPEG".to_vec())).await;
    let att = InboundAttachment::from_url(
        AttachmentKind::Image,
        format!("{}/media/photo.jpg", graph.uri()).parse().unwrap(),
    );
    channel(&graph).fetch_media(&page(), &att, 1024).await.unwrap();
    for r in graph.received_requests().await.unwrap() {
        if r.url.path() == "/media/photo.jpg" {
            assert!(r.headers.get("authorization").is_none());
        }
    }
}
