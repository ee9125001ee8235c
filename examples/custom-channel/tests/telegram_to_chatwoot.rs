//! The Telegram channel through the real engine and the real Chatwoot adapter: a customer's
//! Telegram message lands in Chatwoot, an agent's reply goes out with `sendMessage`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use example_custom_channel::{SECRET_HEADER, TelegramChannel};
use tokio_util::sync::CancellationToken;
use wbots_chatwoot::{ChatwootConfig, ChatwootInbox};
use wbots_core::Secret;
use wbots_core::router::{RouterOptions, router};
use wbots_core::store::{MemoryStore, Store};
use wbots_fakes::chatwoot::FakeChatwoot;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "123456:ABC-test-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_and_chatwoot_talk_through_the_engine() {
    let telegram_api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/getChat")))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true, "result": {"id": 1111111, "first_name": "Ada", "last_name": "L", "username": "ada"}})))
        .mount(&telegram_api)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/sendMessage")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"ok": true, "result": {"message_id": 2}})),
        )
        .mount(&telegram_api)
        .await;
    let chatwoot = FakeChatwoot::start("cw", 1).await.unwrap();
    let inbox = chatwoot.add_api_inbox("Telegram", None);

    let telegram = TelegramChannel::new(Secret::new(TOKEN), Secret::new("hook"))
        .unwrap()
        .with_base_url(telegram_api.uri().parse().unwrap());
    let cw = ChatwootInbox::builder(
        ChatwootConfig::new(chatwoot.url().clone(), Secret::new("cw"), 1)
            .with_webhook_token(Secret::new("p")),
    )
    .build()
    .unwrap();
    let bridge = example_custom_channel::wiring::bridge(
        telegram,
        cw,
        inbox,
        Arc::new(MemoryStore::new()) as Arc<dyn Store>,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    chatwoot.set_webhook_url(inbox, &format!("{base}/webhooks/chatwoot/p"));
    let stop = CancellationToken::new();
    tokio::spawn(
        axum::serve(listener, router(bridge.clone(), RouterOptions::default())).into_future(),
    );
    tokio::spawn({
        let (b, s) = (bridge.clone(), stop.clone());
        async move { b.run(s).await }
    });

    let update = r#"{"update_id":1,"message":{"message_id":1365,"from":{"id":1111111,"first_name":"Ada"},"chat":{"id":1111111,"type":"private"},"date":1700000000,"text":"Hello from Telegram"}}"#;
    let resp = reqwest::Client::new()
        .post(format!("{base}/webhooks/telegram"))
        .header(SECRET_HEADER, "hook")
        .body(update)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let start = Instant::now();
    let message = loop {
        if let Some(m) =
            chatwoot.messages().into_iter().find(|m| m.source_id.as_deref() == Some("1111111:1365"))
        {
            break m;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "never reached Chatwoot");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(message.content.as_deref().unwrap().ends_with("Hello from Telegram"), "{message:?}");
    assert_eq!(chatwoot.contacts()[0].name, "Ada L");

    // Telegram has no messaging window: the reply goes out although the message is old.
    let (_, status) = chatwoot.agent_reply(message.conversation_id, "Hi Ada!", Vec::new()).await;
    assert_eq!(status, Some(200));
    let start = Instant::now();
    loop {
        let sent = telegram_api
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.url.path().ends_with("/sendMessage"));
        if let Some(r) = sent {
            let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(
                (body["chat_id"].as_str(), body["text"].as_str()),
                (Some("1111111"), Some("Hi Ada!"))
            );
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "the reply never reached Telegram");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
}
