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

/// The wait Meta announces in `X-Business-Use-Case-Usage`: a JSON object mapping each
/// business object id to its usage entries, each with `estimated_time_to_regain_access` in
/// minutes (Meta, "Rate limits": <https://developers.facebook.com/docs/graph-api/overview/rate-limiting>
/// — reference S37 and meta-platform.md §9). The longest wait of all entries; `None` when
/// the header says nothing useful (the job queue's backoff applies then).
pub fn business_use_case_wait(header: &str) -> Option<Duration> {
    let usage: serde_json::Value = serde_json::from_str(header).ok()?;
    let minutes = usage
        .as_object()?
        .values()
        .filter_map(serde_json::Value::as_array)
        .flatten()
        .filter_map(|entry| entry.get("estimated_time_to_regain_access"))
        .filter_map(|m| m.as_u64().or_else(|| m.as_str().and_then(|s| s.trim().parse().ok())))
        .max()?;
    (minutes > 0).then(|| Duration::from_secs(minutes.saturating_mul(60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_business_use_case_header_gives_the_longest_wait() {
        let header = r#"{"112233":[{"type":"messenger","call_count":100,"total_cputime":12,"total_time":9,"estimated_time_to_regain_access":3},{"type":"pages","call_count":40,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":7}]}"#;
        assert_eq!(business_use_case_wait(header), Some(Duration::from_secs(7 * 60)));
        let zero = r#"{"1":[{"type":"messenger","estimated_time_to_regain_access":0}]}"#;
        assert_eq!(business_use_case_wait(zero), None);
        assert_eq!(business_use_case_wait("not json"), None);
    }

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
