//! Chatwoot's ids: numbers on the wire, strings in the bridge.

use serde::{Deserialize, Deserializer};
use serde_json::Value;
use wbots_core::{DeliveryError, DeliveryErrorKind};

/// An id as Chatwoot answered it: a number or a non-empty string; anything else (null, an
/// empty string, an object, or no id at all) reads as absent, and [`WireId::required`] says
/// so when the bridge needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WireId(Option<String>);

impl<'de> Deserialize<'de> for WireId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(WireId(match Value::deserialize(deserializer)? {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) if !s.is_empty() => Some(s),
            _ => None,
        }))
    }
}

impl WireId {
    /// The id as text, if Chatwoot gave one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// The id as a number, if it is one (for ordering: newest has the highest id).
    pub(crate) fn number(&self) -> Option<u64> {
        self.as_str()?.parse().ok()
    }

    /// The id, or a temporary error: an answer without one is a Chatwoot hiccup.
    pub(crate) fn required(&self, what: &str) -> Result<String, DeliveryError> {
        self.0.clone().ok_or_else(|| {
            DeliveryError::temporary(
                DeliveryErrorKind::Unavailable,
                format!("Chatwoot answered {what} without an id"),
            )
        })
    }
}

/// A bridge-held id Chatwoot wants as a number in a request body (`inbox_id`, `contact_id`).
/// One that is not a number cannot name a Chatwoot object: a permanent error naming it,
/// never a silent 0.
pub(crate) fn numeric_id(value: &str, what: &str) -> Result<u64, DeliveryError> {
    value.parse().map_err(|_| {
        DeliveryError::permanent(
            DeliveryErrorKind::InvalidRequest,
            format!("the {what} {value:?} is not a Chatwoot id (a whole number)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_strings_are_ids_and_nothing_else_is() {
        let read = |json: &str| serde_json::from_str::<WireId>(json).unwrap();
        assert_eq!(read("42").as_str(), Some("42"));
        assert_eq!(read("\"42\"").number(), Some(42));
        for absent in ["null", "\"\"", "{}", "true"] {
            assert!(read(absent).required("a contact").is_err(), "{absent}");
        }
    }

    #[test]
    fn an_unreadable_id_is_an_error_naming_it() {
        assert_eq!(numeric_id("7", "inbox id").unwrap(), 7);
        let e = numeric_id("inbox-7", "inbox id").unwrap_err();
        assert!(e.is_permanent());
        assert_eq!(e.kind(), DeliveryErrorKind::InvalidRequest);
        assert!(e.message().contains("inbox id \"inbox-7\""), "{}", e.message());
        assert!(numeric_id("", "contact id").is_err());
    }
}
