//! Downloading agents' attachments safely: the attacks of issue #14 refused, the allowed
//! path kept. "Chatwoot" and the "internal service" are two wiremock servers; the internal
//! one records whatever reaches it, which is what each test checks.

use wbots_chatwoot::{ChatwootConfig, ChatwootInbox};
use wbots_core::{AgentAttachment, AttachmentKind, DeliveryError, Inbox, Secret};
use wbots_fakes::wiremock::{ChatwootApi, Route, file, redirect, text};
use wiremock::MockServer;

const TOKEN: &str = "cw-secret-token";

fn inbox(chatwoot: &MockServer) -> ChatwootInbox {
    ChatwootInbox::builder(ChatwootConfig::new(
        chatwoot.uri().parse().unwrap(),
        Secret::new(TOKEN),
        3,
    ))
    .build()
    .unwrap()
}

fn attachment(url: &str) -> AgentAttachment {
    AgentAttachment {
        kind: AttachmentKind::File,
        url: url.parse().unwrap(),
        file_name: Some("report.pdf".into()),
        size: None,
    }
}

/// An internal service holding a secret, answering anything.
async fn internal_service() -> MockServer {
    let server = MockServer::start().await;
    Route::any_path(&server, "GET").answers(text(200, "INTERNAL SECRET")).await;
    server
}

async fn refused(inbox: &ChatwootInbox, url: &str) -> DeliveryError {
    let e = inbox.fetch_media(&attachment(url), 1 << 20).await.unwrap_err();
    assert!(e.is_permanent(), "{url}: {e}");
    e
}

#[tokio::test]
async fn a_data_url_off_the_chatwoot_origin_is_not_fetched() {
    let chatwoot = MockServer::start().await;
    let internal = internal_service().await;
    let cw = inbox(&chatwoot);
    let e = refused(&cw, &format!("{}/admin/keys", internal.uri())).await;
    assert_eq!(
        e.message(),
        "not downloaded: 127.0.0.1 is not the Chatwoot server (chatwoot.url, chatwoot.frontend_url)"
    );
    let e = refused(&cw, "http://169.254.169.254/latest/meta-data/iam/").await;
    assert!(e.message().starts_with("not downloaded: 169.254.169.254 is not the Chatwoot server"));
    // The same host on another port is another origin.
    let other_port = format!("http://localhost:{}/x", internal.address().port());
    assert!(refused(&cw, &other_port).await.message().contains("localhost is not the Chatwoot"));
    assert!(internal.received_requests().await.unwrap().is_empty());
    assert!(chatwoot.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn only_http_and_https_are_fetched() {
    let chatwoot = MockServer::start().await;
    let cw = inbox(&chatwoot);
    for url in ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1:6379/_INFO"] {
        let scheme = url.split(':').next().unwrap();
        assert_eq!(
            refused(&cw, url).await.message(),
            format!("not downloaded: only http and https URLs are fetched, not {scheme}:")
        );
    }
}

#[tokio::test]
async fn a_redirect_from_chatwoot_to_an_internal_address_is_not_followed() {
    let chatwoot = MockServer::start().await;
    let internal = internal_service().await;
    let port = internal.address().port();
    for (name, location) in [
        ("loopback", format!("http://127.0.0.1:{port}/admin/keys")),
        ("metadata", "http://169.254.169.254/latest/meta-data/iam/".to_owned()),
        ("mapped", "http://[::ffff:169.254.169.254]/latest/meta-data/".to_owned()),
        // A name is checked by what it resolves to.
        ("name", format!("http://localhost:{port}/admin/keys")),
    ] {
        ChatwootApi::new(&chatwoot, 3)
            .storage(format!("blobs/redirect/{name}/report.pdf"))
            .answers(redirect(302, &location))
            .await;
    }
    let cw = inbox(&chatwoot);
    let blob = |name: &str| {
        format!("{}/rails/active_storage/blobs/redirect/{name}/report.pdf", chatwoot.uri())
    };
    assert_eq!(
        refused(&cw, &blob("loopback")).await.message(),
        "not downloaded: 127.0.0.1 is not a public address"
    );
    assert_eq!(
        refused(&cw, &blob("metadata")).await.message(),
        "not downloaded: 169.254.169.254 is not a public address"
    );
    assert_eq!(
        refused(&cw, &blob("mapped")).await.message(),
        "not downloaded: ::ffff:169.254.169.254 is not a public address"
    );
    let e = refused(&cw, &blob("name")).await;
    assert!(e.message().starts_with("not downloaded: localhost resolves to "), "{e}");
    assert!(internal.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_attachment_on_the_chatwoot_origin_still_downloads() {
    let chatwoot = MockServer::start().await;
    // ActiveStorage's redirect route may bounce within the origin first.
    let api = ChatwootApi::new(&chatwoot, 3);
    api.storage("blobs/redirect/abc/report.pdf")
        .answers(redirect(302, "/rails/active_storage/disk/xyz/report.pdf"))
        .await;
    api.storage("disk/xyz/report.pdf").answers(file("application/pdf", b"%PDF-1.7".to_vec())).await;
    let url = format!("{}/rails/active_storage/blobs/redirect/abc/report.pdf", chatwoot.uri());
    let media = inbox(&chatwoot).fetch_media(&attachment(&url), 1024).await.unwrap();
    assert_eq!(
        (&media.bytes[..], media.content_type.as_str(), media.file_name.as_str()),
        (&b"%PDF-1.7"[..], "application/pdf", "report.pdf")
    );
    // Downloads never carry the token, even to Chatwoot.
    for r in chatwoot.received_requests().await.unwrap() {
        assert!(r.headers.get("api_access_token").is_none(), "{}", r.url);
    }
}

/// Chatwoot (on 127.0.0.1) redirects an API call to another host (`localhost`, the
/// attacker's): before, the `api_access_token` header went along.
#[tokio::test]
async fn the_token_never_follows_a_redirect_to_another_host() {
    let chatwoot = MockServer::start().await;
    let elsewhere = internal_service().await;
    let stolen = format!("http://localhost:{}/steal", elsewhere.address().port());
    ChatwootApi::new(&chatwoot, 3).list_inboxes().answers(redirect(307, &stolen)).await;
    // The attack is real: a client with reqwest's default policy hands the token over.
    reqwest::Client::new()
        .get(format!("{}/api/v1/accounts/3/inboxes", chatwoot.uri()))
        .header("api_access_token", TOKEN)
        .send()
        .await
        .unwrap();
    let got = elsewhere.received_requests().await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].headers.get("api_access_token").unwrap(), TOKEN);
    elsewhere.reset().await;

    let e = inbox(&chatwoot).verify_token().await.unwrap_err();
    assert!(e.is_permanent());
    assert!(e.message().starts_with("Chatwoot redirected elsewhere (307)"), "{e}");
    assert!(!e.message().contains(TOKEN));
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_redirect_within_the_chatwoot_origin_keeps_working() {
    let chatwoot = MockServer::start().await;
    let moved = format!("{}/api/v1/accounts/3/inboxes?page=1", chatwoot.uri());
    let api = ChatwootApi::new(&chatwoot, 3);
    api.list_inboxes().without_query("page").answers(redirect(301, &moved)).await;
    api.list_inboxes()
        .query("page", "1")
        .header("api_access_token", TOKEN)
        .answers(text(200, r#"{"payload":[{"id":1},{"id":2}]}"#))
        .await;
    assert_eq!(inbox(&chatwoot).verify_token().await.unwrap(), 2);
}

/// The bridge reaches Chatwoot on an internal address while Chatwoot writes its links with
/// its public `FRONTEND_URL`: that origin is named in the configuration and trusted too.
#[tokio::test]
async fn attachments_on_the_configured_frontend_url_download() {
    let api = MockServer::start().await;
    let frontend = MockServer::start().await;
    ChatwootApi::new(&frontend, 3)
        .storage("blobs/redirect/abc/report.pdf")
        .answers(file("", b"%PDF".to_vec()))
        .await;
    let frontend_url = format!("http://localhost:{}", frontend.address().port());
    let mut config = ChatwootConfig::new(api.uri().parse().unwrap(), Secret::new(TOKEN), 3);
    let url = format!("{frontend_url}/rails/active_storage/blobs/redirect/abc/report.pdf");
    let cw = ChatwootInbox::builder(config.clone()).build().unwrap();
    assert!(refused(&cw, &url).await.message().contains("localhost is not the Chatwoot server"));
    config.frontend_url = Some(frontend_url.parse().unwrap());
    let cw = ChatwootInbox::builder(config).build().unwrap();
    let media = cw.fetch_media(&attachment(&url), 1024).await.unwrap();
    assert_eq!(&media.bytes[..], b"%PDF");
}
