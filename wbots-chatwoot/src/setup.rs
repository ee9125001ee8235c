//! Inbox setup and connection checks, for `wbots setup` and `wbots check`.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;
use wbots_core::DeliveryError;

use crate::ChatwootInbox;

/// What Chatwoot says about an inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxInfo {
    /// Its id.
    pub id: u64,
    /// Its name.
    pub name: String,
    /// Its channel type (`Channel::Api` for API inboxes).
    pub channel_type: String,
    /// The webhook URL it posts to, for API inboxes.
    pub webhook_url: Option<String>,
}

#[derive(Deserialize)]
struct RawInbox {
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    channel_type: String,
    #[serde(default)]
    webhook_url: Option<String>,
}

impl From<RawInbox> for InboxInfo {
    fn from(r: RawInbox) -> Self {
        Self { id: r.id, name: r.name, channel_type: r.channel_type, webhook_url: r.webhook_url }
    }
}

impl ChatwootInbox {
    /// Checks that the token works for the configured account (with `GET /inboxes`, which
    /// agent-bot tokens may read too, unlike `/profile`); returns how many inboxes it sees.
    pub async fn verify_token(&self) -> Result<usize, DeliveryError> {
        let req = self.client().request(Method::GET, "inboxes")?;
        let listed: Value = self.client().send(req, "listing the account's inboxes").await?;
        Ok(listed.get("payload").and_then(Value::as_array).map(Vec::len).unwrap_or(0))
    }

    /// Deletes a contact (with its conversations), for data-deletion requests. A contact
    /// already gone counts as deleted.
    pub async fn delete_contact(
        &self,
        contact: &wbots_core::ContactId,
    ) -> Result<(), DeliveryError> {
        let req = self.client().request(Method::DELETE, &format!("contacts/{contact}"))?;
        match self.client().send_raw(req, "deleting a contact").await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == wbots_core::DeliveryErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Whether data-deletion requests delete the Chatwoot contact too.
    pub fn deletes_contacts(&self) -> bool {
        self.config().delete_contacts_on_data_deletion
    }

    /// One inbox.
    pub async fn inbox_info(&self, inbox_id: u64) -> Result<InboxInfo, DeliveryError> {
        let req = self.client().request(Method::GET, &format!("inboxes/{inbox_id}"))?;
        let raw: RawInbox = self.client().send(req, "reading an inbox").await?;
        Ok(raw.into())
    }

    /// Creates an API-channel inbox that posts agent events to `webhook_url`.
    pub async fn create_api_inbox(
        &self,
        name: &str,
        webhook_url: &Url,
    ) -> Result<InboxInfo, DeliveryError> {
        let body = json!({ "name": name, "channel": { "type": "api", "webhook_url": webhook_url.as_str() } });
        let req = self.client().request(Method::POST, "inboxes")?.json(&body);
        let raw: RawInbox = self.client().send(req, "creating an API inbox").await?;
        Ok(raw.into())
    }

    /// Points an existing API inbox's webhook at `webhook_url`.
    pub async fn set_webhook_url(
        &self,
        inbox_id: u64,
        webhook_url: &Url,
    ) -> Result<InboxInfo, DeliveryError> {
        let body = json!({ "channel": { "webhook_url": webhook_url.as_str() } });
        let req = self.client().request(Method::PATCH, &format!("inboxes/{inbox_id}"))?.json(&body);
        let raw: RawInbox = self.client().send(req, "updating the inbox's webhook URL").await?;
        Ok(raw.into())
    }
}
