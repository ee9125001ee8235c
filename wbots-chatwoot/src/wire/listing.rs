//! Chatwoot's list answers, whose shape differs by endpoint and version.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The items of a list answer: a bare list, `{payload: [...]}`, or `{payload: {contacts |
/// conversations: [...]}}`. Items that do not read as `T` are skipped; any other shape is an
/// empty list.
#[derive(Debug)]
pub(crate) struct Listing<T>(pub(crate) Vec<T>);

#[derive(Deserialize)]
#[serde(untagged)]
enum Shape {
    Bare(Vec<Value>),
    Wrapped { payload: Payload },
    Other(IgnoredAny),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Payload {
    List(Vec<Value>),
    Contacts { contacts: Value },
    Conversations { conversations: Value },
    Other(IgnoredAny),
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Listing<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = match Shape::deserialize(deserializer)? {
            Shape::Bare(items) | Shape::Wrapped { payload: Payload::List(items) } => items,
            Shape::Wrapped {
                payload:
                    Payload::Contacts { contacts: Value::Array(items) }
                    | Payload::Conversations { conversations: Value::Array(items) },
            } => items,
            _ => Vec::new(),
        };
        Ok(Listing(items.into_iter().filter_map(|i| serde_json::from_value(i).ok()).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(json: &str) -> Vec<u64> {
        serde_json::from_str::<Listing<u64>>(json).unwrap().0
    }

    #[test]
    fn every_shape_chatwoot_answers() {
        assert_eq!(ids("[1, 2]"), [1, 2]);
        assert_eq!(ids(r#"{"payload": [1, "x", 2]}"#), [1, 2]);
        assert_eq!(ids(r#"{"payload": {"contacts": [3]}}"#), [3]);
        assert_eq!(ids(r#"{"payload": {"conversations": [4]}}"#), [4]);
        assert_eq!(ids(r#"{"payload": {"contacts": null}}"#), Vec::<u64>::new());
        assert_eq!(ids(r#"{"data": 1}"#), Vec::<u64>::new());
        assert_eq!(ids("null"), Vec::<u64>::new());
    }
}
