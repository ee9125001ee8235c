//! A complete wbots [`Channel`] for the Telegram Bot API, written against the same trait
//! and proven with the same conformance suite as the Meta channels.
//!
//! Telegram authenticates webhooks with a secret token header
//! (`X-Telegram-Bot-Api-Secret-Token`, set with `setWebhook`), delivers one `Update` per
//! request, identifies files by `file_id` (downloaded through `getFile`), and has no
//! messaging window.

mod api;
mod update;

pub mod wiring;

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::Serialize;
use url::Url;
use wbots_core::{
    AttachmentKind, Capabilities, Channel, ChannelAddress, ChannelKind, DeliveryError,
    DeliveryErrorKind, InboundAttachment, InboundEnvelope, Media, OutboundPart, PlatformUserId,
    Profile, RawRequest, Secret, SendReceipt, SendRequest, SenderAction, WebhookError,
};

use crate::api::{Answer, ChatInfo, FileInfo, SentMessage, classify, network};

/// The header Telegram puts the webhook's secret token in.
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// The kind name of Telegram channels.
pub fn telegram() -> ChannelKind {
    ChannelKind::new("telegram")
}

/// One Telegram bot.
#[derive(Debug, Clone)]
pub struct TelegramChannel {
    address: ChannelAddress,
    token: Secret,
    webhook_secret: Secret,
    api: Url,
    http: reqwest::Client,
}

impl TelegramChannel {
    /// A bot with its token (`123456:ABC…`; the part before `:` is its id) and the secret
    /// token its webhook was registered with.
    pub fn new(token: Secret, webhook_secret: Secret) -> Result<Self, String> {
        let bot_id = token
            .expose()
            .split(':')
            .next()
            .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()));
        let bot_id = bot_id.ok_or("a Telegram bot token looks like 123456:ABC…")?.to_owned();
        if webhook_secret.is_empty() {
            return Err("the webhook secret token must not be empty".into());
        }
        let api = Url::parse("https://api.telegram.org").map_err(|e| e.to_string())?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            address: ChannelAddress::new(telegram(), bot_id),
            token,
            webhook_secret,
            api,
            http,
        })
    }

    /// Points the channel at another API server (a local Bot API server, or a test fake).
    pub fn with_base_url(mut self, api: Url) -> Self {
        self.api = api;
        self
    }

    /// The bot's address.
    pub fn address(&self) -> &ChannelAddress {
        &self.address
    }

    /// `{api}/{path}`. Built as an absolute URL rather than with `Url::join`: the token
    /// contains a ':', which `join` would read as a URL scheme.
    fn api_url(&self, path: &str) -> Result<Url, DeliveryError> {
        Url::parse(&format!("{}/{path}", self.api.as_str().trim_end_matches('/')))
            .map_err(|e| DeliveryError::permanent(DeliveryErrorKind::InvalidRequest, e.to_string()))
    }

    fn method_url(&self, method: &str) -> Result<Url, DeliveryError> {
        self.api_url(&format!("bot{}/{method}", self.token.expose()))
    }

    /// One Bot API call. `Ok(None)` when Telegram answered 2xx but the body could not be
    /// read: the call was accepted, and for a send a retry would deliver the message twice.
    async fn call_accepted<T: for<'de> serde::Deserialize<'de>>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Option<T>, DeliveryError> {
        let response = request.send().await.map_err(|e| network(&e))?;
        let status = response.status().as_u16();
        let body = response.bytes().await;
        if (200..300).contains(&status) {
            let answer =
                body.as_ref().ok().and_then(|b| serde_json::from_slice::<Answer<T>>(b).ok());
            match answer {
                Some(Answer { ok: true, result: Some(result), .. }) => return Ok(Some(result)),
                None => return Ok(None),
                Some(_) => {}
            }
        }
        let body = body.unwrap_or_default();
        let answer: Option<Answer<serde_json::Value>> = serde_json::from_slice(&body).ok();
        Err(classify(status, answer.as_ref()))
    }

    /// A call whose result is needed (profiles, files): an unreadable answer is worth a retry.
    async fn call<T: for<'de> serde::Deserialize<'de>>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, DeliveryError> {
        self.call_accepted(request).await?.ok_or_else(|| {
            DeliveryError::temporary(DeliveryErrorKind::Unavailable, "unreadable Telegram answer")
        })
    }

    async fn call_json<B: Serialize, T: for<'de> serde::Deserialize<'de>>(
        &self,
        method: &str,
        body: &B,
    ) -> Result<T, DeliveryError> {
        let url = self.method_url(method)?;
        self.call(self.http.post(url).json(body)).await
    }

    /// A send: `Ok(None)` when Telegram accepted it without a readable answer.
    async fn send_json<B: Serialize, T: for<'de> serde::Deserialize<'de>>(
        &self,
        method: &str,
        body: &B,
    ) -> Result<Option<T>, DeliveryError> {
        let url = self.method_url(method)?;
        self.call_accepted(self.http.post(url).json(body)).await
    }
}

/// The Bot API's `message_id` of a platform message id `chat:message`.
fn telegram_message_id(id: &wbots_core::PlatformMessageId) -> Option<i64> {
    id.as_str().rsplit(':').next().and_then(|m| m.parse().ok())
}

#[async_trait]
impl Channel for TelegramChannel {
    fn name(&self) -> &str {
        "telegram"
    }

    fn capabilities(&self, _address: &ChannelAddress) -> Capabilities {
        let mut caps = Capabilities::text_only(4096);
        caps.max_media_bytes = 50 * 1024 * 1024;
        caps.reply_to = true;
        caps.reactions = true;
        caps.sender_actions = true;
        caps.profiles = true;
        caps
    }

    fn accounts(&self) -> Vec<ChannelAddress> {
        vec![self.address.clone()]
    }

    fn handshake(&self, _request: &RawRequest<'_>) -> Result<String, WebhookError> {
        Err(WebhookError::NotFound("Telegram webhooks have no handshake".into()))
    }

    fn verify(&self, request: &RawRequest<'_>) -> Result<(), WebhookError> {
        match request.header(SECRET_HEADER) {
            Some(token) if self.webhook_secret.matches(token.as_bytes()) => Ok(()),
            Some(_) => Err(WebhookError::Unauthorized("wrong secret token".into())),
            None => {
                Err(WebhookError::Unauthorized("missing X-Telegram-Bot-Api-Secret-Token".into()))
            }
        }
    }

    fn parse(&self, request: &RawRequest<'_>) -> Result<Vec<InboundEnvelope>, WebhookError> {
        update::parse(&self.address, request.body)
    }

    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, DeliveryError> {
        let chat = request.thread.as_str();
        let reply =
            request.reply_to.as_ref().and_then(telegram_message_id).map(
                |id| serde_json::json!({ "message_id": id, "allow_sending_without_reply": true }),
            );
        let sent: Option<SentMessage> = match &request.part {
            OutboundPart::Text(text) => {
                self.send_json("sendMessage", &serde_json::json!({ "chat_id": chat, "text": text, "reply_parameters": reply })).await?
            }
            OutboundPart::Media(media) => {
                let (method, field) = match media.kind {
                    AttachmentKind::Image => ("sendPhoto", "photo"),
                    AttachmentKind::Video => ("sendVideo", "video"),
                    AttachmentKind::Audio => ("sendAudio", "audio"),
                    _ => ("sendDocument", "document"),
                };
                let part = reqwest::multipart::Part::bytes(media.bytes.to_vec())
                    .file_name(media.file_name.clone())
                    .mime_str(&media.content_type)
                    .map_err(|e| DeliveryError::permanent(DeliveryErrorKind::InvalidRequest, e.to_string()))?;
                let mut form = reqwest::multipart::Form::new().text("chat_id", chat.to_owned()).part(field, part);
                if let Some(r) = &reply {
                    form = form.text("reply_parameters", r.to_string());
                }
                self.call_accepted(self.http.post(self.method_url(method)?).multipart(form)).await?
            }
            OutboundPart::MediaUrl { kind, url } => {
                let (method, field) = if *kind == AttachmentKind::Image { ("sendPhoto", "photo") } else { ("sendDocument", "document") };
                self.send_json(method, &serde_json::json!({ "chat_id": chat, field: url.as_str(), "reply_parameters": reply })).await?
            }
            OutboundPart::Reaction { target, emoji } => {
                let message_id = telegram_message_id(target)
                    .ok_or_else(|| DeliveryError::permanent(DeliveryErrorKind::InvalidRequest, "not a Telegram message id"))?;
                let reaction: Vec<serde_json::Value> =
                    emoji.iter().map(|e| serde_json::json!({ "type": "emoji", "emoji": e })).collect();
                let _: Option<bool> = self
                    .send_json("setMessageReaction", &serde_json::json!({ "chat_id": chat, "message_id": message_id, "reaction": reaction }))
                    .await?;
                return Ok(SendReceipt { message_id: None });
            }
            OutboundPart::Action(SenderAction::TypingOn) => {
                let _: Option<bool> = self.send_json("sendChatAction", &serde_json::json!({ "chat_id": chat, "action": "typing" })).await?;
                return Ok(SendReceipt { message_id: None });
            }
            // Telegram's typing indicator stops by itself and bots cannot mark messages read.
            OutboundPart::Action(_) => return Ok(SendReceipt { message_id: None }),
            other => return Err(DeliveryError::unsupported(format!("{} parts", other.kind()))),
        };
        Ok(SendReceipt {
            message_id: sent.map(|sent| {
                update::message_id(chat.parse().unwrap_or_default(), sent.message_id).into()
            }),
        })
    }

    async fn profile(
        &self,
        _address: &ChannelAddress,
        user: &PlatformUserId,
    ) -> Result<Profile, DeliveryError> {
        let chat: ChatInfo =
            self.call_json("getChat", &serde_json::json!({ "chat_id": user.as_str() })).await?;
        let name = match (chat.first_name, chat.last_name, chat.title) {
            (Some(f), Some(l), _) => format!("{f} {l}"),
            (Some(f), None, _) => f,
            (None, _, Some(t)) => t,
            _ => format!("Telegram user {user}"),
        };
        Ok(Profile { name, username: chat.username, avatar_url: None })
    }

    async fn fetch_media(
        &self,
        _address: &ChannelAddress,
        attachment: &InboundAttachment,
        max_bytes: u64,
    ) -> Result<Media, DeliveryError> {
        let file_id = attachment.platform_id.as_deref().ok_or_else(|| {
            DeliveryError::permanent(
                DeliveryErrorKind::InvalidRequest,
                "attachment without a file_id",
            )
        })?;
        let info: FileInfo =
            self.call_json("getFile", &serde_json::json!({ "file_id": file_id })).await?;
        if info.file_size.is_some_and(|s| s > max_bytes) {
            return Err(DeliveryError::permanent(
                DeliveryErrorKind::TooLarge,
                format!("file over {max_bytes} bytes"),
            ));
        }
        let path = info.file_path.ok_or_else(|| {
            DeliveryError::permanent(DeliveryErrorKind::NotFound, "Telegram gave no file path")
        })?;
        if path.split('/').any(|segment| segment == "..") {
            return Err(DeliveryError::permanent(
                DeliveryErrorKind::InvalidRequest,
                "suspicious file path",
            ));
        }
        let url = self.api_url(&format!("file/bot{}/{path}", self.token.expose()))?;
        let response = self.http.get(url).send().await.map_err(|e| network(&e))?;
        if !response.status().is_success() {
            return Err(classify(response.status().as_u16(), None));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let bytes: Bytes = response.bytes().await.map_err(|e| network(&e))?;
        if bytes.len() as u64 > max_bytes {
            return Err(DeliveryError::permanent(
                DeliveryErrorKind::TooLarge,
                format!("file over {max_bytes} bytes"),
            ));
        }
        let file_name = attachment
            .file_name
            .clone()
            .or_else(|| path.rsplit('/').next().map(str::to_owned))
            .unwrap_or_else(|| "file".into());
        Ok(Media { bytes, content_type, file_name, kind: attachment.kind.clone() })
    }
}
