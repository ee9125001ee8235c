//! [`MetaConfig`] (the app) and [`MetaAccount`] (each Page or Instagram account).

use serde::Deserialize;
use url::Url;
use wbots_core::{ChannelAddress, Secret};

use crate::platform::Platform;

/// The Meta app: how webhooks are authenticated and where the Graph API is.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetaConfig {
    /// The app secret: the key of `X-Hub-Signature-256`.
    pub app_secret: Secret,
    /// The Instagram app secret (Instagram-Login apps sign with it).
    #[serde(default)]
    pub instagram_app_secret: Option<Secret>,
    /// The token of the subscription handshake.
    pub verify_token: Secret,
    /// The Graph API (Messenger, and Instagram through a Page).
    #[serde(default = "default_graph_url")]
    pub graph_url: Url,
    /// The Instagram Graph API (Instagram Login).
    #[serde(default = "default_instagram_graph_url")]
    pub instagram_graph_url: Url,
    /// The Graph API version, e.g. `v23.0`.
    #[serde(default = "default_version")]
    pub graph_version: String,
    /// The app id, echoed back on the app's own sends.
    #[serde(default)]
    pub app_id: Option<String>,
}

#[allow(clippy::expect_used)]
fn default_graph_url() -> Url {
    Url::parse("https://graph.facebook.com").expect("a valid literal URL")
}

#[allow(clippy::expect_used)]
fn default_instagram_graph_url() -> Url {
    Url::parse("https://graph.instagram.com").expect("a valid literal URL")
}

fn default_version() -> String {
    "v23.0".into()
}

impl MetaConfig {
    /// A configuration with the secrets and defaults for the rest.
    pub fn new(app_secret: Secret, verify_token: Secret) -> Self {
        Self {
            app_secret,
            instagram_app_secret: None,
            verify_token,
            graph_url: default_graph_url(),
            instagram_graph_url: default_instagram_graph_url(),
            graph_version: default_version(),
            app_id: None,
        }
    }

    /// Points both Graph APIs at `url` (tests, the sandbox).
    pub fn with_graph_urls(mut self, url: Url) -> Self {
        self.graph_url = url.clone();
        self.instagram_graph_url = url;
        self
    }

    /// Every secret a webhook may be signed with.
    pub fn secrets(&self) -> Vec<&Secret> {
        std::iter::once(&self.app_secret)
            .chain(self.instagram_app_secret.as_ref())
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// How an Instagram account is reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Login {
    /// Through its linked Facebook Page, with the Page token (`graph_url`).
    #[default]
    Facebook,
    /// Instagram Login, with an Instagram user token (`instagram_graph_url`).
    Instagram,
}

/// One bridged Page or Instagram account.
#[derive(Clone, Debug, Deserialize)]
pub struct MetaAccount {
    /// Messenger or Instagram.
    pub kind: Platform,
    /// The id Meta puts in `entry.id` / `recipient.id`.
    pub id: String,
    /// The Page or Instagram token.
    pub access_token: Secret,
    /// The Page id to send through, for Instagram via Facebook Login (defaults to `id`).
    #[serde(default)]
    pub page_id: Option<String>,
    /// Whether the app has the Human Agent feature (replies up to 7 days).
    #[serde(default)]
    pub human_agent_tag: bool,
    /// Instagram only.
    #[serde(default)]
    pub login: Login,
}

impl MetaAccount {
    /// A Messenger Page.
    pub fn messenger(id: impl Into<String>, access_token: Secret) -> Self {
        Self {
            kind: Platform::Messenger,
            id: id.into(),
            access_token,
            page_id: None,
            human_agent_tag: false,
            login: Login::Facebook,
        }
    }

    /// An Instagram account.
    pub fn instagram(id: impl Into<String>, access_token: Secret, login: Login) -> Self {
        Self {
            kind: Platform::Instagram,
            id: id.into(),
            access_token,
            page_id: None,
            human_agent_tag: false,
            login,
        }
    }

    /// The Page an Instagram account is reached through (Facebook Login); learned from the
    /// Page token with `GET /me` when `None`.
    pub fn with_page_id(mut self, page_id: Option<String>) -> Self {
        self.page_id = page_id;
        self
    }

    /// Enables the `HUMAN_AGENT` tag.
    pub fn with_human_agent_tag(mut self, on: bool) -> Self {
        self.human_agent_tag = on;
        self
    }

    /// Its address in the bridge.
    pub fn address(&self) -> ChannelAddress {
        ChannelAddress::new(self.kind.channel_kind(), self.id.as_str())
    }
}
