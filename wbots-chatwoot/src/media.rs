//! Downloading agents' attachments without becoming a proxy into the bridge's network, and
//! keeping the `api_access_token` on Chatwoot's origin.
//!
//! An attachment's `data_url` comes from the webhook, so only Chatwoot's own origin is
//! fetched; Chatwoot answers it (ActiveStorage's `rails/active_storage/blobs/redirect/…`)
//! with a redirect to the object storage (S3, GCS, Azure), which is followed only to public
//! addresses. Redirects are followed here, hop by hop, each checked by
//! [`wbots_core::fetch_policy`]; downloads never carry the token.

use std::time::Duration;

use wbots_core::download::{DownloadError, Downloader as Fetcher, read_limited};
use wbots_core::fetch_policy::FetchPolicy;
use wbots_core::{AgentAttachment, BuildError, DeliveryError, DeliveryErrorKind, Media};

use crate::config::ChatwootConfig;

const WHAT: &str = "downloading an attachment";
/// What a refused attachment URL is not, and the keys that say what is.
const SCOPE: &str = "the Chatwoot server (chatwoot.url, chatwoot.frontend_url)";

/// Where attachments may come from: the configured Chatwoot origins, and the public storage
/// they redirect to.
fn policy(config: &ChatwootConfig) -> FetchPolicy {
    let mut policy = FetchPolicy::new(SCOPE).trust_origin(&config.url).allow_public_redirects();
    if let Some(frontend) = &config.frontend_url {
        policy = policy.trust_origin(frontend);
    }
    policy
}

/// Fetches attachments from the Chatwoot origin and the storage it redirects to.
#[derive(Clone, Debug)]
pub(crate) struct Downloader(Fetcher);

impl Downloader {
    /// Downloads from the configured Chatwoot origins and public storage.
    pub(crate) fn new(config: &ChatwootConfig, timeout: Duration) -> Result<Self, BuildError> {
        Ok(Self(Fetcher::new(policy(config), timeout)?))
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
        let (_, response) = self.0.get(attachment.url.clone()).await.map_err(failed)?;
        if !response.status().is_success() {
            return Err(crate::error::classify(response.status().as_u16(), "", None, WHAT));
        }
        let (bytes, content_type) = read_limited(response, limit).await.map_err(failed)?;
        Ok(Media {
            bytes,
            content_type,
            file_name: attachment.file_name.clone().unwrap_or_else(|| "attachment".into()),
            kind: attachment.kind.clone(),
        })
    }
}

fn too_large(limit: u64) -> DeliveryError {
    DeliveryError::permanent(
        DeliveryErrorKind::TooLarge,
        format!("the attachment is over {limit} bytes"),
    )
}

/// A refusal is permanent with its reason; anything else is the network.
fn failed(e: DownloadError) -> DeliveryError {
    match e {
        DownloadError::Refused(refusal) => refusal.into(),
        DownloadError::TooLarge { limit } => too_large(limit),
        DownloadError::Network(e) => crate::error::network(e, WHAT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;
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
        let public = wbots_core::download::public_client_builder()
            .resolve("bucket.storage.test", *storage.address())
            .build()
            .unwrap();
        let home: Url = chatwoot.uri().parse().unwrap();
        let config = ChatwootConfig::new(home.clone(), wbots_core::Secret::new("cw-token"), 1);
        let trusted =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let downloader = Downloader(Fetcher::with_clients(policy(&config), trusted, public));
        let url = home.join("/rails/active_storage/blobs/redirect/x/a.png").unwrap();
        let media = downloader.fetch(&attachment(url), 1024).await.unwrap();
        assert_eq!((&media.bytes[..], media.content_type.as_str()), (&b"PNGDATA"[..], "image/png"));
        let got = storage.received_requests().await.unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].headers.get("api_access_token").is_none());
    }
}
