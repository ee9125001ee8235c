//! A Graph answer that does not read, end to end: a send answered 2xx was accepted (an
//! error would send the message twice; `Channel::send`'s contract), an error document in a
//! 2xx is a failure like any other.

use serde_json::json;
use wbots_core::{
    Channel, ChannelAddress, DeliveryErrorKind, MessagingWindow, OutboundPart, Secret, SendRequest,
};
use wbots_meta::{MetaAccount, MetaChannel, MetaConfig};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn send_answered(
    answer: ResponseTemplate,
) -> Result<wbots_core::SendReceipt, wbots_core::DeliveryError> {
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(answer).expect(1).mount(&server).await;
    let config = MetaConfig::new(Secret::new("app-secret"), Secret::new("verify"))
        .with_graph_urls(server.uri().parse().unwrap());
    let channel = MetaChannel::builder(config)
        .account(MetaAccount::messenger("PAGE1", Secret::new("page-token")))
        .build()
        .unwrap();
    channel
        .send(&SendRequest {
            address: ChannelAddress::new(wbots_meta::MESSENGER, "PAGE1"),
            thread: "PSID1".into(),
            part: OutboundPart::Text("hello".into()),
            window: MessagingWindow::Response,
            reply_to: None,
            marker: None,
        })
        .await
}

#[tokio::test]
async fn an_unreadable_success_is_an_accepted_send_without_an_id() {
    for body in ["<html>proxy</html>", "", "[1,2]"] {
        let receipt = send_answered(ResponseTemplate::new(200).set_body_string(body)).await;
        assert_eq!(receipt.unwrap().message_id, None, "{body:?}");
    }
}

#[tokio::test]
async fn an_error_document_in_a_success_is_classified() {
    let answer = ResponseTemplate::new(200)
        .set_body_json(json!({"error": {"code": 190, "message": "Session has expired"}}));
    let e = send_answered(answer).await.unwrap_err();
    assert_eq!((e.kind(), e.is_temporary()), (DeliveryErrorKind::Unauthorized, false));
}
