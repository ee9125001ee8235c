//! `wbots channels remove ID --forget`: forgets what the bridge keeps about an account's
//! customers, with the data-deletion machinery — [`Store::forget_scope`] on each customer's
//! scope (`kind:account/user`), which removes their links and jobs in any state (SQLite
//! scrubs the bytes from its files).
//!
//! The scopes are found from the links keyed by the account (`kind:account/…`): every
//! customer the bridge linked has a contact or conversation there, and every link and job
//! of a customer carries their scope.

use std::collections::BTreeSet;

use wbots_core::store::{Forgotten, LinkKey, LinkKind, LinkPrefix, Store};
use wbots_core::{ChannelAddress, StoreError};

/// The link kinds keyed `kind:account/…` whose links carry a customer's scope.
const KEYED_BY_ACCOUNT: [LinkKind; 6] = [
    LinkKind::Contact,
    LinkKind::Conversation,
    LinkKind::LastInbound,
    LinkKind::PlatformMessage,
    LinkKind::Unread,
    LinkKind::Reaction,
];
/// Links read per scan; forgotten ones leave the range, so the next scan reads further.
const BATCH: usize = 500;

/// What forgetting an account removed.
#[derive(Debug, Default)]
pub(crate) struct ForgottenAccount {
    /// Customers (scopes) forgotten.
    pub customers: u64,
    /// Their links and jobs.
    pub removed: Forgotten,
}

/// Forgets every customer of `address`, and the account's flag.
pub(crate) async fn account(
    store: &dyn Store,
    address: &ChannelAddress,
) -> Result<ForgottenAccount, StoreError> {
    let mut done = ForgottenAccount::default();
    let mut forgotten = BTreeSet::new();
    loop {
        let mut found = BTreeSet::new();
        for kind in KEYED_BY_ACCOUNT {
            // The account's range of this kind: keys `kind:account/…`.
            let prefix = LinkPrefix::from_stored(kind, format!("{address}/"));
            for link in store.links_with_prefix(&prefix, BATCH).await? {
                found.extend(link.scope.filter(|s| !forgotten.contains(s)));
            }
        }
        // Every scope found is forgotten below and its links leave the ranges: a pass that
        // finds none new has seen the whole account.
        if found.is_empty() {
            break;
        }
        for scope in found {
            let removed = store.forget_scope(&scope).await?;
            done.customers += 1;
            done.removed.links += removed.links;
            done.removed.jobs += removed.jobs;
            forgotten.insert(scope);
        }
    }
    if store.delete_link(&LinkKey::channel_flag(address)).await? {
        done.removed.links += 1;
    }
    Ok(done)
}
