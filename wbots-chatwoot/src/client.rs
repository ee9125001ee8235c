//! The Application API client: one authenticated request = one attempt.

use std::fmt;

use reqwest::{Method, RequestBuilder};
use serde::de::DeserializeOwned;
use url::Url;
use wbots_core::{DeliveryError, DeliveryErrorKind, Secret};

use crate::error::{classify, network};

/// Chatwoot's Application API for one account.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    account: Url,
    token: Secret,
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
    ) -> Result<Self, String> {
        let root = base.as_str().trim_end_matches('/');
        let account = Url::parse(&format!("{root}/api/v1/accounts/{account_id}/"))
            .map_err(|e| format!("chatwoot.url: {e}"))?;
        Ok(Self { http, account, token })
    }

    fn url(&self, path: &str) -> Result<Url, DeliveryError> {
        self.account.join(path).map_err(|e| {
            DeliveryError::permanent(
                DeliveryErrorKind::InvalidRequest,
                format!("bad Chatwoot path {path}: {e}"),
            )
        })
    }

    /// A request to an account-scoped path (`contacts/search`), authenticated.
    pub(crate) fn request(
        &self,
        method: Method,
        path: &str,
    ) -> Result<RequestBuilder, DeliveryError> {
        Ok(self
            .http
            .request(method, self.url(path)?)
            .header("api_access_token", self.token.expose()))
    }

    /// Sends and decodes a JSON answer; any failure is classified.
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
        what: &str,
    ) -> Result<T, DeliveryError> {
        let body = self.send_raw(request, what).await?;
        serde_json::from_slice(&body).map_err(|e| {
            DeliveryError::temporary(
                DeliveryErrorKind::Unavailable,
                format!("unreadable Chatwoot answer while {what}: {e}"),
            )
        })
    }

    /// Sends and returns the raw body of a success.
    pub(crate) async fn send_raw(
        &self,
        request: RequestBuilder,
        what: &str,
    ) -> Result<bytes::Bytes, DeliveryError> {
        let response = request.send().await.map_err(|e| network(&e, what))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = response.bytes().await.map_err(|e| network(&e, what))?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(classify(status.as_u16(), &String::from_utf8_lossy(&body), retry_after, what))
        }
    }
}
