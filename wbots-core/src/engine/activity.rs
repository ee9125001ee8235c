//! Each channel's last message in and out ([`ChannelActivity`](crate::store::ChannelActivity)),
//! written with the message's own links in the job's commit (`LinkWrite::Latest`: the newest
//! time wins whatever order jobs complete in).
//!
//! At most once a minute of message time per channel and direction from one process: every
//! job of a busy channel writing the same row would wait for the others' commits (PostgreSQL
//! locks a row it updates until the transaction ends, fsync included), serialising the
//! channel's jobs on the hot path. The times are kept to the minute, as the connect page
//! shows them. A write whose job then fails is made up for by the channel's next message a
//! minute later.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::ids::ChannelAddress;
use crate::store::{Link, LinkKey, LinkWrite};

/// How far apart, in message time, one process writes a channel's time in one direction.
const GRANULARITY_MS: i64 = 60_000;

/// The times this process last wrote, per channel and direction.
#[derive(Debug, Default)]
pub(crate) struct ActivityMarks(Mutex<HashMap<LinkKey, i64>>);

impl ActivityMarks {
    /// The write recording a customer message of `address` at `at`, unless one within the
    /// minute before was written.
    pub(crate) fn came_in(&self, address: &ChannelAddress, at: DateTime<Utc>) -> Option<LinkWrite> {
        self.write(LinkKey::channel_last_in(address), at)
    }

    /// The write recording an agent message of `address` sent at `at`, unless one within
    /// the minute before was written.
    pub(crate) fn went_out(
        &self,
        address: &ChannelAddress,
        at: DateTime<Utc>,
    ) -> Option<LinkWrite> {
        self.write(LinkKey::channel_last_out(address), at)
    }

    fn write(&self, key: LinkKey, at: DateTime<Utc>) -> Option<LinkWrite> {
        let ms = at.timestamp_millis();
        // A poisoned lock only means a panic between two map operations: the map is whole.
        let mut marks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // The very time marked is written again: the same message's job running again (a
        // retry, a postponement), whose first write may never have been committed.
        let recent = |last: &i64| ms != *last && ms < last.saturating_add(GRANULARITY_MS);
        if marks.get(&key).is_some_and(recent) {
            return None;
        }
        marks.insert(key.clone(), ms);
        Some(LinkWrite::Latest(Link::new(key, ms.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_channel_is_written_at_most_once_a_minute_per_direction() {
        let marks = ActivityMarks::default();
        let page = ChannelAddress::new("messenger", "1");
        let at = |s: i64| Utc.timestamp_opt(1_764_000_000 + s, 0).single().unwrap();
        assert!(marks.came_in(&page, at(0)).is_some(), "the first is written");
        assert!(marks.came_in(&page, at(0)).is_some(), "its job running again writes again");
        assert!(marks.came_in(&page, at(59)).is_none(), "within the minute");
        assert!(marks.came_in(&page, at(-30)).is_none(), "older");
        assert!(marks.went_out(&page, at(10)).is_some(), "the other direction is its own");
        let later = marks.came_in(&page, at(60));
        let expected =
            Link::new(LinkKey::channel_last_in(&page), at(60).timestamp_millis().to_string());
        assert_eq!(later, Some(LinkWrite::Latest(expected)), "a minute on");
        let other = ChannelAddress::new("messenger", "2");
        assert!(marks.came_in(&other, at(1)).is_some(), "each channel is its own");
    }
}
