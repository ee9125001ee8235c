//! The unroutable job: an agent message the bridge cannot send to any customer is marked
//! failed in the inbox, with why, so the agent is not left believing it went out.

use super::context::Context;
use super::job::JobError;
use crate::ids::{ConversationId, InboxId, InboxMessageId};
use crate::inbox::{DeliveryStatus, MessageChange, MessageUpdate};
use crate::store::LinkWrite;

/// Marks the message failed with `reason`.
pub(crate) async fn handle(
    cx: &Context,
    inbox: &InboxId,
    conversation: ConversationId,
    message: InboxMessageId,
    reason: String,
) -> Result<Vec<LinkWrite>, JobError> {
    cx.routes
        .require_inbox(inbox)?
        .update_message(&MessageUpdate {
            conversation,
            message,
            change: MessageChange::Status { status: DeliveryStatus::Failed, error: Some(reason) },
        })
        .await?;
    Ok(Vec::new())
}
