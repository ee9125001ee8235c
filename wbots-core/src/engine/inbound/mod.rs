//! Inbound jobs: platform events brought into the inbox. [`handle`] sends each kind of
//! event to the file that knows it:
//!
//! - `posting.rs` — customer messages, posted once (with `render.rs`, the pure rendering
//!   of a message into inbox text, files and attributes);
//! - `conversations.rs` — the inbox contact and conversation of a thread;
//! - `echoes.rs` — the platform's copies of messages sent from the business side;
//! - `reactions.rs`, `receipts.rs` (delivered / read), `edits.rs` (edits and deletions);
//! - `notices.rs` — notes about a thread and the platform's verdicts on the account.

mod conversations;
pub(crate) mod echoes;
mod edits;
mod notices;
mod posting;
mod reactions;
mod receipts;
mod render;

use std::sync::Arc;

use super::context::{Context, Route};
use super::job::JobError;
use super::links::Links;
use crate::error::{DeliveryError, DeliveryErrorKind};
use crate::event::{InboundEnvelope, InboundEvent};
use crate::ids::ChannelAddress;
use crate::inbox::{Inbox, MessageChange};
use crate::store::{ClaimedJob, LinkWrite};

/// Runs one inbound job.
pub(crate) async fn handle(
    cx: &Context,
    claimed: &ClaimedJob,
    envelope: InboundEnvelope,
) -> Result<Vec<LinkWrite>, JobError> {
    let InboundEnvelope { address, event } = envelope;
    let inbound = Inbound { cx, claimed, address: &address };
    match event {
        InboundEvent::Message(m) => inbound.message(m).await,
        InboundEvent::Echo(e) => inbound.echo(e).await,
        InboundEvent::Reaction(r) => inbound.reaction(r).await,
        InboundEvent::Read(r) => inbound.read(r).await,
        InboundEvent::Delivery(d) => inbound.delivery(d).await,
        InboundEvent::Edit(e) => {
            inbound.update_linked(&e.id, MessageChange::Edited { text: e.text }).await
        }
        InboundEvent::Delete(d) => inbound.update_linked(&d.id, MessageChange::Deleted).await,
        InboundEvent::Notice(n) => inbound.notice(n).await,
        InboundEvent::AccountStatus(s) => inbound.account_status(s).await,
        // Filtered at ingest; a job stored by an older version is simply done.
        _ => Ok(Vec::new()),
    }
}

/// One inbound event's handler: what it may use, the job it runs for, and the business
/// account the event came to.
struct Inbound<'a> {
    cx: &'a Context,
    claimed: &'a ClaimedJob,
    address: &'a ChannelAddress,
}

impl Inbound<'_> {
    /// The account's channel and binding; an account unbound since the event was stored
    /// fails the job for good.
    fn route(&self) -> Result<&Route, JobError> {
        self.cx.routes.require(self.address)
    }

    /// The inbox adapter (the Chatwoot account) the account's conversations live in.
    fn inbox(&self) -> Result<&Arc<dyn Inbox>, JobError> {
        Ok(&self.route()?.inbox)
    }

    fn links(&self) -> Links<'_> {
        self.cx.links()
    }
}

/// A message that is gone on the inbox side needs no further update.
fn ignore_not_found(e: DeliveryError) -> Result<(), DeliveryError> {
    if e.kind() == DeliveryErrorKind::NotFound { Ok(()) } else { Err(e) }
}
