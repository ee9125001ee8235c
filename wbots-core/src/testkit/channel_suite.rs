//! The channel conformance suite: what every [`Channel`] must do, checked the same way for
//! Meta's adapter, the examples' adapters and yours.
//!
//! Build a [`ChannelHarness`] for your adapter — pointed at a [`FakePlatform`] the harness
//! owns, so the send checks can make the platform answer 429, 503, 401, 400 or drop the
//! connection — and expand [`crate::channel_conformance_tests!`] in a test file. Each check
//! becomes one test; a check that does not apply (an undeclared capability, no fake given)
//! passes and prints `skipped: …`; a failure names the check, the input and what the
//! contract expects. [`run`] runs them all and returns each result, for tools and for the
//! kit's own tests.
//!
//! [`FakePlatform`]: super::FakePlatform

mod inbound;
mod outbound;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

pub use self::inbound::{
    accepts_a_signed_delivery, answers_the_handshake, declares_sane_capabilities, hostile_bodies,
    parses_declared_echoes, refuses_missing_and_wrong_credentials,
    refuses_signatures_over_other_bytes, survives_hostile_bodies,
    takes_message_time_from_the_payload,
};
pub use self::outbound::{
    classifies_send_failures, declared_profiles_work, declared_reactions_work,
    declared_replies_work, declared_sender_actions_work, gives_each_attempt_a_timeout,
    media_parts_are_sent_or_refused, sends_text,
};
use super::check::CheckResult;
use super::fake_platform::{FakeAnswer, FakePlatform};
use super::request::OwnedRequest;
use crate::channel::Channel;
use crate::ids::{ChannelAddress, ThreadId};

/// Signs a body as the platform would, returning the complete request.
pub type Signer = Box<dyn Fn(&[u8]) -> OwnedRequest + Send + Sync>;

/// Everything the suite needs to exercise a channel. Build it with [`ChannelHarness::new`]
/// and the `with_…` methods.
pub struct ChannelHarness {
    /// The channel under test.
    pub channel: Arc<dyn Channel>,
    /// Signs a body the way the platform does.
    pub sign: Signer,
    /// A real delivery body (from the platform's docs or a capture) with at least one
    /// message for one of the channel's accounts.
    pub sample_body: Vec<u8>,
    /// When the sample's first message was sent, as its payload says.
    pub sample_sent_at: DateTime<Utc>,
    /// The platform signs the body (an HMAC header, like Meta's) rather than sending a
    /// fixed secret token (like Telegram's): a changed body must then be refused too.
    pub signs_body: bool,
    /// A handshake request the channel must accept and the body it must answer with; only
    /// for channels that declare [`crate::Capabilities::handshake`].
    pub handshake: Option<(OwnedRequest, String)>,
    /// A delivery carrying an echo of the business's own send; needed when the channel
    /// declares [`crate::Capabilities::echoes`].
    pub echo_body: Option<Vec<u8>>,
    /// The fake platform for the send checks; `None` skips them.
    pub platform: Option<PlatformFake>,
}

/// The fake platform the harness owns, where sends go, and how the platform answers.
#[derive(Debug)]
pub struct PlatformFake {
    /// The fake, already the adapter's API base. Dropped with the harness, not before.
    pub fake: FakePlatform,
    /// The account to send from.
    pub address: ChannelAddress,
    /// The customer to send to.
    pub thread: ThreadId,
    /// The platform's answers.
    pub answers: PlatformAnswers,
}

/// How the platform answers, in its own format. Start from [`PlatformAnswers::new`] with
/// the platform's answer to an accepted send; the failure answers default to plain HTTP
/// (429 with `Retry-After: 17`, 503, 401, 400, each with an empty JSON object): replace them
/// where the platform says more (Telegram's `parameters.retry_after`, Graph's error codes).
#[derive(Clone, Debug)]
pub struct PlatformAnswers {
    /// An accepted text send, carrying the platform's message id.
    pub sent: FakeAnswer,
    /// An accepted media send (default: `sent`).
    pub media_sent: Option<FakeAnswer>,
    /// An accepted reaction (default: `sent`).
    pub reaction_sent: Option<FakeAnswer>,
    /// An accepted sender action (default: `sent`).
    pub action_sent: Option<FakeAnswer>,
    /// A customer profile; needed when the channel declares `profiles`.
    pub profile: Option<FakeAnswer>,
    /// The platform asking to slow down.
    pub rate_limited: FakeAnswer,
    /// The wait `rate_limited` asks for.
    pub retry_after: Duration,
    /// The platform failing for a while.
    pub unavailable: FakeAnswer,
    /// The platform refusing the adapter's access token.
    pub unauthorized: FakeAnswer,
    /// The platform refusing the request as invalid.
    pub invalid: FakeAnswer,
}

impl PlatformAnswers {
    /// The platform's answer to an accepted send, and plain-HTTP failures.
    pub fn new(sent: FakeAnswer) -> Self {
        let empty = serde_json::json!({});
        Self {
            sent,
            media_sent: None,
            reaction_sent: None,
            action_sent: None,
            profile: None,
            // RFC 6585 §4: 429 Too Many Requests "MAY include a Retry-After header";
            // RFC 9110 §10.2.3: its value in seconds.
            rate_limited: FakeAnswer::json(429, &empty).header("retry-after", "17"),
            retry_after: Duration::from_secs(17),
            // RFC 9110 §15.6.4 (503), §15.5.2 (401), §15.5.1 (400).
            unavailable: FakeAnswer::json(503, &empty),
            unauthorized: FakeAnswer::json(401, &empty),
            invalid: FakeAnswer::json(400, &empty),
        }
    }

    /// Sets the answer to an accepted media send.
    pub fn media_sent(mut self, answer: FakeAnswer) -> Self {
        self.media_sent = Some(answer);
        self
    }

    /// Sets the answer to an accepted reaction.
    pub fn reaction_sent(mut self, answer: FakeAnswer) -> Self {
        self.reaction_sent = Some(answer);
        self
    }

    /// Sets the answer to an accepted sender action.
    pub fn action_sent(mut self, answer: FakeAnswer) -> Self {
        self.action_sent = Some(answer);
        self
    }

    /// Sets the answer to a profile request.
    pub fn profile(mut self, answer: FakeAnswer) -> Self {
        self.profile = Some(answer);
        self
    }

    /// Sets the rate-limit answer and the wait it asks for.
    pub fn rate_limited(mut self, answer: FakeAnswer, retry_after: Duration) -> Self {
        self.rate_limited = answer;
        self.retry_after = retry_after;
        self
    }

    /// Sets the answer of a platform failing for a while.
    pub fn unavailable(mut self, answer: FakeAnswer) -> Self {
        self.unavailable = answer;
        self
    }

    /// Sets the answer refusing the access token.
    pub fn unauthorized(mut self, answer: FakeAnswer) -> Self {
        self.unauthorized = answer;
        self
    }

    /// Sets the answer refusing the request as invalid.
    pub fn invalid(mut self, answer: FakeAnswer) -> Self {
        self.invalid = answer;
        self
    }
}

impl ChannelHarness {
    /// A harness for `channel`, whose platform signs deliveries with `sign`; `sample_body`
    /// is a real delivery whose first message was sent at `sample_sent_at`.
    pub fn new<C: Channel>(
        channel: C,
        sign: impl Fn(&[u8]) -> OwnedRequest + Send + Sync + 'static,
        sample_body: impl Into<Vec<u8>>,
        sample_sent_at: DateTime<Utc>,
    ) -> Self {
        Self::new_shared(Arc::new(channel), sign, sample_body, sample_sent_at)
    }

    /// Like [`ChannelHarness::new`], for a channel the test shares.
    pub fn new_shared(
        channel: Arc<dyn Channel>,
        sign: impl Fn(&[u8]) -> OwnedRequest + Send + Sync + 'static,
        sample_body: impl Into<Vec<u8>>,
        sample_sent_at: DateTime<Utc>,
    ) -> Self {
        Self {
            channel,
            sign: Box::new(sign),
            sample_body: sample_body.into(),
            sample_sent_at,
            signs_body: false,
            handshake: None,
            echo_body: None,
            platform: None,
        }
    }

    /// The platform signs the body (HMAC over the raw bytes): tampered bodies and
    /// signatures over other bytes are checked too.
    pub fn signs_body(mut self) -> Self {
        self.signs_body = true;
        self
    }

    /// The handshake request the channel must accept, and its answer.
    pub fn with_handshake(mut self, request: OwnedRequest, answer: impl Into<String>) -> Self {
        self.handshake = Some((request, answer.into()));
        self
    }

    /// A delivery carrying an echo of the business's own send.
    pub fn with_echo(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.echo_body = Some(body.into());
        self
    }

    /// The fake platform the channel was pointed at, the account and customer to send
    /// between, and how the platform answers. The harness keeps the fake alive.
    pub fn with_platform(
        mut self,
        fake: FakePlatform,
        address: ChannelAddress,
        thread: impl Into<ThreadId>,
        answers: PlatformAnswers,
    ) -> Self {
        self.platform = Some(PlatformFake { fake, address, thread: thread.into(), answers });
        self
    }
}

impl fmt::Debug for ChannelHarness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelHarness")
            .field("channel", &self.channel)
            .field("signs_body", &self.signs_body)
            .field("platform", &self.platform)
            .finish_non_exhaustive()
    }
}

/// Runs every channel check in order and returns each one's result.
pub async fn run(h: &ChannelHarness) -> Vec<(&'static str, CheckResult)> {
    vec![
        ("accepts_a_signed_delivery", accepts_a_signed_delivery(h).await),
        ("takes_message_time_from_the_payload", takes_message_time_from_the_payload(h).await),
        ("refuses_missing_and_wrong_credentials", refuses_missing_and_wrong_credentials(h).await),
        ("refuses_signatures_over_other_bytes", refuses_signatures_over_other_bytes(h).await),
        ("survives_hostile_bodies", survives_hostile_bodies(h).await),
        ("answers_the_handshake", answers_the_handshake(h).await),
        ("declares_sane_capabilities", declares_sane_capabilities(h).await),
        ("parses_declared_echoes", parses_declared_echoes(h).await),
        ("sends_text", sends_text(h).await),
        ("classifies_send_failures", classifies_send_failures(h).await),
        ("gives_each_attempt_a_timeout", gives_each_attempt_a_timeout(h).await),
        ("media_parts_are_sent_or_refused", media_parts_are_sent_or_refused(h).await),
        ("declared_replies_work", declared_replies_work(h).await),
        ("declared_reactions_work", declared_reactions_work(h).await),
        ("declared_sender_actions_work", declared_sender_actions_work(h).await),
        ("declared_profiles_work", declared_profiles_work(h).await),
    ]
}

/// Expands to one `#[test]` per channel check. The argument is an expression that
/// evaluates to a future of a [`ChannelHarness`]; it is evaluated once per test, inside
/// a runtime the test starts, so the test file needs no tokio macros.
#[macro_export]
macro_rules! channel_conformance_tests {
    ($harness:expr) => {
        $crate::__channel_check!($harness, accepts_a_signed_delivery);
        $crate::__channel_check!($harness, takes_message_time_from_the_payload);
        $crate::__channel_check!($harness, refuses_missing_and_wrong_credentials);
        $crate::__channel_check!($harness, refuses_signatures_over_other_bytes);
        $crate::__channel_check!($harness, survives_hostile_bodies);
        $crate::__channel_check!($harness, answers_the_handshake);
        $crate::__channel_check!($harness, declares_sane_capabilities);
        $crate::__channel_check!($harness, parses_declared_echoes);
        $crate::__channel_check!($harness, sends_text);
        $crate::__channel_check!($harness, classifies_send_failures);
        $crate::__channel_check!($harness, gives_each_attempt_a_timeout);
        $crate::__channel_check!($harness, media_parts_are_sent_or_refused);
        $crate::__channel_check!($harness, declared_replies_work);
        $crate::__channel_check!($harness, declared_reactions_work);
        $crate::__channel_check!($harness, declared_sender_actions_work);
        $crate::__channel_check!($harness, declared_profiles_work);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __channel_check {
    ($harness:expr, $check:ident) => {
        #[test]
        fn $check() {
            $crate::testkit::__block_on(async {
                let harness = $harness.await;
                $crate::testkit::__finish($crate::testkit::channel_suite::$check(&harness).await);
            });
        }
    };
}
