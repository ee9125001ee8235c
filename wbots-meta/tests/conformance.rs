//! The Meta channel passes core's channel conformance suite. The send checks run against
//! the kit's scripted fake answering as the Graph API does (shapes from
//! `/work/shared/reference/meta-platform.md` §9: errors are `{"error":{code,…}}`, usually
//! with HTTP 400, and branch on `code`, not on the status).

use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::json;
use wbots_core::testkit::{
    ChannelHarness, FakeAnswer, FakePlatform, OwnedRequest, PlatformAnswers,
};
use wbots_core::{ChannelAddress, ChannelKind, Secret};
use wbots_fakes::meta::{FakeGraph, payload};
use wbots_meta::{MetaAccount, MetaChannel, MetaConfig, sign_body};

fn channel(graph: &url::Url) -> MetaChannel {
    let config = MetaConfig::new(Secret::new("app-secret"), Secret::new("verify-me"))
        .with_graph_urls(graph.clone());
    MetaChannel::builder(config)
        .account(MetaAccount::messenger("PAGE1", Secret::new("page-token")))
        .build()
        .unwrap()
}

fn graph_error(status: u16, code: i64, subcode: Option<i64>, message: &str) -> FakeAnswer {
    let mut error = json!({ "message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf" });
    if let Some(s) = subcode {
        error["error_subcode"] = json!(s);
    }
    FakeAnswer::json(status, &json!({ "error": error }))
}

async fn harness() -> ChannelHarness {
    let fake = FakePlatform::start().await.unwrap();
    let ts_ms = 1_732_000_000_000;
    let answers = PlatformAnswers::new(FakeAnswer::json(
        200,
        &json!({ "recipient_id": "PSID9", "message_id": "m_sent_1" }),
    ))
    // Sender actions and reactions answer with the recipient only.
    .reaction_sent(FakeAnswer::json(200, &json!({ "recipient_id": "PSID9" })))
    .action_sent(FakeAnswer::json(200, &json!({ "recipient_id": "PSID9" })))
    .profile(FakeAnswer::json(
        200,
        &json!({ "first_name": "Ada", "last_name": "Lovelace", "profile_pic": "https://example.com/a.jpg", "id": "PSID9" }),
    ))
    // Graph sends no Retry-After: the adapter waits its default (60 s).
    .rate_limited(
        graph_error(400, 613, None, "(#613) Calls to this api have exceeded the rate limit."),
        Duration::from_secs(60),
    )
    .unavailable(graph_error(500, 2, None, "An unexpected error has occurred. Please retry your request later."))
    .unauthorized(graph_error(401, 190, Some(463), "Error validating access token: Session has expired"))
    .invalid(graph_error(400, 100, None, "(#100) Invalid parameter"));
    ChannelHarness::new(
        channel(fake.url()),
        |body| {
            OwnedRequest::post(body.to_vec())
                .header("x-hub-signature-256", &sign_body(&Secret::new("app-secret"), body))
        },
        payload::text("page", "PAGE1", "PSID9", "m_1", "Hello there", ts_ms),
        Utc.timestamp_millis_opt(ts_ms).unwrap(),
    )
    .signs_body()
    .with_handshake(
        OwnedRequest::get("hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444"),
        "1158201444",
    )
    .with_echo(payload::echo(
        "page",
        "PAGE1",
        "PSID9",
        "m_2",
        Some("hi"),
        Some("wbots:1:2:0"),
        None,
        ts_ms,
    ))
    .with_platform(
        fake,
        ChannelAddress::new(ChannelKind::Messenger, "PAGE1"),
        "PSID9",
        answers,
    )
}

wbots_core::channel_conformance_tests!(harness());

#[tokio::test]
async fn the_fake_records_what_the_channel_sends() {
    use wbots_core::{Channel, MessagingWindow, OutboundPart, SendRequest};
    let graph = FakeGraph::start().await.unwrap();
    let request = SendRequest {
        address: ChannelAddress::new(ChannelKind::Messenger, "PAGE1"),
        thread: "PSID9".into(),
        part: OutboundPart::Text("from the fake".into()),
        window: MessagingWindow::Response,
        reply_to: None,
        marker: Some("wbots:1:2:0".into()),
    };
    let receipt = channel(graph.url()).send(&request).await.unwrap();
    assert!(receipt.message_id.unwrap().as_str().starts_with("m_fake_"));
}
