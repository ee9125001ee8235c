//! Outbound jobs: agent messages sent to the customer, part by part.

use chrono::{DateTime, Utc};
use tracing::{info, warn};

use super::Bridge;
use super::flags::{FLAGGED_CODE, FlagOrigin};
use super::job::Target;
use super::links::{
    FailedOutbound, InboxMessageLink, Links, MessageLink, UnreadLink, failed_outbound_link,
    inbox_message_link, message_link, unread_link, user_scope,
};
use super::worker::JobError;
use crate::agent::{AgentMessage, Author};
use crate::channel::Capabilities;
use crate::error::{DeliveryError, DeliveryErrorKind};
use crate::ids::{InboxId, InboxMessageId, PlatformMessageId};
use crate::inbox::{DeliveryStatus, MessageChange, MessageUpdate};
use crate::outbound::{
    MessagingWindow, OutboundPart, SendRequest, SenderAction, split_text_within,
};
use crate::store::{Link, LinkKey, LinkWrite};

/// The marker the bridge puts on each send (Meta's `metadata`), echoed back by the
/// platform: `wbots:{inbox}:{message}:{part}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    pub inbox: InboxId,
    pub message: InboxMessageId,
    pub part: usize,
}

impl Marker {
    pub(super) fn encode(&self) -> String {
        format!("wbots:{}:{}:{}", self.inbox, self.message, self.part)
    }

    pub(super) fn parse(raw: &str) -> Option<Self> {
        // Inbox ids never contain ':' (Chatwoot's are numbers); message ids might.
        let (inbox, rest) = raw.strip_prefix("wbots:")?.split_once(':')?;
        let (message, part) = rest.rsplit_once(':')?;
        Some(Self { inbox: inbox.into(), message: message.into(), part: part.parse().ok()? })
    }
}

/// What a planned part needs before it can be sent.
enum PlannedPart {
    Text(String),
    Attachment(usize),
}

fn plan(message: &AgentMessage, caps: &Capabilities) -> Vec<PlannedPart> {
    let mut parts: Vec<PlannedPart> = message
        .text
        .as_deref()
        .map(|t| split_text_within(t, caps.max_text_chars, caps.max_text_bytes))
        .unwrap_or_default()
        .into_iter()
        .map(PlannedPart::Text)
        .collect();
    parts.extend((0..message.attachments.len()).map(PlannedPart::Attachment));
    parts
}

/// Which window rule allows a message by `author` now, or why none does. Meta's
/// human-agent window is for messages a person wrote: a bot's or an automation's message
/// past the standard window fails here, before any call to Meta.
fn window(
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

impl Bridge {
    pub(crate) async fn process_outbound(
        &self,
        claimed: &crate::store::ClaimedJob,
        target: Target,
        message: AgentMessage,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let Some((channel, _)) = self.route(&target.address) else {
            return Err(DeliveryError::permanent(
                DeliveryErrorKind::Other,
                format!("the account {} is no longer configured", target.address),
            )
            .into());
        };
        let links = Links(self.store().as_ref());
        let caps = channel.capabilities(&target.address);
        let now = Utc::now();
        let last_inbound = links.last_inbound(&target.address, &target.thread).await?;
        let window = window(&caps, last_inbound, now, message.author)?;
        self.refuse_if_flagged(&target.address).await?;
        super::attachments::check_sizes(
            &caps,
            &message.attachments,
            self.config().max_media_bytes,
        )?;
        let reply_to = match &message.reply_to {
            Some(id) if caps.reply_to => {
                links.inbox_message(&target.inbox, id).await?.map(|l| l.platform)
            }
            _ => None,
        };
        let scope = user_scope(&target.address, target.thread.as_str());
        let planned = plan(&message, &caps);
        if self.await_echoes(claimed, &caps).await? {
            for index in 0..planned.len() {
                if links.sent_part(&target.inbox, &message.id, index).await?.is_none() {
                    // A worker that died holding this job may have sent the part without
                    // recording it; Meta's echo (with the marker) records it at ingest.
                    // Wait for it through the queue, keeping the conversation's place.
                    return Err(JobError::Deferred {
                        wait: self.config().echo_grace,
                        reason: "a crashed worker may have sent a part: grace for its echo",
                    });
                }
            }
        }
        let mut first_mid: Option<PlatformMessageId> = None;
        for (index, planned) in planned.into_iter().enumerate() {
            if let Some(mid) = links.sent_part(&target.inbox, &message.id, index).await? {
                if claimed.may_have_run_before() {
                    // Recorded by its echo, perhaps: receipts and reactions find it too.
                    self.store()
                        .put_link(&message_link(
                            &scope,
                            &target.address,
                            &mid,
                            &MessageLink {
                                conversation: message.conversation.clone(),
                                message: message.id.clone(),
                                at: now.timestamp_millis(),
                            },
                        ))
                        .await?;
                }
                first_mid.get_or_insert(mid);
                continue;
            }
            let part = match planned {
                PlannedPart::Text(text) => OutboundPart::Text(text),
                PlannedPart::Attachment(i) => {
                    let Some(att) = message.attachments.get(i) else { continue };
                    self.attachment_part(&caps, att).await?
                }
            };
            let marker =
                Marker { inbox: target.inbox.clone(), message: message.id.clone(), part: index };
            let receipt = channel
                .send(&SendRequest {
                    address: target.address.clone(),
                    thread: target.thread.clone(),
                    part,
                    window,
                    reply_to: if index == 0 { reply_to.clone() } else { None },
                    marker: Some(marker.encode()),
                })
                .await?;
            // Recorded at once, not at the end of the job: a retry resumes after this part.
            let mid = receipt
                .message_id
                .unwrap_or_else(|| PlatformMessageId::new(format!("{}:{index}", message.id)));
            self.store()
                .put_link(
                    &Link::new(
                        LinkKey::outbound_part(&target.inbox, &message.id, index),
                        mid.as_str(),
                    )
                    .scoped(scope.clone()),
                )
                .await?;
            self.store()
                .put_link(&message_link(
                    &scope,
                    &target.address,
                    &mid,
                    &MessageLink {
                        conversation: message.conversation.clone(),
                        message: message.id.clone(),
                        at: now.timestamp_millis(),
                    },
                ))
                .await?;
            first_mid.get_or_insert(mid);
            if let Err(e) =
                self.store().extend_lease(&claimed.lease, Utc::now(), self.config().lease).await
            {
                warn!(error = %e, "could not extend the lease between parts");
            }
        }
        let mut writes = vec![LinkWrite::Set(unread_link(
            &scope,
            &target.address,
            &target.thread,
            now.timestamp_millis(),
            &UnreadLink {
                conversation: message.conversation.clone(),
                message: message.id.clone(),
                delivered: false,
            },
        ))];
        if let Some(mid) = first_mid {
            writes.push(LinkWrite::Insert(inbox_message_link(
                &scope,
                &target.inbox,
                &message.id,
                &InboxMessageLink {
                    address: target.address.clone(),
                    thread: target.thread.clone(),
                    platform: mid,
                },
            )));
        }
        if links.failed_outbound(&target.inbox, &message.id).await?.is_some() {
            // An agent's retry succeeded: clear the failure shown on the message.
            self.inbox()
                .update_message(&MessageUpdate {
                    conversation: message.conversation.clone(),
                    message: message.id.clone(),
                    change: MessageChange::Status { status: DeliveryStatus::Sent, error: None },
                })
                .await?;
            writes.push(LinkWrite::Delete(LinkKey::outbound_state(&target.inbox, &message.id)));
        }
        Ok(writes)
    }

    /// Whether this run of a send first waits for echoes: its job was taken over from a
    /// worker that died holding it (`previous_claims > 0`) before any of its runs ended
    /// (no attempt, no error recorded: not a dead letter requeued by `wbots jobs retry`,
    /// whose earlier run ended cleanly). Bounded: the wait is itself the job's first
    /// settled attempt, so one grace per job. A job that had already ended a run before the
    /// crash resends at once (README, "Where a duplicate is still possible").
    async fn await_echoes(
        &self,
        claimed: &crate::store::ClaimedJob,
        caps: &Capabilities,
    ) -> Result<bool, JobError> {
        if !caps.echoes
            || claimed.previous_claims == 0
            || claimed.attempts > 0
            || self.config().echo_grace.is_zero()
        {
            return Ok(false);
        }
        let record = self.store().job(claimed.id()).await?;
        Ok(record.is_some_and(|r| r.last_error.is_none()))
    }

    pub(crate) async fn process_typing(
        &self,
        target: Target,
        on: bool,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let Some((channel, _)) = self.route(&target.address) else { return Ok(Vec::new()) };
        let caps = channel.capabilities(&target.address);
        if !caps.sender_actions || self.channel_flag(&target.address).await?.is_some() {
            return Ok(Vec::new());
        }
        let links = Links(self.store().as_ref());
        let last_inbound = links.last_inbound(&target.address, &target.thread).await?;
        let Ok(window) = window(&caps, last_inbound, Utc::now(), Author::Person) else {
            return Ok(Vec::new());
        };
        let action = if on { SenderAction::TypingOn } else { SenderAction::TypingOff };
        let request = SendRequest {
            address: target.address,
            thread: target.thread,
            part: OutboundPart::Action(action),
            window,
            reply_to: None,
            marker: None,
        };
        // A typing indicator is worth nothing late: one attempt, never retried.
        if let Err(e) = channel.send(&request).await {
            info!(error = %e, "typing indicator not sent");
        }
        Ok(Vec::new())
    }

    /// Shows the agent that a message will not be delivered, keeps what is needed for the
    /// agent's retry, and flags a channel whose token the platform refused.
    pub(crate) async fn report_failed_outbound(
        &self,
        target: &Target,
        message: &AgentMessage,
        error: Option<&DeliveryError>,
        reason: &str,
    ) {
        let shown = error.map(|e| e.message().to_owned()).unwrap_or_else(|| reason.to_owned());
        let scope = user_scope(&target.address, target.thread.as_str());
        let record = FailedOutbound {
            message: message.clone(),
            reason: shown.clone(),
            failed_at: Utc::now().timestamp_millis(),
        };
        if let Err(e) =
            self.store().set_link(&failed_outbound_link(&scope, &target.inbox, &record)).await
        {
            warn!(error = %e, "could not record the failed message for a later retry");
        }
        let update = MessageUpdate {
            conversation: message.conversation.clone(),
            message: message.id.clone(),
            change: MessageChange::Status {
                status: DeliveryStatus::Failed,
                error: Some(shown.clone()),
            },
        };
        if let Err(e) = self.inbox().update_message(&update).await {
            warn!(error = %e, "could not mark the message failed in the inbox");
        }
        if error.is_some_and(|e| {
            e.kind() == DeliveryErrorKind::Unauthorized && e.code() != Some(FLAGGED_CODE)
        }) {
            if let Err(e) = self.flag_channel(&target.address, FlagOrigin::Credential, &shown).await
            {
                warn!(error = %e, "could not flag the channel");
            }
            let note = format!(
                "wbots could not send this message: the platform refused the access token of {} ({shown}). Renew the token in the bridge's configuration, then press retry on the message.",
                target.address
            );
            if let Err(e) = self.inbox().post_note(&message.conversation, &note).await {
                warn!(error = %e, "could not post the token warning to the conversation");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips_even_with_colons_in_ids() {
        let m = Marker { inbox: "7".into(), message: "a:b".into(), part: 3 };
        assert_eq!(Marker::parse(&m.encode()), Some(m));
        assert_eq!(Marker::parse("not ours"), None);
        assert_eq!(Marker::parse("wbots:7:9:x"), None);
    }

    #[test]
    fn window_rules() {
        let mut caps = Capabilities::text_only(100);
        caps.response_window_hours = Some(24);
        let now = Utc::now();
        let h = chrono::Duration::hours;
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
        let now = Utc::now();
        let h = chrono::Duration::hours;
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
