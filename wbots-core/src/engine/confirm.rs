//! The confirm job: the inbox marked an agent message failed because it could not hand it
//! to the bridge, but the bridge sent it (through the sweep, or a webhook that came after
//! all): its status is set back to sent.

use super::context::Context;
use super::job::{JobError, Target};
use crate::ids::{ConversationId, InboxMessageId};
use crate::inbox::{DeliveryStatus, MessageChange, MessageUpdate};
use crate::store::LinkWrite;

/// Sets a message the inbox marked failed back to sent, if the bridge did send it.
pub(crate) async fn handle(
    cx: &Context,
    target: &Target,
    conversation: ConversationId,
    message: InboxMessageId,
) -> Result<Vec<LinkWrite>, JobError> {
    // Not sent (its send failed, and the bridge's own mark stands): nothing to correct.
    if cx.links().inbox_message(&target.inbox, &message).await?.is_none() {
        return Ok(Vec::new());
    }
    cx.routes
        .require_inbox(&target.inbox)?
        .update_message(&MessageUpdate {
            conversation,
            message,
            change: MessageChange::Status { status: DeliveryStatus::Sent, error: None },
        })
        .await?;
    Ok(Vec::new())
}
