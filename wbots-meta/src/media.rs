//! Downloading customers' attachments from Meta's CDN only, and keeping the access token on
//! the Graph API's origin.
//!
//! An attachment's URL comes from the webhook: anything not on Meta's media hosts (or the
//! configured Graph API, where the fakes serve media) is refused, redirects included, and
//! those hosts are connected to only on public addresses. Redirects are followed here, hop
//! by hop, each checked by [`wbots_core::fetch_policy`]; downloads never carry a token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect::Policy;
use url::Url;
use wbots_core::fetch_policy::{FetchPolicy, FetchRefusal, FetchRoute, check_resolved};
use wbots_core::{BuildError, DeliveryError, DeliveryErrorKind, InboundAttachment, Media};

use crate::config::MetaConfig;

/// The domains Meta serves messaging attachments from: `scontent*.xx.fbcdn.net`,
/// `video*.fbcdn.net` (images, videos, stickers), `cdn.fbsbx.com` (files, audio),
/// `lookaside.fbsbx.com/ig_messaging_cdn/` (Instagram: the story-mention example in the
/// reference `meta-platform.md`, from Meta's Instagram webhook docs), `*.cdninstagram.com`.
pub(crate) const META_MEDIA_DOMAINS: [&str; 3] = ["fbcdn.net", "fbsbx.com", "cdninstagram.com"];

/// Graph requests carry the access token: a redirect is followed only within the origin the
/// request went to (reqwest strips `Authorization` on a host or port change, but not on a
/// switch from https to http on the same port).
pub(crate) fn same_origin_redirects() -> Policy {
    Policy::custom(|attempt| {
        let home = attempt.previous().first().map(Url::origin);
        if attempt.previous().len() > wbots_core::fetch_policy::MAX_REDIRECTS {
            attempt.error("too many redirects")
        } else if home.as_ref() == Some(&attempt.url().origin()) {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Fetches attachments from Meta's CDN and the configured Graph API origins.
#[derive(Clone, Debug)]
pub(crate) struct Downloader {
    policy: FetchPolicy,
    /// To the configured Graph origins only, wherever the operator pointed them.
    trusted: reqwest::Client,
    /// To Meta's CDN: public addresses only, checked by the resolver at connect time.
    public: reqwest::Client,
}

impl Downloader {
    pub(crate) fn new(config: &MetaConfig, timeout: Duration) -> Result<Self, BuildError> {
        let trusted = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(Policy::none())
            .build()
            .map_err(http_client)?;
        let public = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(Policy::none())
            // A proxy would resolve the name itself, unchecked.
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnly))
            .build()
            .map_err(http_client)?;
        Ok(Self::with_clients(config, trusted, public))
    }

    fn with_clients(
        config: &MetaConfig,
        trusted: reqwest::Client,
        public: reqwest::Client,
    ) -> Self {
        let policy = FetchPolicy::new("one of Meta's media hosts")
            .trust_origin(&config.graph_url)
            .trust_origin(&config.instagram_graph_url)
            .allow_domains(META_MEDIA_DOMAINS);
        Self { policy, trusted, public }
    }

    /// One attempt at downloading `attachment`, at most `max_bytes`.
    pub(crate) async fn fetch(
        &self,
        attachment: &InboundAttachment,
        max_bytes: u64,
    ) -> Result<Media, DeliveryError> {
        let url = attachment.url.clone().ok_or_else(|| {
            DeliveryError::permanent(DeliveryErrorKind::InvalidRequest, "the attachment has no URL")
        })?;
        let (url, mut response) = self.get(url).await?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            // Meta's CDN URLs expire: a 403/404 will not heal.
            return Err(match status {
                500..=599 | 429 => DeliveryError::temporary(
                    DeliveryErrorKind::Unavailable,
                    format!("the media server answered {status}"),
                ),
                _ => DeliveryError::permanent(
                    DeliveryErrorKind::NotFound,
                    format!("the media is no longer available ({status})"),
                ),
            });
        }
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Err(too_large(max_bytes));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if (bytes.len() + chunk.len()) as u64 > max_bytes {
                return Err(too_large(max_bytes));
            }
            bytes.extend_from_slice(&chunk);
        }
        let file_name = url
            .path_segments()
            .and_then(|mut s| s.next_back().map(str::to_owned))
            .filter(|n| n.contains('.') && n.len() <= 120)
            .unwrap_or_else(|| {
                format!(
                    "{}.{}",
                    attachment.kind.label().replace(' ', "_"),
                    extension(&content_type)
                )
            });
        Ok(Media { bytes: bytes.into(), content_type, file_name, kind: attachment.kind.clone() })
    }

    /// GETs `url`, following redirects the policy allows: the final URL and answer.
    async fn get(&self, mut url: Url) -> Result<(Url, reqwest::Response), DeliveryError> {
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
            let Some(location) = location else { return Ok((url, response)) };
            (url, route) = self.policy.check_redirect(&url, location, followed)?;
            followed += 1;
        }
    }
}

fn too_large(max_bytes: u64) -> DeliveryError {
    DeliveryError::permanent(
        DeliveryErrorKind::TooLarge,
        format!("the file is over {max_bytes} bytes"),
    )
}

/// A refusal by the resolver is permanent with its reason; anything else is the network.
fn failed(e: reqwest::Error) -> DeliveryError {
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        if let Some(refusal) = cause.downcast_ref::<FetchRefusal>() {
            return refusal.clone().into();
        }
        source = cause.source();
    }
    // reqwest's text names the URL, which may carry the CDN's signature: not repeated.
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "the download broke off"
    };
    DeliveryError::temporary(
        DeliveryErrorKind::Network,
        format!("media server unreachable: {what}"),
    )
    .with_source(e.without_url())
}

/// Resolves names to public addresses only; the addresses it checked are the ones connected
/// to, so a name cannot be rebound between check and connection.
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

fn extension(content_type: &str) -> &'static str {
    match content_type.split(';').next().unwrap_or("").trim() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "video/mp4" => "mp4",
        "audio/mpeg" => "mp3",
        "audio/mp4" | "audio/aac" => "m4a",
        "audio/ogg" => "ogg",
        "application/pdf" => "pdf",
        _ => "bin",
    }
}

/// A reqwest client that could not be built (its TLS backend failed to start).
fn http_client(e: reqwest::Error) -> BuildError {
    BuildError::new("http_client", "could not build the HTTP client").with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wbots_core::{AttachmentKind, Secret};
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// Meta's CDN on a public address, played by a wiremock server behind a test name
    /// (reqwest's `resolve` override is the test's DNS): the listed-host path end to end,
    /// including a redirect from one Meta host to another.
    #[tokio::test]
    async fn a_cdn_attachment_downloads_through_meta_redirects() {
        let cdn = MockServer::start().await;
        let port = cdn.address().port();
        Mock::given(method("GET"))
            .and(path("/ig_messaging_cdn/"))
            .respond_with(ResponseTemplate::new(302).insert_header(
                "location",
                format!("http://scontent.xx.fbcdn.net:{port}/v/t1/photo.jpg?oh=sig"),
            ))
            .mount(&cdn)
            .await;
        Mock::given(method("GET"))
            .and(path("/v/t1/photo.jpg"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("content-type", "image/jpeg")
                    .set_body_bytes(b"JPEG".to_vec()),
            )
            .mount(&cdn)
            .await;
        let public = reqwest::Client::builder()
            .redirect(Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PublicOnly))
            .resolve("lookaside.fbsbx.com", *cdn.address())
            .resolve("scontent.xx.fbcdn.net", *cdn.address())
            .build()
            .unwrap();
        let config = MetaConfig::new(Secret::new("s"), Secret::new("v"));
        let trusted = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
        let downloader = Downloader::with_clients(&config, trusted, public);
        let url = format!("http://lookaside.fbsbx.com:{port}/ig_messaging_cdn/?asset_id=1");
        let attachment = InboundAttachment::from_url(AttachmentKind::Image, url.parse().unwrap());
        let media = downloader.fetch(&attachment, 1024).await.unwrap();
        assert_eq!(
            (&media.bytes[..], media.content_type.as_str(), media.file_name.as_str()),
            (&b"JPEG"[..], "image/jpeg", "photo.jpg")
        );
        for r in cdn.received_requests().await.unwrap() {
            assert!(r.headers.get("authorization").is_none());
        }
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_internal_addresses() {
        let refused = PublicOnly.resolve("localhost".parse().unwrap()).await.err().unwrap();
        let refusal = refused.downcast_ref::<FetchRefusal>().unwrap();
        assert!(refusal.reason().starts_with("not downloaded: localhost resolves to "));
    }
}
