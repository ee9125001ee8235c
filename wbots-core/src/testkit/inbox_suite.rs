//! The inbox conformance suite: what every [`Inbox`] must do.
//!
//! Build an [`InboxHarness`] (pointed at a fake of your inbox for the live checks) and
//! expand [`crate::inbox_conformance_tests!`] in a test file. Like the channel suite, each
//! check passes, is skipped with its reason, or fails naming the input and what was expected.
//! The suite assumes the inbox signs the body (Chatwoot's `X-Chatwoot-Signature` does).

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use chrono::Utc;

use crate::agent::{AgentEnvelope, AgentEvent};
use crate::error::WebhookError;
use crate::ids::{ChannelAddress, InboxId, PlatformMessageId, PlatformUserId};
use crate::inbox::{
    ContactRequest, ConversationRequest, DeliveryStatus, Direction, Inbox, MessageChange,
    MessageUpdate, PostMessage, ReopenPolicy,
};
use crate::profile::Profile;

use super::channel_suite::{Signer, hostile_bodies};
use super::check::{CheckFailure, CheckOutcome, CheckResult, show};
use super::credentials::{Carrier, added_parts, stripped, without, wrong_credentials};
use super::request::OwnedRequest;

/// Everything the suite needs to exercise an inbox.
pub struct InboxHarness {
    /// The inbox under test.
    pub inbox: Arc<dyn Inbox>,
    /// Signs a body the way the inbox does.
    pub sign: Signer,
    /// An agent's message as the inbox delivers it: must parse to exactly one
    /// [`AgentEvent::Message`].
    pub agent_message_body: Vec<u8>,
    /// Deliveries the bridge must not send anywhere (a private note, an incoming message,
    /// the inbox's copy of a message the bridge posted): must parse to no `Message`.
    pub ignored_bodies: Vec<Vec<u8>>,
    /// For the live checks: an inbox id and an account to create contacts for, with a fake
    /// of the inbox listening. `None` skips them.
    pub live: Option<(InboxId, ChannelAddress)>,
    /// What the harness keeps alive as long as it lives: the fake the inbox talks to, so
    /// it stops with the harness and is never leaked (`Box::new(fake)`).
    pub keep_alive: Vec<Box<dyn std::any::Any + Send + Sync>>,
}

impl fmt::Debug for InboxHarness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboxHarness").field("inbox", &self.inbox).finish_non_exhaustive()
    }
}

/// `verify` then `parse`, a panic turned into an error naming it.
fn verify_and_parse(
    h: &InboxHarness,
    request: &OwnedRequest,
) -> Result<Result<Vec<AgentEnvelope>, WebhookError>, String> {
    catch_unwind(AssertUnwindSafe(|| {
        h.inbox.verify(&request.as_raw())?;
        h.inbox.parse(&request.as_raw())
    }))
    .map_err(crate::testkit::check::panic_text)
}

/// `Ok` when `verify` refuses the request as unauthorized; what it did instead otherwise.
fn refused(h: &InboxHarness, request: &OwnedRequest) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| h.inbox.verify(&request.as_raw()))) {
        Ok(Err(WebhookError::Unauthorized(_))) => Ok(()),
        Ok(other) => Err(format!("{other:?}")),
        Err(panic) => Err(crate::testkit::check::panic_text(panic)),
    }
}

fn kinds(events: &[AgentEnvelope]) -> Vec<String> {
    events
        .iter()
        .map(|e| match &e.event {
            AgentEvent::Message(m) => format!("Message({})", m.id),
            AgentEvent::Ignored { kind, reason } => format!("Ignored({kind}: {reason})"),
            other => format!("{other:?}"),
        })
        .collect()
}

/// An agent's message parses to one `Message` event.
pub async fn parses_an_agent_message(h: &InboxHarness) -> CheckResult {
    const CHECK: &str = "parses_an_agent_message";
    let input = format!("the signed agent message {}", show(&h.agent_message_body));
    let got = match verify_and_parse(h, &(h.sign)(&h.agent_message_body)) {
        Ok(Ok(events)) => {
            let messages =
                events.iter().filter(|e| matches!(e.event, AgentEvent::Message(_))).count();
            if messages == 1 {
                return Ok(CheckOutcome::Passed);
            }
            format!("{:?}", kinds(&events))
        }
        Ok(Err(e)) => format!("Err({e:?})"),
        Err(panic) => panic,
    };
    Err(CheckFailure::new(
        CHECK,
        input,
        "exactly one `AgentEvent::Message` (verify passes over the raw bytes, parse reads it)",
        got,
    ))
}

/// Notes, incoming messages and the bridge's own posts are never sent to a customer.
pub async fn ignores_what_must_not_be_sent(h: &InboxHarness) -> CheckResult {
    const CHECK: &str = "ignores_what_must_not_be_sent";
    if h.ignored_bodies.is_empty() {
        return Ok(CheckOutcome::Skipped(format!("{CHECK}: no ignored bodies in the harness")));
    }
    for body in &h.ignored_bodies {
        let got = match verify_and_parse(h, &(h.sign)(body)) {
            Ok(Ok(events)) if !events.iter().any(|e| matches!(e.event, AgentEvent::Message(_))) => {
                continue;
            }
            Ok(Ok(events)) => format!("{:?}", kinds(&events)),
            Ok(Err(WebhookError::Malformed(_))) => continue,
            Ok(Err(e)) => format!("Err({e:?})"),
            Err(panic) => panic,
        };
        return Err(CheckFailure::new(
            CHECK,
            format!("the signed delivery {}", show(body)),
            "no `AgentEvent::Message` (`AgentEvent::Ignored` with the reason): a private note, an incoming message or the bridge's own post must never reach the customer",
            got,
        ));
    }
    Ok(CheckOutcome::Passed)
}

/// Missing or wrong credentials (each removed, emptied, changed at either end, cut short,
/// lengthened), a changed body and a signature over other bytes are unauthorized.
pub async fn refuses_tampered_and_unsigned_deliveries(h: &InboxHarness) -> CheckResult {
    const CHECK: &str = "refuses_tampered_and_unsigned_deliveries";
    let expected = "Err(WebhookError::Unauthorized): compare the whole credential over the raw bytes, in constant time";
    let signed = (h.sign)(&h.agent_message_body);
    let credentials: Vec<Carrier> = added_parts(&signed)
        .into_iter()
        .filter(|c| refused(h, &without(&signed, c)).is_ok())
        .collect();
    let mut cases =
        vec![("the agent message without any credential".to_owned(), stripped(&signed))];
    cases.extend(
        wrong_credentials(&signed, &credentials)
            .into_iter()
            .map(|(what, r)| (format!("the signed agent message with {what}"), r)),
    );
    let mut changed = signed.clone();
    changed.body.push(b' ');
    cases.push(("the agent message signed, then a space appended".into(), changed));
    let mut other = (h.sign)(b"{\"something\":\"else\"}");
    other.body = h.agent_message_body.clone();
    cases.push(("the agent message carrying the signature of other bytes".into(), other));
    for (what, request) in cases {
        if let Err(got) = refused(h, &request) {
            return Err(CheckFailure::new(CHECK, what, expected, got));
        }
    }
    Ok(CheckOutcome::Passed)
}

/// Hostile bodies parse or are `Malformed`, never panic.
pub async fn survives_hostile_bodies(h: &InboxHarness) -> CheckResult {
    const CHECK: &str = "survives_hostile_bodies";
    for body in hostile_bodies(&h.agent_message_body) {
        let got = match verify_and_parse(h, &(h.sign)(&body)) {
            Ok(Ok(_) | Err(WebhookError::Malformed(_) | WebhookError::Unauthorized(_))) => continue,
            Ok(Err(e)) => format!("Err({e:?})"),
            Err(panic) => panic,
        };
        return Err(CheckFailure::new(
            CHECK,
            format!("the signed body {}", show(&body)),
            "events or Err(WebhookError::Malformed): never a panic, never another error",
            got,
        ));
    }
    Ok(CheckOutcome::Passed)
}

/// Contacts and conversations are found again, not duplicated; posted messages are
/// found by their platform id; status updates and notes are accepted.
pub async fn live_operations_are_idempotent(h: &InboxHarness) -> CheckResult {
    const CHECK: &str = "live_operations_are_idempotent";
    let Some((inbox, address)) = &h.live else {
        return Ok(CheckOutcome::Skipped(format!(
            "{CHECK}: no live inbox in the harness (`live`), so nothing is created"
        )));
    };
    let fail = |input: &str, expected: &str, got: String| {
        CheckFailure::new(CHECK, input.to_owned(), expected.to_owned(), got)
    };
    let user = PlatformUserId::new(format!("conformance-{}", uuid::Uuid::new_v4().simple()));
    let contact_req = ContactRequest {
        inbox: inbox.clone(),
        address: address.clone(),
        user: user.clone(),
        profile: Profile { name: "Conformance Customer".into(), username: None, avatar_url: None },
    };
    let contact = h.inbox.upsert_contact(&contact_req).await.map_err(|e| {
        fail("upsert_contact of a new customer", "Ok(the contact)", format!("Err({e:?})"))
    })?;
    let again = h.inbox.upsert_contact(&contact_req).await;
    if again.as_ref().ok() != Some(&contact) {
        return Err(fail(
            "upsert_contact of the same customer again",
            &format!("Ok({contact:?}): the same contact, found again rather than duplicated"),
            format!("{again:?}"),
        ));
    }

    let conv_req = ConversationRequest {
        inbox: inbox.clone(),
        address: address.clone(),
        thread: user.as_str().into(),
        contact,
        existing: None,
        reopen: ReopenPolicy::Reopen,
    };
    let conversation = h.inbox.open_conversation(&conv_req).await.map_err(|e| {
        fail("open_conversation for the new contact", "Ok(a conversation)", format!("Err({e:?})"))
    })?;
    for (what, req) in [
        ("open_conversation again", conv_req.clone()),
        (
            "open_conversation with the known conversation as `existing`",
            ConversationRequest { existing: Some(conversation.clone()), ..conv_req },
        ),
    ] {
        let again = h.inbox.open_conversation(&req).await;
        if again.as_ref().ok() != Some(&conversation) {
            return Err(fail(
                what,
                &format!("Ok({conversation:?}): the same conversation, not a new one"),
                format!("{again:?}"),
            ));
        }
    }

    let source =
        PlatformMessageId::new(format!("mid.conformance.{}", uuid::Uuid::new_v4().simple()));
    let before = h.inbox.find_message(&conversation, &source).await;
    if !matches!(before, Ok(None)) {
        return Err(fail(
            "find_message of a source id never posted",
            "Ok(None)",
            format!("{before:?}"),
        ));
    }
    let message = h
        .inbox
        .post_message(&PostMessage {
            inbox: inbox.clone(),
            conversation: conversation.clone(),
            direction: Direction::Incoming,
            text: Some("hello from the conformance suite".into()),
            media: Vec::new(),
            source_id: source.clone(),
            reply_to: None,
            attributes: serde_json::Map::new(),
            sent_at: Utc::now(),
        })
        .await
        .map_err(|e| fail("post_message", "Ok(the message)", format!("Err({e:?})")))?;
    let found = h.inbox.find_message(&conversation, &source).await;
    if found.as_ref().ok() != Some(&Some(message.clone())) {
        return Err(fail(
            "find_message of the source id just posted",
            &format!("Ok(Some({message:?})): a retried job asks this before posting again"),
            format!("{found:?}"),
        ));
    }

    h.inbox
        .update_message(&MessageUpdate {
            conversation: conversation.clone(),
            message,
            change: MessageChange::Status { status: DeliveryStatus::Delivered, error: None },
        })
        .await
        .map_err(|e| fail("update_message to Delivered", "Ok", format!("Err({e:?})")))?;
    h.inbox
        .post_note(&conversation, "a private note")
        .await
        .map_err(|e| fail("post_note", "Ok", format!("Err({e:?})")))?;
    Ok(CheckOutcome::Passed)
}

/// Runs every inbox check in order and returns each one's result.
pub async fn run(h: &InboxHarness) -> Vec<(&'static str, CheckResult)> {
    vec![
        ("parses_an_agent_message", parses_an_agent_message(h).await),
        ("ignores_what_must_not_be_sent", ignores_what_must_not_be_sent(h).await),
        (
            "refuses_tampered_and_unsigned_deliveries",
            refuses_tampered_and_unsigned_deliveries(h).await,
        ),
        ("survives_hostile_bodies", survives_hostile_bodies(h).await),
        ("live_operations_are_idempotent", live_operations_are_idempotent(h).await),
    ]
}

/// Expands to one `#[test]` per inbox check; the argument evaluates to a future of an
/// [`InboxHarness`], evaluated inside a runtime the test starts (no tokio macros needed).
#[macro_export]
macro_rules! inbox_conformance_tests {
    ($harness:expr) => {
        $crate::__inbox_check!($harness, parses_an_agent_message);
        $crate::__inbox_check!($harness, ignores_what_must_not_be_sent);
        $crate::__inbox_check!($harness, refuses_tampered_and_unsigned_deliveries);
        $crate::__inbox_check!($harness, survives_hostile_bodies);
        $crate::__inbox_check!($harness, live_operations_are_idempotent);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __inbox_check {
    ($harness:expr, $check:ident) => {
        #[test]
        fn $check() {
            $crate::testkit::__block_on(async {
                let harness = $harness.await;
                $crate::testkit::__finish($crate::testkit::inbox_suite::$check(&harness).await);
            });
        }
    };
}
