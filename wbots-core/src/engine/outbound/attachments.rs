//! Agents' files on their way out: the platform's size limits checked before anything is
//! sent, and each file passed as bytes or, where the platform takes files by URL only, as
//! the inbox's own file URL.

use crate::channel::Capabilities;
use crate::engine::context::Context;
use crate::engine::job::{JobError, Target};
use crate::error::{DeliveryError, DeliveryErrorKind};
use crate::media::AgentAttachment;
use crate::outbound::OutboundPart;

fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / (1024.0 * 1024.0);
    if mb >= 10.0 { format!("{mb:.0} MB") } else { format!("{mb:.1} MB") }
}

/// Refuses a message any of whose files the inbox says is over the platform's limit for
/// its kind, before any part of it is sent.
pub(super) fn check_sizes(
    caps: &Capabilities,
    attachments: &[AgentAttachment],
    engine_max: u64,
) -> Result<(), DeliveryError> {
    for att in attachments {
        let limit = caps.max_bytes_for(&att.kind).min(engine_max);
        if let Some(size) = att.size.filter(|s| *s > limit) {
            let name = att.file_name.as_deref().unwrap_or("the file");
            return Err(DeliveryError::permanent(
                DeliveryErrorKind::TooLarge,
                format!(
                    "{name} is {}; the platform takes {}s of at most {}",
                    megabytes(size),
                    att.kind.label(),
                    megabytes(limit)
                ),
            ));
        }
    }
    Ok(())
}

/// The part that sends one agent file: its bytes, fetched from the inbox, or its URL where
/// the platform takes files by URL only.
pub(super) async fn attachment_part(
    cx: &Context,
    target: &Target,
    caps: &Capabilities,
    att: &AgentAttachment,
) -> Result<OutboundPart, JobError> {
    if caps.media_by_url {
        return Ok(OutboundPart::MediaUrl { kind: att.kind.clone(), url: att.url.clone() });
    }
    let limit = caps.max_bytes_for(&att.kind).min(cx.config.max_media_bytes);
    Ok(OutboundPart::Media(cx.routes.require_inbox(&target.inbox)?.fetch_media(att, limit).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AttachmentKind;

    fn message(kind: AttachmentKind, size: u64) -> Vec<AgentAttachment> {
        vec![AgentAttachment {
            kind,
            url: url::Url::parse("https://cw.example/f").unwrap(),
            file_name: Some("photo.jpg".into()),
            size: Some(size),
        }]
    }

    #[test]
    fn images_and_other_files_have_their_own_limits() {
        let mut caps = Capabilities::text_only(10);
        caps.max_media_bytes = 25 * 1024 * 1024;
        caps.max_image_bytes = Some(8 * 1024 * 1024);
        let nine = 9 * 1024 * 1024;
        let e = check_sizes(&caps, &message(AttachmentKind::Image, nine), u64::MAX).unwrap_err();
        assert_eq!(e.kind(), DeliveryErrorKind::TooLarge);
        assert!(e.is_permanent());
        assert_eq!(e.message(), "photo.jpg is 9.0 MB; the platform takes images of at most 8.0 MB");
        assert!(check_sizes(&caps, &message(AttachmentKind::Video, nine), u64::MAX).is_ok());
        let big = 26 * 1024 * 1024;
        assert!(check_sizes(&caps, &message(AttachmentKind::File, big), u64::MAX).is_err());
    }
}
