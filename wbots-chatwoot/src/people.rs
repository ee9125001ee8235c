//! Who a person is in Chatwoot, for a page that signs people in with their Chatwoot
//! identity (shared/reference/chatwoot-signin-and-sweep.md §1-§3, §7): e-mail and password
//! through `POST /auth/sign_in` with its MFA step, the personal access token checked with
//! `GET /api/v1/profile`, the accounts a person administers, and the API inboxes they may
//! list, create and point at the bridge.
//!
//! Passwords and tokens are [`Secret`]s: never in an error, never logged. Failures are
//! [`DeliveryError`]s read by [`ChatwootFailures`]: a 401 is a permanent `Unauthorized`,
//! Rack::Attack's 429 a temporary `RateLimited`.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};
use url::Url;
use wbots_core::{BuildError, DeliveryError, DeliveryErrorKind, HttpFailures as _, Secret};

use crate::error::ChatwootFailures;

/// Timeout of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A person's membership of an account (`accounts[]` of the profile, §1.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountMembership {
    /// The account id.
    pub id: u64,
    /// Its name (untrusted text).
    pub name: String,
    /// `administrator` or `agent` (§2.3: the role, not `permissions`, decides).
    pub role: String,
    /// `active` or `suspended` (§2.3).
    pub status: String,
}

impl AccountMembership {
    /// Whether the person administers this account: `role == "administrator"` on an
    /// active account (§2.3).
    pub fn is_administrator(&self) -> bool {
        self.role == "administrator" && self.status == "active"
    }
}

/// A person as `GET /api/v1/profile` (or a sign-in) describes them; `Debug` hides the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// Their user id.
    pub id: u64,
    /// Their name.
    pub name: String,
    /// Their e-mail.
    pub email: String,
    /// Their personal API access token (permanent, §3.3).
    pub access_token: Secret,
    /// Their accounts.
    pub accounts: Vec<AccountMembership>,
}

/// The outcome of a password sign-in's first step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignIn {
    /// Signed in.
    Done(Person),
    /// MFA is on: send the code with this token (valid 5 minutes, §1.5).
    MfaRequired {
        /// The MFA token to send back with the code.
        mfa_token: Secret,
    },
}

/// An API inbox of an account (`GET …/inboxes`, §7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboxSummary {
    /// Its id.
    pub id: u64,
    /// Its name (untrusted text).
    pub name: String,
    /// `Channel::Api` for an API inbox.
    pub channel_type: String,
    /// Where its webhooks go.
    pub webhook_url: Option<String>,
    /// Its webhook signing secret (administrators, v4.13+; §7.3).
    pub secret: Option<Secret>,
    /// The channel's `additional_attributes` (`agent_reply_time_window`…); `Null` when
    /// Chatwoot did not say.
    pub additional_attributes: Value,
}

/// Chatwoot's people endpoints on one installation.
pub struct People {
    base: Url,
    http: reqwest::Client,
}

impl fmt::Debug for People {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("People").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn person_of(v: &Value) -> Result<Person, DeliveryError> {
    let token = v.get("access_token").and_then(Value::as_str).filter(|t| !t.is_empty());
    let token = token.ok_or_else(|| {
        DeliveryError::permanent(DeliveryErrorKind::Other, "Chatwoot's profile has no access token")
    })?;
    let accounts = v
        .get("accounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| {
            Some(AccountMembership {
                id: a.get("id")?.as_u64()?,
                name: text(a.get("name")),
                role: text(a.get("role")),
                // Absent on old versions: such accounts are active.
                status: a.get("status").and_then(Value::as_str).unwrap_or("active").to_owned(),
            })
        })
        .collect();
    Ok(Person {
        id: v.get("id").and_then(Value::as_u64).unwrap_or_default(),
        name: text(v.get("name")),
        email: text(v.get("email")),
        access_token: Secret::new(token),
        accounts,
    })
}

fn inbox_of(v: &Value) -> Option<InboxSummary> {
    Some(InboxSummary {
        id: v.get("id")?.as_u64()?,
        name: text(v.get("name")),
        channel_type: text(v.get("channel_type")),
        webhook_url: v.get("webhook_url").and_then(Value::as_str).map(str::to_owned),
        secret: v.get("secret").and_then(Value::as_str).filter(|s| !s.is_empty()).map(Secret::new),
        additional_attributes: v.get("additional_attributes").cloned().unwrap_or(Value::Null),
    })
}

impl People {
    /// The installation at `base` (`chatwoot.url`).
    pub fn new(base: Url) -> Result<Self, BuildError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                BuildError::new("http_client", "could not build the HTTP client").with_source(e)
            })?;
        Ok(Self { base, http })
    }

    fn url(&self, segments: &[&str]) -> Result<Url, DeliveryError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| {
                DeliveryError::permanent(
                    DeliveryErrorKind::InvalidRequest,
                    "chatwoot.url cannot have a path",
                )
            })?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, reqwest::header::HeaderMap, Value), DeliveryError> {
        let failures = ChatwootFailures::new(what);
        let response = request.send().await.map_err(|e| failures.unreachable(e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| failures.unreachable(e))?;
        if !status.is_success() {
            return Err(failures.refused(status, &headers, &body));
        }
        Ok((status.as_u16(), headers, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }

    /// Signs in with e-mail and password (§1.2-§1.5): [`SignIn::Done`] with the person,
    /// or [`SignIn::MfaRequired`] (206). The devise session this opens is closed at once
    /// (§1.6: each takes one of the person's 25 slots); the personal access token in the
    /// answer is what the caller keeps.
    pub async fn sign_in(&self, email: &str, password: &Secret) -> Result<SignIn, DeliveryError> {
        let url = self.url(&["auth", "sign_in"])?;
        let body = json!({"email": email, "password": password.expose()});
        let (status, headers, answer) =
            self.send("signing in", self.http.post(url).json(&body)).await?;
        if status == 206 {
            let token = answer.get("mfa_token").and_then(Value::as_str).unwrap_or_default();
            return Ok(SignIn::MfaRequired { mfa_token: Secret::new(token) });
        }
        let person = person_of(answer.get("data").unwrap_or(&Value::Null))?;
        self.sign_out(&headers).await;
        Ok(SignIn::Done(person))
    }

    /// MFA's second step (§1.5): the token from [`SignIn::MfaRequired`] and the code,
    /// sent form-encoded so Rack::Attack counts it under its MFA rules rather than the
    /// tighter `login/ip` (§1.9).
    pub async fn verify_mfa(
        &self,
        mfa_token: &Secret,
        otp_code: &str,
    ) -> Result<Person, DeliveryError> {
        let url = self.url(&["auth", "sign_in"])?;
        let form = [("mfa_token", mfa_token.expose()), ("otp_code", otp_code)];
        let (_, headers, answer) =
            self.send("checking the MFA code", self.http.post(url).form(&form)).await?;
        let person = person_of(answer.get("data").unwrap_or(&Value::Null))?;
        self.sign_out(&headers).await;
        Ok(person)
    }

    /// Closes the devise session a sign-in opened (`DELETE /auth/sign_out`, §3.1). Best
    /// effort: the session expires anyway; the person's access token is unaffected.
    async fn sign_out(&self, headers: &reqwest::header::HeaderMap) {
        let (Some(token), Some(client), Some(uid)) =
            (headers.get("access-token"), headers.get("client"), headers.get("uid"))
        else {
            return;
        };
        let Ok(url) = self.url(&["auth", "sign_out"]) else { return };
        let request = self
            .http
            .delete(url)
            .header("access-token", token)
            .header("client", client)
            .header("uid", uid);
        if let Err(e) = self.send("signing out", request).await {
            tracing::debug!(error = %e, "closing the Chatwoot session of a sign-in failed");
        }
    }

    /// The person a personal access token belongs to (`GET /api/v1/profile`, §2.2).
    pub async fn profile(&self, token: &Secret) -> Result<Person, DeliveryError> {
        let url = self.url(&["api", "v1", "profile"])?;
        let request = self.http.get(url).header("api_access_token", token.expose());
        let (_, _, answer) = self.send("reading the profile", request).await?;
        person_of(&answer)
    }

    /// The account's inboxes (`GET …/inboxes`, `payload`).
    pub async fn inboxes(
        &self,
        token: &Secret,
        account: u64,
    ) -> Result<Vec<InboxSummary>, DeliveryError> {
        let url = self.url(&["api", "v1", "accounts", &account.to_string(), "inboxes"])?;
        let request = self.http.get(url).header("api_access_token", token.expose());
        let (_, _, answer) = self.send("listing inboxes", request).await?;
        Ok(answer
            .get("payload")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(inbox_of)
            .collect())
    }

    /// Creates an API inbox posting to `webhook_url` (`POST …/inboxes`, §7.1;
    /// administrators only).
    pub async fn create_inbox(
        &self,
        token: &Secret,
        account: u64,
        name: &str,
        webhook_url: &str,
    ) -> Result<InboxSummary, DeliveryError> {
        let url = self.url(&["api", "v1", "accounts", &account.to_string(), "inboxes"])?;
        let body = json!({"name": name, "channel": {"type": "api", "webhook_url": webhook_url}});
        let request = self.http.post(url).header("api_access_token", token.expose()).json(&body);
        let (_, _, answer) = self.send("creating an inbox", request).await?;
        inbox_of(&answer).ok_or_else(|| {
            DeliveryError::permanent(
                DeliveryErrorKind::Other,
                "Chatwoot answered the new inbox without an id",
            )
        })
    }

    /// Points an API inbox's webhook at `webhook_url` (`PATCH …/inboxes/{id}`, §7.2).
    pub async fn point_inbox(
        &self,
        token: &Secret,
        account: u64,
        inbox: u64,
        webhook_url: &str,
    ) -> Result<InboxSummary, DeliveryError> {
        let body = json!({"channel": {"webhook_url": webhook_url}});
        self.patch_inbox(token, account, inbox, &body, "pointing the inbox at the bridge").await
    }

    /// Makes Chatwoot stop agents writing in `inbox` more than `hours` after the customer's
    /// last message (`channel.additional_attributes.agent_reply_time_window`,
    /// chatwoot-api.md), keeping the channel's other attributes as `inbox` has them.
    pub async fn set_reply_window(
        &self,
        token: &Secret,
        account: u64,
        inbox: &InboxSummary,
        hours: u32,
    ) -> Result<InboxSummary, DeliveryError> {
        let body = crate::setup::reply_window_update(&inbox.additional_attributes, hours);
        self.patch_inbox(token, account, inbox.id, &body, "setting the inbox's reply window").await
    }

    /// `PATCH …/inboxes/{inbox}` with `body` (`what` names it in errors); the inbox as
    /// Chatwoot answers it.
    async fn patch_inbox(
        &self,
        token: &Secret,
        account: u64,
        inbox: u64,
        body: &Value,
        what: &str,
    ) -> Result<InboxSummary, DeliveryError> {
        let url = self.url(&[
            "api",
            "v1",
            "accounts",
            &account.to_string(),
            "inboxes",
            &inbox.to_string(),
        ])?;
        let request = self.http.patch(url).header("api_access_token", token.expose()).json(body);
        let (_, _, answer) = self.send(what, request).await?;
        inbox_of(&answer).ok_or_else(|| {
            DeliveryError::permanent(
                DeliveryErrorKind::Other,
                "Chatwoot answered the inbox without an id",
            )
        })
    }
}
