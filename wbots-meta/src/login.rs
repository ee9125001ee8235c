//! Connecting accounts through Meta's own login (shared/reference/meta-login.md): Facebook
//! Login's manual redirect flow — dialog URL, code exchange, long-lived exchange, the
//! person's Pages with their Page tokens and linked Instagram accounts, subscribing a Page
//! (§1, §3, §4) — and Instagram Login's — authorize URL, code exchange, long-lived
//! exchange, `/me`, subscribing the account (§5).
//!
//! Every dialog and token host is configurable ([`LoginUrls`], Meta's real hosts by default)
//! so a fake can stand in. Failures are [`DeliveryError`]s classified like every Graph call
//! ([`GraphFailures`]); none carries a token or a secret (the
//! URLs, which hold them, are dropped from transport errors).

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use url::Url;
use wbots_core::{BuildError, DeliveryError, DeliveryErrorKind, Secret};

use crate::account_checks::{INSTAGRAM_FIELDS, MESSENGER_FIELDS};
use crate::config::MetaConfig;
use crate::errors::GraphFailures;
use crate::graph_call::{call, endpoint};
use wbots_core::HttpFailures as _;

/// Timeout of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// At most this many `/me/accounts` pages are followed (§3.2: "cap the loop").
const MAX_PAGES: usize = 20;
/// What Facebook Login asks for: Messenger and Instagram through a Page (§2; the scope
/// Chatwoot asks for, R1).
pub const FACEBOOK_SCOPE: &str = "pages_show_list,pages_messaging,pages_manage_metadata,pages_read_engagement,business_management,instagram_basic,instagram_manage_messages";
/// What Instagram Login asks for (§2, §5.1; the `instagram_business_*` names, S20).
pub const INSTAGRAM_SCOPE: &str = "instagram_business_basic,instagram_business_manage_messages";

/// The hosts of the login dialogs and token endpoints; Meta's by default (§9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginUrls {
    /// Facebook Login's dialog host (`https://www.facebook.com`, §1.1).
    pub facebook_dialog: Url,
    /// Instagram Login's authorize host (`https://www.instagram.com`, §5.1, S20).
    pub instagram_authorize: Url,
    /// Instagram Login's code-exchange host (`https://api.instagram.com`, §5.3).
    pub instagram_api: Url,
}

impl Default for LoginUrls {
    // Literal URLs, which parse.
    #[allow(clippy::unwrap_used)]
    fn default() -> Self {
        let parse = |s: &str| Url::parse(s).unwrap();
        Self {
            facebook_dialog: parse("https://www.facebook.com"),
            instagram_authorize: parse("https://www.instagram.com"),
            instagram_api: parse("https://api.instagram.com"),
        }
    }
}

/// A user token from a code or a long-lived exchange; `Debug` hides it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserToken {
    /// The token.
    pub access_token: Secret,
    /// Its lifetime, when Meta gave one (`expires_in`, optional, §1.4).
    pub expires_in: Option<Duration>,
}

/// An Instagram account linked to a Page (`instagram_business_account`, §3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkedInstagram {
    /// Its id (the professional account id, used in webhooks).
    pub id: String,
    /// Its username, when Meta gave it.
    pub username: Option<String>,
}

/// One Page of the person (`/me/accounts`, §3.1); `Debug` hides the Page token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantedPage {
    /// The Page id.
    pub id: String,
    /// Its name, as the business wrote it (untrusted text).
    pub name: String,
    /// Its Page token (no expiry when from a long-lived user token, §3.5).
    pub access_token: Secret,
    /// The person's tasks on it.
    pub tasks: Vec<String>,
    /// Its linked Instagram professional account.
    pub instagram: Option<LinkedInstagram>,
}

impl GrantedPage {
    /// Whether the person may connect it: messaging needs `MESSAGING`, subscribing
    /// `MODERATE` (§3.4, S16/S17). Absent `tasks` (not determined for business-assigned
    /// Pages, §3.3) reads as allowed: the subscribe call then decides.
    pub fn can_connect(&self) -> bool {
        self.tasks.is_empty()
            || (self.tasks.iter().any(|t| t == "MESSAGING")
                && self.tasks.iter().any(|t| t == "MODERATE"))
    }
}

/// The account that logged in with Instagram Login (`/me`, §5.6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstagramAccount {
    /// `user_id`: the professional account id (webhooks, `/{ig-id}/…`).
    pub user_id: String,
    /// Its username.
    pub username: String,
}

/// Meta's login calls for one app.
pub struct MetaLogin {
    config: MetaConfig,
    urls: LoginUrls,
    instagram_app_id: Option<String>,
    http: reqwest::Client,
}

impl fmt::Debug for MetaLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetaLogin").field("urls", &self.urls).finish_non_exhaustive()
    }
}

fn permanent(message: impl Into<String>) -> DeliveryError {
    DeliveryError::permanent(DeliveryErrorKind::InvalidRequest, message)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn lifetime(v: &Value) -> Option<Duration> {
    let seconds =
        v.get("expires_in").and_then(|e| e.as_u64().or_else(|| e.as_str()?.parse().ok()))?;
    Some(Duration::from_secs(seconds))
}

fn token_of(v: &Value) -> Result<UserToken, DeliveryError> {
    let token = v.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty());
    let token = token.ok_or_else(|| permanent("Meta answered without an access token"))?;
    Ok(UserToken { access_token: Secret::new(token), expires_in: lifetime(v) })
}

impl MetaLogin {
    /// The login calls of `config`'s app (`meta.app_id`, `meta.app_secret`, the Graph
    /// hosts and version), at `urls`; `instagram_app_id` for Instagram Login (its secret is
    /// `meta.instagram_app_secret`, §5).
    pub fn new(
        config: MetaConfig,
        urls: LoginUrls,
        instagram_app_id: Option<String>,
    ) -> Result<Self, BuildError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                BuildError::new("http_client", "could not build the HTTP client").with_source(e)
            })?;
        Ok(Self { config, urls, instagram_app_id, http })
    }

    fn app_id(&self) -> Result<&str, DeliveryError> {
        self.config
            .app_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| permanent("meta.app_id is needed for Facebook Login"))
    }

    fn instagram_app(&self) -> Result<(&str, &Secret), DeliveryError> {
        let id = self.instagram_app_id.as_deref().filter(|id| !id.is_empty());
        let secret = self.config.instagram_app_secret.as_ref().filter(|s| !s.is_empty());
        match (id, secret) {
            (Some(id), Some(secret)) => Ok((id, secret)),
            _ => Err(permanent(
                "Instagram Login needs the Instagram app id and meta.instagram_app_secret",
            )),
        }
    }

    /// The hosts the browser is sent to for the dialogs (Facebook's, and Instagram's when
    /// configured).
    pub fn dialog_hosts(&self) -> Vec<Url> {
        let mut hosts = vec![self.urls.facebook_dialog.clone()];
        if self.instagram_enabled() {
            hosts.push(self.urls.instagram_authorize.clone());
        }
        hosts
    }

    /// Whether Instagram Login is configured.
    pub fn instagram_enabled(&self) -> bool {
        self.instagram_app().is_ok()
    }

    /// The Facebook Login dialog (§1.1, S1): `client_id`, the exact `redirect_uri` (the
    /// code exchange must repeat it byte for byte, §7.2), `state`, `response_type=code` and
    /// [`FACEBOOK_SCOPE`]; `rerequest` adds `auth_type=rerequest` to ask again for
    /// declined permissions (S6).
    pub fn facebook_dialog_url(
        &self,
        redirect_uri: &str,
        state: &str,
        rerequest: bool,
    ) -> Result<Url, DeliveryError> {
        let mut url =
            endpoint(&self.urls.facebook_dialog, &[&self.config.graph_version, "dialog", "oauth"])?;
        url.query_pairs_mut()
            .append_pair("client_id", self.app_id()?)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state)
            .append_pair("response_type", "code")
            .append_pair("scope", FACEBOOK_SCOPE);
        if rerequest {
            url.query_pairs_mut().append_pair("auth_type", "rerequest");
        }
        Ok(url)
    }

    /// Exchanges the callback's `code` for a user token (§1.4, S1): server-side, with the
    /// app secret and the dialog's `redirect_uri`.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<UserToken, DeliveryError> {
        let mut url = endpoint(
            &self.config.graph_url,
            &[&self.config.graph_version, "oauth", "access_token"],
        )?;
        url.query_pairs_mut()
            .append_pair("client_id", self.app_id()?)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("client_secret", self.config.app_secret.expose())
            .append_pair("code", code);
        token_of(&call(self.http.get(url)).await?)
    }

    /// Exchanges a user token for a long-lived one (§1.6, S3), so the Page tokens read
    /// with it have no expiry (§3.5).
    pub async fn long_lived(&self, token: &Secret) -> Result<UserToken, DeliveryError> {
        let mut url = endpoint(
            &self.config.graph_url,
            &[&self.config.graph_version, "oauth", "access_token"],
        )?;
        url.query_pairs_mut()
            .append_pair("grant_type", "fb_exchange_token")
            .append_pair("client_id", self.app_id()?)
            .append_pair("client_secret", self.config.app_secret.expose())
            .append_pair("fb_exchange_token", token.expose());
        token_of(&call(self.http.get(url)).await?)
    }

    /// The person's Pages with their Page tokens, tasks and linked Instagram accounts:
    /// `/me/accounts` with field expansion (§3.1), following `paging.next` until absent,
    /// at most 20 pages (§3.2).
    pub async fn pages(&self, user_token: &Secret) -> Result<Vec<GrantedPage>, DeliveryError> {
        let mut url =
            endpoint(&self.config.graph_url, &[&self.config.graph_version, "me", "accounts"])?;
        url.query_pairs_mut()
            .append_pair(
                "fields",
                "id,name,access_token,tasks,instagram_business_account{id,username}",
            )
            .append_pair("limit", "100");
        let mut pages = Vec::new();
        for _ in 0..MAX_PAGES {
            let answer = call(self.http.get(url.clone()).bearer_auth(user_token.expose())).await?;
            pages.extend(
                answer
                    .get("data")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(page_of),
            );
            // Follow `next` on the configured Graph host only: the token goes with it.
            let next = answer
                .pointer("/paging/next")
                .and_then(Value::as_str)
                .and_then(|n| Url::parse(n).ok());
            match next {
                Some(n) if n.origin() == self.config.graph_url.origin() => {
                    // `next` carries the token in its query; send it in the header instead.
                    let mut n = n;
                    let kept: Vec<(String, String)> = n
                        .query_pairs()
                        .filter(|(k, _)| k != "access_token")
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                    n.query_pairs_mut().clear().extend_pairs(kept);
                    url = n;
                }
                _ => return Ok(pages),
            }
        }
        Ok(pages)
    }

    /// Subscribes a Page to the app's webhooks with its Page token and the Page fields the
    /// bridge needs (§4.1, S16; comma-separated, the documented form). Instagram through
    /// Facebook Login is subscribed on its Page (§4.3).
    pub async fn subscribe_page(
        &self,
        page_id: &str,
        page_token: &Secret,
    ) -> Result<(), DeliveryError> {
        let mut url = endpoint(
            &self.config.graph_url,
            &[&self.config.graph_version, page_id, "subscribed_apps"],
        )?;
        url.query_pairs_mut().append_pair("subscribed_fields", MESSENGER_FIELDS).append_pair(
            "appsecret_proof",
            &crate::proof::appsecret_proof(&self.config.app_secret, page_token.expose()),
        );
        call(self.http.post(url).bearer_auth(page_token.expose())).await.map(drop)
    }

    /// The Instagram Login authorize URL (§5.1, S20): the Instagram app id, the exact
    /// `redirect_uri`, `response_type=code`, [`INSTAGRAM_SCOPE`], `state`, and
    /// `enable_fb_login=0` as Chatwoot sends (R5).
    pub fn instagram_authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
    ) -> Result<Url, DeliveryError> {
        let (app_id, _) = self.instagram_app()?;
        let mut url = endpoint(&self.urls.instagram_authorize, &["oauth", "authorize"])?;
        url.query_pairs_mut()
            .append_pair("client_id", app_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", INSTAGRAM_SCOPE)
            .append_pair("state", state)
            .append_pair("enable_fb_login", "0");
        Ok(url)
    }

    /// Exchanges an Instagram Login code for a short-lived token (§5.3): a form POST with
    /// the Instagram app's id and secret, `grant_type=authorization_code` and the identical
    /// `redirect_uri`. Reads the flat answer or the `data[0]` one (the two Meta pages
    /// disagree; C8), and Instagram's flat error envelope.
    pub async fn instagram_exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
    ) -> Result<UserToken, DeliveryError> {
        let (app_id, secret) = self.instagram_app()?;
        let url = endpoint(&self.urls.instagram_api, &["oauth", "access_token"])?;
        // A code pasted with Instagram's `#_` still on it (§5.2).
        let code = code.strip_suffix("#_").unwrap_or(code);
        let form = [
            ("client_id", app_id),
            ("client_secret", secret.expose()),
            ("grant_type", "authorization_code"),
            ("redirect_uri", redirect_uri),
            ("code", code),
        ];
        let response = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|e| GraphFailures.unreachable(e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| GraphFailures.unreachable(e))?;
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !status.is_success() {
            // Instagram's own envelope (§5.3, S20); Graph's otherwise.
            if let Some(message) = value.get("error_message").and_then(Value::as_str) {
                let kind = if status.is_server_error() {
                    DeliveryError::temporary
                } else {
                    DeliveryError::permanent
                };
                return Err(kind(
                    DeliveryErrorKind::Unauthorized,
                    format!("Instagram refused the code: {message}"),
                ));
            }
            return Err(GraphFailures.refused(status, &http::HeaderMap::new(), &body));
        }
        let flat = value.get("data").and_then(|d| d.get(0)).cloned().unwrap_or(value);
        token_of(&flat)
    }

    /// Exchanges a short-lived Instagram token for a 60-day one (§5.4, S20/S21).
    pub async fn instagram_long_lived(&self, token: &Secret) -> Result<UserToken, DeliveryError> {
        let (_, secret) = self.instagram_app()?;
        let mut url = endpoint(&self.config.instagram_graph_url, &["access_token"])?;
        url.query_pairs_mut()
            .append_pair("grant_type", "ig_exchange_token")
            .append_pair("client_secret", secret.expose())
            .append_pair("access_token", token.expose());
        token_of(&call(self.http.get(url)).await?)
    }

    /// Who logged in with Instagram Login: `/me?fields=user_id,username` (§5.6, S22), flat
    /// or wrapped in `data[0]`.
    pub async fn instagram_me(&self, token: &Secret) -> Result<InstagramAccount, DeliveryError> {
        let mut url =
            endpoint(&self.config.instagram_graph_url, &[&self.config.graph_version, "me"])?;
        url.query_pairs_mut().append_pair("fields", "user_id,username");
        let answer = call(self.http.get(url).bearer_auth(token.expose())).await?;
        let me = answer.get("data").and_then(|d| d.get(0)).cloned().unwrap_or(answer);
        let user_id = me.get("user_id").and_then(text).filter(|id| !id.is_empty());
        let user_id = user_id.ok_or_else(|| permanent("Instagram answered /me without user_id"))?;
        let username = me.get("username").and_then(text).unwrap_or_else(|| user_id.clone());
        Ok(InstagramAccount { user_id, username })
    }

    /// Subscribes the Instagram-Login account to the app's webhooks: `POST /{v}/me/
    /// subscribed_apps` on graph.instagram.com with its token (§5.7, S19).
    pub async fn subscribe_instagram(&self, token: &Secret) -> Result<(), DeliveryError> {
        let mut url = endpoint(
            &self.config.instagram_graph_url,
            &[&self.config.graph_version, "me", "subscribed_apps"],
        )?;
        url.query_pairs_mut().append_pair("subscribed_fields", INSTAGRAM_FIELDS);
        call(self.http.post(url).bearer_auth(token.expose())).await.map(drop)
    }
}

/// One `/me/accounts` entry; entries without an id or a token are skipped.
fn page_of(v: &Value) -> Option<GrantedPage> {
    let id = v.get("id").and_then(text)?;
    let token = v.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty())?;
    let tasks = v
        .get("tasks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    let instagram = v.get("instagram_business_account").and_then(|ig| {
        Some(LinkedInstagram {
            id: ig.get("id").and_then(text)?,
            username: ig.get("username").and_then(Value::as_str).map(str::to_owned),
        })
    });
    Some(GrantedPage {
        id,
        name: v.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
        access_token: Secret::new(token),
        tasks,
        instagram,
    })
}
