//! The envelope of a webhook delivery: `{"object", "entry": [{"id", "messaging", "standby",
//! "changes"}]}` (meta-platform.md §2.0, §2.11; S1, S15, S16).

use serde::Deserialize;

use super::item::Item;
use super::lenient::{Obj, Objects, Text, WireId};

/// One POST of Meta's webhook.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Delivery {
    /// `page` (Messenger), `instagram`, or an object the bridge does not serve (`user`,
    /// `permissions`, …).
    pub(crate) object: Text,
    /// `None` when it is not an array.
    pub(crate) entry: Objects<Entry>,
}

/// One account's batch of events.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Entry {
    /// The Page or Instagram account the events are for.
    pub(crate) id: WireId,
    /// Events of conversations the app holds.
    pub(crate) messaging: Objects<Item>,
    /// Events of conversations another app holds (handover protocol, §2.9, S12: the
    /// bridge only watches them).
    pub(crate) standby: Objects<Item>,
    /// Field changes; the dashboard's test form also wraps a messaging item in one.
    pub(crate) changes: Objects<Change>,
}

/// `{"field": "messages", "value": {…}}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Change {
    pub(crate) field: Text,
    pub(crate) value: Obj<Item>,
}
