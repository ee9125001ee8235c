//! Forgetting a customer: what a data-deletion request needs from the engine.

use super::context::Context;
use super::links::user_scope;
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

/// Removes everything the bridge keeps about `user` under every bound account (see
/// [`Bridge::forget_customer`](super::Bridge::forget_customer)).
pub(crate) async fn customer(
    cx: &Context,
    user: &PlatformUserId,
) -> Result<ForgetReport, StoreError> {
    let mut report = ForgetReport::default();
    let links = cx.links();
    for binding in cx.routes.bindings() {
        let address = &binding.address;
        let contact = links.contact(address, user).await?;
        let removed = cx.store.forget_scope(&user_scope(address, user.as_str())).await?;
        if removed.links + removed.jobs > 0 || contact.is_some() {
            report.accounts.push(address.clone());
        }
        report.contacts.extend(contact);
        report.removed.links += removed.links;
        report.removed.jobs += removed.jobs;
    }
    Ok(report)
}
