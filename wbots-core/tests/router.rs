//! The HTTP routes answer each input as SPEC §5 says, through `oneshot` requests.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use tower::ServiceExt;
use wbots_core::router::{RouterOptions, router};
use wbots_core::store::{JobQueue, MemoryStore, Store};
use wbots_core::testkit::{
    RecordingChannel, RecordingInbox, SIGNATURE_HEADER, SwitchableStore, test_signature,
};
use wbots_core::{
    Binding, Bridge, ChannelAddress, ChannelKind, InboundEnvelope, InboundEvent, InboundMessage,
    ReopenPolicy,
};

fn page() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::new("messenger"), "page-1")
}

fn setup() -> (axum::Router, Arc<RecordingChannel>, Arc<dyn Store>) {
    let channel = Arc::new(RecordingChannel::new("fake", vec![page()]));
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let bridge = Bridge::builder(store.clone(), Arc::new(RecordingInbox::new()))
        .with_channel(channel.clone())
        .with_binding(Binding { address: page(), inbox: "7".into(), reopen: ReopenPolicy::Reopen })
        .build()
        .unwrap();
    (router(bridge, RouterOptions::default().with_max_body_bytes(4096)), channel, store)
}

fn event() -> InboundEnvelope {
    InboundEnvelope::new(
        page(),
        InboundEvent::Message(InboundMessage {
            id: "m1".into(),
            thread: "alice".into(),
            sender: "alice".into(),
            sent_at: Utc::now(),
            text: Some("hi".into()),
            attachments: Vec::new(),
            reply_to: None,
            context: None,
        }),
    )
}

/// POSTs `body`, signed with `secret` when given.
async fn post(
    app: &axum::Router,
    path: &str,
    secret: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, String) {
    let mut req = Request::post(path);
    if let Some(secret) = secret {
        req = req.header(SIGNATURE_HEADER, test_signature(secret, &body));
    }
    let resp = app.clone().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn stored(store: &Arc<dyn Store>) -> u64 {
    let s = store.stats().await.unwrap();
    s.queued + s.running + s.done + s.dead
}

#[tokio::test]
async fn a_signed_delivery_is_stored_before_the_200() {
    let (app, channel, store) = setup();
    let req = channel.request(&[event()]);
    let (status, body) = post(&app, "/webhooks/fake", Some("test-secret"), req.body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, r#"{"accepted":1,"duplicates":0,"skipped":0}"#);
    assert_eq!(stored(&store).await, 1);
    let (_, again) = post(&app, "/webhooks/fake", Some("test-secret"), req.body).await;
    assert_eq!(again, r#"{"accepted":0,"duplicates":1,"skipped":0}"#);
}

#[tokio::test]
async fn bad_input_gets_its_answer_and_stores_nothing() {
    let (app, channel, store) = setup();
    let body = channel.request(&[event()]).body;
    assert_eq!(post(&app, "/webhooks/fake", None, body.clone()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        post(&app, "/webhooks/fake", Some("wrong"), body.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, reason) =
        post(&app, "/webhooks/fake", Some("test-secret"), b"{oops".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(reason.starts_with("malformed:") && reason.lines().count() == 1, "{reason}");
    assert_eq!(
        post(&app, "/webhooks/fake", Some("test-secret"), vec![b' '; 5000]).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(
        post(&app, "/webhooks/nope", Some("test-secret"), body.clone()).await.0,
        StatusCode::NOT_FOUND
    );
    // Path tokens are only for the inbox.
    assert_eq!(
        post(&app, "/webhooks/fake/sometoken", Some("test-secret"), body).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(stored(&store).await, 0);
}

#[tokio::test]
async fn handshake_answers_the_challenge_or_403() {
    let (app, _, _) = setup();
    let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
    let ok = app
        .clone()
        .oneshot(get("/webhooks/fake?token=test-secret&challenge=abc123"))
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(axum::body::to_bytes(ok.into_body(), 100).await.unwrap(), "abc123");
    let bad = app.clone().oneshot(get("/webhooks/fake?token=nope&challenge=abc123")).await.unwrap();
    assert_eq!(bad.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn health_and_readiness() {
    let (app, _, _) = setup();
    for path in ["/healthz", "/readyz"] {
        let resp =
            app.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn an_unreachable_store_answers_503_and_acknowledges_nothing() {
    let channel = Arc::new(RecordingChannel::new("fake", vec![page()]));
    let store = Arc::new(SwitchableStore::new(MemoryStore::new()));
    let bridge = Bridge::builder(store.clone(), Arc::new(RecordingInbox::new()))
        .with_channel(channel.clone())
        .with_binding(Binding { address: page(), inbox: "7".into(), reopen: ReopenPolicy::Reopen })
        .build()
        .unwrap();
    let app = router(bridge, RouterOptions::default());
    store.set_available(false);
    let body = channel.request(&[event()]).body;
    assert_eq!(
        post(&app, "/webhooks/fake", Some("test-secret"), body.clone()).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let ready =
        app.clone().oneshot(Request::get("/readyz").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Back up: the platform's retry of the same delivery is stored once.
    store.set_available(true);
    assert_eq!(post(&app, "/webhooks/fake", Some("test-secret"), body).await.0, StatusCode::OK);
    assert_eq!(store.stats().await.unwrap().queued, 1);
}

#[tokio::test]
async fn an_unknown_webhook_name_is_404_without_echoing_it() {
    let (app, channel, store) = setup();
    let body = channel.request(&[event()]).body;
    let long = format!("made-up-{}", "x".repeat(4000));
    for path in [format!("/webhooks/{long}"), format!("/webhooks/{long}/token-guess")] {
        let (status, reason) = post(&app, &path, Some("test-secret"), body.clone()).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!reason.contains("made-up"), "the name is not echoed: {reason}");
    }
    let resp = app
        .clone()
        .oneshot(Request::get(format!("/webhooks/{long}?token=x")).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let reason = axum::body::to_bytes(resp.into_body(), 1000).await.unwrap();
    assert!(!String::from_utf8_lossy(&reason).contains("made-up"));
    assert_eq!(stored(&store).await, 0);
}
