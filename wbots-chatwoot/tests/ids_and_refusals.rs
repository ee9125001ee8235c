//! What the adapter does with ids it cannot send as they are, and with Chatwoot's
//! "already taken" refusals.

use serde_json::json;
use wbots_chatwoot::{ChatwootConfig, ChatwootInbox};
use wbots_core::{
    ChannelAddress, ChannelKind, ContactRequest, ConversationRequest, DeliveryErrorKind,
    DeliveryStatus, Inbox, MessageChange, MessageUpdate, Profile, ReopenPolicy, Secret,
};
use wbots_fakes::wiremock::{ChatwootApi, Reply, Route, json, refusal};
use wiremock::MockServer;

fn inbox(server: &MockServer) -> ChatwootInbox {
    ChatwootInbox::builder(ChatwootConfig::new(
        server.uri().parse().unwrap(),
        Secret::new("cw-token"),
        3,
    ))
    .build()
    .unwrap()
}

fn contact_request(inbox: &str) -> ContactRequest {
    ContactRequest {
        inbox: inbox.into(),
        address: ChannelAddress::new(ChannelKind::Messenger, "1122"),
        user: "psid-9".into(),
        profile: Profile { name: "Ada".into(), username: None, avatar_url: None },
    }
}

/// Account 3, the account `inbox` talks to.
fn api(server: &MockServer) -> ChatwootApi<'_> {
    ChatwootApi::new(server, 3)
}

fn no_contact_yet(server: &MockServer) -> Reply<'_> {
    api(server).filter_contacts().json(200, json!({"payload": []}))
}

#[tokio::test]
async fn an_inbox_or_contact_id_that_is_not_a_number_is_an_error_never_id_0() {
    let server = MockServer::start().await;
    let cw = inbox(&server);
    let e = cw.upsert_contact(&contact_request("inbox-7")).await.unwrap_err();
    assert!(e.is_permanent(), "{e:?}");
    assert_eq!(e.kind(), DeliveryErrorKind::InvalidRequest);
    assert!(e.message().contains("inbox id \"inbox-7\""), "{}", e.message());

    let conversation = ConversationRequest {
        inbox: "7".into(),
        address: ChannelAddress::new(ChannelKind::Messenger, "1122"),
        thread: "psid-9".into(),
        contact: "c-501".into(),
        existing: None,
        reopen: ReopenPolicy::Reopen,
    };
    api(&server).contact_conversations("c-501").json(200, json!({"payload": []})).await;
    let e = cw.open_conversation(&conversation).await.unwrap_err();
    assert!(e.message().contains("contact id \"c-501\""), "{}", e.message());
    // Nothing was created with a made-up id.
    let created = server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .count();
    assert_eq!(created, 0);
}

#[tokio::test]
async fn ids_are_escaped_as_one_path_segment() {
    let server = MockServer::start().await;
    Route::any_path(&server, "PATCH").answers(json(200, json!({}))).await;
    let update = MessageUpdate {
        conversation: "1/../../../profile".into(),
        message: "5?x=1".into(),
        change: MessageChange::Status { status: DeliveryStatus::Read, error: None },
    };
    inbox(&server).update_message(&update).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(
        requests[0].url.path(),
        "/api/v1/accounts/3/conversations/1%2F..%2F..%2F..%2Fprofile/messages/5%3Fx=1"
    );
    assert_eq!(requests[0].url.query(), None);
}

#[tokio::test]
async fn an_identifier_taken_by_a_lost_attempt_means_look_again() {
    let server = MockServer::start().await;
    no_contact_yet(&server).await;
    // `render_record_invalid` in Chatwoot's `request_exception_handler.rb`.
    api(&server)
        .create_contact()
        .json(
            422,
            json!({"message": "Identifier has already been taken", "attributes": ["identifier"]}),
        )
        .await;
    let e = inbox(&server).upsert_contact(&contact_request("7")).await.unwrap_err();
    assert!(e.is_temporary(), "{e:?}");
    assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(1)));
}

#[tokio::test]
async fn other_refusals_that_mention_taken_stay_refusals() {
    let server = MockServer::start().await;
    no_contact_yet(&server).await;
    api(&server).create_contact().answers(refusal(422, "Email has already been taken")).await;
    let e = inbox(&server).upsert_contact(&contact_request("7")).await.unwrap_err();
    assert!(e.is_permanent(), "{e:?}");
    assert_eq!(e.kind(), DeliveryErrorKind::InvalidRequest);

    // A contact inbox refused for another reason is not "already linked".
    let server = MockServer::start().await;
    let chatwoot = api(&server);
    chatwoot
        .filter_contacts()
        .json(
            200,
            json!({"payload": [
                {"id": 42, "name": "Ada", "identifier": "messenger:1122:psid-9", "thumbnail": "x"}
            ]}),
        )
        .await;
    chatwoot.link_contact_inbox(42).answers(refusal(422, "Inbox is not taken into account")).await;
    let e = inbox(&server).upsert_contact(&contact_request("7")).await.unwrap_err();
    assert_eq!(e.kind(), DeliveryErrorKind::InvalidRequest);
}

#[test]
fn a_refused_configuration_names_its_key() {
    let config =
        ChatwootConfig::new("https://chatwoot.example".parse().unwrap(), Secret::new(""), 3);
    let e = ChatwootInbox::builder(config).build().unwrap_err();
    assert_eq!(e.key(), "chatwoot.api_access_token");
    assert_eq!(e.to_string(), "chatwoot.api_access_token: must not be empty");
}

#[tokio::test]
async fn a_network_failure_keeps_its_cause_without_the_url() {
    use std::error::Error as _;
    let closed = ChatwootInbox::builder(ChatwootConfig::new(
        "http://127.0.0.1:9".parse().unwrap(),
        Secret::new("t"),
        3,
    ))
    .build()
    .unwrap();
    let e = closed.upsert_contact(&contact_request("7")).await.unwrap_err();
    assert_eq!(e.kind(), DeliveryErrorKind::Network);
    let cause = e.source().expect("the reqwest error is kept").to_string();
    assert!(!cause.contains("127.0.0.1"), "{cause}");
    // Cloning (the queue keeps errors) keeps the cause.
    assert!(e.clone().source().is_some());
}
