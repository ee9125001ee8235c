//! Tolerant readers for Meta's webhook JSON.
//!
//! Meta adds fields, attachment types and event kinds every year, sends ids as strings or
//! numbers and timestamps in ms, seconds or strings (the dashboard's test form). A value of
//! an unexpected type must never turn a delivery into a 400 (Meta would retry it for an hour):
//! each reader here takes any JSON and reads what does not fit as absent. The body is first
//! read into a [`Value`] (so a key given twice keeps its last value, as JSON readers do) and
//! the typed shapes are read from that.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::Value;

/// An object read as shape `T`; any other value (an array is not read positionally into
/// `T`'s fields) reads as `T::default()`, an object without fields. Every field of a shape
/// is itself tolerant, so reading one never fails.
#[derive(Debug, Clone, Default)]
pub(crate) struct Obj<T>(pub(crate) T);

impl<'de, T: DeserializeOwned + Default> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(object(Value::deserialize(deserializer)?)))
    }
}

impl<T> std::ops::Deref for Obj<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn object<T: DeserializeOwned + Default>(value: Value) -> T {
    if value.is_object() { T::deserialize(value).unwrap_or_default() } else { T::default() }
}

/// A key whose presence matters whatever its value (`null` included): Meta names an event
/// by its key (`"read": {…}`), and some fields take precedence over a fallback merely by
/// being there.
#[derive(Debug, Clone)]
pub(crate) struct Keyed<T>(pub(crate) Option<T>);

impl<T> Default for Keyed<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Keyed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(|v| Self(Some(v)))
    }
}

impl<T> Keyed<T> {
    /// Whether the key was there.
    pub(crate) fn is_present(&self) -> bool {
        self.0.is_some()
    }

    /// The value, if the key was there.
    pub(crate) fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

/// An array of objects of shape `T`: `None` when the value is not an array; an element that
/// is not an object reads as `T::default()` (it still counts, as an empty item).
#[derive(Debug, Clone)]
pub(crate) struct Objects<T>(pub(crate) Option<Vec<T>>);

impl<T> Default for Objects<T> {
    fn default() -> Self {
        Self(None)
    }
}

impl<'de, T: DeserializeOwned + Default> Deserialize<'de> for Objects<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(match Value::deserialize(deserializer)? {
            Value::Array(items) => Some(items.into_iter().map(object).collect()),
            _ => None,
        }))
    }
}

impl<T> Objects<T> {
    /// The elements, if the value was an array.
    pub(crate) fn array(&self) -> Option<&[T]> {
        self.0.as_deref()
    }

    /// The elements; none when the value was not an array.
    pub(crate) fn as_slice(&self) -> &[T] {
        self.0.as_deref().unwrap_or_default()
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }
}

/// A string, or absent for any other value. An empty string is a string.
#[derive(Debug, Clone, Default)]
pub(crate) struct Text(pub(crate) Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(match Value::deserialize(deserializer)? {
            Value::String(s) => Some(s),
            _ => None,
        }))
    }
}

impl Text {
    pub(crate) fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }

    pub(crate) fn cloned(&self) -> Option<String> {
        self.0.clone()
    }
}

/// A boolean, or absent for any other value (`"true"` is not one).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Flag(pub(crate) Option<bool>);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(Value::deserialize(deserializer)?.as_bool()))
    }
}

impl Flag {
    /// Whether the value is `true` itself.
    pub(crate) fn is_true(self) -> bool {
        self.0 == Some(true)
    }
}

/// A whole number (`code`, `error_subcode`), or absent for any other value.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Int(pub(crate) Option<i64>);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(Value::deserialize(deserializer)?.as_i64()))
    }
}

/// An id as Meta sends it: a non-empty string, or a number (kept as its decimal text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct WireId(pub(crate) Option<String>);

impl<'de> Deserialize<'de> for WireId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(id_of(Value::deserialize(deserializer)?)))
    }
}

fn id_of(value: Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl WireId {
    pub(crate) fn cloned(&self) -> Option<String> {
        self.0.clone()
    }
}

/// An array of ids; elements that are not ids are left out.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids(pub(crate) Vec<String>);

impl<'de> Deserialize<'de> for Ids {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(match Value::deserialize(deserializer)? {
            Value::Array(items) => items.into_iter().filter_map(id_of).collect(),
            _ => Vec::new(),
        }))
    }
}

/// A time as Meta sends it: ms since the epoch, or seconds (webhook `changes`, the
/// dashboard's test form), as a number or a string of one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct WireTime(pub(crate) Option<DateTime<Utc>>);

impl<'de> Deserialize<'de> for WireTime {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(time_of(&Value::deserialize(deserializer)?)))
    }
}

fn time_of(value: &Value) -> Option<DateTime<Utc>> {
    let n = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        _ => return None,
    };
    // Ten-digit values are seconds. (`unsigned_abs`: `i64::MIN.abs()` overflows.)
    let ms = if n.unsigned_abs() < 100_000_000_000 { n.saturating_mul(1000) } else { n };
    DateTime::from_timestamp_millis(ms)
}

impl WireTime {
    pub(crate) fn get(self) -> Option<DateTime<Utc>> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    fn read<T: DeserializeOwned>(json: &str) -> T {
        let value: Value = serde_json::from_str(json).unwrap();
        T::deserialize(value).unwrap()
    }

    #[test]
    fn ids_are_strings_or_numbers_and_nothing_else() {
        assert_eq!(read::<WireId>("\"123\"").cloned().as_deref(), Some("123"));
        assert_eq!(
            read::<WireId>("1234567890123456").cloned().as_deref(),
            Some("1234567890123456")
        );
        for absent in ["\"\"", "null", "true", "[1]", "{\"id\":1}"] {
            assert_eq!(read::<WireId>(absent), WireId(None), "{absent}");
        }
        assert_eq!(read::<Ids>(r#"["m1", 2, null, "", {"x":1}]"#).0, ["m1", "2"]);
        assert!(read::<Ids>(r#""m1""#).0.is_empty());
    }

    #[test]
    fn times_are_ms_or_seconds_as_numbers_or_strings() {
        let at = |json: &str| read::<WireTime>(json).get().map(|t| t.timestamp_millis());
        assert_eq!(at("1458692752478"), Some(1_458_692_752_478));
        assert_eq!(at("1458692752"), Some(1_458_692_752_000));
        assert_eq!(at("\" 1458692752478 \""), Some(1_458_692_752_478));
        assert_eq!(at("1458692752.5"), Some(1_458_692_752_000));
        for absent in ["\"soon\"", "null", "true", "{}", "[1458692752]"] {
            assert_eq!(at(absent), None, "{absent}");
        }
        // Out of chrono's range: absent, not a panic.
        assert_eq!(at("9223372036854775807"), None);
        assert_eq!(at("18446744073709551615"), None);
        assert_eq!(at("-9223372036854775808"), None);
        assert_eq!(at("\"-9223372036854775808\""), None);
        assert_eq!(at("-1e30"), None);
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Shape {
        id: WireId,
        text: Text,
        flag: Flag,
        inner: Obj<Inner>,
        key: Keyed<Text>,
        list: Objects<Shape>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct Inner {
        id: WireId,
    }

    #[test]
    fn a_value_of_the_wrong_type_reads_as_absent_not_as_an_error() {
        let s: Shape = read(
            r#"{"id":{"x":1},"text":5,"flag":"true","inner":["i","b"],"key":null,"list":{"id":1},"new_field":[1,2]}"#,
        );
        assert_eq!(s.id, WireId(None));
        assert_eq!((s.text.0, s.flag.0), (None, None));
        assert!(s.inner.id.0.is_none(), "an array is not read positionally into a shape");
        assert!(s.key.is_present() && s.key.get().is_some_and(|t| t.0.is_none()));
        assert!(s.list.0.is_none());
        let s: Shape = read(r#"{"list":[{"id":1}, 7, "x"],"text":"","inner":{"id":"i"}}"#);
        assert_eq!(s.inner.id.cloned().as_deref(), Some("i"));
        let ids: Vec<_> = s.list.iter().map(|e| e.id.cloned()).collect();
        assert_eq!(ids, [Some("1".to_owned()), None, None], "non-objects count as empty items");
        assert_eq!(s.text.as_deref(), Some(""));
        assert!(!s.key.is_present());
    }
}
