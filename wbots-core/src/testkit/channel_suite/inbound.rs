//! The inbound half: authentication, parsing, the handshake and the declared capabilities.

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::ChannelHarness;
use crate::error::WebhookError;
use crate::event::{InboundEnvelope, InboundEvent, InboundMessage};
use crate::testkit::check::{CheckFailure, CheckOutcome, CheckResult, show};
use crate::testkit::credentials::{Carrier, added_parts, stripped, without, wrong_credentials};
use crate::testkit::request::OwnedRequest;

const UNAUTHORIZED: &str = "Err(WebhookError::Unauthorized): compare the whole credential over the raw bytes, in constant time (`Secret::matches`, `wbots_core::constant_time_eq`), and refuse anything else";

/// Inputs no platform sends but an attacker or a broken proxy might. Each must be refused
/// or parsed without panicking.
pub fn hostile_bodies(sample: &[u8]) -> Vec<Vec<u8>> {
    let mut bodies: Vec<Vec<u8>> = [
        "", "null", "[]", "{}", "0", "\"text\"", "{\"object\":null}", "{\"entry\":{}}",
        "{\"object\":\"page\",\"entry\":[null,1,\"x\",{}]}",
        "{\"object\":\"instagram\",\"entry\":[{\"id\":1e400,\"messaging\":[{}]}]}",
        "{\"object\":\"page\",\"entry\":[{\"id\":\"1\",\"time\":-1,\"messaging\":[{\"sender\":{},\"recipient\":{},\"timestamp\":\"soon\",\"message\":{\"mid\":5,\"text\":[1]}}]}]}",
        "{\"update_id\":-1,\"message\":{\"message_id\":9e99,\"chat\":{\"id\":null},\"date\":-99999999999999}}",
        "{\"type\":\"message\",\"timestamp\":18446744073709551616,\"id\":{}}",
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

/// `verify` then `parse`, a panic turned into an error naming it.
fn verify_and_parse(
    h: &ChannelHarness,
    request: &OwnedRequest,
) -> Result<Result<Vec<InboundEnvelope>, WebhookError>, String> {
    catch_unwind(AssertUnwindSafe(|| {
        h.channel.verify(&request.as_raw())?;
        h.channel.parse(&request.as_raw())
    }))
    .map_err(crate::testkit::check::panic_text)
}

/// `Ok` when `verify` refuses the request as unauthorized; what it did instead otherwise.
fn refused(h: &ChannelHarness, request: &OwnedRequest) -> Result<(), String> {
    match catch_unwind(AssertUnwindSafe(|| h.channel.verify(&request.as_raw()))) {
        Ok(Err(WebhookError::Unauthorized(_))) => Ok(()),
        Ok(other) => Err(format!("{other:?}")),
        Err(_) => Err("a panic".into()),
    }
}

/// The sample's events, or a failure of `check`.
fn sample_events(
    h: &ChannelHarness,
    check: &'static str,
) -> Result<Vec<InboundEnvelope>, CheckFailure> {
    let request = (h.sign)(&h.sample_body);
    let input = format!("the signed sample {}", show(&h.sample_body));
    match verify_and_parse(h, &request) {
        Ok(Ok(events)) => Ok(events),
        Ok(Err(e)) => Err(CheckFailure::new(
            check,
            input,
            "the signed sample verifies and parses (is `sign` the platform's scheme, and the sample a real delivery?)",
            format!("Err({e:?})"),
        )),
        Err(panic) => Err(CheckFailure::new(check, input, "events", panic)),
    }
}

/// The sample's first customer message, if it has one.
pub(super) fn first_message(events: &[InboundEnvelope]) -> Option<&InboundMessage> {
    events.iter().find_map(|e| match &e.event {
        InboundEvent::Message(m) => Some(m),
        _ => None,
    })
}

/// A signed real delivery verifies and parses into events for the channel's accounts, the
/// same ones every time.
pub async fn accepts_a_signed_delivery(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "accepts_a_signed_delivery";
    let first = sample_events(h, CHECK)?;
    let input = || format!("the signed sample {}", show(&h.sample_body));
    if first.is_empty() {
        return Err(CheckFailure::new(
            CHECK,
            input(),
            "at least one event: the sample must be a delivery with a message",
            "no events",
        ));
    }
    let second = sample_events(h, CHECK)?;
    let keys = |v: &[InboundEnvelope]| v.iter().map(|e| e.idempotency_key()).collect::<Vec<_>>();
    if keys(&first) != keys(&second) {
        return Err(CheckFailure::new(
            CHECK,
            format!("{} parsed twice", input()),
            "the same idempotency keys both times: use the platform's ids, or derive them from the payload (never random, never the clock), or redeliveries will be doubled",
            format!("{:?} then {:?}", keys(&first), keys(&second)),
        ));
    }
    let accounts = h.channel.accounts();
    if let Some(stray) = first.iter().find(|e| !accounts.contains(&e.address)) {
        return Err(CheckFailure::new(
            CHECK,
            input(),
            format!(
                "every event tagged with one of the channel's accounts {accounts:?} (the sample must be for an account the channel serves)"
            ),
            format!("an event for {}", stray.address),
        ));
    }
    Ok(CheckOutcome::Passed)
}

/// A message's time is the platform's, from the payload, not the time it was parsed.
pub async fn takes_message_time_from_the_payload(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "takes_message_time_from_the_payload";
    let events = sample_events(h, CHECK)?;
    let Some(message) = first_message(&events) else {
        return Ok(CheckOutcome::Skipped(format!("{CHECK}: the sample carries no message")));
    };
    if message.sent_at != h.sample_sent_at {
        return Err(CheckFailure::new(
            CHECK,
            format!("the signed sample {}", show(&h.sample_body)),
            format!(
                "sent_at {} as the payload says (the platform's timestamp, never the time of parsing: the engine shows late messages with a `[sent …]` prefix from it)",
                h.sample_sent_at.to_rfc3339()
            ),
            format!("sent_at {}", message.sent_at.to_rfc3339()),
        ));
    }
    Ok(CheckOutcome::Passed)
}

/// A delivery without its credentials, or with any of them wrong (emptied, changed at
/// either end, cut short, lengthened), is refused as unauthorized.
pub async fn refuses_missing_and_wrong_credentials(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "refuses_missing_and_wrong_credentials";
    let signed = (h.sign)(&h.sample_body);
    let bare = stripped(&signed);
    if let Err(got) = refused(h, &bare) {
        return Err(CheckFailure::new(
            CHECK,
            "the sample without any of the headers, path token or query the signer adds",
            UNAUTHORIZED,
            got,
        ));
    }
    let credentials: Vec<Carrier> = added_parts(&signed)
        .into_iter()
        .filter(|c| refused(h, &without(&signed, c)).is_ok())
        .collect();
    for (what, request) in wrong_credentials(&signed, &credentials) {
        if let Err(got) = refused(h, &request) {
            return Err(CheckFailure::new(
                CHECK,
                format!("the signed sample with {what}"),
                UNAUTHORIZED,
                got,
            ));
        }
    }
    Ok(CheckOutcome::Passed)
}

/// For platforms that sign the body: a changed body, a shortened or lengthened one, and a
/// signature made for other bytes are refused.
pub async fn refuses_signatures_over_other_bytes(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "refuses_signatures_over_other_bytes";
    if !h.signs_body {
        return Ok(CheckOutcome::Skipped(format!(
            "{CHECK}: the harness says the platform sends a token, not a signature over the body (call `signs_body()` if it signs)"
        )));
    }
    let signed = (h.sign)(&h.sample_body);
    let mut changed = signed.clone();
    if let Some(b) = changed.body.iter_mut().find(|b| b.is_ascii_digit()) {
        *b = if *b == b'9' { b'8' } else { *b + 1 };
    } else {
        changed.body.push(b' ');
    }
    let mut shortened = signed.clone();
    shortened.body.pop();
    let mut lengthened = signed.clone();
    lengthened.body.push(b'\n');
    let mut other = (h.sign)(b"{\"something\":\"else\"}");
    other.body = h.sample_body.clone();
    for (what, request) in [
        ("the sample signed, then one digit of the body changed", changed),
        ("the sample signed, then its last byte removed", shortened),
        ("the sample signed, then a newline appended", lengthened),
        ("the sample carrying the signature of other bytes", other),
    ] {
        if let Err(got) = refused(h, &request) {
            return Err(CheckFailure::new(
                CHECK,
                what,
                format!("{UNAUTHORIZED}; the signature must cover the exact raw body"),
                got,
            ));
        }
    }
    Ok(CheckOutcome::Passed)
}

/// Authentic but hostile bodies parse to events or to `Malformed`, never panic.
pub async fn survives_hostile_bodies(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "survives_hostile_bodies";
    for body in hostile_bodies(&h.sample_body) {
        let request = (h.sign)(&body);
        let got = match verify_and_parse(h, &request) {
            Ok(Ok(_) | Err(WebhookError::Malformed(_) | WebhookError::Unauthorized(_))) => continue,
            Ok(Err(e)) => format!("Err({e:?})"),
            Err(panic) => panic,
        };
        return Err(CheckFailure::new(
            CHECK,
            format!("the signed body {}", show(&body)),
            "events (`InboundEvent::Unsupported` for what the adapter does not handle) or Err(WebhookError::Malformed): never a panic, never another error",
            got,
        ));
    }
    Ok(CheckOutcome::Passed)
}

/// A declared handshake answers its challenge and refuses a missing or wrong token; a
/// channel without one answers `NotFound`.
pub async fn answers_the_handshake(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "answers_the_handshake";
    let declared = h.channel.accounts().iter().any(|a| h.channel.capabilities(a).handshake);
    let forbidden = "Err(WebhookError::Forbidden): answer the challenge only for the right verify token and mode";
    let call = |r: &OwnedRequest| {
        catch_unwind(AssertUnwindSafe(|| h.channel.handshake(&r.as_raw())))
            .unwrap_or_else(|_| Err(WebhookError::Malformed("a panic".into())))
    };
    match (&h.handshake, declared) {
        (None, false) => {
            let empty = OwnedRequest::get("");
            match call(&empty) {
                Err(WebhookError::NotFound(_)) => Ok(CheckOutcome::Passed),
                other => Err(CheckFailure::new(
                    CHECK,
                    "a GET without query",
                    "Err(WebhookError::NotFound): the channel declares no handshake",
                    format!("{other:?}"),
                )),
            }
        }
        (None, true) => Err(CheckFailure::new(
            CHECK,
            "the harness",
            "a handshake request (`with_handshake`) to exercise the declared `handshake: true`, or `handshake: false` if the platform has none",
            "no handshake in the harness",
        )),
        (Some(_), false) => Err(CheckFailure::new(
            CHECK,
            "the harness's handshake",
            "`Capabilities::handshake` true for a channel with a handshake, so the engine and the kit know",
            "handshake: false",
        )),
        (Some((request, expected)), true) => {
            match call(request) {
                Ok(answer) if &answer == expected => {}
                other => {
                    return Err(CheckFailure::new(
                        CHECK,
                        format!("the harness's handshake `?{}`", request.query),
                        format!("Ok({expected:?})"),
                        format!("{other:?}"),
                    ));
                }
            }
            // Every part but the challenge itself is a credential or the mode.
            let parts: Vec<Carrier> = added_parts(request)
                .into_iter()
                .filter(|c| match c {
                    Carrier::Query(name) => !url::form_urlencoded::parse(request.query.as_bytes())
                        .any(|(k, v)| &k == name && v == expected.as_str()),
                    _ => true,
                })
                .collect();
            let mut wrong = wrong_credentials(request, &parts);
            wrong.push(("no query at all".into(), OwnedRequest::get("")));
            for (what, r) in wrong {
                match call(&r) {
                    Err(WebhookError::Forbidden(_)) => {}
                    other => {
                        return Err(CheckFailure::new(
                            CHECK,
                            format!("the handshake with {what}"),
                            forbidden,
                            format!("{other:?}"),
                        ));
                    }
                }
            }
            Ok(CheckOutcome::Passed)
        }
    }
}

/// The name, the accounts' kinds and the capabilities are coherent.
pub async fn declares_sane_capabilities(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "declares_sane_capabilities";
    let name = h.channel.name();
    let lowercase = |s: &str| {
        !s.is_empty() && s.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_'))
    };
    if !lowercase(name) {
        return Err(CheckFailure::new(
            CHECK,
            "Channel::name",
            "a non-empty lowercase name of a-z, 0-9, '-', '_' (it becomes /webhooks/{name})",
            format!("{name:?}"),
        ));
    }
    let accounts = h.channel.accounts();
    if accounts.is_empty() {
        return Err(CheckFailure::new(CHECK, "Channel::accounts", "at least one account", "none"));
    }
    for a in accounts {
        let kind = a.kind.as_str();
        if !lowercase(kind) {
            return Err(CheckFailure::new(
                CHECK,
                format!("the account {a}"),
                "a kind named in lowercase (`ChannelKind::new(\"yourplatform\")`), the name stored in every key",
                format!("{:?}", a.kind),
            ));
        }
        let caps = h.channel.capabilities(&a);
        if caps.max_text_chars == 0 || caps.max_text_bytes == Some(0) {
            return Err(CheckFailure::new(
                CHECK,
                format!("capabilities({a})"),
                "max_text_chars > 0 and max_text_bytes, when set, > 0",
                format!("{caps:?}"),
            ));
        }
        if let (Some(std), Some(ext)) = (caps.response_window_hours, caps.human_agent_window_hours)
        {
            if ext < std {
                return Err(CheckFailure::new(
                    CHECK,
                    format!("capabilities({a})"),
                    "human_agent_window_hours not shorter than response_window_hours",
                    format!("{ext} < {std}"),
                ));
            }
        }
        if caps.human_agent_window_hours.is_some() && caps.response_window_hours.is_none() {
            return Err(CheckFailure::new(
                CHECK,
                format!("capabilities({a})"),
                "a human-agent extension only on a platform with a response window",
                format!("{caps:?}"),
            ));
        }
    }
    Ok(CheckOutcome::Passed)
}

/// A channel that declares echoes parses the harness's echo delivery into an `Echo`.
pub async fn parses_declared_echoes(h: &ChannelHarness) -> CheckResult {
    const CHECK: &str = "parses_declared_echoes";
    if !h.channel.accounts().iter().any(|a| h.channel.capabilities(a).echoes) {
        return Ok(CheckOutcome::Skipped(format!("{CHECK}: echoes not declared")));
    }
    let Some(body) = &h.echo_body else {
        return Err(CheckFailure::new(
            CHECK,
            "the harness",
            "an echo delivery (`with_echo`) to exercise the declared `echoes: true`, or `echoes: false` if the platform does not echo the business's sends",
            "no echo in the harness",
        ));
    };
    let got = match verify_and_parse(h, &(h.sign)(body)) {
        Ok(Ok(events)) if events.iter().any(|e| matches!(e.event, InboundEvent::Echo(_))) => {
            return Ok(CheckOutcome::Passed);
        }
        Ok(Ok(events)) => {
            format!("{:?}", events.iter().map(|e| e.event.kind()).collect::<Vec<_>>())
        }
        Ok(Err(e)) => format!("Err({e:?})"),
        Err(panic) => panic,
    };
    Err(CheckFailure::new(
        CHECK,
        format!("the signed echo {}", show(body)),
        "an `InboundEvent::Echo` carrying the platform's echoed metadata, so the bridge recognises its own sends",
        got,
    ))
}
