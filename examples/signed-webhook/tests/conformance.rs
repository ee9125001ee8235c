//! Pigeon passes core's channel conformance suite, and parses its deliveries right.
//!
//! The fake answers as Pigeon's API does (this crate's `README.md`, "The platform").
//! Note what this file does not need: tokio's macros. The suite's macro starts its own
//! runtime for each check.

use std::time::Duration;

use chrono::{DateTime, Utc};
use example_signed_webhook::{PigeonChannel, SIGNATURE_HEADER, pigeon, sign};
use serde_json::json;
use wbots_core::testkit::{
    ChannelHarness, FakeAnswer, FakePlatform, OwnedRequest, PlatformAnswers,
};
use wbots_core::{Channel, ChannelAddress, InboundEvent, ReplyTo, Secret};

const WEBHOOK_SECRET: &str = "whsec_test";

fn signed(body: &[u8]) -> OwnedRequest {
    OwnedRequest::post(body.to_vec())
        .header(SIGNATURE_HEADER, &sign(&Secret::new(WEBHOOK_SECRET), body))
}

fn channel(api: &url::Url) -> PigeonChannel {
    PigeonChannel::new(["acct_1"], Secret::new("api-token"), Secret::new(WEBHOOK_SECRET))
        .unwrap()
        .with_base_url(api.clone())
}

const SENT_AT: &str = "2024-11-19T07:06:40Z";

fn delivery(account: &str, events: serde_json::Value) -> String {
    json!({ "account_id": account, "events": events }).to_string()
}

fn message_created() -> serde_json::Value {
    json!([{ "id": "evt_1", "type": "message.created", "created_at": SENT_AT,
        "conversation_id": "conv_9", "sender": { "id": "user_9" },
        "message": { "id": "msg_1", "text": "Hello Pigeon", "attachments": [
            { "kind": "image", "url": "https://files.pigeon.example/f/1.jpg", "name": "1.jpg" }
        ] } }])
}

async fn harness() -> ChannelHarness {
    let fake = FakePlatform::start().await.unwrap();
    let channel = channel(fake.url());
    let echo = delivery(
        "acct_1",
        json!([{ "id": "evt_2", "type": "message.sent", "created_at": SENT_AT,
            "conversation_id": "conv_9",
            "message": { "id": "msg_2", "text": "Hi!", "metadata": "wbots:1:2:0" } }]),
    );
    // Pigeon's errors carry `{"error": "…"}`; its 429 says how long in `Retry-After`.
    let error = |status, text: &str| FakeAnswer::json(status, &json!({ "error": text }));
    let answers = PlatformAnswers::new(FakeAnswer::json(200, &json!({ "id": "msg_100" })))
        .rate_limited(
            error(429, "rate_limited").header("retry-after", "42"),
            Duration::from_secs(42),
        )
        .unavailable(error(503, "maintenance"))
        .unauthorized(error(401, "invalid_token"))
        .invalid(error(400, "text_too_long"));
    ChannelHarness::new(
        channel,
        signed,
        delivery("acct_1", message_created()),
        SENT_AT.parse::<DateTime<Utc>>().unwrap(),
    )
    .signs_body()
    .with_echo(echo)
    .with_platform(fake, ChannelAddress::new(pigeon(), "acct_1"), "conv_9", answers)
}

wbots_core::channel_conformance_tests!(harness());

fn parse(body: &str) -> Vec<wbots_core::InboundEnvelope> {
    let ch = channel(&"http://127.0.0.1:9".parse().unwrap());
    ch.verify(&signed(body.as_bytes()).as_raw()).unwrap();
    ch.parse(&signed(body.as_bytes()).as_raw()).unwrap()
}

#[test]
fn a_message_keeps_pigeons_ids_time_and_files() {
    let events = parse(&delivery("acct_1", message_created()));
    let InboundEvent::Message(m) = &events[0].event else { panic!("{events:?}") };
    assert_eq!(
        (m.id.as_str(), m.thread.as_str(), m.sender.as_str()),
        ("msg_1", "conv_9", "user_9")
    );
    assert_eq!(m.sent_at.to_rfc3339(), "2024-11-19T07:06:40+00:00");
    assert_eq!(m.attachments[0].file_name.as_deref(), Some("1.jpg"));
}

#[test]
fn replies_unknown_kinds_and_odd_shapes_are_kept_apart() {
    let body = delivery(
        "acct_1",
        json!([
            { "type": "message.created", "created_at": SENT_AT, "conversation_id": "c",
              "message": { "id": "m2", "text": "re", "reply_to": "m1" } },
            { "type": "conversation.closed", "created_at": SENT_AT, "conversation_id": "c", "message": { "id": "x" } },
            { "type": "message.created", "created_at": "yesterday" }
        ]),
    );
    let events = parse(&body);
    let InboundEvent::Message(m) = &events[0].event else { panic!("{events:?}") };
    assert_eq!(m.reply_to, Some(ReplyTo::Message { id: "m1".into() }));
    let kinds: Vec<_> = events[1..]
        .iter()
        .map(|e| match &e.event {
            InboundEvent::Unsupported(u) => u.kind.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["conversation.closed", "message.created"]);
}

#[test]
fn events_for_an_account_not_served_keep_their_account() {
    let events = parse(&delivery("acct_other", message_created()));
    assert_eq!(events[0].address, ChannelAddress::new(pigeon(), "acct_other"));
}
