//! A complete wbots [`Channel`] for Pigeon, a made-up platform of the most common kind: a
//! signed webhook (HMAC-SHA256 over the raw body in `X-Pigeon-Signature`), JSON events
//! with RFC 3339 times, and a `POST /send` API that answers 429 with `Retry-After`.
//! The platform as this adapter and its tests assume it is described in `README.md`.
//!
//! Where Telegram (the other example) differs: a signature rather than a fixed token, so a
//! changed body is refused too; several accounts per webhook; files sent inline as base64;
//! echoes of the business's own sends carrying the bridge's marker.

mod api;
mod webhook;

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use serde_json::{Value, json};
use url::Url;
use wbots_core::{
    Capabilities, Channel, ChannelAddress, ChannelKind, DeliveryError, DeliveryErrorKind,
    InboundAttachment, InboundEnvelope, Media, OutboundPart, PlatformUserId, Profile, RawRequest,
    Secret, SendReceipt, SendRequest, WebhookError,
};

use crate::api::{classify, network};
pub use crate::webhook::{SIGNATURE_HEADER, sign};

/// One attempt's time limit: a hung Pigeon must not hold the conversation; a timeout is a
/// temporary network failure and the queue retries.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);

/// Pigeon's limits (its `README.md`): 2,000 characters, 10 MB files.
const MAX_TEXT_CHARS: usize = 2000;
const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

/// The kind of Pigeon accounts: a stable lowercase name, stored in every key.
pub fn pigeon() -> ChannelKind {
    ChannelKind::new("pigeon")
}

/// The Pigeon channel: the accounts one API token serves.
#[derive(Debug, Clone)]
pub struct PigeonChannel {
    accounts: BTreeSet<String>,
    api_token: Secret,
    webhook_secret: Secret,
    api: Url,
    http: reqwest::Client,
}

impl PigeonChannel {
    /// A channel serving `accounts` with an API token and the webhook signing secret.
    pub fn new(
        accounts: impl IntoIterator<Item = impl Into<String>>,
        api_token: Secret,
        webhook_secret: Secret,
    ) -> Result<Self, String> {
        let accounts: BTreeSet<String> = accounts.into_iter().map(Into::into).collect();
        if accounts.is_empty() {
            return Err("a Pigeon channel serves at least one account".into());
        }
        if webhook_secret.is_empty() || api_token.is_empty() {
            return Err("the API token and the webhook secret must not be empty".into());
        }
        let http = reqwest::Client::builder()
            .timeout(ATTEMPT_TIMEOUT)
            .build()
            .map_err(|e| e.to_string())?;
        let api = Url::parse("https://api.pigeon.example").map_err(|e| e.to_string())?;
        Ok(Self { accounts, api_token, webhook_secret, api, http })
    }

    /// Points the channel at another API base (a test fake).
    pub fn with_base_url(mut self, api: Url) -> Self {
        self.api = api;
        self
    }

    fn send_url(&self) -> Result<Url, DeliveryError> {
        Url::parse(&format!("{}/send", self.api.as_str().trim_end_matches('/')))
            .map_err(|e| DeliveryError::permanent(DeliveryErrorKind::InvalidRequest, e.to_string()))
    }
}

#[async_trait]
impl Channel for PigeonChannel {
    fn name(&self) -> &str {
        "pigeon"
    }

    fn capabilities(&self, _address: &ChannelAddress) -> Capabilities {
        let mut caps = Capabilities::text_only(MAX_TEXT_CHARS);
        caps.max_media_bytes = MAX_FILE_BYTES;
        caps.reply_to = true;
        caps.echoes = true;
        caps
    }

    fn accounts(&self) -> Vec<ChannelAddress> {
        self.accounts.iter().map(|a| ChannelAddress::new(pigeon(), a.as_str())).collect()
    }

    fn handshake(&self, _request: &RawRequest<'_>) -> Result<String, WebhookError> {
        Err(WebhookError::NotFound("Pigeon webhooks have no handshake".into()))
    }

    fn verify(&self, request: &RawRequest<'_>) -> Result<(), WebhookError> {
        webhook::verify(&self.webhook_secret, request.header(SIGNATURE_HEADER), request.body)
    }

    fn parse(&self, request: &RawRequest<'_>) -> Result<Vec<InboundEnvelope>, WebhookError> {
        webhook::parse(request.body)
    }

    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, DeliveryError> {
        let mut body = json!({
            "account_id": request.address.account.as_str(),
            "conversation_id": request.thread.as_str(),
            // Pigeon echoes `metadata` in `message.sent`: the bridge knows its own sends.
            "metadata": request.marker,
        });
        if let Some(reply) = &request.reply_to {
            body["reply_to"] = json!(reply.as_str());
        }
        match &request.part {
            OutboundPart::Text(text) => body["text"] = json!(text),
            OutboundPart::Media(media) => {
                if media.bytes.len() as u64 > MAX_FILE_BYTES {
                    return Err(DeliveryError::permanent(
                        DeliveryErrorKind::TooLarge,
                        format!("the file is over Pigeon's {} MB", MAX_FILE_BYTES / 1024 / 1024),
                    ));
                }
                body["file"] = json!({
                    "name": media.file_name,
                    "content_type": media.content_type,
                    "data_base64": base64::engine::general_purpose::STANDARD.encode(&media.bytes),
                });
            }
            OutboundPart::MediaUrl { url, .. } => body["file"] = json!({ "url": url.as_str() }),
            // Pigeon has no reactions or typing indicator (declared so): refused for good.
            other => {
                return Err(DeliveryError::unsupported(format!(
                    "Pigeon has no {} parts",
                    other.kind()
                )));
            }
        }
        let response = self
            .http
            .post(self.send_url()?)
            .bearer_auth(self.api_token.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| network(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let answer: Option<Value> =
            response.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok());
        if (200..300).contains(&status) {
            // Accepted. Without a readable id the engine records a stand-in; an error here
            // would make the queue send the message a second time.
            let id = answer.as_ref().and_then(|a| a.get("id")).and_then(Value::as_str);
            return Ok(SendReceipt { message_id: id.map(Into::into) });
        }
        let error = answer.as_ref().and_then(|a| a.get("error")).and_then(Value::as_str);
        Err(classify(status, retry_after, error.map(str::to_owned)))
    }

    async fn profile(
        &self,
        _address: &ChannelAddress,
        _user: &PlatformUserId,
    ) -> Result<Profile, DeliveryError> {
        Err(DeliveryError::unsupported("Pigeon has no profile API"))
    }

    async fn fetch_media(
        &self,
        _address: &ChannelAddress,
        attachment: &InboundAttachment,
        max_bytes: u64,
    ) -> Result<Media, DeliveryError> {
        let url = attachment.url.clone().ok_or_else(|| {
            DeliveryError::permanent(DeliveryErrorKind::InvalidRequest, "attachment without a URL")
        })?;
        let mut get = self.http.get(url.clone());
        // The API token goes only to Pigeon's own host, never to a URL named in a payload.
        if url.origin() == self.api.origin() {
            get = get.bearer_auth(self.api_token.expose());
        }
        let response = get.send().await.map_err(|e| network(&e))?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(classify(status, None, None));
        }
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Err(DeliveryError::permanent(
                DeliveryErrorKind::TooLarge,
                format!("file over {max_bytes} bytes"),
            ));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes = response.bytes().await.map_err(|e| network(&e))?;
        if bytes.len() as u64 > max_bytes {
            return Err(DeliveryError::permanent(
                DeliveryErrorKind::TooLarge,
                format!("file over {max_bytes} bytes"),
            ));
        }
        let file_name = attachment
            .file_name
            .clone()
            .or_else(|| url.path_segments().and_then(|mut s| s.next_back()).map(str::to_owned))
            .unwrap_or_else(|| "file".into());
        Ok(Media { bytes, content_type, file_name, kind: attachment.kind.clone() })
    }
}
