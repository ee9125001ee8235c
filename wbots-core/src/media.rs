//! Attachments as they arrive from a platform, and media bytes as they move between sides.

use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use url::Url;

/// What an attachment is, as far as a person reading the conversation cares.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AttachmentKind {
    /// A picture.
    Image,
    /// A video.
    Video,
    /// A voice note or audio file.
    Audio,
    /// Any other file.
    File,
    /// A sticker (Messenger's like button is one).
    Sticker,
    /// A location pin.
    Location,
    /// A link preview or shared content the platform renders as a card.
    Fallback,
    /// A shared post or message.
    Share,
    /// The customer mentioned the business in their story.
    StoryMention,
    /// A shared reel.
    Reel,
    /// A shared feed post.
    Post,
    /// A structured template (cards, buttons).
    Template,
    /// Anything else, by the platform's name for it.
    Other(String),
}

impl AttachmentKind {
    /// Whether the attachment carries a file worth downloading and re-uploading, rather
    /// than a link to content that stays on the platform.
    pub fn is_media(&self) -> bool {
        matches!(self, Self::Image | Self::Video | Self::Audio | Self::File | Self::Sticker)
    }

    /// A short lowercase label for text renderings ("image", "story mention", …).
    pub fn label(&self) -> &str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
            Self::Audio => "audio",
            Self::File => "file",
            Self::Sticker => "sticker",
            Self::Location => "location",
            Self::Fallback => "link",
            Self::Share => "share",
            Self::StoryMention => "story mention",
            Self::Reel => "reel",
            Self::Post => "post",
            Self::Template => "template",
            Self::Other(name) => name,
        }
    }
}

/// An attachment of an inbound platform message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundAttachment {
    /// What it is.
    pub kind: AttachmentKind,
    /// Where the platform serves it. Meta's CDN URLs expire, which is why the engine
    /// re-uploads media to the inbox instead of linking it.
    pub url: Option<Url>,
    /// The platform's own handle for it (Telegram's `file_id`, an Instagram asset id).
    pub platform_id: Option<String>,
    /// A title or caption the platform gave it.
    pub title: Option<String>,
    /// The file name, where the platform gives one.
    pub file_name: Option<String>,
}

impl InboundAttachment {
    /// An attachment of `kind` served at `url`.
    pub fn from_url(kind: AttachmentKind, url: Url) -> Self {
        Self { kind, url: Some(url), platform_id: None, title: None, file_name: None }
    }
}

/// An attachment of an agent's message, as the inbox serves it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentAttachment {
    /// What it is.
    pub kind: AttachmentKind,
    /// Where the inbox serves the file.
    pub url: Url,
    /// The file name, where known.
    pub file_name: Option<String>,
    /// Its size in bytes, where the inbox says.
    pub size: Option<u64>,
}

/// A downloaded file, ready to upload to the other side.
#[derive(Clone, PartialEq, Eq)]
pub struct Media {
    /// The file's bytes.
    pub bytes: Bytes,
    /// Its MIME type (`image/jpeg`), as the serving side declared it.
    pub content_type: String,
    /// A file name to upload it under.
    pub file_name: String,
    /// What it is.
    pub kind: AttachmentKind,
}

impl fmt::Debug for Media {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Bytes are noise in logs, and may be personal data.
        f.debug_struct("Media")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("content_type", &self.content_type)
            .field("file_name", &self.file_name)
            .field("kind", &self.kind)
            .finish()
    }
}
