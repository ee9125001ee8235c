//! What Chatwoot holds about a contact, read as Chatwoot answers it, for a person's data
//! export and for retention (`chatwoot-api.md`, Contacts and Messages): the contact
//! (`GET contacts/{id}`, answered `{payload: contact}` — `contact_show_response` in
//! `fixtures/chatwoot/swagger.json`), its conversations (`GET contacts/{id}/conversations`)
//! and every message of a conversation (`GET conversations/{id}/messages` answers the newest
//! 20; `?before=<id>` pages back).
//!
//! The answers are kept as JSON values: an export shows everything Chatwoot answered, not
//! only the fields the bridge reads.

use reqwest::Method;
use serde_json::Value;
use wbots_core::{ContactId, DeliveryError, DeliveryErrorKind};

use crate::ChatwootInbox;
use crate::wire::Listing;

impl ChatwootInbox {
    /// The contact as Chatwoot answers it; `None` when it does not exist (any more).
    pub async fn contact_record(
        &self,
        contact: &ContactId,
    ) -> Result<Option<Value>, DeliveryError> {
        let req = self.client().request(Method::GET, &["contacts", contact.as_str()])?;
        match self.client().send::<Value>(req, "reading a contact").await {
            Ok(answer) => Ok(Some(answer.get("payload").cloned().unwrap_or(answer))),
            Err(e) if e.kind() == DeliveryErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The contact's conversations (every inbox), as Chatwoot answers them; none when the
    /// contact does not exist.
    pub async fn contact_conversation_records(
        &self,
        contact: &ContactId,
    ) -> Result<Vec<Value>, DeliveryError> {
        let req =
            self.client().request(Method::GET, &["contacts", contact.as_str(), "conversations"])?;
        match self.client().send::<Listing<Value>>(req, "listing the contact's conversations").await
        {
            Ok(listed) => Ok(listed.0),
            Err(e) if e.kind() == DeliveryErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Every message of a conversation, oldest first: the newest page, then pages back
    /// with `before` the oldest id seen, until a page adds nothing older.
    pub async fn conversation_message_records(
        &self,
        conversation: u64,
    ) -> Result<Vec<Value>, DeliveryError> {
        let id = conversation.to_string();
        let mut all: Vec<Value> = Vec::new();
        let mut before: Option<u64> = None;
        loop {
            let mut req =
                self.client().request(Method::GET, &["conversations", &id, "messages"])?;
            if let Some(b) = before {
                req = req.query(&[("before", b)]);
            }
            let page: Listing<Value> = self.client().send(req, "listing messages").await?;
            let oldest = page.0.iter().filter_map(|m| m.get("id").and_then(Value::as_u64)).min();
            // A page with nothing older than the last one ends the walk (Chatwoot answers an
            // empty page past the first message; a server ignoring `before` would loop).
            let older = match (oldest, before) {
                (Some(o), Some(b)) => o < b,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if !older {
                break;
            }
            all.extend(page.0);
            before = oldest;
        }
        all.sort_by_key(|m| m.get("id").and_then(Value::as_u64).unwrap_or(0));
        all.dedup_by_key(|m| m.get("id").and_then(Value::as_u64).unwrap_or(0));
        Ok(all)
    }
}
