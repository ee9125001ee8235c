//! Inbound events that are not messages but that agents must know about: notes about a
//! thread (another app took it over) and the platform's verdicts on the account (a policy
//! block flags the channel).

use tracing::{debug, warn};

use super::Bridge;
use super::flags::FlagOrigin;
use super::links::Links;
use super::worker::JobError;
use crate::event::{AccountAction, AccountStatus, Notice};
use crate::ids::ChannelAddress;
use crate::store::LinkWrite;

impl Bridge {
    /// Shows a notice as a private note in the thread's conversation. A thread the bridge
    /// never opened a conversation for has nobody to tell yet.
    pub(crate) async fn inbound_notice(
        &self,
        address: &ChannelAddress,
        notice: Notice,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let links = Links(self.store().as_ref());
        let Some(conversation) = links.conversation(address, &notice.thread).await? else {
            debug!(kind = %notice.kind, "notice for a thread without a conversation; skipped");
            return Ok(Vec::new());
        };
        self.inbox().post_note(&conversation, &notice.text).await?;
        Ok(Vec::new())
    }

    /// A block flags the channel (its sends then fail at once, showing the reason to the
    /// agent on each message); an unblock lifts that flag; a warning is logged.
    pub(crate) async fn inbound_account_status(
        &self,
        address: &ChannelAddress,
        status: AccountStatus,
    ) -> Result<Vec<LinkWrite>, JobError> {
        let reason = status.reason.as_deref().unwrap_or("no reason given");
        match status.action {
            AccountAction::Blocked => {
                let text =
                    format!("the platform blocked the account for a policy violation ({reason})");
                self.flag_channel(address, FlagOrigin::Policy, &text).await?;
            }
            AccountAction::Unblocked => {
                self.clear_channel_flag(address, FlagOrigin::Policy).await?;
            }
            AccountAction::Warned => {
                warn!(account = %address, reason, "the platform warned the account about a policy violation");
            }
        }
        Ok(Vec::new())
    }
}
