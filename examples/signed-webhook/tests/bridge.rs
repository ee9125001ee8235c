//! Pigeon wired into a bridge with the memory store, as the guide's "Wire it into a
//! bridge" shows: a signed delivery is stored and lands in the inbox; the agent's answer
//! goes out through `POST /send` with the bridge's marker; Pigeon's echo of it is dropped.

use std::sync::Arc;

use example_signed_webhook::{PigeonChannel, SIGNATURE_HEADER, pigeon, sign};
use serde_json::json;
use wbots_core::store::MemoryStore;
use wbots_core::testkit::{FakeAnswer, FakePlatform, OwnedRequest, RecordingInbox};
use wbots_core::{Binding, Bridge, ChannelAddress, ReopenPolicy, Secret};

fn signed(body: &str) -> OwnedRequest {
    OwnedRequest::post(body.as_bytes().to_vec())
        .header(SIGNATURE_HEADER, &sign(&Secret::new("whsec"), body.as_bytes()))
}

#[tokio::test]
async fn a_message_in_a_reply_out_and_its_echo_dropped() {
    let api = FakePlatform::start().await.unwrap();
    api.answer_with(FakeAnswer::json(200, &json!({ "id": "msg_out_1" })));
    let channel = PigeonChannel::new(["acct_1"], Secret::new("api-token"), Secret::new("whsec"))
        .unwrap()
        .with_base_url(api.url().clone());
    let inbox = Arc::new(RecordingInbox::new());
    let account = ChannelAddress::new(pigeon(), "acct_1");
    let bridge = Bridge::builder(Arc::new(MemoryStore::new()), inbox.clone())
        .with_channel(Arc::new(channel))
        .with_binding(Binding {
            address: account.clone(),
            inbox: "7".into(),
            reopen: ReopenPolicy::Reopen,
        })
        .build()
        .unwrap();

    let delivery = json!({ "account_id": "acct_1", "events": [{ "type": "message.created",
        "created_at": "2024-11-19T07:06:40Z", "conversation_id": "conv_9", "sender": { "id": "user_9" },
        "message": { "id": "msg_1", "text": "Where is my parcel?" } }] })
    .to_string();
    let report = bridge.ingest_channel("pigeon", &signed(&delivery).as_raw()).await.unwrap();
    assert_eq!(report.accepted, 1, "stored before the webhook is answered");
    let again = bridge.ingest_channel("pigeon", &signed(&delivery).as_raw()).await.unwrap();
    assert_eq!(again.duplicates, 1, "Pigeon's redelivery creates no work");
    bridge.run_until_idle().await;
    let posted = inbox.messages();
    assert_eq!(posted.len(), 1);
    let text = posted[0].text.clone().unwrap_or_default();
    assert!(
        text.starts_with("[sent 2024-11-19 07:06 UTC]"),
        "an old message shows its time: {text}"
    );
    assert!(text.ends_with("Where is my parcel?"), "{text}");

    let conversation = inbox.conversation_of(&account, "conv_9").unwrap();
    let reply = inbox.agent_message(&"7".into(), &conversation, "It ships today!");
    bridge.ingest_inbox(&inbox.request(&[reply]).as_raw()).await.unwrap();
    bridge.run_until_idle().await;
    let sent: Vec<serde_json::Value> = api
        .received()
        .iter()
        .filter(|r| r.path == "/send")
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["text"], "It ships today!");
    assert_eq!(sent[0]["conversation_id"], "conv_9");
    let marker = sent[0]["metadata"].as_str().unwrap().to_owned();

    let echo = json!({ "account_id": "acct_1", "events": [{ "type": "message.sent",
        "created_at": "2024-11-19T07:10:00Z", "conversation_id": "conv_9",
        "message": { "id": "msg_out_1", "text": "It ships today!", "metadata": marker } }] })
    .to_string();
    bridge.ingest_channel("pigeon", &signed(&echo).as_raw()).await.unwrap();
    bridge.run_until_idle().await;
    // The agent's reply lives in the inbox already; its echo must not come back as a copy.
    assert_eq!(inbox.messages().len(), 1, "the echo of the bridge's own send is dropped");

    // A message the business sent from Pigeon's own app (no marker) is copied in.
    let from_app = json!({ "account_id": "acct_1", "events": [{ "type": "message.sent",
        "created_at": "2024-11-19T07:11:00Z", "conversation_id": "conv_9",
        "message": { "id": "msg_out_2", "text": "Sent from the Pigeon app" } }] })
    .to_string();
    bridge.ingest_channel("pigeon", &signed(&from_app).as_raw()).await.unwrap();
    bridge.run_until_idle().await;
    let texts: Vec<String> = inbox.messages().iter().filter_map(|m| m.text.clone()).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[1].ends_with("Sent from the Pigeon app"), "{texts:?}");
}
