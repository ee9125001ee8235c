//! A customer edited or deleted a message: the change is shown on its inbox copy.

use tracing::debug;

use super::{Inbound, ignore_not_found};
use crate::engine::job::JobError;
use crate::ids::PlatformMessageId;
use crate::inbox::{MessageChange, MessageUpdate};
use crate::store::LinkWrite;

impl Inbound<'_> {
    pub(super) async fn update_linked(
        &self,
        id: &PlatformMessageId,
        change: MessageChange,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let Some(link) = self.links().platform_message(self.address, id).await? else {
            debug!(%id, "change to a message the bridge never posted; skipped");
            return Ok(Vec::new());
        };
        self.inbox()?
            .update_message(&MessageUpdate {
                conversation: link.conversation,
                message: link.message,
                change,
            })
            .await
            .or_else(ignore_not_found)?;
        Ok(Vec::new())
    }
}
