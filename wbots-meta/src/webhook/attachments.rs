//! A message's attachments → core attachments.

use url::Url;
use wbots_core::{AttachmentKind, InboundAttachment};

use crate::wire::Attachment;

/// The attachments to show, in order. During Meta's sticker transition a sticker arrives
/// as a `sticker` attachment and an `image` twin (S4): the twin is dropped. The legacy
/// format has the `image` alone, carrying `sticker_id` (meta-platform.md §9): it is the
/// sticker's only picture and is kept.
pub(super) fn read(list: &[Attachment]) -> Vec<InboundAttachment> {
    let has_sticker = list.iter().any(|a| a.kind.as_deref() == Some("sticker"));
    let twin = |a: &Attachment| {
        has_sticker
            && a.kind.as_deref() == Some("image")
            && (a.payload.sticker_id.is_present() || list.len() > 1)
    };
    list.iter().filter(|a| !twin(a)).map(one).collect()
}

fn one(a: &Attachment) -> InboundAttachment {
    let p = &a.payload;
    // A field in the payload wins over the one beside it whenever it is there.
    let url = match p.url.get() {
        Some(url) => url.as_deref(),
        None => a.url.as_deref(),
    };
    let title = match a.title.get() {
        Some(title) => title.cloned(),
        None => p.title.cloned(),
    }
    .or_else(|| {
        let c = &p.coordinates;
        Some(format!("{}, {}", c.lat.get()?, c.long.get()?))
    });
    let platform_id = match (p.sticker_id.get(), p.ig_post_media_id.get()) {
        (Some(id), _) | (None, Some(id)) => id.cloned(),
        (None, None) => p.attachment_id.cloned(),
    };
    InboundAttachment {
        kind: kind_of(a.kind.as_deref().unwrap_or("unknown")),
        url: url.and_then(|u| Url::parse(u).ok()),
        platform_id,
        title,
        file_name: None,
    }
}

fn kind_of(t: &str) -> AttachmentKind {
    match t {
        "image" => AttachmentKind::Image,
        "video" => AttachmentKind::Video,
        "audio" => AttachmentKind::Audio,
        "file" => AttachmentKind::File,
        "sticker" | "like_heart" => AttachmentKind::Sticker,
        "location" => AttachmentKind::Location,
        "fallback" => AttachmentKind::Fallback,
        "share" => AttachmentKind::Share,
        "story_mention" => AttachmentKind::StoryMention,
        "reel" | "ig_reel" => AttachmentKind::Reel,
        "post" | "ig_post" => AttachmentKind::Post,
        "template" => AttachmentKind::Template,
        other => AttachmentKind::Other(other.to_owned()),
    }
}
