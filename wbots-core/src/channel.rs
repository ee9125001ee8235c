//! The [`Channel`] trait: one messaging platform (or a family sharing one webhook).

use async_trait::async_trait;

use crate::error::{DeliveryError, WebhookError};
use crate::event::InboundEnvelope;
use crate::ids::{ChannelAddress, ChannelKind, PlatformUserId};
use crate::media::{InboundAttachment, Media};
use crate::outbound::{SendReceipt, SendRequest};
use crate::profile::Profile;
use crate::request::RawRequest;

/// What a channel can do, so the engine and the conformance kit ask only for that.
///
/// Declare it truthfully: the channel conformance suite exercises each declared capability
/// against a fake of the platform and skips the undeclared ones.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The longest text one send may carry, in characters (Meta: 2,000; Telegram: 4,096).
    pub max_text_chars: usize,
    /// A limit in UTF-8 bytes as well, for platforms that count bytes (Instagram: 1,000).
    pub max_text_bytes: Option<usize>,
    /// The largest file one send may carry, in bytes; 0 for a channel that sends no files
    /// (it refuses media parts with [`DeliveryError::unsupported`]).
    pub max_media_bytes: u64,
    /// A lower limit for images, where the platform has one (Meta: 8 MB).
    pub max_image_bytes: Option<u64>,
    /// The platform takes agents' files by URL only (Instagram): the engine passes the
    /// inbox's file URL ([`crate::OutboundPart::MediaUrl`]) instead of the bytes.
    pub media_by_url: bool,
    /// The platform has a GET handshake (Meta's `hub.challenge`).
    pub handshake: bool,
    /// The platform can reply to a specific message.
    pub reply_to: bool,
    /// The platform accepts reactions from the business.
    pub reactions: bool,
    /// The platform accepts sender actions (typing, mark seen).
    pub sender_actions: bool,
    /// Customer profiles can be fetched.
    pub profiles: bool,
    /// The platform echoes the business's own sends back as events.
    pub echoes: bool,
    /// The business may only answer within a window after the customer's last message;
    /// `Some(hours)` of the standard window.
    pub response_window_hours: Option<u32>,
    /// Length of the human-agent extension of the window, where the platform has one and
    /// the account enabled it.
    pub human_agent_window_hours: Option<u32>,
}

impl Capabilities {
    /// Capabilities with conservative defaults: text only, no window, nothing optional.
    /// Adapters start from this and switch on what they support.
    pub fn text_only(max_text_chars: usize) -> Self {
        Self {
            max_text_chars,
            max_text_bytes: None,
            max_media_bytes: 0,
            max_image_bytes: None,
            media_by_url: false,
            handshake: false,
            reply_to: false,
            reactions: false,
            sender_actions: false,
            profiles: false,
            echoes: false,
            response_window_hours: None,
            human_agent_window_hours: None,
        }
    }
}

impl Capabilities {
    /// The largest file of this kind one send may carry.
    pub fn max_bytes_for(&self, kind: &crate::AttachmentKind) -> u64 {
        match (kind, self.max_image_bytes) {
            (crate::AttachmentKind::Image, Some(image)) => image.min(self.max_media_bytes),
            _ => self.max_media_bytes,
        }
    }
}

/// A messaging platform adapter.
///
/// # Contract
/// The inbound half (`handshake`, `verify`, `parse`) is synchronous and does no I/O: the
/// webhook handler calls it on the request path, then stores the events and only then
/// acknowledges. The outbound half is async, and each call is **one attempt**: no retry
/// loop, no sleeping — return a classified [`DeliveryError`] and the engine schedules the
/// retry in the durable queue.
///
/// # Implementing
/// - **Naming.** `name` is lowercase and stable (it is the webhook path). Core knows no
///   platform: accounts carry a [`crate::ChannelKind`] the adapter names
///   (`ChannelKind::new("telegram")`), lowercase and never changed (it is stored in every
///   key). `platform_name` is the name people read ("Telegram"); the default capitalises
///   the kind.
/// - `verify` must run before `parse`, over the exact raw bytes, and compare the whole
///   credential in constant time. It must not allocate per-event state or touch any store.
/// - `parse` must never panic on any input. Authentic input whose *shape* is wrong is
///   [`WebhookError::Malformed`]; authentic, well-formed input the adapter does not act on
///   becomes [`crate::InboundEvent::Unsupported`] events, never an error, so the platform
///   is not made to retry something that will never succeed.
/// - Events must carry the platform's own ids; where the platform gives none, derive one
///   deterministically from the payload, so a redelivery maps to the same idempotency key.
/// - **Times come from the payload** (`InboundMessage::sent_at` is when the customer sent
///   it). The engine prefixes messages older than `EngineConfig::late_after` with
///   `[sent YYYY-MM-DD HH:MM UTC]` from it; adapters never add such a prefix.
/// - **Events for accounts the adapter does not serve** are still returned, tagged with the
///   account the payload names: the engine skips and counts them (`unrouted`) and answers
///   200. Never tag them with another account, never fail the delivery for them.
/// - `send` must classify every failure: [`DeliveryError::temporary`] (network, timeouts,
///   5xx, rate limits — with `retry_after` when the platform says) or
///   [`DeliveryError::permanent`] (a refused token is `Unauthorized`: the engine flags the
///   channel; invalid requests go to the dead letter at once). A **2xx whose body cannot be
///   read** is an accepted send: `Ok` with `message_id: None`, because an error would send
///   the message twice. Give each attempt a **timeout** (20–30 s): a running job keeps its
///   lease alive, so only the timeout stops a hung platform from holding the conversation.
/// - **A send error's message is shown to agents** in the inbox: plain words, never a
///   token, a secret or a URL that carries one.
/// - **Every channel may be handed any [`OutboundPart`]**, media included, whatever it
///   declares: parts it cannot send are refused with [`DeliveryError::unsupported`].
/// - **The marker** ([`SendRequest::marker`]) is opaque: where the platform echoes metadata
///   on the business's own messages, send it unchanged and return it unchanged in
///   [`crate::EchoMessage::metadata`]; the bridge recognises its own sends by it.
/// - A channel may serve several accounts (pages); `accounts` lists them so the engine can
///   route sends, and `parse` tags each event with the account it is for.
///
/// The crate's guide ("Writing a channel adapter") spells these out with a compiled
/// example; run the channel conformance suite (`wbots_core::testkit`, feature `testkit`)
/// against your adapter: it checks each of them it can observe.
///
/// [`OutboundPart`]: crate::OutboundPart
#[async_trait]
pub trait Channel: Send + Sync + std::fmt::Debug + 'static {
    /// A stable lowercase name, used as the webhook path (`/webhooks/{name}`), in logs and
    /// in metrics. Meta's adapter is `"meta"` because Messenger and Instagram share one
    /// webhook.
    fn name(&self) -> &str;

    /// The platform's name as people read it, for accounts of `kind`: the engine names a
    /// customer whose profile the platform will not share "{platform_name} user 1234". The
    /// default capitalises the kind (`telegram` → `Telegram`); override it where the
    /// platform spells itself otherwise.
    fn platform_name(&self, kind: &ChannelKind) -> String {
        let mut chars = kind.as_str().chars();
        chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
    }

    /// What the channel supports; see [`Capabilities`].
    fn capabilities(&self, address: &ChannelAddress) -> Capabilities;

    /// The business accounts this channel serves.
    fn accounts(&self) -> Vec<ChannelAddress>;

    /// Answers a subscription handshake (Meta's GET with `hub.challenge`): the body to
    /// answer 200 with, or [`WebhookError::Forbidden`] for a wrong token or mode.
    /// Channels without a handshake return [`WebhookError::NotFound`].
    fn handshake(&self, request: &RawRequest<'_>) -> Result<String, WebhookError>;

    /// Authenticates a webhook delivery (signature or secret token) over the raw bytes, in
    /// constant time. [`WebhookError::Unauthorized`] when it fails.
    fn verify(&self, request: &RawRequest<'_>) -> Result<(), WebhookError>;

    /// Parses an authenticated delivery into events, with the platform's ids and times.
    /// Never called before `verify` passed; never panics.
    fn parse(&self, request: &RawRequest<'_>) -> Result<Vec<InboundEnvelope>, WebhookError>;

    /// Makes one send attempt. Returns the platform's id for the sent message (`None` when
    /// the platform accepted the send without a readable id). Parts the channel cannot
    /// send, declared or not, are [`DeliveryError::unsupported`]; the error's message is
    /// shown to agents.
    async fn send(&self, request: &SendRequest) -> Result<SendReceipt, DeliveryError>;

    /// Fetches a customer's profile (one attempt). Channels without profiles return
    /// [`DeliveryError::unsupported`]; the engine then falls back to a readable name.
    async fn profile(
        &self,
        address: &ChannelAddress,
        user: &PlatformUserId,
    ) -> Result<Profile, DeliveryError>;

    /// Called once when the bridge's workers start: learn what the channel needs from the
    /// platform (Meta: the Page behind an Instagram account). Failures are the channel's to
    /// log; the bridge starts regardless.
    async fn prepare(&self) {}

    /// A fingerprint of the credential the channel uses for `address` (never the
    /// credential itself, nor anything it can be derived from), so a flag set because the
    /// platform refused it is cleared once the configuration holds a new one. `None` when
    /// the channel cannot tell; such flags stay until cleared by hand.
    fn credential_fingerprint(&self, _address: &ChannelAddress) -> Option<String> {
        None
    }

    /// The business accounts reached through the platform account `parent` (Meta: the
    /// Instagram accounts linked to a Page), so an event about the parent (the Page
    /// removed the app) reaches them too.
    fn accounts_behind(&self, _parent: &str) -> Vec<ChannelAddress> {
        Vec::new()
    }

    /// Downloads an inbound attachment (one attempt), at most `max_bytes` long
    /// ([`crate::DeliveryErrorKind::TooLarge`] beyond that, permanent).
    async fn fetch_media(
        &self,
        address: &ChannelAddress,
        attachment: &InboundAttachment,
        max_bytes: u64,
    ) -> Result<Media, DeliveryError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A channel with nothing but a name: enough to read its defaults.
    #[derive(Debug)]
    struct Bare;

    #[async_trait]
    impl Channel for Bare {
        fn name(&self) -> &str {
            "bare"
        }
        fn capabilities(&self, _: &ChannelAddress) -> Capabilities {
            Capabilities::text_only(100)
        }
        fn accounts(&self) -> Vec<ChannelAddress> {
            Vec::new()
        }
        fn handshake(&self, _: &RawRequest<'_>) -> Result<String, WebhookError> {
            Err(WebhookError::NotFound("no handshake".into()))
        }
        fn verify(&self, _: &RawRequest<'_>) -> Result<(), WebhookError> {
            Err(WebhookError::Unauthorized("no credential".into()))
        }
        fn parse(&self, _: &RawRequest<'_>) -> Result<Vec<InboundEnvelope>, WebhookError> {
            Ok(Vec::new())
        }
        async fn send(&self, _: &SendRequest) -> Result<SendReceipt, DeliveryError> {
            Err(DeliveryError::unsupported("sending"))
        }
        async fn profile(
            &self,
            _: &ChannelAddress,
            _: &PlatformUserId,
        ) -> Result<Profile, DeliveryError> {
            Err(DeliveryError::unsupported("profiles"))
        }
        async fn fetch_media(
            &self,
            _: &ChannelAddress,
            _: &InboundAttachment,
            _: u64,
        ) -> Result<Media, DeliveryError> {
            Err(DeliveryError::unsupported("files"))
        }
    }

    #[test]
    fn the_default_platform_name_is_the_kind_capitalised() {
        assert_eq!(Bare.platform_name(&ChannelKind::new("telegram")), "Telegram");
        assert_eq!(Bare.platform_name(&ChannelKind::new("x-chat")), "X-chat");
        assert_eq!(Bare.platform_name(&ChannelKind::new("")), "");
    }
}
