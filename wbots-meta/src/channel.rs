//! [`MetaChannel`]: Messenger and Instagram behind one webhook.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use url::Url;
use wbots_core::{
    AttachmentKind, BuildError, Capabilities, Channel, ChannelAddress, ChannelKind, DeliveryError,
    DeliveryErrorKind, InboundAttachment, InboundEnvelope, Media, MessagingWindow, OutboundPart,
    PlatformUserId, Profile, RawRequest, SendReceipt, SendRequest, SenderAction, WebhookError,
};

use crate::config::{Login, MetaAccount, MetaConfig};
use crate::media::Downloader;
use crate::platform::Platform;
use crate::rate_limit::{Class, Limits, RateLimiter};
use crate::send_api::{
    self, ActionRequest, Attachment, AttachmentPayload, Envelope, OutMessage, ReactionPayload,
    Recipient, ReplyTo, SendAnswer, UploadAnswer, UploadRequest,
};
use wbots_core::download::same_origin_redirects;

/// How long a fetched profile is reused. Profiles change rarely and the engine asks only
/// when it meets a customer for the first time.
const PROFILE_TTL: Duration = Duration::from_secs(24 * 3600);
/// Timeout of one Graph request (Meta's own limit for fetching video URLs is 75 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);

/// The Messenger + Instagram channel.
pub struct MetaChannel {
    config: MetaConfig,
    accounts: HashMap<ChannelAddress, MetaAccount>,
    own_ids: HashSet<String>,
    http: reqwest::Client,
    media: Downloader,
    limiter: RateLimiter,
    profiles: Mutex<HashMap<(ChannelAddress, PlatformUserId), (Profile, Instant)>>,
    /// Page ids learned from Page tokens (`GET /me`), by Instagram account id.
    pages: Mutex<HashMap<String, String>>,
}

impl fmt::Debug for MetaChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetaChannel")
            .field("config", &self.config)
            .field("accounts", &self.accounts.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Builds a [`MetaChannel`].
pub struct MetaChannelBuilder {
    config: MetaConfig,
    accounts: Vec<MetaAccount>,
    http: Option<reqwest::Client>,
}

impl fmt::Debug for MetaChannelBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetaChannelBuilder")
            .field("config", &self.config)
            .field("accounts", &self.accounts)
            .finish_non_exhaustive()
    }
}

impl MetaChannelBuilder {
    /// Adds a Page or Instagram account.
    pub fn account(mut self, account: MetaAccount) -> Self {
        self.accounts.push(account);
        self
    }

    /// Uses this HTTP client for Graph API requests. They carry the access token, so it
    /// must not follow redirects to other origins: give it
    /// `reqwest::redirect::Policy::none()`. Attachments are downloaded with the channel's
    /// own clients, which check every URL and address.
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<MetaChannel, BuildError> {
        if self.config.app_secret.is_empty() {
            return Err(BuildError::new("meta.app_secret", "must not be empty"));
        }
        let mut accounts = HashMap::new();
        for a in self.accounts {
            if a.access_token.is_empty() {
                return Err(BuildError::new(
                    "channels.access_token",
                    format!("the access token of {} is empty", a.id),
                ));
            }
            if accounts.insert(a.address(), a.clone()).is_some() {
                return Err(BuildError::new(
                    "channels",
                    format!("{} is configured twice", a.address()),
                ));
            }
        }
        let own_ids = accounts.values().map(|a| a.id.clone()).collect();
        let http = match self.http {
            Some(h) => h,
            None => reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .redirect(same_origin_redirects())
                .build()
                .map_err(|e| {
                    BuildError::new("http_client", "could not build the HTTP client").with_source(e)
                })?,
        };
        let media = Downloader::new(&self.config, REQUEST_TIMEOUT)?;
        Ok(MetaChannel {
            config: self.config,
            accounts,
            own_ids,
            http,
            media,
            limiter: RateLimiter::default(),
            profiles: Mutex::default(),
            pages: Mutex::default(),
        })
    }
}

impl MetaChannel {
    /// Starts building a channel for an app.
    pub fn builder(config: MetaConfig) -> MetaChannelBuilder {
        MetaChannelBuilder { config, accounts: Vec::new(), http: None }
    }

    /// The app configuration.
    pub fn config(&self) -> &MetaConfig {
        &self.config
    }

    /// The HTTP client.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// A configured account.
    pub fn account(&self, address: &ChannelAddress) -> Option<&MetaAccount> {
        self.accounts.get(address)
    }

    fn account_or_err(&self, address: &ChannelAddress) -> Result<&MetaAccount, DeliveryError> {
        self.accounts.get(address).ok_or_else(|| {
            DeliveryError::permanent(
                DeliveryErrorKind::Other,
                format!("{address} is not configured"),
            )
        })
    }

    /// `{base}/{version}/{segments…}`, each segment escaped: an id holding `/`, `..` or `?`
    /// stays one segment instead of naming another Graph node.
    pub(crate) fn graph(
        &self,
        account: &MetaAccount,
        segments: &[&str],
    ) -> Result<Url, DeliveryError> {
        let base = match (account.kind, account.login) {
            (Platform::Instagram, Login::Instagram) => &self.config.instagram_graph_url,
            _ => &self.config.graph_url,
        };
        let mut path = vec![self.config.graph_version.as_str()];
        path.extend_from_slice(segments);
        crate::graph_call::endpoint(base, &path)
    }

    fn messages_url(&self, account: &MetaAccount) -> Result<Url, DeliveryError> {
        let node = match (account.kind, account.login) {
            (Platform::Messenger, _) | (Platform::Instagram, Login::Instagram) => {
                account.id.clone()
            }
            // Instagram through Facebook Login sends through the Page; `me` is the Page the
            // token belongs to.
            (Platform::Instagram, Login::Facebook) => {
                self.known_page(account).unwrap_or_else(|| "me".to_owned())
            }
        };
        self.graph(account, &[&node, "messages"])
    }

    /// The secret of `appsecret_proof` for the account's Graph host: Instagram Login calls
    /// go to graph.instagram.com, whose app is the Instagram app when one is configured.
    fn proof_secret(&self, account: &MetaAccount) -> &wbots_core::Secret {
        match (account.kind, account.login, &self.config.instagram_app_secret) {
            (Platform::Instagram, Login::Instagram, Some(s)) if !s.is_empty() => s,
            _ => &self.config.app_secret,
        }
    }

    /// A Graph request with the account's token (header, never the URL) and its
    /// `appsecret_proof` (query, as Meta documents it; S34).
    pub(crate) fn authed(
        &self,
        request: reqwest::RequestBuilder,
        account: &MetaAccount,
    ) -> reqwest::RequestBuilder {
        let token = account.access_token.expose();
        request.bearer_auth(token).query(&[(
            "appsecret_proof",
            crate::proof::appsecret_proof(self.proof_secret(account), token),
        )])
    }

    /// The Page an Instagram-through-Facebook account is reached through, when configured
    /// or already learned.
    pub(crate) fn known_page(&self, account: &MetaAccount) -> Option<String> {
        account.page_id.clone().or_else(|| {
            self.pages.lock().unwrap_or_else(|e| e.into_inner()).get(&account.id).cloned()
        })
    }

    /// The Page an Instagram-through-Facebook account is reached through: configured, or
    /// learned from its Page token with `GET /me?fields=id,name,instagram_business_account`
    /// (meta-platform.md §9), checking that the Page is linked to this Instagram account.
    pub(crate) async fn page_id(&self, account: &MetaAccount) -> Result<String, DeliveryError> {
        if let Some(page) = self.known_page(account) {
            return Ok(page);
        }
        let mut url = self.graph(account, &["me"])?;
        url.query_pairs_mut().append_pair("fields", "id,name,instagram_business_account");
        let me = self.call(self.authed(self.http.get(url), account)).await?;
        let page = me.get("id").and_then(id_string).ok_or_else(|| {
            DeliveryError::permanent(
                DeliveryErrorKind::InvalidRequest,
                "Meta did not say which Page the token belongs to",
            )
        })?;
        let linked = me.pointer("/instagram_business_account/id").and_then(id_string);
        if linked.as_deref() != Some(account.id.as_str()) {
            return Err(DeliveryError::permanent(
                DeliveryErrorKind::Forbidden,
                format!(
                    "the token belongs to Page {page}, which is linked to Instagram account {}, not {}: use that Page's token or set page_id",
                    linked.as_deref().unwrap_or("(none)"),
                    account.id
                ),
            ));
        }
        self.pages
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(account.id.clone(), page.clone());
        Ok(page)
    }

    /// Uploads a file Meta fetches from `url` with the Attachment Upload API, for an
    /// Instagram account reached through its Page: `POST /{page-id}/message_attachments`
    /// with `platform=instagram` (S19, S26; meta-platform.md §3.4 and §9). Returns the
    /// `attachment_id` to send.
    async fn upload_for_instagram(
        &self,
        account: &MetaAccount,
        kind: &AttachmentKind,
        url: &Url,
    ) -> Result<String, DeliveryError> {
        let page = self.page_id(account).await?;
        let endpoint = self.graph(account, &[&page, "message_attachments"])?;
        let body = UploadRequest {
            platform: "instagram",
            message: OutMessage {
                attachment: Some(Attachment {
                    kind: attachment_type(kind),
                    payload: AttachmentPayload {
                        url: Some(url.as_str()),
                        is_reusable: Some(true),
                        ..Default::default()
                    },
                }),
                ..Default::default()
            },
        };
        let answer = self.call(self.authed(self.http.post(endpoint), account).json(&body)).await?;
        let answer: UploadAnswer = send_api::read(answer);
        answer.attachment_id.ok_or_else(|| {
            DeliveryError::temporary(
                DeliveryErrorKind::Unavailable,
                "Meta accepted the upload but gave no attachment_id",
            )
        })
    }

    fn limits(account: &MetaAccount) -> Limits {
        match account.kind {
            Platform::Messenger => Limits::MESSENGER,
            Platform::Instagram => Limits::INSTAGRAM,
        }
    }

    pub(crate) async fn call(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, DeliveryError> {
        crate::graph_call::call(request).await
    }
}

/// A request body as JSON text, for a multipart field.
fn to_json(value: &impl serde::Serialize) -> Result<String, DeliveryError> {
    serde_json::to_string(value).map_err(|e| {
        DeliveryError::permanent(DeliveryErrorKind::InvalidRequest, format!("send body: {e}"))
    })
}

/// An id as Meta sends it: a string, or a number.
fn id_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Meta's size limits by type: "8 MB for images and 25 MB for all other file types"
/// (S19; Instagram the same, S25/S26).
const MAX_IMAGE_BYTES: u64 = 8 * 1024 * 1024;
const MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;

fn too_large(media: &Media) -> Option<DeliveryError> {
    let limit = match media.kind {
        AttachmentKind::Image => MAX_IMAGE_BYTES,
        _ => MAX_FILE_BYTES,
    };
    let size = media.bytes.len() as u64;
    (size > limit).then(|| {
        DeliveryError::permanent(
            DeliveryErrorKind::TooLarge,
            format!(
                "{} is {:.1} MB; Meta takes {}s of at most {} MB",
                media.file_name,
                size as f64 / (1024.0 * 1024.0),
                media.kind.label(),
                limit / (1024 * 1024)
            ),
        )
    })
}

fn attachment_type(kind: &AttachmentKind) -> &'static str {
    match kind {
        AttachmentKind::Image | AttachmentKind::Sticker => "image",
        AttachmentKind::Video => "video",
        AttachmentKind::Audio => "audio",
        _ => "file",
    }
}

#[async_trait]
impl Channel for MetaChannel {
    fn name(&self) -> &str {
        "meta"
    }

    fn platform_name(&self, kind: &ChannelKind) -> String {
        match Platform::of_kind(kind) {
            Some(platform) => platform.name().to_owned(),
            None => kind.as_str().to_owned(),
        }
    }

    fn capabilities(&self, address: &ChannelAddress) -> Capabilities {
        let account = self.accounts.get(address);
        let instagram = account.is_some_and(|a| a.kind == Platform::Instagram);
        let mut caps = Capabilities::text_only(if instagram { 1000 } else { 2000 });
        // Instagram counts bytes.
        caps.max_text_bytes = instagram.then_some(1000);
        caps.max_media_bytes = MAX_FILE_BYTES;
        caps.max_image_bytes = Some(MAX_IMAGE_BYTES);
        // Instagram's Send API takes files by URL (or, through the Page, an attachment_id
        // uploaded from a URL), never multipart (meta-platform.md §9).
        caps.media_by_url = instagram;
        caps.handshake = true;
        caps.reply_to = !instagram;
        caps.reactions = true;
        caps.sender_actions = true;
        caps.profiles = true;
        caps.echoes = true;
        caps.response_window_hours = Some(24);
        caps.human_agent_window_hours = account.filter(|a| a.human_agent_tag).map(|_| 7 * 24);
        caps
    }

    fn accounts(&self) -> Vec<ChannelAddress> {
        self.accounts.keys().cloned().collect()
    }

    fn handshake(&self, request: &RawRequest<'_>) -> Result<String, WebhookError> {
        crate::signature::handshake(request, &self.config.verify_token)
    }

    fn verify(&self, request: &RawRequest<'_>) -> Result<(), WebhookError> {
        crate::signature::verify(request, &self.config.secrets())
    }

    fn parse(&self, request: &RawRequest<'_>) -> Result<Vec<InboundEnvelope>, WebhookError> {
        crate::webhook::parse_for_app(request.body, &self.own_ids, self.config.app_id.as_deref())
    }

    /// Learns the Page behind each Instagram account reached through Facebook Login, so a
    /// Page's deauthorize callback finds its Instagram channels too (their token is dead by
    /// then).
    async fn prepare(&self) {
        for account in self.accounts.values() {
            if account.kind == Platform::Instagram && account.login == Login::Facebook {
                if let Err(e) = self.page_id(account).await {
                    tracing::warn!(account = %account.address(), error = %e, "could not learn the Page of the Instagram account");
                }
            }
        }
    }

    fn credential_fingerprint(&self, address: &ChannelAddress) -> Option<String> {
        let account = self.accounts.get(address)?;
        Some(crate::proof::token_fingerprint(
            &self.config.app_secret,
            account.access_token.expose(),
        ))
    }

    fn accounts_behind(&self, parent: &str) -> Vec<ChannelAddress> {
        self.accounts
            .values()
            .filter(|a| a.kind == Platform::Instagram && a.login == Login::Facebook)
            .filter(|a| self.known_page(a).as_deref() == Some(parent))
            .map(MetaAccount::address)
            .collect()
    }

    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, DeliveryError> {
        let account = self.account_or_err(&request.address)?;
        if let OutboundPart::Media(media) = &request.part {
            if let Some(e) = too_large(media) {
                return Err(e);
            }
        }
        let instagram = account.kind == Platform::Instagram;
        let class = match request.part {
            OutboundPart::Media(_) | OutboundPart::MediaUrl { .. } => Class::Media,
            _ => Class::Text,
        };
        if let Err(wait) =
            self.limiter.try_acquire(&account.id, class, Self::limits(account), Instant::now())
        {
            return Err(DeliveryError::temporary(
                DeliveryErrorKind::RateLimited,
                "the account's send budget is spent for this second",
            )
            .with_retry_after(wait));
        }
        let url = self.messages_url(account)?;
        let recipient = Recipient { id: request.thread.as_str() };
        let (messaging_type, tag) = match request.window {
            MessagingWindow::HumanAgent => ("MESSAGE_TAG", Some("HUMAN_AGENT")),
            _ => ("RESPONSE", None),
        };
        let reply_to = request.reply_to.as_ref().map(|r| ReplyTo { mid: r.as_str() });
        // `metadata` is documented for Messenger sends only (S17, S23; meta-platform.md §9).
        let metadata = request.marker.as_deref().filter(|_| !instagram);
        let envelope = Envelope { recipient, messaging_type, tag, reply_to, metadata };
        let http = self.authed(self.http.post(url), account);
        let answer = match &request.part {
            OutboundPart::Text(text) => {
                let body = envelope.with(OutMessage { text: Some(text), ..Default::default() });
                self.call(http.json(&body)).await?
            }
            OutboundPart::MediaUrl { kind, url } => {
                let uploaded;
                let payload = match (account.kind, account.login) {
                    (Platform::Messenger, _) => AttachmentPayload {
                        url: Some(url.as_str()),
                        is_reusable: Some(true),
                        ..Default::default()
                    },
                    // The Instagram-Login Send API documents `payload.url` only (S25).
                    (Platform::Instagram, Login::Instagram) => {
                        AttachmentPayload { url: Some(url.as_str()), ..Default::default() }
                    }
                    (Platform::Instagram, Login::Facebook) => {
                        uploaded = self.upload_for_instagram(account, kind, url).await?;
                        AttachmentPayload { attachment_id: Some(&uploaded), ..Default::default() }
                    }
                };
                let attachment = Attachment { kind: attachment_type(kind), payload };
                let body = envelope
                    .with(OutMessage { attachment: Some(attachment), ..Default::default() });
                self.call(http.json(&body)).await?
            }
            OutboundPart::Media(_) if instagram => {
                return Err(DeliveryError::permanent(
                    DeliveryErrorKind::Unsupported,
                    "Instagram takes files by URL only, and the inbox gave none for this file",
                ));
            }
            OutboundPart::Media(media) => {
                let attachment = Attachment {
                    kind: attachment_type(&media.kind),
                    payload: AttachmentPayload { is_reusable: Some(true), ..Default::default() },
                };
                let message =
                    OutMessage { attachment: Some(attachment), metadata, ..Default::default() };
                let file = reqwest::multipart::Part::bytes(media.bytes.to_vec())
                    .file_name(media.file_name.clone())
                    .mime_str(&media.content_type)
                    .map_err(|e| {
                        DeliveryError::permanent(
                            DeliveryErrorKind::InvalidRequest,
                            format!("bad content type: {e}"),
                        )
                    })?;
                // The multipart form carries the same fields, each JSON-encoded (S19).
                let mut form = reqwest::multipart::Form::new()
                    .text("recipient", to_json(&recipient)?)
                    .text("messaging_type", messaging_type)
                    .text("message", to_json(&message)?);
                if let Some(tag) = tag {
                    form = form.text("tag", tag);
                }
                if let Some(reply) = &reply_to {
                    form = form.text("reply_to", to_json(reply)?);
                }
                self.call(http.multipart(form.part("filedata", file))).await?
            }
            OutboundPart::Reaction { target, emoji } => {
                let reaction = match (account.kind, emoji) {
                    (_, None) => None,
                    // Instagram accepts only "love".
                    (Platform::Instagram, Some(_)) => Some("love"),
                    (Platform::Messenger, Some(e)) => Some(e.as_str()),
                };
                let body = ActionRequest {
                    recipient,
                    sender_action: if reaction.is_some() { "react" } else { "unreact" },
                    payload: Some(ReactionPayload { message_id: target.as_str(), reaction }),
                };
                self.call(http.json(&body)).await?
            }
            OutboundPart::Action(action) => {
                let name = match action {
                    SenderAction::TypingOn => "typing_on",
                    SenderAction::TypingOff => "typing_off",
                    SenderAction::MarkSeen => "mark_seen",
                };
                let body = ActionRequest { recipient, sender_action: name, payload: None };
                self.call(http.json(&body)).await?
            }
            other => return Err(DeliveryError::unsupported(format!("{} parts", other.kind()))),
        };
        let answer: SendAnswer = send_api::read(answer);
        Ok(SendReceipt { message_id: answer.message_id.map(Into::into) })
    }

    async fn profile(
        &self,
        address: &ChannelAddress,
        user: &PlatformUserId,
    ) -> Result<Profile, DeliveryError> {
        let key = (address.clone(), user.clone());
        if let Some((p, at)) = self.profiles.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            if at.elapsed() < PROFILE_TTL {
                return Ok(p.clone());
            }
        }
        let account = self.account_or_err(address)?;
        let fields = match account.kind {
            Platform::Messenger => "first_name,last_name,profile_pic",
            Platform::Instagram => "name,username,profile_pic",
        };
        let mut url = self.graph(account, &[user.as_str()])?;
        url.query_pairs_mut().append_pair("fields", fields);
        let v = self.call(self.authed(self.http.get(url), account)).await?;
        let text =
            |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        let name = match (text("first_name"), text("last_name"), text("name"), text("username")) {
            (Some(f), Some(l), _, _) => format!("{f} {l}"),
            (Some(f), None, _, _) => f,
            (_, _, Some(n), _) => n,
            (_, _, None, Some(u)) => u,
            _ => {
                return Err(DeliveryError::permanent(
                    DeliveryErrorKind::NotFound,
                    "the profile has no name",
                ));
            }
        };
        let profile = Profile {
            name,
            username: text("username"),
            avatar_url: text("profile_pic").and_then(|u| Url::parse(&u).ok()),
        };
        self.profiles
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (profile.clone(), Instant::now()));
        Ok(profile)
    }

    async fn fetch_media(
        &self,
        _address: &ChannelAddress,
        attachment: &InboundAttachment,
        max_bytes: u64,
    ) -> Result<Media, DeliveryError> {
        self.media.fetch(attachment, max_bytes).await
    }
}
