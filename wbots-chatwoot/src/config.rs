//! [`ChatwootConfig`]: where Chatwoot is and how to authenticate both ways.

use std::time::Duration;

use serde::Deserialize;
use url::Url;
use wbots_core::Secret;

/// The `[chatwoot]` section of wbots' configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatwootConfig {
    /// Chatwoot's base URL (`https://app.chatwoot.com`).
    pub url: Url,
    /// A user's access token (`api_access_token` header): an administrator's for setup, an
    /// agent of the inboxes otherwise. Agent-bot tokens are refused by Chatwoot on contacts,
    /// message lists and updates, and inboxes.
    pub api_access_token: Secret,
    /// The account id.
    pub account_id: u64,
    /// The API inbox's webhook secret: `X-Chatwoot-Signature` is checked with it.
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
    /// A secret path token (`/webhooks/chatwoot/{token}`) for Chatwoot versions that do not
    /// sign webhooks.
    #[serde(default)]
    pub webhook_token: Option<Secret>,
    /// Chatwoot's public URL (its `FRONTEND_URL`) when the bridge reaches Chatwoot at another
    /// address (`url` on an internal network): attachment links point there. Attachments are
    /// downloaded only from this origin and `url`'s.
    #[serde(default)]
    pub frontend_url: Option<Url>,
    /// The largest attachment downloaded from Chatwoot, in bytes.
    #[serde(default = "default_max_media")]
    pub max_media_bytes: u64,
    /// Whether Meta's data-deletion callback also deletes the person's Chatwoot contact (and
    /// with it their conversations). Off by default: the team may have a legal reason to
    /// keep the history.
    #[serde(default)]
    pub delete_contacts_on_data_deletion: bool,
    /// The most requests a minute the bridge sends this Chatwoot installation, across every
    /// worker, every adapter of the installation and (on PostgreSQL) every replica: Chatwoot
    /// answers 429 past 3,000 a minute per client address by default (rack-attack,
    /// `RACK_ATTACK_LIMIT`, no `Retry-After`; `chatwoot-api.md`). Default 2,400, leaving room
    /// for the burst (a second's worth) and for other clients behind the same address; 0
    /// turns the budget off. Applies when the adapter is given the store's budgets
    /// ([`ChatwootInboxBuilder::with_rate_budgets`](crate::ChatwootInboxBuilder::with_rate_budgets)).
    #[serde(default = "default_max_requests_per_minute")]
    pub max_requests_per_minute: u32,
}

fn default_max_media() -> u64 {
    40 * 1024 * 1024
}

fn default_max_requests_per_minute() -> u32 {
    2_400
}

impl ChatwootConfig {
    /// A configuration with the required fields and defaults for the rest.
    pub fn new(url: Url, api_access_token: Secret, account_id: u64) -> Self {
        Self {
            url,
            api_access_token,
            account_id,
            webhook_secret: None,
            webhook_token: None,
            frontend_url: None,
            max_media_bytes: default_max_media(),
            delete_contacts_on_data_deletion: false,
            max_requests_per_minute: default_max_requests_per_minute(),
        }
    }

    /// Sets the webhook signing secret.
    pub fn with_webhook_secret(mut self, secret: Secret) -> Self {
        self.webhook_secret = Some(secret);
        self
    }

    /// Sets the request budget (0: none).
    pub fn with_max_requests_per_minute(mut self, per_minute: u32) -> Self {
        self.max_requests_per_minute = per_minute;
        self
    }

    /// Sets the webhook path token.
    pub fn with_webhook_token(mut self, token: Secret) -> Self {
        self.webhook_token = Some(token);
        self
    }
}

/// How long a signed webhook stays acceptable: Chatwoot's timestamp must be this close to
/// our clock, so a captured delivery cannot be replayed later.
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_secs(300);

/// Timeout of one request to Chatwoot. Chatwoot answers in well under a second; a hung
/// request must fail the attempt so the queue can retry it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
