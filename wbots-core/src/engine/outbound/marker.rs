//! The marker the bridge puts on each send (Meta's `metadata`), echoed back by the
//! platform: how the bridge recognises its own sends, even those a crashed worker never
//! recorded.

use crate::ids::{InboxId, InboxMessageId};

/// `wbots:{inbox}:{message}:{part}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    pub inbox: InboxId,
    pub message: InboxMessageId,
    pub part: usize,
}

impl Marker {
    pub(crate) fn encode(&self) -> String {
        format!("wbots:{}:{}:{}", self.inbox, self.message, self.part)
    }

    pub(crate) fn parse(raw: &str) -> Option<Self> {
        // Inbox ids never contain ':' (Chatwoot's are numbers); message ids might.
        let (inbox, rest) = raw.strip_prefix("wbots:")?.split_once(':')?;
        let (message, part) = rest.rsplit_once(':')?;
        Some(Self { inbox: inbox.into(), message: message.into(), part: part.parse().ok()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marker_round_trips_even_with_colons_in_ids() {
        let m = Marker { inbox: "7".into(), message: "a:b".into(), part: 3 };
        assert_eq!(Marker::parse(&m.encode()), Some(m));
        assert_eq!(Marker::parse("not ours"), None);
        assert_eq!(Marker::parse("wbots:7:9:x"), None);
    }
}
