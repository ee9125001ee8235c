//! The outbound half, against the harness's fake platform: sends reach it, failures are
//! classified as the job queue needs, and each declared capability works.

use std::time::Duration;

use bytes::Bytes;

use super::inbound::first_message;
use super::{ChannelHarness, PlatformFake};
use crate::channel::Capabilities;
use crate::error::{DeliveryError, DeliveryErrorKind};
use crate::event::InboundMessage;
use crate::ids::PlatformMessageId;
use crate::media::{AttachmentKind, Media};
use crate::outbound::{MessagingWindow, OutboundPart, SendReceipt, SendRequest, SenderAction};
use crate::testkit::check::{CheckFailure, CheckOutcome, CheckResult};
use crate::testkit::fake_platform::{FakeAnswer, ReceivedRequest};

/// The text the checks send: no spaces or punctuation, so it reads the same in JSON, a
/// form or a URL.
const TEXT: &str = "wbotsConformanceCheck";
const MARKER: &str = "wbots:conformance:1:0";

fn platform<'h>(h: &'h ChannelHarness, check: &str) -> Result<&'h PlatformFake, CheckOutcome> {
    h.platform.as_ref().ok_or_else(|| {
        CheckOutcome::Skipped(format!(
            "{check}: no fake platform in the harness (`with_platform`), so nothing is sent"
        ))
    })
}

fn request(p: &PlatformFake, part: OutboundPart) -> SendRequest {
    SendRequest {
        address: p.address.clone(),
        thread: p.thread.clone(),
        part,
        window: MessagingWindow::Response,
        reply_to: None,
        marker: Some(MARKER.into()),
    }
}

/// Makes the fake answer `answer`, sends, and returns the result and what the fake got.
async fn send(
    h: &ChannelHarness,
    p: &PlatformFake,
    answer: &FakeAnswer,
    request: &SendRequest,
) -> (Result<SendReceipt, DeliveryError>, Vec<ReceivedRequest>) {
    p.fake.answer_with(answer.clone());
    let result = h.channel.send(request).await;
    (result, p.fake.received())
}

fn caps(h: &ChannelHarness, p: &PlatformFake) -> Capabilities {
    h.channel.capabilities(&p.address)
}

fn sample_message(h: &ChannelHarness) -> Option<InboundMessage> {
    let request = (h.sign)(&h.sample_body);
    let events = h.channel.parse(&request.as_raw()).ok()?;
    first_message(&events).cloned()
}

fn describe(received: &[ReceivedRequest]) -> String {
    if received.is_empty() {
        return "the fake received no request".into();
    }
    let all: Vec<String> = received.iter().map(ReceivedRequest::describe).collect();
    format!("the fake received {}", all.join("; "))
}

/// A text send reaches the platform (the fake receives the text and the customer) and
/// returns the platform's message id; a text of exactly the declared limit arrives whole.
pub async fn sends_text(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "sends_text";
    let p = match platform(h, CHECK) {
        Ok(p) => p,
        Err(skip) => return Ok(skip),
    };
    let input = format!("send(Text({TEXT:?})) to {} / {}", p.address, p.thread);
    let (result, received) =
        send(h, p, &p.answers.sent, &request(p, OutboundPart::Text(TEXT.into()))).await;
    match result {
        Ok(SendReceipt { message_id: Some(_) }) => {}
        other => {
            return Err(CheckFailure::new(
                CHECK,
                format!("{input}, the fake answering {}", p.answers.sent.describe()),
                "Ok(SendReceipt { message_id: Some(the platform's id) }) — is `PlatformAnswers::new` given the platform's real success answer?",
                format!("{other:?}"),
            ));
        }
    }
    let thread = p.thread.as_str().as_bytes();
    if !received.iter().any(|r| r.contains(TEXT.as_bytes()) && r.contains(thread)) {
        return Err(CheckFailure::new(
            CHECK,
            input,
            format!(
                "a request to the platform carrying the text and the customer {:?}",
                p.thread.as_str()
            ),
            describe(&received),
        ));
    }
    let caps = caps(h, p);
    let limit = caps.max_text_chars.min(caps.max_text_bytes.unwrap_or(usize::MAX));
    let long: String = TEXT.chars().cycle().take(limit).collect();
    let (result, received) =
        send(h, p, &p.answers.sent, &request(p, OutboundPart::Text(long.clone()))).await;
    if result.is_err() || !received.iter().any(|r| r.contains(long.as_bytes())) {
        return Err(CheckFailure::new(
            CHECK,
            format!("send(Text) of exactly the declared limit, {limit} characters"),
            "Ok, and the whole text at the platform: the engine splits longer texts by the declared `max_text_chars`/`max_text_bytes`, so the adapter must neither cut nor refuse them",
            format!("{result:?}; {} request(s) received, none with the whole text", received.len()),
        ));
    }
    Ok(CheckOutcome::Passed)
}

/// Each platform failure is classified as the job queue needs, in one attempt: 429 →
/// temporary `RateLimited` with the platform's wait; 503 → temporary `Unavailable`; a
/// dropped connection → temporary; 401 → permanent `Unauthorized`; 400 → permanent; a 2xx
/// whose body cannot be read → accepted (`Ok`), since retrying would send it twice.
pub async fn classifies_send_failures(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "classifies_send_failures";
    let p = match platform(h, CHECK) {
        Ok(p) => p,
        Err(skip) => return Ok(skip),
    };
    let a = &p.answers;
    let after = a.retry_after;
    type Verdict = fn(&Result<SendReceipt, DeliveryError>, std::time::Duration) -> bool;
    let cases: [(&FakeAnswer, String, Verdict); 6] = [
        (
            &a.rate_limited,
            format!(
                "Err(DeliveryError::temporary(RateLimited, …).with_retry_after({}s)): a rate limit is temporary, and the platform's wait is the retry's floor",
                after.as_secs()
            ),
            |r, after| {
                matches!(r, Err(e) if e.is_temporary() && e.kind() == DeliveryErrorKind::RateLimited && e.retry_after() == Some(after))
            },
        ),
        (
            &a.unavailable,
            "Err(DeliveryError::temporary(Unavailable, …)): the platform failing for a while is retried by the queue".into(),
            |r, _| matches!(r, Err(e) if e.is_temporary() && e.kind() == DeliveryErrorKind::Unavailable),
        ),
        (
            &FakeAnswer::drop_connection(),
            "Err(DeliveryError::temporary(Network, …)): a network failure is retried by the queue".into(),
            |r, _| matches!(r, Err(e) if e.is_temporary()),
        ),
        (
            &a.unauthorized,
            "Err(DeliveryError::permanent(Unauthorized, …)): a refused token does not heal by retrying; the engine flags the channel and tells the agent to renew it".into(),
            |r, _| matches!(r, Err(e) if e.is_permanent() && e.kind() == DeliveryErrorKind::Unauthorized),
        ),
        (
            &a.invalid,
            "Err(DeliveryError::permanent(InvalidRequest, …)): an invalid request fails the same way every time, so it goes to the dead letter at once (never retried, neither in a loop nor by a temporary error)".into(),
            |r, _| matches!(r, Err(e) if e.is_permanent()),
        ),
        (
            &FakeAnswer::status(200)
                .header("content-type", "text/html")
                .body("<html><body>OK</body></html>"),
            "Ok(SendReceipt { message_id: None }): a 2xx means the platform accepted the send; an unreadable body must not become an error, or the retry delivers the message twice".into(),
            |r, _| r.is_ok(),
        ),
    ];
    for (answer, expected, verdict) in cases {
        let input = format!("send(Text({TEXT:?})), the fake answering {}", answer.describe());
        let (result, received) =
            send(h, p, answer, &request(p, OutboundPart::Text(TEXT.into()))).await;
        if !verdict(&result, after) {
            return Err(CheckFailure::new(CHECK, input, expected, format!("{result:?}")));
        }
        if received.len() != 1 {
            return Err(CheckFailure::new(
                CHECK,
                input,
                "exactly one request: each `send` is one attempt; retries belong to the job queue, never to a loop in the adapter",
                format!("{} requests", received.len()),
            ));
        }
    }
    Ok(CheckOutcome::Passed)
}

/// How long the timeout check waits (in paused, virtual time) for a send to a platform that
/// never answers. A running job's lease is extended by its heartbeat for as long as the
/// attempt runs, so only the adapter's own timeout frees a conversation held by a hung
/// platform; five minutes is far beyond any sensible one.
const PATIENCE: Duration = Duration::from_secs(300);

/// A send to a platform that never answers gives up by itself, in minutes at most, with a
/// temporary error. The clock is paused meanwhile, so the adapter's timeout elapses at
/// once in virtual time and the check takes no real time.
pub async fn gives_each_attempt_a_timeout(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "gives_each_attempt_a_timeout";
    let p = match platform(h, CHECK) {
        Ok(p) => p,
        Err(skip) => return Ok(skip),
    };
    if tokio::runtime::Handle::current().runtime_flavor()
        != tokio::runtime::RuntimeFlavor::CurrentThread
    {
        return Ok(CheckOutcome::Skipped(format!(
            "{CHECK}: needs a current-thread runtime to pause the clock (the suite's macro and `#[tokio::test]` give one)"
        )));
    }
    p.fake.answer_with(FakeAnswer::hang());
    let send = request(p, OutboundPart::Text(TEXT.into()));
    // The clock stands still and jumps to the next timer whenever the runtime is idle: the
    // adapter's timeout, if it has one, fires before the check's patience runs out.
    tokio::time::pause();
    let outcome = tokio::time::timeout(PATIENCE, h.channel.send(&send)).await;
    tokio::time::resume();
    let got = match outcome {
        Ok(Err(e)) if e.is_temporary() => return Ok(CheckOutcome::Passed),
        Ok(result) => format!("{result:?}"),
        Err(_elapsed) => format!("no answer after {} s", PATIENCE.as_secs()),
    };
    Err(CheckFailure::new(
        CHECK,
        format!("send(Text({TEXT:?})), the fake {}", FakeAnswer::hang().describe()),
        format!(
            "Err(DeliveryError::temporary(Network, …)) within {} s: give each attempt a timeout (e.g. `reqwest::ClientBuilder::timeout`, 20–30 s): a running job keeps its lease, so without one a hung platform holds the conversation for ever",
            PATIENCE.as_secs()
        ),
        got,
    ))
}

/// Every channel may be handed a media part (the engine sends an agent's attachments as
/// they come). A channel declaring `max_media_bytes > 0` sends it, and the file reaches the
/// platform; one declaring 0 refuses it permanently (`DeliveryError::unsupported`).
pub async fn media_parts_are_sent_or_refused(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "media_parts_are_sent_or_refused";
    let p = match platform(h, CHECK) {
        Ok(p) => p,
        Err(skip) => return Ok(skip),
    };
    let file: &[u8] = b"\x89PNG\r\n\x1a\nwbotsConformanceImage";
    let media = Media {
        bytes: Bytes::from_static(file),
        content_type: "image/png".into(),
        file_name: "conformance.png".into(),
        kind: AttachmentKind::Image,
    };
    let answer = p.answers.media_sent.as_ref().unwrap_or(&p.answers.sent);
    let (result, received) = send(h, p, answer, &request(p, OutboundPart::Media(media))).await;
    let input = format!("send(Media(a {}-byte PNG))", file.len());
    if caps(h, p).max_media_bytes > 0 {
        if result.is_err() || !received.iter().any(|r| r.contains(file)) {
            return Err(CheckFailure::new(
                CHECK,
                format!("{input}, the fake answering {}", answer.describe()),
                "Ok, and the file's bytes at the platform: the channel declares max_media_bytes > 0 (declare 0 if it cannot send files)",
                format!("{result:?}; {}", describe(&received)),
            ));
        }
        return Ok(CheckOutcome::Passed);
    }
    match result {
        Ok(_) => Ok(CheckOutcome::Passed),
        Err(e) if e.is_permanent() => Ok(CheckOutcome::Passed),
        Err(e) => Err(CheckFailure::new(
            CHECK,
            input,
            "Err(DeliveryError::unsupported(…)) (permanent): the channel declares no media, and a temporary error would be retried until it dies",
            format!("Err({e:?})"),
        )),
    }
}

/// A channel declaring `reply_to` puts the replied-to message in the request.
pub async fn declared_replies_work(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "declared_replies_work";
    let (p, target) = match declared(h, CHECK, |c| c.reply_to, "reply_to") {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let plain = request(p, OutboundPart::Text(TEXT.into()));
    let (_, without) = send(h, p, &p.answers.sent, &plain).await;
    let reply = SendRequest { reply_to: Some(target.clone()), ..plain };
    let (result, with) = send(h, p, &p.answers.sent, &reply).await;
    if result.is_err() || with == without {
        return Err(CheckFailure::new(
            CHECK,
            format!("send(Text) replying to the sample's message {target}"),
            "Ok, and a request that differs from the same send without `reply_to`: the channel declares `reply_to: true` (declare false if the platform cannot reply to a message)",
            format!("{result:?}; {}", describe(&with)),
        ));
    }
    Ok(CheckOutcome::Passed)
}

/// A channel declaring `reactions` sends a reaction to the platform.
pub async fn declared_reactions_work(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "declared_reactions_work";
    let (p, target) = match declared(h, CHECK, |c| c.reactions, "reactions") {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let answer = p.answers.reaction_sent.as_ref().unwrap_or(&p.answers.sent);
    let part = OutboundPart::Reaction { target: target.clone(), emoji: Some("\u{1f44d}".into()) };
    let (result, received) = send(h, p, answer, &request(p, part)).await;
    if result.is_err() || received.is_empty() {
        return Err(CheckFailure::new(
            CHECK,
            format!("send(Reaction 👍 on {target}), the fake answering {}", answer.describe()),
            "Ok, after a request to the platform: the channel declares `reactions: true` (declare false if it cannot react)",
            format!("{result:?}; {}", describe(&received)),
        ));
    }
    Ok(CheckOutcome::Passed)
}

/// A channel declaring `sender_actions` sends the typing indicator to the platform.
pub async fn declared_sender_actions_work(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "declared_sender_actions_work";
    let p = match platform(h, CHECK) {
        Ok(p) => p,
        Err(skip) => return Ok(skip),
    };
    if !caps(h, p).sender_actions {
        return Ok(CheckOutcome::Skipped(format!("{CHECK}: sender_actions not declared")));
    }
    let answer = p.answers.action_sent.as_ref().unwrap_or(&p.answers.sent);
    let (result, received) =
        send(h, p, answer, &request(p, OutboundPart::Action(SenderAction::TypingOn))).await;
    if result.is_err() || received.is_empty() {
        return Err(CheckFailure::new(
            CHECK,
            format!("send(Action(TypingOn)), the fake answering {}", answer.describe()),
            "Ok, after a request to the platform: the channel declares `sender_actions: true` (declare false if it has no typing indicator)",
            format!("{result:?}; {}", describe(&received)),
        ));
    }
    Ok(CheckOutcome::Passed)
}

/// A channel declaring `profiles` fetches the sample sender's profile from the platform.
pub async fn declared_profiles_work(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "declared_profiles_work";
    let p = match platform(h, CHECK) {
        Ok(p) => p,
        Err(skip) => return Ok(skip),
    };
    if !caps(h, p).profiles {
        return Ok(CheckOutcome::Skipped(format!("{CHECK}: profiles not declared")));
    }
    let Some(answer) = &p.answers.profile else {
        return Err(CheckFailure::new(
            CHECK,
            "the harness",
            "the platform's profile answer (`PlatformAnswers::profile`) to exercise the declared `profiles: true`, or `profiles: false`",
            "no profile answer",
        ));
    };
    let user = sample_message(h)
        .map(|m| m.sender)
        .unwrap_or_else(|| crate::ids::PlatformUserId::new(p.thread.as_str()));
    p.fake.answer_with(answer.clone());
    let result = h.channel.profile(&p.address, &user).await;
    let received = p.fake.received();
    let asked = received.iter().any(|r| r.contains(user.as_str().as_bytes()));
    if !matches!(&result, Ok(profile) if !profile.name.is_empty()) || !asked {
        return Err(CheckFailure::new(
            CHECK,
            format!("profile({}, {user}), the fake answering {}", p.address, answer.describe()),
            "Ok(a profile with a name), after asking the platform about that user: the channel declares `profiles: true` (declare false and return `DeliveryError::unsupported`)",
            format!("{result:?}; {}", describe(&received)),
        ));
    }
    Ok(CheckOutcome::Passed)
}

/// The platform and the sample's message to reply or react to, when the capability is
/// declared; otherwise how the check ends.
fn declared<'h>(
    h: &'h ChannelHarness,
    check: &'static str,
    capability: fn(&Capabilities) -> bool,
    name: &str,
) -> Result<(&'h PlatformFake, PlatformMessageId), CheckResult> {
    let p = platform(h, check).map_err(Ok)?;
    if !capability(&caps(h, p)) {
        return Err(Ok(CheckOutcome::Skipped(format!("{check}: {name} not declared"))));
    }
    let Some(message) = sample_message(h) else {
        return Err(Err(CheckFailure::new(
            check,
            "the sample",
            format!("a customer message in the sample, to exercise the declared `{name}` on"),
            "no message",
        )));
    };
    Ok((p, message.id))
}
