//! Meta's ID matching (`IdMatcher`) against the FakeGraph, which keeps the edges' rules
//! (the app token, `appsecret_proof` when the app requires it, an empty answer for a person
//! Meta cannot match).

use wbots_core::Secret;
use wbots_fakes::meta::FakeGraph;
use wbots_meta::MetaConfig;
use wbots_meta::id_matching::{IdMatcher, MatchedId};

const APP_SECRET: &str = "matching-app-secret";

fn matcher(url: &url::Url, app_id: Option<&str>) -> Option<IdMatcher> {
    let mut config = MetaConfig::new(Secret::new(APP_SECRET), Secret::new("verify"))
        .with_graph_urls(url.clone());
    config.app_id = app_id.map(str::to_owned);
    IdMatcher::new(config).unwrap()
}

fn found(id: &str, scope: &str) -> MatchedId {
    MatchedId { id: id.into(), scope: scope.into() }
}

#[tokio::test]
async fn an_app_scoped_id_resolves_to_the_ids_meta_matches() {
    let graph = FakeGraph::start().await.unwrap();
    graph.set_app("4242", Secret::new(APP_SECRET));
    graph.require_appsecret_proof(Secret::new(APP_SECRET));
    graph.add_page("PAGE1", "page-token", None);
    graph.match_page_id("asid-1", "PAGE1", "psid-1");
    graph.match_page_id("asid-1", "PAGE2", "psid-2");
    graph.match_business_id("asid-1", "APP2", "asid-in-app-2");
    let Some(matcher) = matcher(graph.url(), Some("4242")) else { panic!("app_id is set") };

    let pages = matcher.page_scoped_ids("asid-1").await.unwrap();
    assert_eq!(pages, [found("psid-1", "PAGE1"), found("psid-2", "PAGE2")]);
    let apps = matcher.business_ids("asid-1").await.unwrap();
    assert_eq!(apps, [found("asid-in-app-2", "APP2")]);
    assert!(matcher.page_scoped_ids("asid-unknown").await.unwrap().is_empty(), "no match");
}

#[tokio::test]
async fn without_app_id_there_is_no_matching_and_a_wrong_app_is_refused_for_good() {
    let graph = FakeGraph::start().await.unwrap();
    assert!(matcher(graph.url(), None).is_none(), "the app token needs meta.app_id");
    graph.set_app("other-app", Secret::new("other-secret"));
    let Some(matcher) = matcher(graph.url(), Some("4242")) else { panic!("app_id is set") };
    let refused = matcher.page_scoped_ids("asid-1").await.unwrap_err();
    assert!(refused.is_permanent(), "{refused}");
    assert!(!refused.to_string().contains(APP_SECRET), "{refused}");
}

#[tokio::test]
async fn meta_unreachable_is_temporary() {
    // A loopback port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
    let Some(matcher) = matcher(&url, Some("4242")) else { panic!("app_id is set") };
    let down = matcher.page_scoped_ids("asid-1").await.unwrap_err();
    assert!(down.is_temporary(), "{down}");
    assert!(!down.to_string().contains(APP_SECRET), "the URL carries the app token: {down}");
}
