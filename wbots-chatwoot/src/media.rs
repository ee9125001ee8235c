//! Downloading agents' attachments without becoming a proxy into the bridge's network, and
//! keeping the `api_access_token` on Chatwoot's origin.
//!
//! An attachment's `data_url` comes from the webhook, so only Chatwoot's own origin is
//! fetched; Chatwoot answers it (ActiveStorage's `rails/active_storage/blobs/redirect/…`)
//! with a redirect to the object storage (S3, GCS, Azure), which is followed only to public
//! addresses. Redirects are followed here, hop by hop, each checked by
//! [`wbots_core::fetch_policy`]; downloads never carry the token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::Policy;
use url::Url;
use wbots_core::fetch_policy::{FetchPolicy, FetchRefusal, FetchRoute, check_resolved};
use wbots_core::{
    AgentAttachment, BuildError, DeliveryError, DeliveryErrorKind, HttpFailures, Media,
};

use crate::config::ChatwootConfig;
use crate::error::ChatwootFailures;

const WHAT: &str = "downloading an attachment";
/// What a refused attachment URL is not, and the keys that say what is.
const SCOPE: &str = "the Chatwoot server (chatwoot.url, chatwoot.frontend_url)";

/// API requests carry the `api_access_token`, a header reqwest never strips on redirects
/// (it strips only `Authorization` and cookies, and only when host or port change): so a
/// redirect is followed only within the origin the request went to.
pub(crate) fn same_origin_redirects() -> Policy {
    Policy::custom(|attempt| {
        let home = attempt.previous().first().map(Url::origin);
        if attempt.previous().len() > wbots_core::fetch_policy::MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if home.as_ref() == Some(&attempt.url().origin()) {
            attempt.follow()
        } else {
            // Returned as the 3xx it is; the client reports it.
            attempt.stop()
        }
    })
}

/// Fetches attachments from the Chatwoot origin and the storage it redirects to.
#[derive(Clone, Debug)]
pub(crate) struct Downloader {
    policy: FetchPolicy,
    /// To the configured origin only: wherever the operator pointed `chatwoot.url`.
    trusted: reqwest::Client,
    /// Everywhere else: public addresses only, checked by the resolver at connect time.
    public: reqwest::Client,
}

impl Downloader {
    /// Downloads from the configured Chatwoot origins and public storage.
    pub(crate) fn new(config: &ChatwootConfig, timeout: Duration) -> Result<Self, BuildError> {
        let trusted = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(Policy::none())
            .build()
            .map_err(http_client)?;
        Ok(Self::with_clients(config, trusted, public_client(timeout)?))
    }

    fn with_clients(
        config: &ChatwootConfig,
        trusted: reqwest::Client,
        public: reqwest::Client,
    ) -> Self {
        let mut policy = FetchPolicy::new(SCOPE).trust_origin(&config.url).allow_public_redirects();
        if let Some(frontend) = &config.frontend_url {
            policy = policy.trust_origin(frontend);
        }
        Self { policy, trusted, public }
    }

    /// One attempt at downloading `attachment`, at most `limit` bytes.
    pub(crate) async fn fetch(
        &self,
        attachment: &AgentAttachment,
        limit: u64,
    ) -> Result<Media, DeliveryError> {
        if attachment.size.is_some_and(|s| s > limit) {
            return Err(too_large(limit));
        }
        let mut response = self.get(attachment.url.clone()).await?;
        if !response.status().is_success() {
            // The body is the file server's, not a Chatwoot refusal: not read.
            return Err(ChatwootFailures::new(WHAT).refused(
                response.status(),
                response.headers(),
                b"",
            ));
        }
        if response.content_length().is_some_and(|n| n > limit) {
            return Err(too_large(limit));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(too_large(limit));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Media {
            bytes: bytes.into(),
            content_type,
            file_name: attachment.file_name.clone().unwrap_or_else(|| "attachment".into()),
            kind: attachment.kind.clone(),
        })
    }

    /// GETs `url`, following redirects the policy allows; the final answer.
    async fn get(&self, mut url: Url) -> Result<reqwest::Response, DeliveryError> {
        let mut route = self.policy.check(&url)?;
        let mut followed = 0;
        loop {
            let client = match route {
                FetchRoute::Trusted => &self.trusted,
                FetchRoute::PublicOnly => &self.public,
            };
            let response = client.get(url.clone()).send().await.map_err(failed)?;
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .filter(|_| response.status().is_redirection());
            let Some(location) = location else { return Ok(response) };
            (url, route) = self.policy.check_redirect(&url, location, followed)?;
            followed += 1;
        }
    }
}

fn too_large(limit: u64) -> DeliveryError {
    DeliveryError::permanent(
        DeliveryErrorKind::TooLarge,
        format!("the attachment is over {limit} bytes"),
    )
}

/// A refusal by the resolver is permanent with its reason; anything else is the network.
fn failed(e: reqwest::Error) -> DeliveryError {
    match refusal_in(&e) {
        Some(refusal) => refusal.clone().into(),
        None => ChatwootFailures::new(WHAT).unreachable(e),
    }
}

fn refusal_in(e: &reqwest::Error) -> Option<&FetchRefusal> {
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<FetchRefusal>() {
            return Some(refusal);
        }
        source = cause.source();
    }
    None
}

/// A client that connects only to public addresses: its resolver refuses a name that
/// resolves to any other, and the address it checked is the one connected to (no second
/// lookup to rebind). No proxy: a proxy would resolve the name itself, unchecked.
fn public_client(timeout: Duration) -> Result<reqwest::Client, BuildError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(PublicOnly))
        .build()
        .map_err(http_client)
}

#[derive(Debug)]
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check_resolved(&host, addrs.iter().map(SocketAddr::ip))?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A reqwest client that could not be built (its TLS backend failed to start).
fn http_client(e: reqwest::Error) -> BuildError {
    BuildError::new("http_client", "could not build the HTTP client").with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wbots_core::AttachmentKind;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn attachment(url: Url) -> AgentAttachment {
        AgentAttachment {
            kind: AttachmentKind::Image,
            url,
            file_name: Some("a.png".into()),
            size: None,
        }
    }

    /// Chatwoot redirects to its storage, which must be public: here a test name stands
    /// for a public host (reqwest's `resolve` override is the test's DNS), so the allowed
    /// path is exercised end to end.
    #[tokio::test]
    async fn a_redirect_to_public_storage_is_followed_without_the_token() {
        let chatwoot = MockServer::start().await;
        let storage = MockServer::start().await;
        let storage_url =
            format!("http://bucket.storage.test:{}/a.png?sig=1", storage.address().port());
        Mock::given(method("GET"))
            .and(path("/rails/active_storage/blobs/redirect/x/a.png"))
            .respond_with(ResponseTemplate::new(302).insert_header("location", storage_url))
            .mount(&chatwoot)
            .await;
        Mock::given(method("GET"))
            .and(path("/a.png"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "image/png")
                    .set_body_bytes(b"PNGDATA".to_vec()),
            )
            .mount(&storage)
            .await;
        let public = reqwest::Client::builder()
            .redirect(Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnly))
            .resolve("bucket.storage.test", *storage.address())
            .build()
            .unwrap();
        let home: Url = chatwoot.uri().parse().unwrap();
        let config = ChatwootConfig::new(home.clone(), wbots_core::Secret::new("cw-token"), 1);
        let trusted = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
        let downloader = Downloader::with_clients(&config, trusted, public);
        let url = home.join("/rails/active_storage/blobs/redirect/x/a.png").unwrap();
        let media = downloader.fetch(&attachment(url), 1024).await.unwrap();
        assert_eq!((&media.bytes[..], media.content_type.as_str()), (&b"PNGDATA"[..], "image/png"));
        let got = storage.received_requests().await.unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].headers.get("api_access_token").is_none());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_internal_addresses() {
        let refused = PublicOnly.resolve("localhost".parse().unwrap()).await.err().unwrap();
        let refusal = refused.downcast_ref::<FetchRefusal>().unwrap();
        assert!(refusal.reason().starts_with("not downloaded: localhost resolves to "));
    }
}
