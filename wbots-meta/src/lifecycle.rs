//! A connected account's lifecycle with Meta, one function per endpoint
//! (shared/reference/meta-login.md): unsubscribing a Page or Instagram account from the app
//! when it is disconnected (§4.2), refreshing an Instagram-Login token before it expires
//! (§5.5), and checking a Page token (§1.5, §3.5).
//!
//! These work on any account, configured or stored: the caller passes the token (a channel
//! store's credentials), so a [`MetaConnections`] holds no account. Failures are
//! [`DeliveryError`]s classified by [`GraphFailures`](crate::errors::GraphFailures) like every Graph call: a refused token
//! (190) is a permanent `Unauthorized`, a rate limit or an outage a temporary error for the
//! job queue to retry.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeZone as _, Utc};
use serde::Deserialize as _;
use wbots_core::{BuildError, DeliveryError, DeliveryErrorKind, Secret};

use crate::config::{Login, MetaConfig};
use crate::graph_call::{call, endpoint};
use crate::wire::{DebugTokenAnswer, RefreshAnswer};

/// Timeout of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Graph's "invalid or expired token" and its "expired" subcode (meta-login.md §1.9, S27).
const INVALID_TOKEN: i64 = 190;
const EXPIRED_SUBCODE: i64 = 463;

/// What Meta says of a token ([`MetaConnections::check_token`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenState {
    /// Usable; `expires_at` is `None` for a token without an expiry date (a Page token from
    /// a long-lived user token, §3.5).
    Valid {
        /// When it expires.
        expires_at: Option<DateTime<Utc>>,
    },
    /// Past its expiry: the business must log in again.
    Expired {
        /// When it expired, if Meta said.
        expired_at: Option<DateTime<Utc>>,
    },
    /// Invalidated before its expiry (password change, app removed, Page role lost; §3.5):
    /// the business must reconnect.
    Revoked {
        /// Meta's reason, fit to show an operator.
        reason: String,
    },
}

/// A refreshed Instagram-Login token ([`MetaConnections::refresh_instagram_token`]);
/// `Debug` hides the token, as [`Secret`] does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshedToken {
    /// The token to store from now on (whether it differs from the old one is not
    /// determined: always store it, §5.5).
    pub access_token: Secret,
    /// Its lifetime from now, when Meta gave it (`expires_in`, about 60 days).
    pub expires_in: Option<Duration>,
}

impl RefreshedToken {
    /// When it expires, counted from `now` (the time of the answer).
    pub fn expires_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let lifetime = chrono::Duration::from_std(self.expires_in?).ok()?;
        now.checked_add_signed(lifetime)
    }
}

/// The Graph calls of a connection's lifecycle, for one Meta app.
pub struct MetaConnections {
    config: MetaConfig,
    http: reqwest::Client,
}

impl fmt::Debug for MetaConnections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetaConnections").field("config", &self.config).finish_non_exhaustive()
    }
}

impl MetaConnections {
    /// The app's lifecycle calls, with a client that follows no redirect (the requests
    /// carry tokens).
    pub fn new(config: MetaConfig) -> Result<Self, BuildError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                BuildError::new("http_client", "could not build the HTTP client").with_source(e)
            })?;
        Ok(Self { config, http })
    }

    /// Removes the app's webhook subscription from `node` — the Page (Messenger, and
    /// Instagram through Facebook Login, which is subscribed on its Page, §4.3) or the
    /// Instagram-Login account: `DELETE /{v}/{node}/subscribed_apps` with the account's
    /// token on its login's host (§4.2, S17; graph.instagram.com for Instagram Login as
    /// Chatwoot does, §5.7 R9/R13). The answer's body is not determined (§4.2): any success
    /// status is success.
    pub async fn unsubscribe(
        &self,
        node: &str,
        login: Login,
        token: &Secret,
    ) -> Result<(), DeliveryError> {
        let base = match login {
            Login::Facebook => &self.config.graph_url,
            Login::Instagram => &self.config.instagram_graph_url,
        };
        let url = endpoint(base, &[&self.config.graph_version, node, "subscribed_apps"])?;
        let secret = match (login, &self.config.instagram_app_secret) {
            (Login::Instagram, Some(s)) if !s.is_empty() => s,
            _ => &self.config.app_secret,
        };
        // As every Graph call of the adapter: the token in the header, and its
        // `appsecret_proof` for apps that require it (S34).
        let request = self
            .http
            .delete(url)
            .bearer_auth(token.expose())
            .query(&[("appsecret_proof", crate::proof::appsecret_proof(secret, token.expose()))]);
        call(request).await.map(drop)
    }

    /// Refreshes a long-lived Instagram-Login token: `GET graph.instagram.com/
    /// refresh_access_token?grant_type=ig_refresh_token&access_token=…` (§5.5, S21), the
    /// token in the query as Meta documents it. Meta refuses a token younger than 24 hours
    /// or expired (S20); an expired or invalidated one is a permanent `Unauthorized` (190).
    pub async fn refresh_instagram_token(
        &self,
        token: &Secret,
    ) -> Result<RefreshedToken, DeliveryError> {
        let mut url = endpoint(&self.config.instagram_graph_url, &["refresh_access_token"])?;
        url.query_pairs_mut()
            .append_pair("grant_type", "ig_refresh_token")
            .append_pair("access_token", token.expose());
        let answer = call(self.http.get(url)).await?;
        let answer = RefreshAnswer::deserialize(answer).unwrap_or_default();
        let access_token =
            answer.access_token.cloned().filter(|t| !t.is_empty()).ok_or_else(|| {
                // The old token is still valid: try again later.
                DeliveryError::temporary(
                    DeliveryErrorKind::Unavailable,
                    "Meta answered the token refresh without a token",
                )
            })?;
        let expires_in =
            answer.expires_in.0.and_then(|s| u64::try_from(s).ok()).map(Duration::from_secs);
        Ok(RefreshedToken { access_token: Secret::new(access_token), expires_in })
    }

    /// What Meta says of `token` (a Page token): `GET /{v}/debug_token?input_token=…&
    /// access_token={app-id}|{app-secret}` (§1.5, S4; the app token, S2), needing
    /// `meta.app_id`. `now` tells an expired token from a revoked one when Meta gives no
    /// reason. An error is about the check itself (the app token refused, Meta
    /// unreachable), never about `token`.
    pub async fn check_token(
        &self,
        token: &Secret,
        now: DateTime<Utc>,
    ) -> Result<TokenState, DeliveryError> {
        let app_id =
            self.config.app_id.as_deref().filter(|id| !id.is_empty()).ok_or_else(|| {
                DeliveryError::permanent(
                    DeliveryErrorKind::InvalidRequest,
                    "meta.app_id is needed to check tokens (debug_token takes the app token)",
                )
            })?;
        let mut url =
            endpoint(&self.config.graph_url, &[&self.config.graph_version, "debug_token"])?;
        let app_token = format!("{app_id}|{}", self.config.app_secret.expose());
        url.query_pairs_mut()
            .append_pair("input_token", token.expose())
            .append_pair("access_token", &app_token);
        let answer = call(self.http.get(url)).await?;
        let data = DebugTokenAnswer::deserialize(answer).unwrap_or_default().data.0;
        // `0` is read as "no expiry" too: Meta's debugger shows such tokens as never
        // expiring; the reference records only an actual date (§1.5).
        let expires_at =
            data.expires_at.0.filter(|&s| s > 0).and_then(|s| Utc.timestamp_opt(s, 0).single());
        if data.is_valid.is_true() {
            return Ok(TokenState::Valid { expires_at });
        }
        let error = &data.error.0;
        let said_expired =
            error.code.0 == Some(INVALID_TOKEN) && error.subcode.0 == Some(EXPIRED_SUBCODE);
        if said_expired || expires_at.is_some_and(|at| at <= now) {
            return Ok(TokenState::Expired { expired_at: expires_at });
        }
        let reason = error
            .message
            .cloned()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "Meta reports the token as no longer valid".to_owned());
        Ok(TokenState::Revoked { reason })
    }
}
