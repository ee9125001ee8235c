//! Which load message was sent when, and when (and how often) it reached the fake Chatwoot.
//!
//! Every load message carries its sequence number in its text (`load #<seq>;`); the fake
//! Chatwoot finds it in whatever body arrives (the bridge's Chatwoot message or the relay's
//! raw webhook), so both paths are measured by the same code.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The text marker that precedes a sequence number.
pub const MARKER: &[u8] = b"load #";

/// The text of load message `seq`.
pub fn text_of(seq: u64) -> String {
    format!("load #{seq};")
}

/// The sequence number in a body, if it carries one.
pub fn find_seq(body: &[u8]) -> Option<u64> {
    let at = body.windows(MARKER.len()).position(|w| w == MARKER)? + MARKER.len();
    let digits = body[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&body[at..at + digits]).ok()?.parse().ok()
}

/// Send and delivery times of `capacity` messages, in microseconds since the tracker's
/// epoch (0: not yet).
#[derive(Debug)]
pub struct Tracker {
    epoch: Instant,
    sent: Vec<AtomicU64>,
    delivered: Vec<AtomicU64>,
    delivered_count: AtomicU64,
    duplicates: AtomicU64,
    strays: AtomicU64,
}

impl Tracker {
    /// Room for sequence numbers `0..capacity`.
    pub fn new(capacity: u64) -> Self {
        let slots = |n| (0..n).map(|_| AtomicU64::new(0)).collect();
        Self {
            epoch: Instant::now(),
            sent: slots(capacity),
            delivered: slots(capacity),
            delivered_count: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            strays: AtomicU64::new(0),
        }
    }

    /// Microseconds since the epoch of an instant (at least 1, so 0 keeps meaning "not yet").
    pub fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_micros() as u64 + 1
    }

    /// Records when `seq` was (or was due to be) sent.
    pub fn sent(&self, seq: u64, at: Instant) {
        if let Some(slot) = self.sent.get(seq as usize) {
            slot.store(self.micros(at), Ordering::Relaxed);
        }
    }

    /// Records a delivery of the message whose body is `body`; a second delivery of the
    /// same message counts as a duplicate, a body without a known number as a stray.
    pub fn delivered(&self, body: &[u8]) {
        let now = self.micros(Instant::now());
        match find_seq(body).and_then(|seq| self.delivered.get(seq as usize)) {
            Some(slot) => {
                if slot.compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
                    self.delivered_count.fetch_add(1, Ordering::Relaxed);
                } else {
                    self.duplicates.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                self.strays.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Distinct messages delivered so far.
    pub fn delivered_count(&self) -> u64 {
        self.delivered_count.load(Ordering::Relaxed)
    }

    /// Deliveries of a message already delivered.
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::Relaxed)
    }

    /// Deliveries that carried no known sequence number.
    pub fn strays(&self) -> u64 {
        self.strays.load(Ordering::Relaxed)
    }

    /// Waits until every message of `seqs` was delivered, or `limit` passed; returns how
    /// many of them were.
    pub async fn wait_for(&self, seqs: std::ops::Range<u64>, limit: Duration) -> u64 {
        let until = Instant::now() + limit;
        loop {
            let done = self.delivered_in(seqs.clone());
            if done == seqs.end - seqs.start || Instant::now() >= until {
                return done;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many messages of `seqs` were delivered.
    pub fn delivered_in(&self, seqs: std::ops::Range<u64>) -> u64 {
        seqs.filter(|&s| self.delivered_at(s).is_some()).count() as u64
    }

    fn delivered_at(&self, seq: u64) -> Option<u64> {
        self.delivered.get(seq as usize).map(|d| d.load(Ordering::Relaxed)).filter(|&d| d != 0)
    }

    /// Send → delivery latencies (µs) of the delivered messages of `seqs`, and the span
    /// from the first send to the last delivery.
    pub fn latencies(&self, seqs: std::ops::Range<u64>) -> (Vec<u64>, Duration) {
        let mut out = Vec::with_capacity((seqs.end - seqs.start) as usize);
        let (mut first, mut last) = (u64::MAX, 0);
        for seq in seqs {
            let sent = self.sent.get(seq as usize).map_or(0, |s| s.load(Ordering::Relaxed));
            if sent == 0 {
                continue;
            }
            first = first.min(sent);
            if let Some(d) = self.delivered_at(seq) {
                last = last.max(d);
                out.push(d.saturating_sub(sent));
            }
        }
        (out, Duration::from_micros(last.saturating_sub(first)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_number_in_a_chatwoot_message_and_in_a_raw_webhook() {
        let chatwoot = br#"{"content":"load #42;","message_type":"incoming"}"#;
        let webhook =
            br#"{"object":"page","entry":[{"messaging":[{"message":{"text":"load #7;"}}]}]}"#;
        assert_eq!(find_seq(chatwoot), Some(42));
        assert_eq!(find_seq(webhook), Some(7));
        assert_eq!(find_seq(b"{\"content\":\"hello\"}"), None);
        assert_eq!(find_seq(b"load #;"), None);
    }

    #[test]
    fn counts_each_message_once_and_a_second_delivery_as_a_duplicate() {
        let t = Tracker::new(3);
        t.sent(1, Instant::now());
        t.delivered(text_of(1).as_bytes());
        t.delivered(text_of(1).as_bytes());
        t.delivered(text_of(99).as_bytes());
        t.delivered(b"nothing");
        assert_eq!(t.delivered_count(), 1);
        assert_eq!(t.duplicates(), 1);
        assert_eq!(t.strays(), 2);
        assert_eq!(t.delivered_in(0..3), 1);
        let (lat, _) = t.latencies(0..3);
        assert_eq!(lat.len(), 1);
    }
}
