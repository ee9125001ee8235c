#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod agent;
mod audit_key;
mod build_error;
mod channel;
#[cfg(feature = "download")]
pub mod download;
pub mod engine;
mod error;
mod event;
pub mod fetch_policy;
pub mod hmac_sha256;
mod http_failures;
mod ids;
mod inbox;
pub mod key_ring;
mod media;
mod outbound;
mod profile;
pub mod rate_budget;
mod request;
#[cfg(feature = "axum")]
pub mod router;
mod secret;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use agent::{AgentEnvelope, AgentEvent, AgentMessage, Author, ThreadRef};
pub use audit_key::AuditKey;
pub use build_error::BuildError;
pub use channel::{Capabilities, Channel};
pub use engine::{
    Backoff, Binding, Bridge, BridgeBuilder, Clock, EngineConfig, FlagOrigin, ForgetReport,
    IngestReport, ManualClock, RouteRefresh, SystemClock,
};
pub use engine::{ChannelUpkeep, UpkeepOutcome};
pub use error::{DeliveryError, DeliveryErrorKind, Error, Retryability, StoreError, WebhookError};
pub use event::{
    AccountAction, AccountStatus, DeliveryReceipt, EchoMessage, InboundEnvelope, InboundEvent,
    InboundMessage, MessageContext, MessageDelete, MessageEdit, Notice, Reaction, ReactionAction,
    ReadReceipt, ReadUpTo, ReplyTo, Unsupported, thread_key,
};
pub use http_failures::{HttpFailures, retry_after};
pub use ids::{
    AccountId, ChannelAddress, ChannelKind, ContactId, ConversationId, InboxId, InboxMessageId,
    JobId, PlatformMessageId, PlatformUserId, ThreadId,
};
pub use inbox::{
    ContactRequest, ConversationRequest, DeliveryStatus, Direction, Inbox, MessageChange,
    MessageUpdate, PostMessage, ReopenPolicy,
};
pub use key_ring::{KeyError, KeyRing, SealError};
pub use media::{AgentAttachment, AttachmentKind, InboundAttachment, Media};
pub use outbound::{
    MessagingWindow, OutboundPart, SendReceipt, SendRequest, SenderAction, split_text,
    split_text_within,
};
pub use profile::Profile;
pub use request::RawRequest;
pub use secret::{Secret, constant_time_eq};
pub use store::{JobQueue, LinkStore, Store};
