//! What a send will do, decided before anything is sent. Pure: the facts are read from the
//! store first (`mod.rs`), the decision is made here, then a loop only sends and records.
//!
//! The decision, in order: whether the platform's messaging window allows the message now
//! (and under which rule), whether the channel is flagged, whether every file is within
//! the platform's limits; then the parts (text split to the platform's limits, then one
//! part per file), the reply-to on the first part, and which parts an earlier run already
//! sent.

use chrono::{DateTime, Utc};

use super::attachments::check_sizes;
use crate::agent::{AgentMessage, Author};
use crate::channel::Capabilities;
use crate::engine::flags;
use crate::error::{DeliveryError, DeliveryErrorKind};
use crate::ids::PlatformMessageId;
use crate::outbound::{MessagingWindow, split_text_within};

/// What one part carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Content {
    /// A piece of the message's text, within the platform's limits.
    Text(String),
    /// The message's file at this index.
    Attachment(usize),
}

/// The parts of `message` on a platform with `caps`, in sending order: the text (split to
/// the platform's limits), then one part per file.
pub(super) fn parts(message: &AgentMessage, caps: &Capabilities) -> Vec<Content> {
    let mut parts: Vec<Content> = message
        .text
        .as_deref()
        .map(|t| split_text_within(t, caps.max_text_chars, caps.max_text_bytes))
        .unwrap_or_default()
        .into_iter()
        .map(Content::Text)
        .collect();
    parts.extend((0..message.attachments.len()).map(Content::Attachment));
    parts
}

/// What the decision needs, read from the store and the clock beforehand.
pub(super) struct Facts<'a> {
    pub(super) caps: &'a Capabilities,
    pub(super) message: &'a AgentMessage,
    pub(super) now: DateTime<Utc>,
    /// When the customer last wrote (or reacted), which opens the window.
    pub(super) last_inbound: Option<DateTime<Utc>>,
    /// Why the channel is flagged, if it is.
    pub(super) flag: Option<&'a str>,
    /// The engine's own limit on files.
    pub(super) max_media_bytes: u64,
    /// The platform id of the message the agent replied to, if the platform takes replies
    /// and the bridge knows it.
    pub(super) reply_to: Option<PlatformMessageId>,
    /// The parts, as [`parts`] made them.
    pub(super) parts: Vec<Content>,
    /// For each part, the platform id of its earlier send, if one is recorded.
    pub(super) sent: Vec<Option<PlatformMessageId>>,
    /// Whether this run was taken over from a worker that died holding it, so a part it
    /// has no record of may have been sent anyway (its echo would record it).
    pub(super) may_await_echoes: bool,
}

/// One part to send, or to skip as already sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Part {
    /// Its index in the message: part of its marker and of its record.
    pub(super) index: usize,
    pub(super) content: Content,
    /// The message it replies to (first part only).
    pub(super) reply_to: Option<PlatformMessageId>,
    /// The platform id of its earlier send, if one is recorded: not sent again.
    pub(super) sent: Option<PlatformMessageId>,
}

/// What to do with the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Decision {
    /// Send the parts not yet sent, under `window`.
    Send { window: MessagingWindow, parts: Vec<Part> },
    /// Wait (through the queue) for the echoes of parts a crashed worker may have sent.
    AwaitEchoes,
}

/// Decides what a send does, or why the platform would refuse it (a permanent failure
/// shown to the agent).
pub(super) fn decide(facts: Facts<'_>) -> Result<Decision, DeliveryError> {
    let window = window(facts.caps, facts.last_inbound, facts.now, facts.message.author)?;
    flags::refusal(facts.flag)?;
    check_sizes(facts.caps, &facts.message.attachments, facts.max_media_bytes)?;
    if facts.may_await_echoes
        && facts.parts.iter().enumerate().any(|(i, _)| sent(&facts.sent, i).is_none())
    {
        return Ok(Decision::AwaitEchoes);
    }
    let parts = facts
        .parts
        .into_iter()
        .enumerate()
        .map(|(index, content)| Part {
            index,
            content,
            reply_to: if index == 0 { facts.reply_to.clone() } else { None },
            sent: sent(&facts.sent, index),
        })
        .collect();
    Ok(Decision::Send { window, parts })
}

fn sent(sent: &[Option<PlatformMessageId>], index: usize) -> Option<PlatformMessageId> {
    sent.get(index).cloned().flatten()
}

/// Which window rule allows a message by `author` now, or why none does. Meta's
/// human-agent window is for messages a person wrote: a bot's or an automation's message
/// past the standard window fails here, before any call to Meta.
pub(super) fn window(
    caps: &Capabilities,
    last_inbound: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    author: Author,
) -> Result<MessagingWindow, DeliveryError> {
    let Some(standard) = caps.response_window_hours else {
        return Ok(MessagingWindow::Response);
    };
    let Some(last) = last_inbound else {
        return Err(DeliveryError::permanent(
            DeliveryErrorKind::OutsideWindow,
            "the customer has not written through this channel yet, so the platform does not allow a message",
        ));
    };
    let age = now - last;
    if age <= chrono::Duration::hours(i64::from(standard)) {
        return Ok(MessagingWindow::Response);
    }
    if let Some(extended) = caps.human_agent_window_hours {
        if age <= chrono::Duration::hours(i64::from(extended)) {
            if author != Author::Person {
                return Err(DeliveryError::permanent(
                    DeliveryErrorKind::OutsideWindow,
                    format!(
                        "the customer last wrote {} hours ago; after {standard} hours the platform accepts only messages a person wrote (HUMAN_AGENT), and this one came from a bot or an automation",
                        age.num_hours()
                    ),
                ));
            }
            return Ok(MessagingWindow::HumanAgent);
        }
    }
    let allowed = caps.human_agent_window_hours.unwrap_or(standard);
    Err(DeliveryError::permanent(
        DeliveryErrorKind::OutsideWindow,
        format!(
            "the customer last wrote {} hours ago; the platform allows replies within {allowed} hours",
            age.num_hours()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{AgentAttachment, AttachmentKind};

    /// A fixed "now": these decisions depend on no clock but the one passed in.
    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    fn h(hours: i64) -> chrono::Duration {
        chrono::Duration::hours(hours)
    }

    fn meta_caps() -> Capabilities {
        let mut caps = Capabilities::text_only(10);
        caps.max_media_bytes = 25 * 1024 * 1024;
        caps.response_window_hours = Some(24);
        caps.human_agent_window_hours = Some(168);
        caps
    }

    fn message(text: &str, files: usize) -> AgentMessage {
        let file = AgentAttachment {
            kind: AttachmentKind::Image,
            url: url::Url::parse("https://cw.example/f").unwrap(),
            file_name: Some("photo.jpg".into()),
            size: Some(1024),
        };
        AgentMessage {
            id: "m-1".into(),
            conversation: "c-1".into(),
            text: Some(text.into()),
            attachments: vec![file; files],
            reply_to: None,
            created_at: t0(),
            author: Author::Person,
        }
    }

    /// The facts of a fresh send an hour after the customer wrote.
    fn facts<'a>(
        caps: &'a Capabilities,
        message: &'a AgentMessage,
        now: DateTime<Utc>,
    ) -> Facts<'a> {
        let parts = parts(message, caps);
        Facts {
            caps,
            message,
            now,
            last_inbound: Some(now - h(1)),
            flag: None,
            max_media_bytes: u64::MAX,
            reply_to: None,
            sent: vec![None; parts.len()],
            parts,
            may_await_echoes: false,
        }
    }

    #[test]
    fn text_is_split_to_the_platform_limit_then_one_part_per_file() {
        let caps = meta_caps();
        let message = message("one two three four", 2);
        assert_eq!(
            parts(&message, &caps),
            vec![
                Content::Text("one two".into()),
                Content::Text("three four".into()),
                Content::Attachment(0),
                Content::Attachment(1),
            ]
        );
    }

    #[test]
    fn a_fresh_send_sends_every_part_with_the_reply_on_the_first_only() {
        let caps = meta_caps();
        let message = message("one two three four", 1);
        let now = t0();
        let facts = Facts { reply_to: Some("m_quoted".into()), ..facts(&caps, &message, now) };
        let Decision::Send { window, parts } = decide(facts).unwrap() else { panic!("sends") };
        assert_eq!(window, MessagingWindow::Response);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].reply_to, Some("m_quoted".into()));
        assert!(parts[1..].iter().all(|p| p.reply_to.is_none()));
        assert!(parts.iter().all(|p| p.sent.is_none()));
        assert_eq!(parts.iter().map(|p| p.index).collect::<Vec<_>>(), vec![0, 1, 2]);
    }

    #[test]
    fn a_retry_skips_the_parts_already_sent() {
        let caps = meta_caps();
        let message = message("one two three four", 0);
        let now = t0();
        let facts =
            Facts { sent: vec![Some("m_sent_1".into()), None], ..facts(&caps, &message, now) };
        let Decision::Send { parts, .. } = decide(facts).unwrap() else { panic!("sends") };
        assert_eq!(parts[0].sent, Some("m_sent_1".into()));
        assert_eq!(parts[1].sent, None);
    }

    #[test]
    fn a_taken_over_send_waits_for_echoes_unless_every_part_is_recorded() {
        let caps = meta_caps();
        let message = message("one two three four", 0);
        let now = t0();
        let waiting = Facts {
            sent: vec![Some("m_sent_1".into()), None],
            may_await_echoes: true,
            ..facts(&caps, &message, now)
        };
        assert_eq!(decide(waiting).unwrap(), Decision::AwaitEchoes);
        let all_recorded = Facts {
            sent: vec![Some("m_sent_1".into()), Some("m_sent_2".into())],
            may_await_echoes: true,
            ..facts(&caps, &message, now)
        };
        let Decision::Send { parts, .. } = decide(all_recorded).unwrap() else { panic!("sends") };
        assert!(parts.iter().all(|p| p.sent.is_some()));
    }

    #[test]
    fn refusals_come_in_order_window_then_flag_then_size() {
        let caps = meta_caps();
        let mut big = message("hi", 1);
        big.attachments[0].size = Some(30 * 1024 * 1024);
        let now = t0();
        let closed = Facts {
            last_inbound: Some(now - h(200)),
            flag: Some("token refused"),
            ..facts(&caps, &big, now)
        };
        let e = decide(closed).unwrap_err();
        assert_eq!(e.kind(), DeliveryErrorKind::OutsideWindow);
        assert!(e.message().contains("allows replies within 168 hours"), "{}", e.message());

        let flagged = Facts { flag: Some("token refused"), ..facts(&caps, &big, now) };
        let e = decide(flagged).unwrap_err();
        assert_eq!(e.kind(), DeliveryErrorKind::Unauthorized);
        assert_eq!(e.message(), "reconnect required: token refused");
        assert_eq!(e.code(), Some(crate::engine::flags::FLAGGED_CODE));

        let e = decide(facts(&caps, &big, now)).unwrap_err();
        assert_eq!(e.kind(), DeliveryErrorKind::TooLarge);
        assert!(e.is_permanent());
    }

    #[test]
    fn a_person_past_24_hours_uses_the_human_agent_window() {
        let caps = meta_caps();
        let message = message("hi", 0);
        let now = t0();
        let late = Facts { last_inbound: Some(now - h(30)), ..facts(&caps, &message, now) };
        let Decision::Send { window, .. } = decide(late).unwrap() else { panic!("sends") };
        assert_eq!(window, MessagingWindow::HumanAgent);
    }

    #[test]
    fn window_rules() {
        let mut caps = Capabilities::text_only(100);
        caps.response_window_hours = Some(24);
        let now = t0();
        let person = Author::Person;
        assert_eq!(
            window(&caps, Some(now - h(23)), now, person).ok(),
            Some(MessagingWindow::Response)
        );
        let closed = window(&caps, Some(now - h(25)), now, person).unwrap_err();
        assert_eq!(closed.kind(), DeliveryErrorKind::OutsideWindow);
        assert!(closed.is_permanent());
        caps.human_agent_window_hours = Some(168);
        assert_eq!(
            window(&caps, Some(now - h(25)), now, person).ok(),
            Some(MessagingWindow::HumanAgent)
        );
        assert!(window(&caps, Some(now - h(169)), now, person).is_err());
        assert!(window(&caps, None, now, person).is_err());
        assert_eq!(
            window(&Capabilities::text_only(10), None, now, person).ok(),
            Some(MessagingWindow::Response)
        );
    }

    #[test]
    fn only_a_person_may_use_the_human_agent_window() {
        let mut caps = Capabilities::text_only(100);
        caps.response_window_hours = Some(24);
        caps.human_agent_window_hours = Some(168);
        let now = t0();
        for author in [Author::Bot, Author::Automation] {
            assert_eq!(
                window(&caps, Some(now - h(23)), now, author).ok(),
                Some(MessagingWindow::Response),
                "{author:?} within 24 h"
            );
            let late = window(&caps, Some(now - h(30)), now, author).unwrap_err();
            assert_eq!(late.kind(), DeliveryErrorKind::OutsideWindow);
            assert!(late.is_permanent());
            assert!(late.message().contains("a person wrote"), "{}", late.message());
        }
    }
}
