//! Inbound events that are not messages but that agents must know about: notes about a
//! thread (another app took it over) and the platform's verdicts on the account (a policy
//! block flags the channel).

use tracing::{debug, warn};

use super::Inbound;
use crate::engine::flags::{self, FlagOrigin};
use crate::engine::job::JobError;
use crate::event::{AccountAction, AccountStatus, Notice};
use crate::store::LinkWrite;

impl Inbound<'_> {
    /// Shows a notice as a private note in the thread's conversation. A thread the bridge
    /// never opened a conversation for has nobody to tell yet.
    pub(super) async fn notice(&self, notice: Notice) -> Result<Vec<LinkWrite>, JobError> {
        let Some(conversation) = self.links().conversation(self.address, &notice.thread).await?
        else {
            debug!(kind = %notice.kind, "notice for a thread without a conversation; skipped");
            return Ok(Vec::new());
        };
        self.inbox()?.post_note(&conversation, &notice.text).await?;
        Ok(Vec::new())
    }

    /// A block flags the channel (its sends then fail at once, showing the reason to the
    /// agent on each message); an unblock lifts that flag; a warning is logged.
    pub(super) async fn account_status(
        &self,
        status: AccountStatus,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let (cx, address) = (self.cx, self.address);
        let reason = status.reason.as_deref().unwrap_or("no reason given");
        match status.action {
            AccountAction::Blocked => {
                let text =
                    format!("the platform blocked the account for a policy violation ({reason})");
                flags::flag(cx, address, FlagOrigin::Policy, &text).await?;
            }
            AccountAction::Unblocked => {
                flags::clear(cx, address, FlagOrigin::Policy).await?;
            }
            AccountAction::Warned => {
                warn!(account = %address, reason, "the platform warned the account about a policy violation");
            }
        }
        Ok(Vec::new())
    }
}
