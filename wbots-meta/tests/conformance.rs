//! The Meta channel passes core's channel conformance suite, against the fake Graph API.

use std::sync::Arc;

use wbots_core::testkit::{ChannelHarness, OwnedRequest};
use wbots_core::{ChannelAddress, ChannelKind, Secret};
use wbots_meta::fake::{FakeGraph, payload};
use wbots_meta::{MetaAccount, MetaChannel, MetaConfig, sign_body};

async fn harness() -> ChannelHarness {
    let graph = FakeGraph::start().await.unwrap();
    let config = MetaConfig::new(Secret::new("app-secret"), Secret::new("verify-me"))
        .with_graph_urls(graph.url().clone());
    let channel = MetaChannel::builder(config)
        .account(MetaAccount::messenger("PAGE1", Secret::new("page-token")))
        .build()
        .unwrap();
    std::mem::forget(graph);
    ChannelHarness {
        channel: Arc::new(channel),
        sign: Box::new(|body| {
            OwnedRequest::post(body.to_vec())
                .header("x-hub-signature-256", &sign_body(&Secret::new("app-secret"), body))
        }),
        sample_body: payload::text(
            "page",
            "PAGE1",
            "PSID9",
            "m_1",
            "Hello there",
            1_732_000_000_000,
        )
        .into_bytes(),
        handshake: Some((
            OwnedRequest::get(
                "hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444",
            ),
            "1158201444".into(),
        )),
        send_target: Some((ChannelAddress::new(ChannelKind::Messenger, "PAGE1"), "PSID9".into())),
        signs_body: true,
    }
}

wbots_core::channel_conformance_tests!(harness());

#[tokio::test]
async fn the_fake_records_what_the_channel_sends() {
    use wbots_core::{MessagingWindow, OutboundPart, SendRequest};
    let h = harness().await;
    let request = SendRequest {
        address: ChannelAddress::new(ChannelKind::Messenger, "PAGE1"),
        thread: "PSID9".into(),
        part: OutboundPart::Text("from the fake".into()),
        window: MessagingWindow::Response,
        reply_to: None,
        marker: Some("wbots:1:2:0".into()),
    };
    let receipt = h.channel.send(&request).await.unwrap();
    assert!(receipt.message_id.unwrap().as_str().starts_with("m_fake_"));
}
