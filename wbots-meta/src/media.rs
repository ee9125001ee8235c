//! Downloading customers' attachments from Meta's CDN only, and keeping the access token on
//! the Graph API's origin.
//!
//! An attachment's URL comes from the webhook: anything not on Meta's media hosts (or the
//! configured Graph API, where the fakes serve media) is refused, redirects included, and
//! those hosts are connected to only on public addresses. Redirects are followed here, hop
//! by hop, each checked by [`wbots_core::fetch_policy`]; downloads never carry a token.

use std::time::Duration;

use url::Url;
use wbots_core::download::{DownloadError, Downloader as Fetcher, network_summary, read_limited};
use wbots_core::fetch_policy::FetchPolicy;
use wbots_core::{BuildError, DeliveryError, DeliveryErrorKind, InboundAttachment, Media};

use crate::config::MetaConfig;

/// The domains Meta serves messaging attachments from: `scontent*.xx.fbcdn.net`,
/// `video*.fbcdn.net` (images, videos, stickers), `cdn.fbsbx.com` (files, audio),
/// `lookaside.fbsbx.com/ig_messaging_cdn/` (Instagram: the story-mention example in the
/// reference `meta-platform.md`, from Meta's Instagram webhook docs), `*.cdninstagram.com`.
pub(crate) const META_MEDIA_DOMAINS: [&str; 3] = ["fbcdn.net", "fbsbx.com", "cdninstagram.com"];

/// Where attachments may come from: Meta's CDN (public addresses only) and the configured
/// Graph API origins, where the fakes serve media.
fn policy(config: &MetaConfig) -> FetchPolicy {
    FetchPolicy::new("one of Meta's media hosts")
        .trust_origin(&config.graph_url)
        .trust_origin(&config.instagram_graph_url)
        .allow_domains(META_MEDIA_DOMAINS)
}

/// Fetches attachments from Meta's CDN and the configured Graph API origins.
#[derive(Clone, Debug)]
pub(crate) struct Downloader(Fetcher);

impl Downloader {
    pub(crate) fn new(config: &MetaConfig, timeout: Duration) -> Result<Self, BuildError> {
        Ok(Self(Fetcher::new(policy(config), timeout)?))
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
        let (url, response) = self.0.get(url).await.map_err(failed)?;
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
        let (bytes, content_type) = read_limited(response, max_bytes).await.map_err(failed)?;
        let file_name = file_name(&url).unwrap_or_else(|| {
            format!("{}.{}", attachment.kind.label().replace(' ', "_"), extension(&content_type))
        });
        Ok(Media { bytes, content_type, file_name, kind: attachment.kind.clone() })
    }
}

/// The URL's last path segment when it looks like a file name.
fn file_name(url: &Url) -> Option<String> {
    url.path_segments()
        .and_then(|mut s| s.next_back().map(str::to_owned))
        .filter(|n| n.contains('.') && n.len() <= 120)
}

/// A refusal is permanent with its reason; anything else is the network, said without the
/// URL (it may carry the CDN's signature).
fn failed(e: DownloadError) -> DeliveryError {
    match e {
        DownloadError::Refused(refusal) => refusal.into(),
        DownloadError::TooLarge { limit } => DeliveryError::permanent(
            DeliveryErrorKind::TooLarge,
            format!("the file is over {limit} bytes"),
        ),
        DownloadError::Network(e) => DeliveryError::temporary(
            DeliveryErrorKind::Network,
            format!("media server unreachable: {}", network_summary(&e)),
        )
        .with_source(e.without_url()),
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
        let public = wbots_core::download::public_client_builder()
            .resolve("lookaside.fbsbx.com", *cdn.address())
            .resolve("scontent.xx.fbcdn.net", *cdn.address())
            .build()
            .unwrap();
        let config = MetaConfig::new(Secret::new("s"), Secret::new("v"));
        let trusted =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let downloader = Downloader(Fetcher::with_clients(policy(&config), trusted, public));
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
}
