//! Downloading a file a webhook named, under a [`FetchPolicy`]: the I/O half of
//! [`crate::fetch_policy`], shared by the adapters.
//!
//! Each hop of a download is checked by the policy before it is requested. Trusted origins
//! (the operator's configured servers) are fetched with an ordinary client; every other host
//! through a client whose DNS resolver refuses names that resolve to any non-public address,
//! and connects to the very addresses it checked, so a name cannot be rebound between the
//! check and the connection. No proxy on that client: a proxy would resolve the name itself,
//! unchecked. Redirects are followed here, hop by hop, never by reqwest, and downloads carry
//! no credentials. The adapters turn a [`DownloadError`] into their own words.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::Policy;
use url::Url;

use crate::BuildError;
use crate::fetch_policy::{FetchPolicy, FetchRefusal, FetchRoute, MAX_REDIRECTS, check_resolved};

/// Why a download did not complete.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The policy refused a URL or a resolved address: permanent, with the reason.
    #[error("{0}")]
    Refused(FetchRefusal),
    /// The body is (or announced itself) larger than the limit: permanent.
    #[error("the file is over {limit} bytes")]
    TooLarge {
        /// The limit it crossed.
        limit: u64,
    },
    /// The connection failed, timed out or broke off: worth another attempt. reqwest's text
    /// names the URL, which may carry a storage signature: show [`network_summary`] instead.
    #[error("the download failed: {}", network_summary(.0))]
    Network(#[source] reqwest::Error),
}

impl From<FetchRefusal> for DownloadError {
    fn from(refusal: FetchRefusal) -> Self {
        Self::Refused(refusal)
    }
}

impl From<reqwest::Error> for DownloadError {
    /// A refusal by the public-only resolver travels inside reqwest's error: found and
    /// returned as the refusal it is.
    fn from(e: reqwest::Error) -> Self {
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            if let Some(refusal) = cause.downcast_ref::<FetchRefusal>() {
                return Self::Refused(refusal.clone());
            }
            source = cause.source();
        }
        Self::Network(e)
    }
}

/// What went wrong on the network, without the URL: "timed out", "connection failed" or
/// "the download broke off".
pub fn network_summary(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "the download broke off"
    }
}

/// A redirect policy for API clients that carry a credential: follow only within the
/// origin the request went to (reqwest strips `Authorization` on a host or port change, but
/// not custom headers such as Chatwoot's `api_access_token`, and not on a switch from https
/// to http on the same port). Any other redirect comes back as the 3xx it is.
pub fn same_origin_redirects() -> Policy {
    Policy::custom(|attempt| {
        let home = attempt.previous().first().map(Url::origin);
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if home.as_ref() == Some(&attempt.url().origin()) {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Fetches files under one [`FetchPolicy`].
#[derive(Clone, Debug)]
pub struct Downloader {
    policy: FetchPolicy,
    /// To the policy's trusted origins only, wherever the operator pointed them.
    trusted: reqwest::Client,
    /// Everywhere else: public addresses only, checked by the resolver at connect time.
    public: reqwest::Client,
}

impl Downloader {
    /// A downloader whose requests each time out after `timeout`.
    ///
    /// # Errors
    /// When an HTTP client cannot be built (its TLS backend failed to start).
    pub fn new(policy: FetchPolicy, timeout: Duration) -> Result<Self, BuildError> {
        let trusted = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(Policy::none())
            .build()
            .map_err(http_client)?;
        let public = public_client_builder().timeout(timeout).build().map_err(http_client)?;
        Ok(Self::with_clients(policy, trusted, public))
    }

    /// A downloader over given clients: for tests, whose public client resolves test names
    /// to local servers (`public_client_builder().resolve(…)`). Both clients must not follow
    /// redirects themselves.
    pub fn with_clients(
        policy: FetchPolicy,
        trusted: reqwest::Client,
        public: reqwest::Client,
    ) -> Self {
        Self { policy, trusted, public }
    }

    /// GETs `url`, following the redirects the policy allows: the final URL and the answer
    /// (any status; the caller judges it).
    ///
    /// # Errors
    /// A refused URL, redirect or address; the network.
    pub async fn get(&self, mut url: Url) -> Result<(Url, reqwest::Response), DownloadError> {
        let mut route = self.policy.check(&url)?;
        let mut followed = 0;
        loop {
            let client = match route {
                FetchRoute::Trusted => &self.trusted,
                FetchRoute::PublicOnly => &self.public,
            };
            let response = client.get(url.clone()).send().await?;
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .filter(|_| response.status().is_redirection());
            let Some(location) = location else { return Ok((url, response)) };
            (url, route) = self.policy.check_redirect(&url, location, followed)?;
            followed += 1;
        }
    }
}

/// The body of `response`, refused as soon as it announces or reaches more than `limit`
/// bytes (a hostile server may send without end), with its content type
/// (`application/octet-stream` when it names none).
///
/// # Errors
/// [`DownloadError::TooLarge`]; the network.
pub async fn read_limited(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<(Bytes, String), DownloadError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(DownloadError::TooLarge { limit });
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(DownloadError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((bytes.into(), content_type))
}

/// The builder of the public-only client: no redirects, no proxy, the checking resolver.
/// Tests add `.resolve(name, addr)` to play a public host with a local server.
pub fn public_client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(PublicOnly))
}

/// Resolves names to public addresses only; the addresses it checked are the ones
/// connected to.
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

    #[tokio::test]
    async fn the_resolver_refuses_names_of_internal_addresses() {
        let Err(refused) = PublicOnly.resolve("localhost".parse().unwrap()).await else {
            panic!("localhost resolved");
        };
        let refusal = refused.downcast_ref::<FetchRefusal>().unwrap();
        assert!(refusal.reason().starts_with("not downloaded: localhost resolves to "));
    }

    async fn trusted(server: &wiremock::MockServer) -> Downloader {
        let home: Url = server.uri().parse().unwrap();
        let policy = FetchPolicy::new("the test server").trust_origin(&home);
        Downloader::new(policy, Duration::from_secs(5)).unwrap()
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_and_one_within_it_read() {
        use wiremock::matchers::path;
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(path("/f"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "image/png")
                    .set_body_bytes(vec![7u8; 2000]),
            )
            .mount(&server)
            .await;
        let d = trusted(&server).await;
        let url: Url = format!("{}/f", server.uri()).parse().unwrap();
        let (_, small) = d.get(url.clone()).await.unwrap();
        let refused = read_limited(small, 1999).await.unwrap_err();
        assert!(matches!(refused, DownloadError::TooLarge { limit: 1999 }), "{refused:?}");
        let (_, whole) = d.get(url).await.unwrap();
        let (bytes, content_type) = read_limited(whole, 2000).await.unwrap();
        assert_eq!((bytes.len(), content_type.as_str()), (2000, "image/png"));
    }

    #[tokio::test]
    async fn a_redirect_from_a_trusted_origin_to_an_internal_address_is_refused() {
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::any())
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("location", "http://169.254.169.254/latest/meta-data/"),
            )
            .mount(&server)
            .await;
        let d = trusted(&server).await;
        let got = d.get(format!("{}/f", server.uri()).parse().unwrap()).await;
        let Err(DownloadError::Refused(refusal)) = got else {
            panic!("followed a redirect to the metadata address: {got:?}");
        };
        assert!(refusal.reason().contains("169.254.169.254"), "{}", refusal.reason());
    }
}
