//! Connecting through Meta's login (`MetaLogin`): the whole Facebook Login and Instagram
//! Login flows against the FakeGraph, which keeps Meta's rules (meta-login.md §1-§5, §9),
//! and the exact requests against wiremock.

use serde_json::json;
use url::Url;
use wbots_core::{DeliveryErrorKind, Secret};
use wbots_fakes::meta::FakeGraph;
use wbots_fakes::wiremock::GraphApi;
use wbots_meta::{LoginUrls, MetaConfig, MetaLogin};
use wiremock::MockServer;

const REDIRECT: &str = "https://bridge.example.com/admin/meta/callback";
const IG_REDIRECT: &str = "https://bridge.example.com/admin/instagram/callback";

fn login(base: &Url) -> MetaLogin {
    let mut config = MetaConfig::new(Secret::new("app-secret"), Secret::new("verify"))
        .with_graph_urls(base.clone());
    config.app_id = Some("1234".into());
    config.instagram_app_secret = Some(Secret::new("ig-secret"));
    let urls = LoginUrls {
        facebook_dialog: base.clone(),
        instagram_authorize: base.clone(),
        instagram_api: base.clone(),
    };
    MetaLogin::new(config, urls, Some("5678".into())).unwrap()
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())
}

async fn graph() -> FakeGraph {
    let graph = FakeGraph::start().await.unwrap();
    graph.set_login_app("1234", "app-secret", &[REDIRECT]);
    graph.set_instagram_login_app("5678", "ig-secret", &[IG_REDIRECT]);
    graph.add_page("111", "page-token-111", Some("17841400000000111"));
    graph.add_page("222", "page-token-222", None);
    graph.add_page("333", "page-token-333", None);
    graph.set_page_name("111", "Acme Shop");
    graph.set_instagram_username("17841400000000111", "acme.shop");
    graph
}

#[tokio::test]
async fn facebook_login_gives_the_ticked_pages_with_their_tokens_and_subscribes_one() {
    let graph = graph().await;
    let meta = login(graph.url());
    let dialog = meta.facebook_dialog_url(REDIRECT, "state-1", false).unwrap();
    assert_eq!(query(&dialog, "client_id").as_deref(), Some("1234"));
    assert!(query(&dialog, "scope").unwrap().contains("pages_messaging"));

    let back = graph.consent(&dialog, Some(&["111", "222"]), true).await.unwrap();
    assert_eq!(query(&back, "state").as_deref(), Some("state-1"), "state comes back unchanged");
    assert_eq!(back.fragment(), Some("_=_"));
    let code = query(&back, "code").unwrap();

    let short = meta.exchange_code(&code, REDIRECT).await.unwrap();
    let long = meta.long_lived(&short.access_token).await.unwrap();
    assert_ne!(long.access_token, short.access_token);
    assert!(long.expires_in.is_some());
    let pages = meta.pages(&long.access_token).await.unwrap();
    let ids: Vec<&str> = pages.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["111", "222"], "only the ticked Pages");
    assert_eq!(pages[0].name, "Acme Shop");
    assert_eq!(pages[0].access_token.expose(), "page-token-111");
    let ig = pages[0].instagram.as_ref().unwrap();
    assert_eq!((ig.id.as_str(), ig.username.as_deref()), ("17841400000000111", Some("acme.shop")));
    assert!(pages[0].can_connect());

    meta.subscribe_page("111", &pages[0].access_token).await.unwrap();
    assert!(graph.subscribed_fields("111").contains(&"messages".to_owned()));

    // A code is good once (F4: 100/36009).
    let again = meta.exchange_code(&code, REDIRECT).await.unwrap_err();
    assert!(again.is_permanent() && again.message().contains("has been used"), "{again}");
}

#[tokio::test]
async fn the_code_exchange_needs_the_dialogs_redirect_uri_and_the_dialog_a_listed_one() {
    let graph = graph().await;
    let meta = login(graph.url());
    let blocked = meta.facebook_dialog_url("https://evil.example/cb", "s", false).unwrap();
    let page = graph.consent(&blocked, None, true).await.unwrap_err();
    assert!(page.contains("URL Blocked"), "{page}");

    let dialog = meta.facebook_dialog_url(REDIRECT, "s", false).unwrap();
    let back = graph.consent(&dialog, None, true).await.unwrap();
    let code = query(&back, "code").unwrap();
    let e = meta.exchange_code(&code, "https://bridge.example.com/other").await.unwrap_err();
    assert!(e.message().contains("redirect_uri"), "{e}");
    assert!(!e.message().contains("app-secret"), "{e}");
}

#[tokio::test]
async fn a_cancelled_dialog_comes_back_with_access_denied_and_the_state() {
    let graph = graph().await;
    let meta = login(graph.url());
    let dialog = meta.facebook_dialog_url(REDIRECT, "state-2", false).unwrap();
    let back = graph.consent(&dialog, None, false).await.unwrap();
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&back, "state").as_deref(), Some("state-2"));
    assert!(query(&back, "code").is_none());
}

#[tokio::test]
async fn pages_are_read_across_every_page_of_me_accounts() {
    let graph = graph().await;
    for i in 0..130 {
        graph.add_page(&format!("9{i:04}"), &format!("tok-{i}"), None);
    }
    let meta = login(graph.url());
    let dialog = meta.facebook_dialog_url(REDIRECT, "s", false).unwrap();
    let back = graph.consent(&dialog, None, true).await.unwrap();
    let token = meta.exchange_code(&query(&back, "code").unwrap(), REDIRECT).await.unwrap();
    let pages = meta.pages(&token.access_token).await.unwrap();
    assert_eq!(pages.len(), 133, "100 a page, followed to the last");
}

#[tokio::test]
async fn instagram_login_gives_a_long_lived_token_for_the_account_and_subscribes_it() {
    let graph = graph().await;
    graph.set_instagram_login_account("17841400000000999", "acme.direct");
    let meta = login(graph.url());
    let authorize = meta.instagram_authorize_url(IG_REDIRECT, "ig-state").unwrap();
    assert_eq!(query(&authorize, "client_id").as_deref(), Some("5678"));
    let back = graph.consent(&authorize, None, true).await.unwrap();
    assert_eq!(query(&back, "state").as_deref(), Some("ig-state"));
    let code = query(&back, "code").unwrap();

    let short = meta.instagram_exchange_code(&code, IG_REDIRECT).await.unwrap();
    let long = meta.instagram_long_lived(&short.access_token).await.unwrap();
    assert!(graph.instagram_token_valid(long.access_token.expose()));
    let me = meta.instagram_me(&long.access_token).await.unwrap();
    assert_eq!((me.user_id.as_str(), me.username.as_str()), ("17841400000000999", "acme.direct"));
    meta.subscribe_instagram(&long.access_token).await.unwrap();
    assert!(graph.subscribed_fields("17841400000000999").contains(&"messages".to_owned()));

    // Instagram's own error envelope on reuse (§5.3, F10).
    let e = meta.instagram_exchange_code(&code, IG_REDIRECT).await.unwrap_err();
    assert_eq!(e.kind(), DeliveryErrorKind::Unauthorized);
    assert!(e.message().contains("already used"), "{e}");
}

#[tokio::test]
async fn the_code_exchange_is_the_documented_get_with_the_app_secret_in_the_query() {
    let server = MockServer::start().await;
    let base = Url::parse(&server.uri()).unwrap();
    GraphApi::new(&server)
        .oauth_access_token()
        .query("client_id", "1234")
        .query("client_secret", "app-secret")
        .query("redirect_uri", REDIRECT)
        .query("code", "the-code")
        .json(200, json!({"access_token": "user-token", "token_type": "bearer"}))
        .once()
        .await;
    let token = login(&base).exchange_code("the-code", REDIRECT).await.unwrap();
    assert_eq!(token.access_token.expose(), "user-token");
    assert_eq!(token.expires_in, None, "expires_in is optional (§1.4)");
}

#[tokio::test]
async fn the_instagram_token_answer_is_read_flat_or_wrapped_in_data() {
    let server = MockServer::start().await;
    let base = Url::parse(&server.uri()).unwrap();
    GraphApi::new(&server)
        .instagram_oauth_access_token()
        .json(200, json!({"data": [{"access_token": "IGwrapped", "user_id": "17841", "permissions": "instagram_business_basic"}]}))
        .once()
        .await;
    let token = login(&base).instagram_exchange_code("c#_", IG_REDIRECT).await.unwrap();
    assert_eq!(token.access_token.expose(), "IGwrapped");
    let received = server.received_requests().await.unwrap();
    let body = String::from_utf8_lossy(&received[0].body).into_owned();
    assert!(body.contains("grant_type=authorization_code") && body.ends_with("code=c"), "{body}");
    assert!(body.contains("client_secret=ig-secret"), "{body}");
}
