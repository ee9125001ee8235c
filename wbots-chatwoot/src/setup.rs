//! Inbox setup and connection checks, for `wbots setup` and `wbots check`.

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;
use wbots_core::{DeliveryError, DeliveryErrorKind, HttpFailures, Secret};

use crate::ChatwootInbox;
use crate::error::ChatwootFailures;
use crate::wire::Refusal;

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
    /// The API channel's `additional_attributes` (`agent_reply_time_window`…).
    pub additional_attributes: Value,
    /// The webhook signing secret (Chatwoot v4.13+, shown to administrators only).
    pub secret: Option<Secret>,
}

/// What kind of token `chatwoot.api_access_token` is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A user's token (an agent's or an administrator's): what the bridge needs.
    User {
        /// The user's name.
        name: String,
        /// Their role in the configured account (`administrator`, `agent`), if listed.
        role: Option<String>,
    },
    /// An agent bot's token: Chatwoot refuses bots on contacts, message lists and updates,
    /// and inboxes, so it cannot run a bridge.
    Bot,
}

/// A Chatwoot version as `GET /api` reports it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u64, pub u64, pub u64);

impl Version {
    /// Parses `4.15.1` (anything after the numbers is ignored).
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.trim().trim_start_matches('v').split('.').map(|p| {
            p.chars().take_while(char::is_ascii_digit).collect::<String>().parse::<u64>().ok()
        });
        Some(Self(parts.next()??, parts.next()??, parts.next().flatten().unwrap_or(0)))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
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
    #[serde(default)]
    additional_attributes: Value,
    #[serde(default)]
    secret: Option<String>,
}

impl From<RawInbox> for InboxInfo {
    fn from(r: RawInbox) -> Self {
        Self {
            id: r.id,
            name: r.name,
            channel_type: r.channel_type,
            webhook_url: r.webhook_url,
            additional_attributes: r.additional_attributes,
            secret: r.secret.filter(|s| !s.is_empty()).map(Secret::new),
        }
    }
}

impl ChatwootInbox {
    /// Which kind of token is configured: `GET /api/v1/profile` answers a user's token and
    /// refuses a bot's with 401 "…not authorized for bots"
    /// (`access_token_auth_helper.rb`, `chatwoot-signin-and-sweep.md` §2.1–2.2).
    pub async fn token_kind(&self) -> Result<TokenKind, DeliveryError> {
        let what = "reading the token's profile";
        let response = self
            .client()
            .request_root(Method::GET, &["api", "v1", "profile"])?
            .send()
            .await
            .map_err(|e| ChatwootFailures::new(what).unreachable(e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body =
            response.bytes().await.map_err(|e| ChatwootFailures::new(what).unreachable(e))?;
        if status == StatusCode::UNAUTHORIZED && Refusal::read(&body).bot_token() {
            return Ok(TokenKind::Bot);
        }
        if !status.is_success() {
            return Err(ChatwootFailures::new(what).refused(status, &headers, &body));
        }
        let profile: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let account = self.config().account_id;
        let role = profile
            .get("accounts")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|x| x.get("id").and_then(Value::as_u64) == Some(account)))
            .and_then(|a| a.get("role"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let name = profile.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
        Ok(TokenKind::User { name, role })
    }

    /// The installation's version (`GET /api`, no authentication needed).
    pub async fn version(&self) -> Result<Version, DeliveryError> {
        let req = self.client().request_root(Method::GET, &["api"])?;
        let answer: Value = self.client().send(req, "reading Chatwoot's version").await?;
        answer.get("version").and_then(Value::as_str).and_then(Version::parse).ok_or_else(|| {
            DeliveryError::permanent(
                DeliveryErrorKind::InvalidRequest,
                "GET /api answered without a version",
            )
        })
    }

    /// Makes Chatwoot itself stop agents writing more than `hours` after the customer's
    /// last message (`channel.additional_attributes.agent_reply_time_window`), keeping the
    /// channel's other attributes (an update replaces them whole).
    pub async fn set_reply_window(
        &self,
        inbox: &InboxInfo,
        hours: u32,
    ) -> Result<InboxInfo, DeliveryError> {
        let body = reply_window_update(&inbox.additional_attributes, hours);
        let req =
            self.client().request(Method::PATCH, &["inboxes", &inbox.id.to_string()])?.json(&body);
        let raw: RawInbox = self.client().send(req, "setting the inbox's reply window").await?;
        Ok(raw.into())
    }

    /// Checks that the token works for the configured account (with `GET /inboxes`, which
    /// a user's token may read); returns how many inboxes it sees.
    pub async fn verify_token(&self) -> Result<usize, DeliveryError> {
        let req = self.client().request(Method::GET, &["inboxes"])?;
        let listed: Value = self.client().send(req, "listing the account's inboxes").await?;
        Ok(listed.get("payload").and_then(Value::as_array).map(Vec::len).unwrap_or(0))
    }

    /// Deletes a contact (with its conversations), for data-deletion requests. A contact
    /// already gone counts as deleted.
    pub async fn delete_contact(
        &self,
        contact: &wbots_core::ContactId,
    ) -> Result<(), DeliveryError> {
        match crate::wire::contacts::delete(self.client(), contact.as_str()).await {
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
        let req = self.client().request(Method::GET, &["inboxes", &inbox_id.to_string()])?;
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
        let req = self.client().request(Method::POST, &["inboxes"])?.json(&body);
        let raw: RawInbox = self.client().send(req, "creating an API inbox").await?;
        Ok(raw.into())
    }

    /// Deletes an inbox with its conversations (`DELETE inboxes/{id}`, administrators only;
    /// Chatwoot answers at once and deletes in a background job:
    /// `app/controllers/api/v1/accounts/inboxes_controller.rb#destroy`). An inbox already
    /// gone counts as deleted.
    pub async fn delete_inbox(&self, inbox_id: u64) -> Result<(), DeliveryError> {
        let req = self.client().request(Method::DELETE, &["inboxes", &inbox_id.to_string()])?;
        match self.client().send_raw(req, "deleting an inbox").await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == wbots_core::DeliveryErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Points an existing API inbox's webhook at `webhook_url`.
    pub async fn set_webhook_url(
        &self,
        inbox_id: u64,
        webhook_url: &Url,
    ) -> Result<InboxInfo, DeliveryError> {
        let body = json!({ "channel": { "webhook_url": webhook_url.as_str() } });
        let req =
            self.client().request(Method::PATCH, &["inboxes", &inbox_id.to_string()])?.json(&body);
        let raw: RawInbox = self.client().send(req, "updating the inbox's webhook URL").await?;
        Ok(raw.into())
    }
}

/// The `PATCH …/inboxes/{id}` body that sets an API inbox's reply window to `hours`
/// (`agent_reply_time_window`), with the channel's other `attributes` sent back as they
/// are: Chatwoot replaces `additional_attributes` whole (`app/models/channel/api.rb`).
pub(crate) fn reply_window_update(attributes: &Value, hours: u32) -> Value {
    let mut attributes = match attributes {
        Value::Object(o) => o.clone(),
        _ => serde_json::Map::new(),
    };
    attributes.insert("agent_reply_time_window".into(), json!(hours));
    json!({ "channel": { "additional_attributes": attributes } })
}
