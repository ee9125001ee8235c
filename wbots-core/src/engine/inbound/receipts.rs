//! Delivery and read receipts: the agent's messages the customer received or read are
//! marked so in the inbox, oldest first, up to the receipt's watermark.

use super::{Inbound, ignore_not_found};
use crate::engine::job::JobError;
use crate::engine::links::{UnreadLink, to_json, user_scope};
use crate::event::{DeliveryReceipt, ReadReceipt, ReadUpTo};
use crate::inbox::{DeliveryStatus, MessageChange, MessageUpdate};
use crate::store::{Link, LinkWrite};

/// How many not-yet-read outbound messages one receipt updates at most.
const RECEIPT_BATCH: usize = 200;

impl Inbound<'_> {
    pub(super) async fn read(&self, r: ReadReceipt) -> Result<Vec<LinkWrite>, JobError> {
        let links = self.links();
        let upto = match &r.upto {
            ReadUpTo::Watermark(w) => w.timestamp_millis(),
            ReadUpTo::Message(mid) => match links.platform_message(self.address, mid).await? {
                Some(l) => l.at,
                None => return Ok(Vec::new()),
            },
        };
        let mut writes = Vec::new();
        for (key, at, unread) in links.unread(self.address, &r.thread, RECEIPT_BATCH).await? {
            if at > upto {
                break;
            }
            self.set_status(&unread, DeliveryStatus::Read).await?;
            writes.push(LinkWrite::Delete(key));
        }
        Ok(writes)
    }

    pub(super) async fn delivery(&self, d: DeliveryReceipt) -> Result<Vec<LinkWrite>, JobError> {
        let links = self.links();
        let scope = user_scope(self.address, d.thread.as_str());
        let mut writes = Vec::new();
        let mut upto = d.watermark.map(|w| w.timestamp_millis()).unwrap_or(i64::MIN);
        for mid in &d.mids {
            if let Some(l) = links.platform_message(self.address, mid).await? {
                upto = upto.max(l.at);
            }
        }
        for (key, at, mut unread) in links.unread(self.address, &d.thread, RECEIPT_BATCH).await? {
            if at > upto {
                break;
            }
            if unread.delivered {
                continue;
            }
            self.set_status(&unread, DeliveryStatus::Delivered).await?;
            unread.delivered = true;
            writes.push(LinkWrite::Set(Link::new(key, to_json(&unread)).scoped(scope.clone())));
        }
        Ok(writes)
    }

    async fn set_status(
        &self,
        unread: &UnreadLink,
        status: DeliveryStatus,
    ) -> Result<(), JobError> {
        self.inbox()?
            .update_message(&MessageUpdate {
                conversation: unread.conversation.clone(),
                message: unread.message.clone(),
                change: MessageChange::Status { status, error: None },
            })
            .await
            .or_else(ignore_not_found)?;
        Ok(())
    }
}
