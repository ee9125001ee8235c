//! A send that will not happen: the agent sees why on the message, the bridge keeps what
//! an agent's retry needs, and a channel whose token the platform refused is flagged.

use tracing::warn;

use crate::agent::AgentMessage;
use crate::engine::context::Context;
use crate::engine::flags::{self, FLAGGED_CODE, FlagOrigin};
use crate::engine::job::Target;
use crate::engine::links::{FailedOutbound, failed_outbound_link, user_scope};
use crate::error::{DeliveryError, DeliveryErrorKind};
use crate::inbox::{DeliveryStatus, MessageChange, MessageUpdate};

/// Shows the agent that a message will not be delivered, keeps what is needed for the
/// agent's retry, and flags a channel whose token the platform refused.
pub(crate) async fn report(
    cx: &Context,
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
        failed_at: cx.now().timestamp_millis(),
    };
    if let Err(e) = cx.store.set_link(&failed_outbound_link(&scope, &target.inbox, &record)).await {
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
    // The account may have been removed from the routes since: nobody left to tell.
    let Some(inbox) = cx.routes.inbox_of(&target.inbox) else {
        warn!(inbox = %target.inbox, "the message's inbox is no longer configured; not marked failed");
        return;
    };
    if let Err(e) = inbox.update_message(&update).await {
        warn!(error = %e, "could not mark the message failed in the inbox");
    }
    if error.is_some_and(|e| {
        e.kind() == DeliveryErrorKind::Unauthorized && e.code() != Some(FLAGGED_CODE)
    }) {
        if let Err(e) = flags::flag(cx, &target.address, FlagOrigin::Credential, &shown).await {
            warn!(error = %e, "could not flag the channel");
        }
        let note = format!(
            "wbots could not send this message: the platform refused the access token of {} ({shown}). Renew the token in the bridge's configuration, then press retry on the message.",
            target.address
        );
        if let Err(e) = inbox.post_note(&message.conversation, &note).await {
            warn!(error = %e, "could not post the token warning to the conversation");
        }
    }
}
