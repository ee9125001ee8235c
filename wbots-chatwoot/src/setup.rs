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
    /// Checks that the token works and belongs to a user of the configured account;
    /// returns the user's name.
    pub async fn verify_token(&self, account_id: u64) -> Result<String, DeliveryError> {
        let req = self.client().request_root(Method::GET, "profile")?;
        let profile: Value = self.client().send(req, "reading the token's profile").await?;
        let name = profile.get("name").and_then(Value::as_str).unwrap_or("?").to_owned();
        let member = profile.get("accounts").and_then(Value::as_array).is_none_or(|accounts| {
            accounts.iter().any(|a| a.get("id").and_then(Value::as_u64) == Some(account_id))
        });
        if member {
            Ok(name)
        } else {
            Err(DeliveryError::permanent(
                wbots_core::DeliveryErrorKind::Forbidden,
                format!(
                    "the token's user {name} is not a member of account {account_id} (chatwoot.account_id)"
                ),
            ))
        }
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
