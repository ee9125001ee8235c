//! The channel kit catches the mistakes integrators make: a small but correct adapter for a
//! made-up signed-webhook platform passes every check, and each planted mistake fails the
//! check that names it, with a message that says what to fix — and fails nothing else.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};
use wbots_core::testkit::{
    ChannelHarness, CheckOutcome, CheckResult, FakeAnswer, FakePlatform, OwnedRequest,
    PlatformAnswers, channel_suite, test_signature,
};
use wbots_core::{
    Capabilities, Channel, ChannelAddress, ChannelKind, DeliveryError, DeliveryErrorKind,
    InboundAttachment, InboundEnvelope, InboundEvent, InboundMessage, Media, OutboundPart,
    PlatformUserId, Profile, RawRequest, Secret, SendReceipt, SendRequest, Unsupported,
    WebhookError,
};

const SECRET: &str = "acme-webhook-secret";
const HEADER: &str = "x-acme-signature";

/// One mistake planted in the otherwise correct adapter.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mistake {
    None,
    /// Checks that the signature header is there, not what it says.
    AcceptsAnyToken,
    /// Declares a handshake, reactions, profiles and 50 MB media it does not have.
    LiesAboutCapabilities,
    /// Stamps every message with the time it was parsed.
    StampsNow,
    /// Calls a 429 permanent.
    RateLimitIsPermanent,
    /// Retries a 400 in a loop inside `send`.
    RetriesBadRequestInALoop,
    /// Calls a 400 temporary, so the queue retries it.
    BadRequestIsTemporary,
    /// Waits for a hung platform forever.
    NoTimeout,
    /// Panics on a body that is not JSON.
    PanicsOnGarbage,
}

#[derive(Debug)]
struct Acme {
    mistake: Mistake,
    base: url::Url,
    secret: Secret,
    http: reqwest::Client,
}

fn account() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::new("acme"), "acct-1")
}

impl Acme {
    fn new(mistake: Mistake, base: url::Url) -> Self {
        let builder = reqwest::Client::builder();
        let builder = match mistake {
            Mistake::NoTimeout => builder,
            _ => builder.timeout(Duration::from_secs(30)),
        };
        let http = builder.build().unwrap();
        Self { mistake, base, secret: Secret::new(SECRET), http }
    }

    async fn post(&self, body: &Value) -> Result<Value, DeliveryError> {
        let url = format!("{}send", self.base);
        let attempts = if self.mistake == Mistake::RetriesBadRequestInALoop { 3 } else { 1 };
        let mut last = None;
        for _ in 0..attempts {
            let response = self.http.post(&url).json(body).send().await.map_err(|e| {
                DeliveryError::temporary(
                    DeliveryErrorKind::Network,
                    format!("Acme unreachable: {e}"),
                )
            })?;
            let status = response.status().as_u16();
            let after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .map(Duration::from_secs);
            let bytes = response.bytes().await.unwrap_or_default();
            if (200..300).contains(&status) {
                return Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
            }
            let error = match status {
                429 if self.mistake == Mistake::RateLimitIsPermanent => {
                    DeliveryError::permanent(DeliveryErrorKind::RateLimited, "slow down")
                }
                429 => DeliveryError::temporary(DeliveryErrorKind::RateLimited, "slow down")
                    .with_retry_after(after.unwrap_or(Duration::from_secs(60))),
                500..=599 => {
                    DeliveryError::temporary(DeliveryErrorKind::Unavailable, "Acme is down")
                }
                401 => DeliveryError::permanent(DeliveryErrorKind::Unauthorized, "token refused"),
                400 if self.mistake == Mistake::BadRequestIsTemporary => {
                    DeliveryError::temporary(DeliveryErrorKind::InvalidRequest, "bad request")
                }
                _ => DeliveryError::permanent(DeliveryErrorKind::InvalidRequest, "bad request"),
            };
            if status != 400 {
                return Err(error);
            }
            last = Some(error);
        }
        Err(last.unwrap())
    }
}

#[async_trait]
impl Channel for Acme {
    fn name(&self) -> &str {
        "acme"
    }

    fn capabilities(&self, _address: &ChannelAddress) -> Capabilities {
        let mut caps = Capabilities::text_only(1000);
        caps.reply_to = true;
        if self.mistake == Mistake::LiesAboutCapabilities {
            caps.handshake = true;
            caps.reactions = true;
            caps.profiles = true;
            caps.max_media_bytes = 50 * 1024 * 1024;
        }
        caps
    }

    fn accounts(&self) -> Vec<ChannelAddress> {
        vec![account()]
    }

    fn handshake(&self, _request: &RawRequest<'_>) -> Result<String, WebhookError> {
        Err(WebhookError::NotFound("Acme has no handshake".into()))
    }

    fn verify(&self, request: &RawRequest<'_>) -> Result<(), WebhookError> {
        let Some(given) = request.header(HEADER) else {
            return Err(WebhookError::Unauthorized("missing signature".into()));
        };
        if self.mistake == Mistake::AcceptsAnyToken {
            return Ok(());
        }
        let expected = format!("sha256={}", test_signature(self.secret.expose(), request.body));
        if wbots_core::constant_time_eq(expected.as_bytes(), given.as_bytes()) {
            Ok(())
        } else {
            Err(WebhookError::Unauthorized("wrong signature".into()))
        }
    }

    fn parse(&self, request: &RawRequest<'_>) -> Result<Vec<InboundEnvelope>, WebhookError> {
        let body: Value = if self.mistake == Mistake::PanicsOnGarbage {
            serde_json::from_slice(request.body).expect("Acme sends JSON")
        } else {
            serde_json::from_slice(request.body)
                .map_err(|e| WebhookError::Malformed(e.to_string()))?
        };
        let events = body
            .get("events")
            .and_then(Value::as_array)
            .ok_or_else(|| WebhookError::Malformed("no events".into()))?;
        let mut out = Vec::new();
        for e in events {
            let text = |k: &str| e.get(k).and_then(Value::as_str);
            let address =
                ChannelAddress::new(ChannelKind::new("acme"), text("account").unwrap_or_default());
            let (Some("message"), Some(id), Some(from), Some(ts)) = (
                text("type"),
                text("id"),
                text("from"),
                e.get("timestamp").and_then(Value::as_i64),
            ) else {
                out.push(InboundEnvelope::new(
                    address,
                    InboundEvent::Unsupported(Unsupported::kind(text("type").unwrap_or("unknown"))),
                ));
                continue;
            };
            let sent_at = if self.mistake == Mistake::StampsNow {
                Utc::now()
            } else {
                Utc.timestamp_opt(ts, 0)
                    .single()
                    .ok_or_else(|| WebhookError::Malformed("timestamp out of range".into()))?
            };
            out.push(InboundEnvelope::new(
                address,
                InboundEvent::Message(InboundMessage {
                    id: id.into(),
                    thread: from.into(),
                    sender: from.into(),
                    sent_at,
                    text: text("text").map(str::to_owned),
                    attachments: Vec::new(),
                    reply_to: None,
                    context: None,
                }),
            ));
        }
        Ok(out)
    }

    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, DeliveryError> {
        let OutboundPart::Text(text) = &request.part else {
            return Err(DeliveryError::unsupported(format!("{} parts", request.part.kind())));
        };
        let answer = self
            .post(&json!({
                "to": request.thread.as_str(),
                "text": text,
                "reply_to": request.reply_to.as_ref().map(|m| m.as_str()),
                "metadata": request.marker,
            }))
            .await?;
        Ok(SendReceipt { message_id: answer.get("id").and_then(Value::as_str).map(Into::into) })
    }

    async fn profile(
        &self,
        _address: &ChannelAddress,
        _user: &PlatformUserId,
    ) -> Result<Profile, DeliveryError> {
        Err(DeliveryError::unsupported("Acme has no profiles"))
    }

    async fn fetch_media(
        &self,
        _address: &ChannelAddress,
        _attachment: &InboundAttachment,
        _max_bytes: u64,
    ) -> Result<Media, DeliveryError> {
        Err(DeliveryError::unsupported("Acme delivers no files"))
    }
}

fn sent_at() -> DateTime<Utc> {
    Utc.timestamp_opt(1_732_000_000, 0).unwrap()
}

async fn harness(mistake: Mistake) -> ChannelHarness {
    let fake = FakePlatform::start().await.unwrap();
    let channel = Acme::new(mistake, fake.url().clone());
    let sample = json!({"events": [{"type": "message", "id": "ev-1", "account": "acct-1",
        "from": "cust-9", "text": "hello", "timestamp": sent_at().timestamp()}]})
    .to_string();
    ChannelHarness::new(
        channel,
        |body| {
            OwnedRequest::post(body.to_vec())
                .header(HEADER, &format!("sha256={}", test_signature(SECRET, body)))
        },
        sample,
        sent_at(),
    )
    .signs_body()
    .with_platform(
        fake,
        account(),
        "cust-9",
        PlatformAnswers::new(FakeAnswer::json(200, &json!({"id": "msg-1"}))),
    )
}

async fn results(mistake: Mistake) -> Vec<(&'static str, CheckResult)> {
    channel_suite::run(&harness(mistake).await).await
}

fn failed(results: &[(&'static str, CheckResult)]) -> BTreeSet<&'static str> {
    results.iter().filter(|(_, r)| r.is_err()).map(|(name, _)| *name).collect()
}

/// The failure message of `check`, which must have failed.
fn message(results: &[(&'static str, CheckResult)], check: &str) -> String {
    match results.iter().find(|(name, _)| *name == check) {
        Some((_, Err(failure))) => failure.to_string(),
        other => panic!("{check} should have failed, got {other:?}"),
    }
}

fn assert_mentions(message: &str, needles: &[&str]) {
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} missing from:\n{message}");
    }
}

#[tokio::test]
async fn a_correct_adapter_passes_and_undeclared_capabilities_are_skipped() {
    let results = results(Mistake::None).await;
    assert_eq!(failed(&results), BTreeSet::new(), "{results:#?}");
    let skipped: BTreeSet<&str> = results
        .iter()
        .filter(|(_, r)| matches!(r, Ok(CheckOutcome::Skipped(_))))
        .map(|(name, _)| *name)
        .collect();
    assert_eq!(
        skipped,
        BTreeSet::from([
            "parses_declared_echoes",
            "declared_reactions_work",
            "declared_sender_actions_work",
            "declared_profiles_work",
        ]),
        "exactly the undeclared capabilities are skipped, each with its reason: {results:#?}"
    );
}

#[tokio::test]
async fn without_a_fake_platform_the_send_checks_say_they_were_skipped() {
    let mut h = harness(Mistake::None).await;
    h.platform = None;
    let results = channel_suite::run(&h).await;
    for check in ["sends_text", "classifies_send_failures", "media_parts_are_sent_or_refused"] {
        let outcome = &results.iter().find(|(n, _)| *n == check).unwrap().1;
        assert!(
            matches!(outcome, Ok(CheckOutcome::Skipped(why)) if why.contains("no fake platform")),
            "{check}: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn an_adapter_that_accepts_a_wrong_token_fails() {
    let results = results(Mistake::AcceptsAnyToken).await;
    assert_eq!(
        failed(&results),
        BTreeSet::from([
            "refuses_missing_and_wrong_credentials",
            "refuses_signatures_over_other_bytes"
        ])
    );
    assert_mentions(
        &message(&results, "refuses_missing_and_wrong_credentials"),
        &[
            "refuses_missing_and_wrong_credentials",
            "header `x-acme-signature`",
            "Unauthorized",
            "constant time",
            "got:      Ok(())",
        ],
    );
}

#[tokio::test]
async fn an_adapter_that_lies_about_its_capabilities_fails() {
    let results = results(Mistake::LiesAboutCapabilities).await;
    assert_eq!(
        failed(&results),
        BTreeSet::from([
            "answers_the_handshake",
            "media_parts_are_sent_or_refused",
            "declared_reactions_work",
            "declared_profiles_work",
        ])
    );
    assert_mentions(
        &message(&results, "answers_the_handshake"),
        &["handshake: true", "handshake: false"],
    );
    assert_mentions(
        &message(&results, "media_parts_are_sent_or_refused"),
        &["send(Media", "max_media_bytes > 0", "declare 0", "unsupported"],
    );
    assert_mentions(
        &message(&results, "declared_reactions_work"),
        &["send(Reaction", "reactions: true", "declare false"],
    );
    assert_mentions(&message(&results, "declared_profiles_work"), &["profiles: true"]);
}

#[tokio::test]
async fn an_adapter_that_stamps_now_fails() {
    let results = results(Mistake::StampsNow).await;
    assert_eq!(failed(&results), BTreeSet::from(["takes_message_time_from_the_payload"]));
    assert_mentions(
        &message(&results, "takes_message_time_from_the_payload"),
        &[
            "the signed sample",
            "sent_at 2024-11-19T07:06:40+00:00 as the payload says",
            "never the time of parsing",
        ],
    );
}

#[tokio::test]
async fn an_adapter_that_calls_a_429_permanent_fails() {
    let results = results(Mistake::RateLimitIsPermanent).await;
    assert_eq!(failed(&results), BTreeSet::from(["classifies_send_failures"]));
    assert_mentions(
        &message(&results, "classifies_send_failures"),
        &[
            "HTTP 429, retry-after: 17",
            "temporary(RateLimited",
            "with_retry_after(17s)",
            "permanent",
        ],
    );
}

#[tokio::test]
async fn an_adapter_that_retries_a_400_fails() {
    let looping = results(Mistake::RetriesBadRequestInALoop).await;
    assert_eq!(failed(&looping), BTreeSet::from(["classifies_send_failures"]));
    assert_mentions(
        &message(&looping, "classifies_send_failures"),
        &[
            "HTTP 400",
            "exactly one request",
            "never to a loop in the adapter",
            "got:      3 requests",
        ],
    );
    let temporary = results(Mistake::BadRequestIsTemporary).await;
    assert_eq!(failed(&temporary), BTreeSet::from(["classifies_send_failures"]));
    assert_mentions(
        &message(&temporary, "classifies_send_failures"),
        &["HTTP 400", "permanent(InvalidRequest", "dead letter", "temporary"],
    );
}

#[tokio::test]
async fn an_adapter_without_a_timeout_fails_without_waiting() {
    let results = results(Mistake::NoTimeout).await;
    assert_eq!(failed(&results), BTreeSet::from(["gives_each_attempt_a_timeout"]));
    assert_mentions(
        &message(&results, "gives_each_attempt_a_timeout"),
        &["no answer ever", "temporary(Network", "timeout", "got:      no answer after 300 s"],
    );
}

#[tokio::test]
async fn an_adapter_that_panics_on_garbage_fails_naming_the_body() {
    let results = results(Mistake::PanicsOnGarbage).await;
    assert_eq!(failed(&results), BTreeSet::from(["survives_hostile_bodies"]));
    assert_mentions(
        &message(&results, "survives_hostile_bodies"),
        &["input:    the signed body \"\"", "never a panic", "got:      a panic: Acme sends JSON"],
    );
}
