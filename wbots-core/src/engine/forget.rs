//! Forgetting a customer: what a data-deletion request needs from the engine.

use super::Bridge;
use super::links::{Links, user_scope};
use crate::error::StoreError;
use crate::ids::{ChannelAddress, ContactId, PlatformUserId};
use crate::store::Forgotten;

/// What forgetting a customer removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForgetReport {
    /// The accounts under which the customer was known.
    pub accounts: Vec<ChannelAddress>,
    /// The inbox contacts that were linked to them (the caller may delete them in the
    /// inbox too).
    pub contacts: Vec<ContactId>,
    /// Links and jobs removed.
    pub removed: Forgotten,
}

impl Bridge {
    /// Removes everything the bridge keeps about `user` under every bound account: links
    /// (contact, conversation, messages, receipts) and jobs in any state, finished ones with
    /// their idempotency keys (which name the user's thread). Answers once the store holds
    /// the user's id nowhere (a SQLite store has scrubbed its files). A webhook of theirs
    /// delivered again afterwards would be imported again; Meta redelivers only webhooks
    /// that were never acknowledged.
    pub async fn forget_customer(&self, user: &PlatformUserId) -> Result<ForgetReport, StoreError> {
        let mut report = ForgetReport::default();
        let links = Links(self.store().as_ref());
        for binding in self.bindings() {
            let address = &binding.address;
            let contact = links.contact(address, user).await?;
            let removed = self.store().forget_scope(&user_scope(address, user.as_str())).await?;
            if removed.links + removed.jobs > 0 || contact.is_some() {
                report.accounts.push(address.clone());
            }
            report.contacts.extend(contact);
            report.removed.links += removed.links;
            report.removed.jobs += removed.jobs;
        }
        Ok(report)
    }
}
