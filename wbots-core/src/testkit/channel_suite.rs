//! The channel conformance suite: what every [`Channel`] must do, checked the same way for
//! Meta's adapter, the examples' Telegram adapter and yours.
//!
//! Build a [`ChannelHarness`] for your adapter (pointed at a fake of your platform for the
//! send check) and expand [`crate::channel_conformance_tests!`] in a test file:
//!
//! ```ignore
//! async fn harness() -> wbots_core::testkit::ChannelHarness { /* … */ }
//! wbots_core::channel_conformance_tests!(harness());
//! ```

use std::fmt;
use std::sync::Arc;

use crate::channel::Channel;
use crate::error::WebhookError;
use crate::ids::{ChannelAddress, ThreadId};
use crate::outbound::{MessagingWindow, OutboundPart, SendRequest};

use super::request::OwnedRequest;

/// Signs a body as the platform would, returning the complete request.
pub type Signer = Box<dyn Fn(&[u8]) -> OwnedRequest + Send + Sync>;

/// Everything the suite needs to exercise a channel.
pub struct ChannelHarness {
    /// The channel under test.
    pub channel: Arc<dyn Channel>,
    /// Signs a body the way the platform does.
    pub sign: Signer,
    /// A real delivery body (from the platform's docs or a capture) with at least one
    /// event for one of the channel's accounts.
    pub sample_body: Vec<u8>,
    /// A handshake the channel must accept and the body it must answer with; `None` for
    /// platforms without one.
    pub handshake: Option<(OwnedRequest, String)>,
    /// Where a send must succeed (a fake of the platform must be listening); `None` skips
    /// the send check.
    pub send_target: Option<(ChannelAddress, ThreadId)>,
    /// Whether the platform signs the body (Meta's HMAC) rather than sending a secret
    /// token (Telegram's `X-Telegram-Bot-Api-Secret-Token`). Token schemes cannot detect a
    /// changed body, so only the missing-credential check applies to them.
    pub signs_body: bool,
}

impl fmt::Debug for ChannelHarness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelHarness").field("channel", &self.channel).finish_non_exhaustive()
    }
}

/// Inputs no platform sends but an attacker or a broken proxy might. Each must be refused
/// or parsed without panicking.
pub fn hostile_bodies(sample: &[u8]) -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = [
        "", "null", "[]", "{}", "0", "\"text\"", "{\"object\":null}", "{\"entry\":{}}",
        "{\"object\":\"page\",\"entry\":[null,1,\"x\",{}]}",
        "{\"object\":\"instagram\",\"entry\":[{\"id\":1e400,\"messaging\":[{}]}]}",
        "{\"object\":\"page\",\"entry\":[{\"id\":\"1\",\"time\":-1,\"messaging\":[{\"sender\":{},\"recipient\":{},\"timestamp\":\"soon\",\"message\":{\"mid\":5,\"text\":[1]}}]}]}",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    bodies.push("[".repeat(100_000).into_bytes());
    bodies.push(vec![0xff, 0xfe, 0x00, b'{']);
    let step = (sample.len() / 13).max(1);
    bodies.extend((0..sample.len()).step_by(step).map(|n| sample[..n].to_vec()));
    bodies
}

/// A signed real delivery verifies and parses into events, the same ones every time.
pub async fn accepts_a_signed_delivery(h: &ChannelHarness) {
    let req = (h.sign)(&h.sample_body);
    h.channel.verify(&req.as_raw()).unwrap_or_else(|e| panic!("signed sample refused: {e}"));
    let first = h.channel.parse(&req.as_raw()).unwrap_or_else(|e| panic!("sample not parsed: {e}"));
    assert!(!first.is_empty(), "the sample must carry at least one event");
    let second = h.channel.parse(&req.as_raw()).unwrap_or_default();
    let keys = |v: &[crate::event::InboundEnvelope]| {
        v.iter().map(|e| e.idempotency_key()).collect::<Vec<_>>()
    };
    assert_eq!(
        keys(&first),
        keys(&second),
        "parsing must be deterministic, or redeliveries will not deduplicate"
    );
    let accounts = h.channel.accounts();
    assert!(
        first.iter().any(|e| accounts.contains(&e.address)),
        "the sample should address one of the channel's accounts"
    );
}

/// A body changed after signing, a missing signature and a signature over other bytes are
/// all refused as unauthorized.
pub async fn refuses_tampered_and_unsigned_deliveries(h: &ChannelHarness) {
    let signed = (h.sign)(&h.sample_body);
    if !h.signs_body {
        let mut unsigned = signed.clone();
        unsigned.headers.clear();
        assert!(
            matches!(h.channel.verify(&unsigned.as_raw()), Err(WebhookError::Unauthorized(_))),
            "a delivery without the token must be refused"
        );
        return;
    }
    let mut tampered = signed.clone();
    if let Some(b) = tampered.body.iter_mut().find(|b| b.is_ascii_digit()) {
        *b = if *b == b'9' { b'8' } else { *b + 1 };
    } else {
        tampered.body.push(b' ');
    }
    let mut unsigned = signed.clone();
    unsigned.headers.clear();
    let mut other = (h.sign)(b"{\"something\":\"else\"}");
    other.body = h.sample_body.clone();
    for (what, req) in
        [("tampered", tampered), ("unsigned", unsigned), ("signed for other bytes", other)]
    {
        match h.channel.verify(&req.as_raw()) {
            Err(WebhookError::Unauthorized(_)) => {}
            other => panic!("{what} delivery: expected Unauthorized, got {other:?}"),
        }
    }
}

/// Authentic but hostile bodies parse to events or to `Malformed`, never panic.
pub async fn survives_hostile_bodies(h: &ChannelHarness) {
    for body in hostile_bodies(&h.sample_body) {
        let req = (h.sign)(&body);
        if h.channel.verify(&req.as_raw()).is_err() {
            continue;
        }
        match h.channel.parse(&req.as_raw()) {
            Ok(_) | Err(WebhookError::Malformed(_)) => {}
            Err(e) => panic!(
                "hostile body {:?}: expected events or Malformed, got {e:?}",
                String::from_utf8_lossy(&body[..body.len().min(60)])
            ),
        }
    }
}

/// The handshake answers its challenge, and refuses a request without the right token.
pub async fn answers_the_handshake(h: &ChannelHarness) {
    let empty = OwnedRequest::get("");
    match &h.handshake {
        Some((req, expected)) => {
            assert_eq!(h.channel.handshake(&req.as_raw()).ok().as_ref(), Some(expected));
            assert!(matches!(
                h.channel.handshake(&empty.as_raw()),
                Err(WebhookError::Forbidden(_))
            ));
            let mut wrong = req.clone();
            wrong.query = wrong.query.replace("token=", "token=wrong");
            assert!(
                matches!(h.channel.handshake(&wrong.as_raw()), Err(WebhookError::Forbidden(_))),
                "a wrong token must be refused"
            );
        }
        None => assert!(h.channel.handshake(&empty.as_raw()).is_err()),
    }
}

/// Capabilities are coherent for every account.
pub async fn declares_sane_capabilities(h: &ChannelHarness) {
    let accounts = h.channel.accounts();
    assert!(!accounts.is_empty(), "a channel serves at least one account");
    assert!(
        !h.channel.name().is_empty()
            && h.channel.name().chars().all(|c| c.is_ascii_lowercase() || c == '-' || c == '_')
    );
    for a in accounts {
        let caps = h.channel.capabilities(&a);
        assert!(caps.max_text_chars > 0, "{a}: max_text_chars");
        if let (Some(std), Some(ext)) = (caps.response_window_hours, caps.human_agent_window_hours)
        {
            assert!(ext >= std, "{a}: the extended window is not shorter than the standard one");
        }
    }
}

/// A text send reaches the platform and returns its message id.
pub async fn sends_text(h: &ChannelHarness) {
    let Some((address, thread)) = &h.send_target else { return };
    let receipt = h
        .channel
        .send(&SendRequest {
            address: address.clone(),
            thread: thread.clone(),
            part: OutboundPart::Text("conformance check".into()),
            window: MessagingWindow::Response,
            reply_to: None,
            marker: Some("wbots:conformance:1:0".into()),
        })
        .await
        .unwrap_or_else(|e| panic!("text send failed: {e}"));
    assert!(receipt.message_id.is_some(), "a text send returns the platform's message id");
}

/// Expands to one `#[tokio::test]` per channel check. The argument is an expression that
/// evaluates to a future of a [`ChannelHarness`]; it is evaluated once per test.
#[macro_export]
macro_rules! channel_conformance_tests {
    ($harness:expr) => {
        $crate::__channel_check!($harness, accepts_a_signed_delivery);
        $crate::__channel_check!($harness, refuses_tampered_and_unsigned_deliveries);
        $crate::__channel_check!($harness, survives_hostile_bodies);
        $crate::__channel_check!($harness, answers_the_handshake);
        $crate::__channel_check!($harness, declares_sane_capabilities);
        $crate::__channel_check!($harness, sends_text);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __channel_check {
    ($harness:expr, $check:ident) => {
        #[tokio::test]
        async fn $check() {
            let harness = $harness.await;
            $crate::testkit::channel_suite::$check(&harness).await;
        }
    };
}
