//! Per-account send budgets that respect Meta's published limits without ever sleeping:
//! when a budget is spent, the send is refused with the time until it refills, and the job
//! queue schedules the retry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Meta's Send API limits per Page and per Instagram account: 300 calls/s for text, links,
/// reactions and stickers; 10 calls/s for audio and video. The Instagram-Login page still
/// quotes 100/s for text, so Instagram uses the lower figure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Text, reactions, sender actions: calls per second.
    pub text_per_second: f64,
    /// Media uploads and media URLs: calls per second.
    pub media_per_second: f64,
}

impl Limits {
    /// Messenger's published limits.
    pub const MESSENGER: Limits = Limits { text_per_second: 300.0, media_per_second: 10.0 };
    /// Instagram's (the lower published figure).
    pub const INSTAGRAM: Limits = Limits { text_per_second: 100.0, media_per_second: 10.0 };
}

/// Which budget a send draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Text, reactions, sender actions.
    Text,
    /// Files.
    Media,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per (account, class); the burst equals one second's budget.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(String, Class), Bucket>>,
}

impl RateLimiter {
    /// Takes one call from the account's budget, or says how long until one is available.
    pub fn try_acquire(
        &self,
        account: &str,
        class: Class,
        limits: Limits,
        now: Instant,
    ) -> Result<(), Duration> {
        let rate = match class {
            Class::Text => limits.text_per_second,
            Class::Media => limits.media_per_second,
        };
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket =
            buckets.entry((account.to_owned(), class)).or_insert(Bucket { tokens: rate, at: now });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(rate);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_refuses_until_it_refills() {
        let limiter = RateLimiter::default();
        let limits = Limits { text_per_second: 300.0, media_per_second: 10.0 };
        let t0 = Instant::now();
        for _ in 0..10 {
            assert!(limiter.try_acquire("page", Class::Media, limits, t0).is_ok());
        }
        let wait = limiter.try_acquire("page", Class::Media, limits, t0).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100), "{wait:?}");
        // Text has its own budget, and so does every other account.
        assert!(limiter.try_acquire("page", Class::Text, limits, t0).is_ok());
        assert!(limiter.try_acquire("other", Class::Media, limits, t0).is_ok());
        assert!(
            limiter
                .try_acquire("page", Class::Media, limits, t0 + Duration::from_millis(100))
                .is_ok()
        );
    }
}
