//! What the engine asks a channel to send: one [`OutboundPart`] per platform send.

use serde::{Deserialize, Serialize};

use crate::ids::{ChannelAddress, PlatformMessageId, ThreadId};
use crate::media::{AttachmentKind, Media};

/// One platform send: an agent message becomes one part per text chunk and per attachment.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum OutboundPart {
    /// Text, already within the channel's [`Capabilities::max_text_chars`].
    ///
    /// [`Capabilities::max_text_chars`]: crate::Capabilities::max_text_chars
    Text(String),
    /// A file, downloaded from the inbox, to upload.
    Media(Media),
    /// A file the platform fetches itself from a public URL.
    MediaUrl {
        /// What it is.
        kind: AttachmentKind,
        /// Where to fetch it.
        url: url::Url,
    },
    /// A reaction to a customer's message (`None` removes it).
    Reaction {
        /// The message reacted to.
        target: PlatformMessageId,
        /// The emoji.
        emoji: Option<String>,
    },
    /// A sender action (typing indicator, mark seen).
    Action(SenderAction),
}

impl OutboundPart {
    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text(_) => "text",
            Self::Media(_) => "media",
            Self::MediaUrl { .. } => "media_url",
            Self::Reaction { .. } => "reaction",
            Self::Action(_) => "action",
        }
    }
}

/// Indicators a platform may show the customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderAction {
    /// Show the typing indicator.
    TypingOn,
    /// Hide it.
    TypingOff,
    /// Mark the customer's last message seen.
    MarkSeen,
}

/// Why the business may message the customer now (Meta's `messaging_type` and tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MessagingWindow {
    /// A reply within the standard window (24 h after the customer's last message).
    Response,
    /// A human agent's reply within the extended window (Meta's `HUMAN_AGENT` tag, 7 days).
    HumanAgent,
}

/// Everything a channel needs to make one send besides the part itself.
#[derive(Clone, Debug, PartialEq)]
pub struct SendRequest {
    /// The business account to send from.
    pub address: ChannelAddress,
    /// The thread (customer) to send to.
    pub thread: ThreadId,
    /// The part.
    pub part: OutboundPart,
    /// Under which window rule.
    pub window: MessagingWindow,
    /// The platform message this replies to, when the agent replied to one and the platform
    /// supports replies.
    pub reply_to: Option<PlatformMessageId>,
    /// An opaque marker the platform should echo back (Meta's `metadata`), so the bridge
    /// recognises its own sends in echoes.
    pub marker: Option<String>,
}

/// What the platform said when it accepted a send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendReceipt {
    /// The platform's id for the sent message; `None` for sends that create no message
    /// (sender actions, reactions on platforms that do not give one).
    pub message_id: Option<PlatformMessageId>,
}

/// Splits `text` into chunks of at most `max_chars` characters, preferring to break at a
/// paragraph, line or word boundary, never inside a character.
///
/// Returns no chunk for empty text. `max_chars` of 0 is treated as 1.
pub fn split_text(text: &str, max_chars: usize) -> Vec<String> {
    split_text_within(text, max_chars, None)
}

/// Like [`split_text`], and each chunk also at most `max_bytes` UTF-8 bytes when given
/// (never less than one character per chunk).
pub fn split_text_within(text: &str, max_chars: usize, max_bytes: Option<usize>) -> Vec<String> {
    let max = max_chars.max(1);
    let mut chunks = Vec::new();
    let mut rest = text.trim_end();
    while !rest.is_empty() {
        // The byte offset where the window ends: at `max` characters or `max_bytes` bytes,
        // whichever comes first, always on a character boundary.
        let mut limit = rest.len();
        for (count, (i, c)) in rest.char_indices().enumerate() {
            let over_chars = count >= max;
            let over_bytes =
                max_bytes.is_some_and(|b| i + c.len_utf8() > b.max(c.len_utf8())) && count > 0;
            if over_chars || over_bytes {
                limit = i;
                break;
            }
        }
        if limit == rest.len() {
            chunks.push(rest.to_owned());
            break;
        }
        let window = &rest[..limit];
        // Prefer the latest natural break in the second half of the window, so chunks stay
        // close to full while sentences and words stay whole.
        let floor = window.len() / 2;
        let cut = ["\n\n", "\n", ". ", " "]
            .iter()
            .filter_map(|sep| window.rfind(sep).map(|i| i + sep.len()))
            .find(|&i| i > floor)
            .unwrap_or(limit);
        let (head, tail) = rest.split_at(cut);
        chunks.push(head.trim_end().to_owned());
        rest = tail.trim_start();
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(split_text("hello", 10), vec!["hello"]);
        assert!(split_text("", 10).is_empty());
    }

    #[test]
    fn splits_at_word_boundaries_within_the_limit() {
        let text = "alpha beta gamma delta epsilon";
        let chunks = split_text(text, 12);
        assert!(chunks.iter().all(|c| c.chars().count() <= 12), "{chunks:?}");
        assert_eq!(chunks.join(" "), text);
    }

    #[test]
    fn never_cuts_inside_a_multibyte_character() {
        let text = "é".repeat(25) + &"🙂".repeat(7);
        let chunks = split_text(&text, 10);
        assert!(chunks.iter().all(|c| c.chars().count() <= 10));
        assert_eq!(chunks.concat(), text);
    }

    #[test]
    fn a_byte_limit_is_kept_too() {
        let text = "é".repeat(30);
        let chunks = split_text_within(&text, 100, Some(21));
        assert!(chunks.iter().all(|c| c.len() <= 21), "{chunks:?}");
        assert_eq!(chunks.concat(), text);
        assert_eq!(chunks[0].chars().count(), 10);
    }

    #[test]
    fn long_unbroken_words_are_cut_hard() {
        let chunks = split_text(&"x".repeat(25), 10);
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[2], "xxxxx");
    }
}
