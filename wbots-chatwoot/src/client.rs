//! The Application API client: one authenticated request = one attempt.

use std::fmt;

use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;
use url::Url;
use wbots_core::rate_budget::Budget;
use wbots_core::{BuildError, DeliveryError, DeliveryErrorKind, HttpFailures, Secret};

use crate::error::{ChatwootFailures, unreadable};
use crate::wire::Refusal;

/// Chatwoot's Application API for one account.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    /// Chatwoot's base URL, ending in `/` (it may sit under a path).
    root: Url,
    account: Url,
    token: Secret,
    /// The installation's request budget, shared with every adapter and replica on it.
    budget: Option<Budget>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("account", &self.account.as_str()).finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(
        http: reqwest::Client,
        base: &Url,
        account_id: u64,
        token: Secret,
    ) -> Result<Self, BuildError> {
        let root = base.as_str().trim_end_matches('/');
        let account = Url::parse(&format!("{root}/api/v1/accounts/{account_id}/"))
            .map_err(|e| BuildError::new("chatwoot.url", e.to_string()).with_source(e))?;
        let root = Url::parse(&format!("{root}/"))
            .map_err(|e| BuildError::new("chatwoot.url", e.to_string()).with_source(e))?;
        Ok(Self { http, root, account, token, budget: None })
    }

    /// Draws every request from `budget` first.
    pub(crate) fn with_budget(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// `base` with `segments` appended, each one escaped (an id holding `/` or `?` stays
    /// one segment instead of naming another resource).
    fn url(base: &Url, segments: &[&str]) -> Result<Url, DeliveryError> {
        let mut url = base.clone();
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

    /// A request to a path from Chatwoot's root (`["api"]`, `["api", "v1", "profile"]`),
    /// authenticated.
    pub(crate) fn request_root(
        &self,
        method: Method,
        segments: &[&str],
    ) -> Result<RequestBuilder, DeliveryError> {
        let url = Self::url(&self.root, segments)?;
        Ok(self.http.request(method, url).header("api_access_token", self.token.expose()))
    }

    /// A request to an account-scoped path (`["contacts", "filter"]`), authenticated.
    pub(crate) fn request(
        &self,
        method: Method,
        segments: &[&str],
    ) -> Result<RequestBuilder, DeliveryError> {
        let url = Self::url(&self.account, segments)?;
        Ok(self.http.request(method, url).header("api_access_token", self.token.expose()))
    }

    /// Sends and decodes a JSON answer; any failure is classified.
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        what: &str,
    ) -> Result<T, DeliveryError> {
        let body = self.send_raw(request, what).await?;
        self.decode(&body, what)
    }

    /// Decodes a JSON answer; one that does not read is a temporary failure.
    pub(crate) fn decode<T: DeserializeOwned>(
        &self,
        body: &[u8],
        what: &str,
    ) -> Result<T, DeliveryError> {
        serde_json::from_slice(body).map_err(|e| unreadable(e, what))
    }

    /// Sends and returns the raw body of a success.
    pub(crate) async fn send_raw(
        &self,
        request: RequestBuilder,
        what: &str,
    ) -> Result<bytes::Bytes, DeliveryError> {
        self.attempt(request, what).await.map_err(|f| f.error)
    }

    /// Sends and returns the raw body of a success, or the classified failure with
    /// Chatwoot's refusal body when it answered one (for callers that act on what it says).
    pub(crate) async fn attempt(
        &self,
        request: RequestBuilder,
        what: &str,
    ) -> Result<bytes::Bytes, Failure> {
        if let Some(budget) = &self.budget {
            // Not sent yet: a spent budget is a wait (no attempt counted), never a failure.
            budget.acquire().await.map_err(|error| Failure { error, refusal: None })?;
        }
        let failures = ChatwootFailures::new(what);
        let unreachable = |e| Failure { error: failures.unreachable(e), refusal: None };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(Failure {
                error: failures.refused(status, &headers, &body),
                refusal: Some(Refusal::read(&body)),
            })
        }
    }
}

/// A failed request: the classified error, and Chatwoot's refusal body when it answered.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: DeliveryError,
    pub(crate) refusal: Option<Refusal>,
}

impl Failure {
    /// Whether Chatwoot refused because `attribute`'s value is already taken.
    pub(crate) fn taken(&self, attribute: &str) -> bool {
        self.error.kind() == DeliveryErrorKind::InvalidRequest
            && self.refusal.as_ref().is_some_and(|r| r.taken(attribute))
    }
}
