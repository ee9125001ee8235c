//! A connection's lifecycle calls (`MetaConnections`): against the FakeGraph, which keeps
//! Meta's rules (meta-login.md §1.5, §4.2, §5.5), and against wiremock where the exact
//! request matters.

use std::time::Duration;

use chrono::{TimeZone as _, Utc};
use serde_json::json;
use wbots_core::{DeliveryErrorKind, Secret};
use wbots_fakes::meta::{FakeGraph, IG_TOKEN_SECONDS};
use wbots_fakes::wiremock::{GraphApi, json as answer};
use wbots_meta::{Login, MetaConfig, MetaConnections, TokenState, appsecret_proof};
use wiremock::MockServer;

const APP_SECRET: &str = "lifecycle-app-secret";

fn config(url: &url::Url) -> MetaConfig {
    let mut config = MetaConfig::new(Secret::new(APP_SECRET), Secret::new("verify"))
        .with_graph_urls(url.clone());
    config.app_id = Some("1234567890".into());
    config
}

fn connections(graph: &FakeGraph) -> MetaConnections {
    MetaConnections::new(config(graph.url())).unwrap()
}

async fn subscribe(graph: &FakeGraph, node: &str, token: &str) {
    let url = format!("{}v23.0/{node}/subscribed_apps?subscribed_fields=messages", graph.url());
    let answer = reqwest::Client::new().post(url).bearer_auth(token).send().await.unwrap();
    assert!(answer.status().is_success());
}

#[tokio::test]
async fn unsubscribing_removes_the_apps_subscription_from_the_page() {
    let graph = FakeGraph::start().await.unwrap();
    graph.add_page("PAGE1", "page-token", None);
    graph.add_page("PAGE2", "page-token-2", Some("IG2"));
    subscribe(&graph, "PAGE1", "page-token").await;
    assert_eq!(graph.subscribed_fields("PAGE1"), ["messages"]);
    let meta = connections(&graph);

    meta.unsubscribe("PAGE1", Login::Facebook, &Secret::new("page-token")).await.unwrap();
    assert!(graph.subscribed_fields("PAGE1").is_empty(), "no longer subscribed");
    assert_eq!(graph.unsubscribed(), ["PAGE1"]);

    // An Instagram account reached through its Page has no subscription of its own (§4.3).
    let e = meta.unsubscribe("IG2", Login::Facebook, &Secret::new("page-token-2")).await;
    assert_eq!(e.unwrap_err().kind(), DeliveryErrorKind::InvalidRequest);

    // A revoked token: refused as Meta refuses it (190), the subscription left as it is.
    subscribe(&graph, "PAGE2", "page-token-2").await;
    graph.revoke_token("page-token-2");
    let e = meta.unsubscribe("PAGE2", Login::Facebook, &Secret::new("page-token-2")).await;
    let e = e.unwrap_err();
    assert_eq!((e.kind(), e.is_temporary()), (DeliveryErrorKind::Unauthorized, false));
    assert!(!e.message().contains("page-token-2"), "{e}");
    assert_eq!(graph.subscribed_fields("PAGE2"), ["messages"]);
}

#[tokio::test]
async fn an_instagram_login_token_is_refreshed_once_a_day_old() {
    let graph = FakeGraph::start().await.unwrap();
    let meta = connections(&graph);
    graph.add_instagram_login_token("ig-old", Utc::now() - chrono::Duration::days(2));

    let refreshed = meta.refresh_instagram_token(&Secret::new("ig-old")).await.unwrap();
    assert_ne!(refreshed.access_token.expose(), "ig-old", "the fake issues a new token");
    assert!(graph.instagram_token_valid(refreshed.access_token.expose()));
    let lifetime = Duration::from_secs(IG_TOKEN_SECONDS as u64);
    assert_eq!(refreshed.expires_in, Some(lifetime));
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(refreshed.expires_at(now), Some(now + chrono::Duration::seconds(IG_TOKEN_SECONDS)),);
    assert!(!format!("{refreshed:?}").contains(refreshed.access_token.expose()), "Debug hides it");
    assert_eq!(graph.refreshed_tokens(), ["ig-old"]);
}

#[tokio::test]
async fn refreshes_meta_refuses_are_errors_of_their_kind() {
    let graph = FakeGraph::start().await.unwrap();
    let meta = connections(&graph);
    // Younger than 24 hours (S20): refused, but the token is not thereby invalid.
    graph.add_instagram_login_token("ig-young", Utc::now() - chrono::Duration::hours(1));
    let e = meta.refresh_instagram_token(&Secret::new("ig-young")).await.unwrap_err();
    assert_ne!(e.kind(), DeliveryErrorKind::Unauthorized, "{e}");
    assert!(!e.is_temporary(), "{e}");
    assert!(graph.instagram_token_valid("ig-young"));
    // Expired (61 days old) and revoked: 190, a token to replace.
    graph.add_instagram_login_token("ig-expired", Utc::now() - chrono::Duration::days(61));
    graph.add_instagram_login_token("ig-revoked", Utc::now() - chrono::Duration::days(3));
    graph.revoke_token("ig-revoked");
    for token in ["ig-expired", "ig-revoked", "never-issued"] {
        let e = meta.refresh_instagram_token(&Secret::new(token)).await.unwrap_err();
        assert_eq!(
            (e.kind(), e.is_temporary()),
            (DeliveryErrorKind::Unauthorized, false),
            "{token}"
        );
        assert!(!e.message().contains(token), "{e}");
    }
    assert!(graph.refreshed_tokens().is_empty(), "nothing was refreshed");
}

#[tokio::test]
async fn a_page_token_is_valid_expired_or_revoked() {
    let graph = FakeGraph::start().await.unwrap();
    graph.set_app("1234567890", Secret::new(APP_SECRET));
    graph.add_page("PAGE1", "page-token", None);
    graph.add_page("PAGE2", "page-token-2", None);
    graph.add_page("PAGE3", "page-token-3", None);
    let meta = connections(&graph);
    let now = Utc::now();
    let check = |token: &'static str| {
        let meta = &meta;
        async move { meta.check_token(&Secret::new(token), now).await }
    };

    assert_eq!(check("page-token").await.unwrap(), TokenState::Valid { expires_at: None });
    let later = Utc.timestamp_opt(now.timestamp() + 3600, 0).unwrap();
    graph.set_token_expiry("page-token-2", later);
    assert_eq!(check("page-token-2").await.unwrap(), TokenState::Valid { expires_at: Some(later) });

    let past = Utc.timestamp_opt(now.timestamp() - 3600, 0).unwrap();
    graph.set_token_expiry("page-token-3", past);
    assert_eq!(
        check("page-token-3").await.unwrap(),
        TokenState::Expired { expired_at: Some(past) }
    );

    graph.revoke_token("page-token");
    match check("page-token").await.unwrap() {
        TokenState::Revoked { reason } => assert!(reason.contains("invalidated"), "{reason}"),
        other => panic!("a revoked token reads {other:?}"),
    }

    // The check itself failing is an error, not a verdict on the token.
    let mut wrong = config(graph.url());
    wrong.app_secret = Secret::new("another-secret");
    let e =
        MetaConnections::new(wrong).unwrap().check_token(&Secret::new("page-token-2"), now).await;
    assert!(!e.unwrap_err().message().contains("another-secret"));
    let mut no_app = config(graph.url());
    no_app.app_id = None;
    let e =
        MetaConnections::new(no_app).unwrap().check_token(&Secret::new("page-token-2"), now).await;
    assert!(e.unwrap_err().message().contains("meta.app_id"));
}

#[tokio::test]
async fn the_requests_have_the_documented_shape() {
    let facebook = MockServer::start().await;
    let instagram = MockServer::start().await;
    let mut config = config(&url::Url::parse(&facebook.uri()).unwrap());
    config.instagram_graph_url = url::Url::parse(&instagram.uri()).unwrap();
    config.instagram_app_secret = Some(Secret::new("ig-app-secret"));
    let meta = MetaConnections::new(config).unwrap();
    let (fb, ig) = (GraphApi::new(&facebook), GraphApi::new(&instagram));

    // §4.2: DELETE on the Page with its token; the body is not determined — S16's string
    // form of `success` is accepted.
    let proof = appsecret_proof(&Secret::new(APP_SECRET), "page-token");
    fb.unsubscribe("PAGE1")
        .header("authorization", "Bearer page-token")
        .query("appsecret_proof", &proof)
        .answers(answer(200, json!({"success": "true"})))
        .once()
        .await;
    meta.unsubscribe("PAGE1", Login::Facebook, &Secret::new("page-token")).await.unwrap();
    // Instagram Login: on graph.instagram.com, proved with the Instagram app's secret.
    let proof = appsecret_proof(&Secret::new("ig-app-secret"), "ig-token");
    ig.unsubscribe("IG1")
        .header("authorization", "Bearer ig-token")
        .query("appsecret_proof", &proof)
        .answers(answer(200, json!({"success": true})))
        .once()
        .await;
    meta.unsubscribe("IG1", Login::Instagram, &Secret::new("ig-token")).await.unwrap();

    // §5.5, with the extra `permissions` key of a recorded live answer (C14).
    ig.refresh_access_token()
        .query("grant_type", "ig_refresh_token")
        .query("access_token", "ig-token")
        .answers(answer(
            200,
            json!({"access_token": "ig-token-2", "token_type": "bearer", "expires_in": 5127758,
                   "permissions": "instagram_business_basic,instagram_business_manage_messages"}),
        ))
        .once()
        .await;
    let refreshed = meta.refresh_instagram_token(&Secret::new("ig-token")).await.unwrap();
    assert_eq!(refreshed.access_token.expose(), "ig-token-2");
    assert_eq!(refreshed.expires_in, Some(Duration::from_secs(5127758)));

    // §1.5's sample answer, for the app token `{app-id}|{app-secret}`.
    fb.debug_token()
        .query("input_token", "page-token")
        .query("access_token", &format!("1234567890|{APP_SECRET}"))
        .answers(answer(
            200,
            json!({"data": {"app_id": "1234567890", "type": "USER", "application": "My Bridge",
                "data_access_expires_at": 1760000000, "expires_at": 1757000000, "is_valid": true,
                "issued_at": 1751800000, "scopes": ["pages_messaging"], "user_id": "10158000000000000"}}),
        ))
        .once()
        .await;
    let state = meta.check_token(&Secret::new("page-token"), Utc::now()).await.unwrap();
    assert_eq!(state, TokenState::Valid { expires_at: Utc.timestamp_opt(1757000000, 0).single() });

    // A refusal is classified as every Graph failure: an outage is temporary.
    ig.refresh_access_token().answers(answer(503, json!({}))).once().await;
    let e = meta.refresh_instagram_token(&Secret::new("ig-token-b")).await.unwrap_err();
    assert!(e.is_temporary(), "{e}");
}
