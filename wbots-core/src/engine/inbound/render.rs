//! What a platform message looks like in the inbox: text lines, files and attributes.
//! Pure: the files are fetched before (`posting.rs`), the time is passed in.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::event::{MessageContext, ReplyTo};
use crate::media::{InboundAttachment, Media};

/// A platform message, as far as rendering needs it (customer messages and echoes alike).
pub(super) struct Incoming<'a> {
    pub(super) text: Option<&'a str>,
    pub(super) attachments: &'a [InboundAttachment],
    pub(super) sent_at: DateTime<Utc>,
    pub(super) context: Option<&'a MessageContext>,
    pub(super) reply_to: Option<&'a ReplyTo>,
}

/// What became of one attachment before rendering, in the message's order.
#[derive(Debug)]
pub(super) enum Copied {
    /// Fetched from the platform: uploaded to the inbox as a file.
    File(Media),
    /// Could not be fetched for good (expired, too large): a line saying why.
    Refused(String),
    /// Not copied (not a file, like a location or a link; or a file without a source): a
    /// line with its kind, title and URL.
    Described,
}

/// Whether an attachment is fetched and uploaded as a file rather than shown as a line.
pub(super) fn is_copied(att: &InboundAttachment) -> bool {
    att.kind.is_media() && (att.url.is_some() || att.platform_id.is_some())
}

/// The text, files and attributes of a platform message, ready to post.
#[derive(Debug)]
pub(super) struct Rendered {
    pub(super) text: Option<String>,
    pub(super) media: Vec<Media>,
    pub(super) attributes: Map<String, Value>,
}

/// Renders `message` at `now`. A message older than `late_after` starts with the time it
/// was sent, since the inbox stamps it with the time it was posted. `copied` holds one
/// entry per attachment, in order.
pub(super) fn render(
    message: &Incoming<'_>,
    copied: Vec<Copied>,
    now: DateTime<Utc>,
    late_after: Duration,
) -> Rendered {
    let sent_at = message.sent_at;
    let mut lines: Vec<String> = Vec::new();
    let mut attributes = Map::new();
    let late =
        now - sent_at > chrono::Duration::from_std(late_after).unwrap_or(chrono::Duration::MAX);
    if late {
        lines.push(format!("[sent {}]", sent_at.format("%Y-%m-%d %H:%M UTC")));
    }
    attributes.insert("original_sent_at".into(), json!(sent_at.to_rfc3339()));
    match message.context {
        Some(MessageContext::Postback { title, payload }) => {
            lines.push(format!(
                "[button] {}",
                title.as_deref().or(payload.as_deref()).unwrap_or("")
            ));
            attributes.insert("postback".into(), json!({ "title": title, "payload": payload }));
        }
        Some(MessageContext::QuickReply { payload }) => {
            attributes.insert("quick_reply".into(), json!({ "payload": payload }));
        }
        Some(MessageContext::Referral { source, ref_param, ad_id, detail }) => {
            let from = source.as_deref().unwrap_or("a link");
            let mut line = format!("[arrived via {from}");
            if let Some(r) = ref_param {
                line.push_str(&format!(", ref {r}"));
            }
            if let Some(ad) = ad_id {
                line.push_str(&format!(", ad {ad}"));
            }
            if let Some(d) = detail {
                line.push_str(&format!(": {d}"));
            }
            line.push(']');
            lines.push(line);
            attributes.insert(
                "referral".into(),
                json!({ "source": source, "ref": ref_param, "ad_id": ad_id, "detail": detail }),
            );
        }
        _ => {}
    }
    if let Some(ReplyTo::Story { id, url }) = message.reply_to {
        lines.push(match url {
            Some(u) => format!("[replied to your story] {u}"),
            None => "[replied to your story]".to_owned(),
        });
        attributes.insert("story".into(), json!({ "id": id, "url": url }));
    }
    if let Some(t) = message.text.filter(|t| !t.is_empty()) {
        lines.push(t.to_owned());
    }
    let mut media = Vec::new();
    for (att, copy) in message.attachments.iter().zip(copied) {
        match copy {
            Copied::File(m) => media.push(m),
            Copied::Refused(why) => {
                lines.push(format!("[{} could not be copied: {why}]", att.kind.label()))
            }
            Copied::Described => {
                let mut line = format!("[{}]", att.kind.label());
                if let Some(title) = &att.title {
                    line.push_str(&format!(" {title}"));
                }
                if let Some(url) = &att.url {
                    line.push_str(&format!(" {url}"));
                }
                lines.push(line);
            }
        }
    }
    let text = (!lines.is_empty()).then(|| lines.join("\n"));
    Rendered { text, media, attributes }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use chrono::TimeZone;

    use super::*;
    use crate::media::AttachmentKind;

    const LATE_AFTER: Duration = Duration::from_secs(300);

    fn sent_at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 30, 0).single().unwrap()
    }

    fn text(text: &str) -> Incoming<'_> {
        Incoming {
            text: Some(text),
            attachments: &[],
            sent_at: sent_at(),
            context: None,
            reply_to: None,
        }
    }

    fn url(u: &str) -> url::Url {
        url::Url::parse(u).unwrap()
    }

    #[test]
    fn a_fresh_text_is_posted_as_it_is_with_its_original_time_as_an_attribute() {
        let r = render(
            &text("hello"),
            Vec::new(),
            sent_at() + chrono::Duration::seconds(5),
            LATE_AFTER,
        );
        assert_eq!(r.text.as_deref(), Some("hello"));
        assert!(r.media.is_empty());
        assert_eq!(r.attributes["original_sent_at"], json!("2026-03-01T09:30:00+00:00"));
    }

    #[test]
    fn a_late_message_starts_with_the_time_it_was_sent() {
        let just_late = sent_at() + chrono::Duration::seconds(301);
        let r = render(&text("hello"), Vec::new(), just_late, LATE_AFTER);
        assert_eq!(r.text.as_deref(), Some("[sent 2026-03-01 09:30 UTC]\nhello"));
        // At the limit it is not late yet.
        let at_limit = sent_at() + chrono::Duration::seconds(300);
        assert_eq!(
            render(&text("hello"), Vec::new(), at_limit, LATE_AFTER).text.as_deref(),
            Some("hello")
        );
    }

    #[test]
    fn attachments_become_files_or_lines_in_order() {
        let photo =
            InboundAttachment::from_url(AttachmentKind::Image, url("https://cdn.example/p.jpg"));
        let expired =
            InboundAttachment::from_url(AttachmentKind::Video, url("https://cdn.example/v.mp4"));
        let mut place =
            InboundAttachment::from_url(AttachmentKind::Location, url("https://maps.example/x"));
        place.title = Some("Our shop".into());
        let attachments = [photo, expired, place];
        assert!(is_copied(&attachments[0]) && !is_copied(&attachments[2]));
        let file = Media {
            bytes: Bytes::from_static(b"jpeg"),
            content_type: "image/jpeg".into(),
            file_name: "p.jpg".into(),
            kind: AttachmentKind::Image,
        };
        let message = Incoming { text: Some("look"), attachments: &attachments, ..text("") };
        let copied =
            vec![Copied::File(file), Copied::Refused("the link expired".into()), Copied::Described];
        let r = render(&message, copied, sent_at(), LATE_AFTER);
        assert_eq!(
            r.text.as_deref(),
            Some(
                "look\n[video could not be copied: the link expired]\n[location] Our shop https://maps.example/x"
            )
        );
        assert_eq!(r.media.len(), 1);
        assert_eq!(r.media[0].file_name, "p.jpg");
    }

    #[test]
    fn a_file_alone_has_no_text() {
        let attachments =
            [InboundAttachment::from_url(AttachmentKind::Image, url("https://cdn.example/p.jpg"))];
        let file = Media {
            bytes: Bytes::from_static(b"jpeg"),
            content_type: "image/jpeg".into(),
            file_name: "p.jpg".into(),
            kind: AttachmentKind::Image,
        };
        let message = Incoming { text: None, attachments: &attachments, ..text("") };
        let r = render(&message, vec![Copied::File(file)], sent_at(), LATE_AFTER);
        assert_eq!(r.text, None);
        assert_eq!(r.media.len(), 1);
    }

    #[test]
    fn story_replies_buttons_and_referrals_are_shown_and_kept_as_attributes() {
        let story =
            ReplyTo::Story { id: Some("st-1".into()), url: Some(url("https://cdn.example/story")) };
        let message = Incoming { reply_to: Some(&story), ..text("love it") };
        let r = render(&message, Vec::new(), sent_at(), LATE_AFTER);
        assert_eq!(
            r.text.as_deref(),
            Some("[replied to your story] https://cdn.example/story\nlove it")
        );
        assert_eq!(r.attributes["story"]["id"], json!("st-1"));

        let button = MessageContext::Postback {
            title: Some("Opening hours".into()),
            payload: Some("HOURS".into()),
        };
        let message = Incoming { context: Some(&button), ..text("") };
        let r = render(&message, Vec::new(), sent_at(), LATE_AFTER);
        assert_eq!(r.text.as_deref(), Some("[button] Opening hours"));
        assert_eq!(r.attributes["postback"]["payload"], json!("HOURS"));

        let ad = MessageContext::Referral {
            source: Some("ADS".into()),
            ref_param: Some("spring".into()),
            ad_id: Some("42".into()),
            detail: Some("Spring sale".into()),
        };
        let message = Incoming { context: Some(&ad), ..text("hi") };
        let r = render(&message, Vec::new(), sent_at(), LATE_AFTER);
        assert_eq!(
            r.text.as_deref(),
            Some("[arrived via ADS, ref spring, ad 42: Spring sale]\nhi")
        );
        assert_eq!(r.attributes["referral"]["ad_id"], json!("42"));
    }

    #[test]
    fn a_quick_reply_is_an_attribute_and_a_plain_reply_adds_no_line() {
        let quick = MessageContext::QuickReply { payload: "YES".into() };
        let reply = ReplyTo::Message { id: "m-1".into() };
        let message = Incoming { context: Some(&quick), reply_to: Some(&reply), ..text("Yes") };
        let r = render(&message, Vec::new(), sent_at(), LATE_AFTER);
        assert_eq!(r.text.as_deref(), Some("Yes"));
        assert_eq!(r.attributes["quick_reply"]["payload"], json!("YES"));
    }

    #[test]
    fn a_file_without_a_source_or_of_an_unsupported_kind_is_a_line() {
        let nowhere = InboundAttachment {
            kind: AttachmentKind::Image,
            url: None,
            platform_id: None,
            title: None,
            file_name: None,
        };
        let link =
            InboundAttachment::from_url(AttachmentKind::Fallback, url("https://shop.example/item"));
        assert!(!is_copied(&nowhere) && !is_copied(&link));
        let attachments = [nowhere, link];
        let message = Incoming { text: None, attachments: &attachments, ..text("") };
        let r = render(&message, vec![Copied::Described, Copied::Described], sent_at(), LATE_AFTER);
        assert_eq!(r.text.as_deref(), Some("[image]\n[link] https://shop.example/item"));
        assert!(r.media.is_empty());
    }

    #[test]
    fn an_empty_message_has_no_text() {
        let r = render(&text(""), Vec::new(), sent_at(), LATE_AFTER);
        assert_eq!(r.text, None);
    }
}
