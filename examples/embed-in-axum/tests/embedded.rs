//! The host service answers its own routes, bridges a Messenger message into Chatwoot under
//! `/bridge`, and stops cleanly.

use std::time::{Duration, Instant};

use example_embed_in_axum::{AppConfig, run};
use tokio_util::sync::CancellationToken;
use wbots_chatwoot::fake::FakeChatwoot;
use wbots_core::Secret;
use wbots_meta::fake::{FakeGraph, payload};
use wbots_meta::sign_body;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_service_and_the_bridge_share_one_server() {
    let graph = FakeGraph::start().await.unwrap();
    let chatwoot = FakeChatwoot::start("tok", 2).await.unwrap();
    let inbox = chatwoot.add_api_inbox("Messenger", None);
    let dir = tempfile::tempdir().unwrap();
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
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
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

    // Clean shutdown: the server and the workers return.
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server).await.unwrap().unwrap().unwrap();
    drop(graph);
}
