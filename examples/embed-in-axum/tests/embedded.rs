//! The host service answers its own routes, bridges a Messenger message into Chatwoot under
//! `/bridge`, serves Meta's data-deletion callback there, and stops cleanly.

use std::time::{Duration, Instant};

use example_embed_in_axum::{AppConfig, run};
use tokio_util::sync::CancellationToken;
use wbots_core::Secret;
use wbots_fakes::chatwoot::FakeChatwoot;
use wbots_fakes::meta::{FakeGraph, payload};
use wbots_meta::sign_body;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_service_and_the_bridge_share_one_server() {
    let graph = FakeGraph::start().await.unwrap();
    let chatwoot = FakeChatwoot::start("tok", 2).await.unwrap();
    let inbox = chatwoot.add_api_inbox("Messenger", None);
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = AppConfig {
        sqlite_path: dir.path().join("host.db"),
        meta_app_secret: Secret::new("app-secret"),
        meta_verify_token: Secret::new("verify"),
        graph_url: graph.url().clone(),
        page_id: "PAGE".into(),
        page_token: Secret::new("page-token"),
        chatwoot_url: chatwoot.url().clone(),
        chatwoot_token: Secret::new("tok"),
        chatwoot_account: 2,
        inbox_id: inbox,
        chatwoot_webhook_token: Secret::new("path-token"),
        public_url: Some(format!("{base}/bridge").parse().unwrap()),
    };
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(run(config, listener, shutdown.clone()));
    let http = reqwest::Client::new();

    // The host's own route, with its own state.
    for n in 1..=2 {
        let text = http.get(format!("{base}/hello")).send().await.unwrap().text().await.unwrap();
        assert_eq!(text, format!("hello #{n} from the host service\n"));
    }

    // The bridge's routes under the prefix.
    let body = payload::text(
        "page",
        "PAGE",
        "psid-1",
        "m_embed",
        "hi from Messenger",
        chrono::Utc::now().timestamp_millis(),
    );
    let resp = http
        .post(format!("{base}/bridge/webhooks/meta"))
        .header("x-hub-signature-256", sign_body(&Secret::new("app-secret"), body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let start = Instant::now();
    while !chatwoot.messages().iter().any(|m| m.source_id.as_deref() == Some("m_embed")) {
        assert!(start.elapsed() < Duration::from_secs(15), "the message never reached Chatwoot");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(http.get(format!("{base}/bridge/readyz")).send().await.unwrap().status(), 200);
    assert_eq!(
        http.get(format!("{base}/webhooks/meta")).send().await.unwrap().status(),
        404,
        "nothing outside the prefix"
    );

    // Meta's data-deletion callback, under the prefix too: a forged request is refused, a
    // signed one answered with a status page that says the request completed.
    let request = serde_json::json!({"algorithm": "HMAC-SHA256", "issued_at": 1_732_000_000, "user_id": "psid-1"});
    let forged = wbots_meta::signed_request::encode(&request, &Secret::new("not-the-secret"));
    let resp = http
        .post(format!("{base}/bridge/meta/data-deletion"))
        .form(&[("signed_request", forged.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let signed = wbots_meta::signed_request::encode(&request, &Secret::new("app-secret"));
    let resp = http
        .post(format!("{base}/bridge/meta/data-deletion"))
        .form(&[("signed_request", signed.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: serde_json::Value = resp.json().await.unwrap();
    let code = answer["confirmation_code"].as_str().unwrap();
    let url = answer["url"].as_str().unwrap();
    assert_eq!(url, format!("{base}/bridge/meta/data-deletion/{code}"));
    let status = http.get(url).send().await.unwrap();
    assert_eq!(status.status(), 200);
    let text = status.text().await.unwrap();
    assert!(text.contains("Status: completed"), "{text}");

    // Clean shutdown: the server and the workers return.
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap().unwrap();
    drop(graph);
}
